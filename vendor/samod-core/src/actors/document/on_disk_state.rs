use std::collections::{HashMap, HashSet};

use automerge::Automerge;

use crate::{
    DocumentId, StorageKey,
    actors::document::DocActorResult,
    io::{IoTaskId, StorageResult},
};

mod compaction_hash;
pub use compaction_hash::CompactionHash;

#[derive(Debug)]
pub(super) struct OnDiskState {
    last_saved_heads: Option<Vec<automerge::ChangeHash>>,
    // fairpos patch: each chunk on disk with its size in bytes, which decides a compaction.
    on_disk: HashMap<StorageKey, usize>,
    compaction: Option<Compaction>,
    deletions: HashSet<StorageKey>,
    running_puts: HashMap<IoTaskId, (StorageKey, usize)>,
    running_deletes: HashMap<IoTaskId, StorageKey>,
    // fairpos patch: a peer's whole document as it came, and its heads (`received_whole`).
    received: Option<(Vec<automerge::ChangeHash>, Vec<u8>)>,
}

#[derive(Debug)]
struct Compaction {
    task: IoTaskId,
    supercedes: HashSet<StorageKey>,
}

impl OnDiskState {
    pub(super) fn new() -> Self {
        Self {
            last_saved_heads: None,
            on_disk: HashMap::new(),
            compaction: None,
            deletions: HashSet::new(),
            running_deletes: HashMap::new(),
            running_puts: HashMap::new(),
            received: None,
        }
    }

    /// A peer's whole document, one document chunk as it came over the wire, which made an
    /// empty document the document of `heads` (fairpos patch: see vendor/FAIRPOS-PATCH.md).
    /// The next save keeps these bytes as its compaction if the document's heads are still
    /// `heads`, instead of saving (compressing) the same document again; otherwise it saves
    /// as upstream.
    pub(super) fn received_whole(&mut self, heads: Vec<automerge::ChangeHash>, bytes: Vec<u8>) {
        self.received = Some((heads, bytes));
    }

    /// Records that what was loaded from storage, taking the document from heads `before` to
    /// `after`, is on disk already, so that the next save writes only what changed since
    /// (fairpos patch: see vendor/FAIRPOS-PATCH.md; a document loaded was saved again whole,
    /// compressed, at once). Only when everything before the load was saved too.
    pub(super) fn loaded(
        &mut self,
        before: &[automerge::ChangeHash],
        after: Vec<automerge::ChangeHash>,
    ) {
        if self.last_saved_heads.as_deref().unwrap_or_default() == before {
            self.last_saved_heads = Some(after);
        }
    }

    /// Add keys that we know are now on disk, each with its size in bytes
    pub(super) fn add_keys<I: Iterator<Item = (StorageKey, usize)>>(&mut self, contents: I) {
        self.on_disk.extend(contents);
    }

    pub(super) fn save_new_changes(
        &mut self,
        out: &mut DocActorResult,
        doc_id: &DocumentId,
        doc: &Automerge,
    ) {
        let saved_heads = self.last_saved_heads.as_deref().unwrap_or(&[]);
        // fairpos patch: counted from the changes' metadata; a change is encoded (its ops
        // collected again from the op set) only to be stored on its own, not to be counted
        // before a compaction that stores none of them.
        let new_changes = doc.get_changes_meta(saved_heads).len();

        // fairpos patch: compacted when automerge-repo's StorageSubsystem compacts (see
        // vendor/FAIRPOS-PATCH.md, 13): only a save with something new, a document never
        // saved whole, and one saved before once its chunks call for it; upstream compacted
        // once more than ten changes or chunks piled up, new changes or none.
        let eligible_for_compaction = new_changes > 0
            && (saved_heads.is_empty() || self.incrementals_outweigh_snapshots(doc_id));
        if self.compaction.is_none() && eligible_for_compaction {
            tracing::debug!(
                num_changes = new_changes,
                num_on_disk = self.on_disk.len(),
                "compacting changes"
            );
            let heads = doc.get_heads();
            let hash = CompactionHash::new(&heads);
            let key = StorageKey::snapshot_path(doc_id, &hash);
            // fairpos patch: the document as a peer sent it whole, when it is still that.
            let bytes = match self.received.take() {
                Some((received, bytes)) if received == heads => bytes,
                _ => doc.save(),
            };
            let size = bytes.len();
            let put_id = out.put(key.clone(), bytes);
            let mut supercedes: HashSet<StorageKey> = self.on_disk.keys().cloned().collect();
            // Make sure that we don't delete the compaction we're producing
            // somehow One way this can happen is if a previous process got
            // killed after writing the compacted chunk but before deleting the
            // incremental changes.
            supercedes.remove(&key);
            self.compaction = Some(Compaction {
                task: put_id,
                supercedes,
            });
            self.running_puts.insert(put_id, (key, size));
        } else if new_changes > 0 {
            for change in doc.get_changes(saved_heads) {
                let key = StorageKey::incremental_path(doc_id, change.hash());
                let bytes = change.raw_bytes().to_vec();
                let size = bytes.len();
                let put_id = out.put(key.clone(), bytes);
                self.running_puts.insert(put_id, (key, size));
            }
        }

        self.received = None;
        for deletion in self.deletions.drain() {
            let delete_id = out.delete(deletion.clone());
            self.running_deletes.insert(delete_id, deletion);
        }

        self.last_saved_heads = Some(doc.get_heads());
    }

