#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use automerge::{
    Automerge, AutomergeError,
    sync::{self, SyncDoc},
};

use crate::actors::messages::SyncMessage;
use crate::{ConnectionId, PeerId, ShareConfig, UnixTimestamp, network::PeerDocState};

#[derive(Debug)]
pub(crate) struct PeerDocConnection {
    pub(super) connection_id: ConnectionId,
    pub(super) peer_id: PeerId,
    pub(super) sync_state: sync::State,
    // Remember inbound requests or sync attempts, even while denied/paused,
    // so that granting access can answer them without proactive announcement.
    pub(super) has_requested: bool,
    // Whether this state has changed since the last pop
    dirty: bool,
    // Set with `dirty`, and shared by every peer of the document, so that the actor need not
    // ask each of its peers after every step whether its state changed (fairpos patch).
    any_dirty: Arc<AtomicBool>,
    state: PeerDocState,
    pub(super) share_policy: SharePolicyState,
    last_share_config: Option<ShareConfig>,
    // Preserve message ordering while the asynchronous policy lookup is pending.
    pub(super) pending_sync_messages: Vec<(SyncMessage, UnixTimestamp)>,
    // fairpos patch: the peer's whole document (one document chunk, as `Automerge::save`
    // writes it) and its heads, when a message from the peer made an empty document that
    // document; storage may keep these bytes instead of saving the document again.
    received_document: Option<(Vec<automerge::ChangeHash>, Vec<u8>)>,
    // fairpos patch: the document's heads when automerge last had nothing to send this peer,
    // kept until the sync state changes. Automerge decides whether to send from the
    // document's changes (which its heads determine) and the sync state alone, and a call
    // with nothing to send changes neither; so while both hold, it has nothing to send
    // still, and is not asked (a document's actor asks every peer after every step: at
    // headquarters, the catalog's hundreds of tills at every message from any of them).
    quiet_heads: Option<Vec<automerge::ChangeHash>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SharePolicyState {
    Unknown,
    Loading,
    Ready(ShareConfig),
}

impl PeerDocConnection {
    pub(super) fn new(peer_id: PeerId, connection_id: ConnectionId) -> Self {
        Self {
            connection_id,
            peer_id,
            sync_state: sync::State::new_read_only(),
            has_requested: false,
            state: PeerDocState::empty(),
            dirty: false,
            any_dirty: Arc::new(AtomicBool::new(false)),
            share_policy: SharePolicyState::Unknown,
            last_share_config: None,
            pending_sync_messages: Vec::new(),
            received_document: None,
            quiet_heads: None,
        }
    }

    /// This connection reporting its changes to `any_dirty`, which the document's other
    /// peers share (fairpos patch).
    pub(super) fn reporting_to(mut self, any_dirty: Arc<AtomicBool>) -> Self {
        self.any_dirty = any_dirty;
        self
    }

    fn mark_dirty(&mut self) {
        self.dirty = true;
        self.any_dirty.store(true, Ordering::Relaxed);
    }

    pub(super) fn reset_sync_state(&mut self) {
        self.quiet_heads = None;
        self.sync_state = if self.can_write() {
            sync::State::new()
        } else {
            sync::State::new_read_only()
        };
    }

    pub(super) fn prepare_request(&mut self) {
        // Initial requests already have a fresh state. Automerge has no explicit
        // API to restart synchronization, so for retries we force a read-only to
        // read-write transition. This resets local bookkeeping and tells the
        // remote to resend changes; replacing the state alone would not do that.
        if self.state.last_sent.is_some() || self.state.last_received.is_some() {
            self.quiet_heads = None;
            self.sync_state.set_read_only(true);
            self.sync_state.set_read_only(false);
            self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
            self.state.their_heads = self.sync_state.their_heads.clone();
            self.state.peer_read_only = self.sync_state.is_peer_read_only();
            self.mark_dirty();
        }
    }

    pub(super) fn mark_requested(&mut self) {
        if !self.has_requested {
            self.has_requested = true;
            self.mark_dirty(); // Mark as dirty since the request status changed
        }
    }

    pub(super) fn receive_sync_message(
        &mut self,
        now: UnixTimestamp,
        doc: &mut Automerge,
        msg: sync::Message,
    ) -> Result<Duration, AutomergeError> {
        let start = Instant::now();
        // fairpos patch: a whole document sent to an empty one is kept as it came. Empty as
        // automerge means it (no changes, none queued): only then does it load the chunk as
        // a document, checking the heads the chunk declares.
        let whole = match msg.changes.iter().next() {
            Some(chunk)
                if msg.changes.len() == 1
                    && doc.is_empty()
                    && !msg.heads.is_empty()
                    && is_one_document_chunk(chunk) =>
            {
                let mut heads = msg.heads.clone();
                heads.sort();
                Some((heads, chunk.to_vec()))
            }
            _ => None,
        };
        self.quiet_heads = None;
        doc.receive_sync_message(&mut self.sync_state, msg)?;
        self.received_document = whole.filter(|(heads, _)| *heads == doc.get_heads());
        let duration = start.elapsed();
        self.mark_dirty();
        self.state.last_received = Some(now);
        self.state.last_acked_heads = self.sync_state.their_heads.clone();
        self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
        self.state.their_heads = self.sync_state.their_heads.clone();
        self.state.peer_read_only = self.sync_state.is_peer_read_only();
        Ok(duration)
    }