    /// Whether the chunks on disk call for a compaction, as automerge-repo's
    /// `StorageSubsystem.#shouldCompact` decides (fairpos patch, see
    /// vendor/FAIRPOS-PATCH.md, 13): while the snapshots are small (under 1 KiB in all),
    /// or once the incremental changes stored since weigh as much as they do. A compaction
    /// costs a save of the whole document, and at fairpos's headquarters a reading of the
    /// whole document by the projection, so it is paid once as many bytes were stored
    /// incrementally as it writes.
    fn incrementals_outweigh_snapshots(&self, doc_id: &DocumentId) -> bool {
        let snapshots = StorageKey::snapshot_prefix(doc_id);
        let (mut snapshot_bytes, mut incremental_bytes) = (0, 0);
        for (key, size) in &self.on_disk {
            if snapshots.is_prefix_of(key) {
                snapshot_bytes += size;
            } else {
                incremental_bytes += size;
            }
        }
        snapshot_bytes < 1024 || incremental_bytes >= snapshot_bytes
    }

    pub(super) fn is_flushed(&self) -> bool {
        self.running_puts.is_empty()
    }

    pub(super) fn has_task(&self, task_id: IoTaskId) -> bool {
        self.running_puts.contains_key(&task_id) || self.running_deletes.contains_key(&task_id)
    }

    pub(super) fn task_complete(&mut self, task_id: IoTaskId, result: StorageResult) {
        match result {
            StorageResult::Put => {
                if let Some((compaction_key, size)) = self.running_puts.remove(&task_id) {
                    tracing::debug!(key=%compaction_key, "compaction put completed for key");
                    self.mark_put_complete(task_id, compaction_key, size);
                } else {
                    panic!("put complete for unknown task id: {:?}", task_id);
                }
            }
            StorageResult::Delete => {
                if let Some(deletion_key) = self.running_deletes.remove(&task_id) {
                    self.mark_delete_complete(deletion_key);
                } else {
                    panic!("delete complete for unknown task id: {:?}", task_id);
                }
            }
            _ => panic!("unexpected storage result"),
        }
    }

    fn mark_put_complete(&mut self, task_id: IoTaskId, key: StorageKey, size: usize) {
        if let Some(compaction) = &mut self.compaction
            && compaction.task == task_id
        {
            tracing::debug!("compacted chunk saved, deleting superceded data");
            // We're marking these as deleted before we get confirmation that they
            // are deleted. This is okay, worst case we end up with some extra data
            // on disk which gets cleared up on next boot.
            for key in &compaction.supercedes {
                self.on_disk.remove(key);
            }
            self.deletions
                .extend(std::mem::take(&mut compaction.supercedes));
            self.compaction = None;
        }
        self.on_disk.insert(key, size);
    }

    fn mark_delete_complete(&mut self, key: StorageKey) {
        // Probably this has already been removed in the handling of the compaction completion, but
        // we might as well be robust
        self.on_disk.remove(&key);
    }
}

// fairpos patch: a compaction keeps a peer's whole document as it came.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::document::io::DocumentIoTask;
    use crate::io::StorageTask;

    /// A document of `changes` changes, each a long text (so that a save compresses it).
    fn document(changes: usize) -> Automerge {
        let mut doc = Automerge::new();
        for n in 0..changes {
            let mut tx = doc.transaction();
            let text = format!("{n} ").repeat(100);
            automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "n", text).unwrap();
            tx.commit();
        }
        doc
    }

    /// The values of the puts a save asked for.
    fn puts(out: DocActorResult) -> Vec<Vec<u8>> {
        put_tasks(out)
            .into_iter()
            .map(|(_, _, value)| value)
            .collect()
    }

    /// The puts a save asked for: each task, key and value.
    fn put_tasks(out: DocActorResult) -> Vec<(IoTaskId, StorageKey, Vec<u8>)> {
        out.io_tasks
            .into_iter()
            .filter_map(|task| match task.action {
                DocumentIoTask::Storage(StorageTask::Put { key, value }) => {
                    Some((task.task_id, key, value))
                }
                _ => None,
            })
            .collect()
    }

    fn snapshot_key(doc_id: &DocumentId) -> StorageKey {
        StorageKey::snapshot_path(doc_id, &CompactionHash::new(&[]))
    }

    /// Saves `doc` and completes the puts it asked for: whether the save compacted, and the
    /// bytes it stored.
    fn save(state: &mut OnDiskState, doc_id: &DocumentId, doc: &Automerge) -> (bool, usize) {
        let mut out = DocActorResult::new();
        state.save_new_changes(&mut out, doc_id, doc);
        let (mut compacted, mut stored) = (false, 0);
        for (task, key, value) in put_tasks(out) {
            compacted |= StorageKey::snapshot_prefix(doc_id).is_prefix_of(&key);
            stored += value.len();
            state.task_complete(task, StorageResult::Put);
        }
        (compacted, stored)
    }

    /// The state of `doc` loaded from one snapshot of `bytes` bytes, as the actor records it.
    fn loaded_from_snapshot(doc: &Automerge, doc_id: &DocumentId, bytes: usize) -> OnDiskState {
        let mut state = OnDiskState::new();
        state.add_keys([(snapshot_key(doc_id), bytes)].into_iter());
        state.loaded(&[], doc.get_heads());
        state
    }

    #[test]
    fn a_compaction_waits_until_the_changes_stored_since_weigh_as_much_as_the_snapshot() {
        let mut doc = document(1);
        let doc_id = DocumentId::new(&mut rand::rng());
        let mut state = loaded_from_snapshot(&doc, &doc_id, 8000);
        // Each change holds a text of 300 pseudo-random letters (so that compression keeps
        // the snapshot large): stored on its own until they weigh 8000 bytes in all, then
        // compacted.
        let mut stored = 0;
        let mut changes = 0;
        let mut seed = 7u64;
        loop {
            let mut tx = doc.transaction();
            let text: String = (0..300)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    char::from(b'a' + (seed >> 59) as u8)
                })
                .collect();
            automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "n", text).unwrap();
            tx.commit();
            changes += 1;
            let weighed = stored >= 8000;
            let (compacted, bytes) = save(&mut state, &doc_id, &doc);
            assert_eq!(
                compacted, weighed,
                "change {changes}, {stored} bytes stored"
            );
            if compacted {
                break;
            }
            stored += bytes;
        }
        assert!(
            changes > 15,
            "upstream would have compacted at the eleventh: {changes}"
        );
        // The snapshot alone is on disk now (the chunks it replaces to be deleted), and the
        // next change is stored on its own.
        assert_eq!(state.on_disk.len(), 1);
        assert_eq!(state.deletions.len(), changes);
        assert!(state.on_disk.values().sum::<usize>() >= 1024);
        let mut tx = doc.transaction();
        automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "m", 1).unwrap();
        tx.commit();
        assert!(!save(&mut state, &doc_id, &doc).0);
    }

    #[test]
    fn a_small_document_is_compacted_at_each_save_and_nothing_new_never() {
        let mut doc = document(1);
        let doc_id = DocumentId::new(&mut rand::rng());
        // Upstream compacted a document loaded from more than ten chunks at once, with nothing
        // new; now only a save with a change compacts, and one beside a snapshot under 1 KiB
        // always does.
        let mut state = loaded_from_snapshot(&doc, &doc_id, 500);
        for n in 0..12 {
            let key = StorageKey::incremental_path(&doc_id, automerge::ChangeHash([n; 32]));
            state.add_keys([(key, 10)].into_iter());
        }
        assert_eq!(save(&mut state, &doc_id, &doc), (false, 0));
        assert_eq!(save(&mut state, &doc_id, &doc), (false, 0));
        let mut tx = doc.transaction();
        automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "m", 1).unwrap();
        tx.commit();
        assert!(save(&mut state, &doc_id, &doc).0);
        // Nothing new after the compaction: nothing stored again.
        assert_eq!(save(&mut state, &doc_id, &doc), (false, 0));
        // A document never saved (a chunk that failed to load, say): saved whole, however
        // few its changes and however large the snapshot beside it, where upstream stored up
        // to ten changes a change at a time.
        let doc = document(3);
        let mut state = OnDiskState::new();
        state.add_keys([(snapshot_key(&doc_id), 1 << 20)].into_iter());
        assert!(save(&mut state, &doc_id, &doc).0);
    }

    #[test]
    fn a_compaction_stores_the_document_received_whole_while_its_heads_hold() {
        let doc = document(20);
        let doc_id = DocumentId::new(&mut rand::rng());
        // Uncompressed, so that the bytes differ from what `doc.save()` writes.
        let received = doc.save_nocompress();
        assert_ne!(received, doc.save());

        let mut state = OnDiskState::new();
        state.received_whole(doc.get_heads(), received.clone());
        let mut out = DocActorResult::new();
        state.save_new_changes(&mut out, &doc_id, &doc);
        assert_eq!(puts(out), [received.clone()]);

        // Heads that moved since: saved as upstream.
        let mut state = OnDiskState::new();
        state.received_whole(document(19).get_heads(), received.clone());
        let mut out = DocActorResult::new();
        state.save_new_changes(&mut out, &doc_id, &doc);
        assert_eq!(puts(out), [doc.save()]);

        // Kept for the next save only (here the third of three changes, loaded with the
        // first two from a large snapshot, and not compacted).
        let mut three = document(2);
        let mut state = loaded_from_snapshot(&three, &doc_id, 1 << 20);
        let mut tx = three.transaction();
        automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "m", 1).unwrap();
        tx.commit();
        state.received_whole(doc.get_heads(), received);
        assert!(!save(&mut state, &doc_id, &three).0);
        state.last_saved_heads = None;
        let mut out = DocActorResult::new();
        state.save_new_changes(&mut out, &doc_id, &doc);
        assert_eq!(puts(out), [doc.save()]);
    }
}