    /// The peer's whole document, as it came, when its last message made an empty document
    /// that document (fairpos patch).
    pub(super) fn take_received_document(
        &mut self,
    ) -> Option<(Vec<automerge::ChangeHash>, Vec<u8>)> {
        self.received_document.take()
    }

    /// Generate messages in wire order, with timing for each message.
    pub(super) fn generate_sync_messages(
        &mut self,
        now: UnixTimestamp,
        doc: &Automerge,
    ) -> Vec<(sync::Message, Duration)> {
        let heads = doc.get_heads();
        if self.quiet_heads.as_ref() == Some(&heads) {
            return Vec::new();
        }
        let mut messages = Vec::new();
        loop {
            let start = Instant::now();
            let Some(msg) = doc.generate_sync_message(&mut self.sync_state) else {
                self.quiet_heads = Some(heads);
                break;
            };
            let duration = start.elapsed();
            let follow_up = msg.heads != heads;
            if follow_up {
                // Automerge 0.12's fallback reset advertises empty heads but
                // records the real heads as sent. An empty peer may not reply.
                // Correct the bookkeeping to what we actually advertised, then
                // immediately generate the real-heads follow-up in this batch.
                self.sync_state.last_sent_heads.clone_from(&msg.heads);
            }
            self.state.last_sent = Some(now);
            self.state.last_sent_heads = Some(msg.heads.clone());
            self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
            self.mark_dirty();
            messages.push((msg, duration));
            if !follow_up {
                break;
            }
        }
        messages
    }

    pub(super) fn their_heads(&self) -> Option<Vec<automerge::ChangeHash>> {
        self.sync_state.their_heads.clone()
    }

    pub(super) fn pop(&mut self) -> Option<PeerDocState> {
        if self.dirty {
            self.dirty = false;
            Some(self.state.clone())
        } else {
            None
        }
    }

    pub(super) fn state(&self) -> &PeerDocState {
        &self.state
    }

    /// Bound buffering while an application-provided policy future is pending.
    /// Permit one oversized message so a legitimate full-document sync is not
    /// limited by this queue's byte budget; transports should bound frame size.
    pub(super) fn buffer_sync_message(
        &mut self,
        msg: SyncMessage,
        received_at: UnixTimestamp,
    ) -> bool {
        const MAX_MESSAGES: usize = 64;
        const MAX_BYTES: usize = 16 * 1024 * 1024;
        let message_bytes = |msg: &SyncMessage| match msg {
            SyncMessage::Sync { data } | SyncMessage::Request { data } => data.len(),
            SyncMessage::DocUnavailable => 0,
        };
        let queued_bytes = self
            .pending_sync_messages
            .iter()
            .fold(0usize, |bytes, (msg, _)| {
                bytes.saturating_add(message_bytes(msg))
            });
        if self.pending_sync_messages.len() >= MAX_MESSAGES
            || (!self.pending_sync_messages.is_empty()
                && queued_bytes.saturating_add(message_bytes(&msg)) > MAX_BYTES)
        {
            return false;
        }
        self.pending_sync_messages.push((msg, received_at));
        true
    }

    pub(super) fn share_config(&self) -> Option<ShareConfig> {
        match self.share_policy {
            SharePolicyState::Ready(config) => Some(config),
            _ => None,
        }
    }

    pub(super) fn can_read(&self) -> bool {
        self.share_config().is_some_and(|config| config.can_read())
    }

    pub(super) fn can_write(&self) -> bool {
        self.share_config().is_some_and(|config| config.can_write())
    }

    pub(super) fn can_send(&self) -> bool {
        self.can_read()
            && (self.has_requested
                || self.sync_state.their_heads.is_some()
                || self.share_config().is_some_and(|config| config.announce))
    }

    pub(super) fn set_share_config(&mut self, config: ShareConfig) -> Option<ShareConfig> {
        self.quiet_heads = None;
        let previous = self.last_share_config.replace(config);
        self.share_policy = SharePolicyState::Ready(config);
        if self.state.last_sent.is_none() && self.state.last_received.is_none() {
            // Initialize sessions which have not exchanged any sync messages yet.
            self.reset_sync_state();
        } else {
            if previous.is_some_and(|old| !old.can_read()) && config.can_read() {
                // Denial may have dropped messages; restart the exchange on re-grant.
                self.sync_state.set_read_only(false);
            }
            self.sync_state.set_read_only(!config.can_write());
            self.state.shared_heads = Some(self.sync_state.shared_heads.clone());
            self.state.their_heads = self.sync_state.their_heads.clone();
            self.state.peer_read_only = self.sync_state.is_peer_read_only();
        }
        self.state.share_config = Some(config);
        self.mark_dirty();
        previous
    }
}

/// Whether `bytes` are one automerge document chunk and nothing more (fairpos patch): the
/// magic bytes, a 4-byte checksum, the chunk type 0 (a document), its length as an unsigned
/// LEB128, and then exactly that many bytes. automerge's loading of a sync message ignores
/// bytes after its chunks, so a copy kept as it came must hold none.
fn is_one_document_chunk(bytes: &[u8]) -> bool {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    const DOCUMENT: u8 = 0;
    let Some(rest) = bytes.strip_prefix(&MAGIC[..]) else {
        return false;
    };
    let Some((&DOCUMENT, mut rest)) = rest.get(4..).and_then(<[u8]>::split_first) else {
        return false;
    };
    let mut length: u64 = 0;
    for shift in (0..64).step_by(7) {
        let Some((&byte, after)) = rest.split_first() else {
            return false;
        };
        rest = after;
        length |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return rest.len() as u64 == length;
        }
    }
    false
}
