//! Bundles at headquarters: importing what a till or hub carried on a USB stick, and a hub
//! exporting what it holds. An import is checked whole before anything is written: the fair,
//! the source's signature, and every ledger change's author. Importing twice changes nothing.

use std::collections::{HashMap, HashSet};

use automerge::Automerge;
use fairpos_sync::bundle::{Bundle, BundleDoc, FORMAT};
use fairpos_sync::ids::document_id;
use fairpos_sync::ledger::heads_text;
use fairpos_sync::protocol::over_size;
use fairpos_sync::samod_storage::{load_document, put_chunk};
use fairpos_sync::LedgerId;

use crate::limits::DocumentLimits;
use crate::project::{first_forged, project_stored, Outcome};
use crate::untrusted::shown;
use crate::{devices, meta, now_text, Hq, Role};
use crate::{Error, Result};

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub documents: usize,
    pub new_records: usize,
    /// The ledgers refused, each with why: the others are imported all the same (a till
    /// exports every ledger it holds, so a bundle with one refused would otherwise never
    /// bring its later days).
    pub refused: Vec<(String, String)>,
}

/// The source of a bundle as headquarters knows it: its role and public key, if it is an
/// enrolled device not revoked.
pub(crate) struct Source {
    pub role: String,
    pub public_key: String,
}

/// A ledger of a bundle, checked: its key, device and document.
pub(crate) type Checked = (String, String, Automerge);

/// What checking a bundle found wrong with a ledger's changes: a sync event of its source.
pub(crate) struct Forged {
    pub key: String,
    pub why: String,
}

/// What headquarters knows of the devices whose ledgers a bundle carries, each looked up
/// once (a till's bundle carries a ledger a day, a hub's many of each till).
#[derive(Default)]
pub(crate) struct Known {
    /// The actor each device enrolled with.
    pub actors: HashMap<String, Option<String>>,
    /// The devices headquarters knows and shuts out (revoked, or added again and not
    /// enrolled since).
    pub shut_out: HashSet<String>,
}

/// The devices whose ledgers `bundle` carries, each once.
fn devices_of(bundle: &Bundle) -> std::collections::BTreeSet<String> {
    bundle
        .docs
        .iter()
        .filter_map(|d| ledger_of(d).ok().map(|id| id.device))
        .collect()
}

/// Checks `bundle` whole before anything is written: the format, the fair `fair_id`, its
/// `source`'s signature, every ledger's key, device and size (`max_bytes`, as when it is
/// synced), and every change's author (`known.actors`).
pub(crate) fn check(
    bundle: &Bundle,
    fair_id: &str,
    source: Option<Source>,
    known: &Known,
    max_bytes: u64,
) -> Result<std::result::Result<Vec<Checked>, Forged>> {
    let source = check_signed(bundle, fair_id, source)?;
    let mut docs = Vec::new();
    for d in &bundle.docs {
        if d.key == fairpos_sync::ids::catalog_key(fair_id) {
            return Err(Error::input(
                "this bundle carries a copy of the catalog (`bundle export --catalog`): \
                 take edits headquarters lost from it with `hq catalog recover`",
            ));
        }
        let id = ledger_of(d)?;
        if id.fair != fair_id {
            let key = crate::untrusted::shown_cut(&d.key, 80);
            return Err(Error::input(format!("{key} belongs to another fair")));
        }
        if source.role == "till" && id.device != bundle.source {
            return Err(Error::input(format!(
                "forged ledger change: {} carries the ledger of {}",
                bundle.source,
                crate::untrusted::shown_cut(&id.device, 16)
            )));
        }
        let key = || crate::untrusted::shown_cut(&d.key, 80);
        let bytes = d
            .bytes()
            .ok_or_else(|| Error::input(format!("{}: the document is not base64", key())))?;
        let shown = document_id(&d.key).to_string();
        if let Some(why) = over_size(&shown, &id.device, bytes.len() as u64, max_bytes) {
            return Err(Error::input(why));
        }
        let doc = Automerge::load(&bytes)
            .map_err(|e| Error::input(format!("{}: the document does not load: {e}", key())))?;
        // A device shut out (revoked, or added again and not enrolled since: no actor) has
        // its ledgers left out by [`leave_out_shut_out`], not the whole bundle refused as
        // forged.
        let actor = known.actors.get(&id.device).cloned().flatten();
        let forged = (!known.shut_out.contains(&id.device))
            .then(|| first_forged(&doc, &id.device, actor.as_deref()))
            .flatten();
        if let Some(why) = forged {
            return Ok(Err(Forged {
                key: d.key.clone(),
                why,
            }));
        }
        docs.push((d.key.clone(), id.device, doc));
    }
    Ok(Ok(docs))
}

/// `docs` but the ledgers of the devices `shut_out` (revoked, or added again and not
/// enrolled since), and those, each with why: headquarters takes none of a revoked till's
/// ledgers through a hub's bundle, as it takes none through a hub's sync. A hub whose
/// uplink was down never heard of the revocation, and its bundle brought a stolen till's
/// sales in.
pub(crate) fn leave_out_shut_out(
    docs: Vec<Checked>,
    shut_out: &HashSet<String>,
) -> (Vec<Checked>, Vec<(String, String)>) {
    let (left, taken): (Vec<Checked>, Vec<Checked>) = docs
        .into_iter()
        .partition(|(_, device, _)| shut_out.contains(device));
    let refused = left
        .into_iter()
        .map(|(key, device, _)| {
            let why = format!("{device} is revoked: headquarters takes none of its ledgers");
            (key, why)
        })
        .collect();
    (taken, refused)
}

/// Checks what every bundle must be: of the format, of the fair `fair_id`, from an enrolled
/// device (`source`) and signed by it as it is.
pub(crate) fn check_signed(
    bundle: &Bundle,
    fair_id: &str,
    source: Option<Source>,
) -> Result<Source> {
    if bundle.format != FORMAT {
        return Err(Error::input(format!(
            "not a fairpos bundle ({})",
            shown(&bundle.format)
        )));
    }
    if bundle.fair != fair_id {
        return Err(Error::input(format!(
            "the bundle is for fair {}, this headquarters runs {fair_id}",
            shown(&bundle.fair)
        )));
    }
    let Some(source) = source else {
        return Err(Error::input(format!(
            "the bundle comes from {}, which is not an enrolled device",
            shown(&bundle.source)
        )));
    };
    if !bundle.verify(&source.public_key) {
        return Err(Error::input(format!(
            "the bundle's signature does not verify: it was not written by {} as it is",
            shown(&bundle.source)
        )));
    }
    Ok(source)
}

/// The source of `bundle` as `hq` knows it ([`Source`]): `None` for a device not enrolled, or
/// revoked.
pub(crate) fn source_of(hq: &Hq, bundle: &Bundle) -> Option<Source> {
    hq.conn
        .query_row(
            "SELECT role, public_key FROM devices WHERE device = ?1 AND revoked_at IS NULL",
            [&bundle.source],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
        .map(Source::from_row)
}

/// [`source_of`] a headquarters on PostgreSQL.
pub(crate) async fn source_in_postgres(
    pool: &fairpos_postgres::Pool,
    bundle: &Bundle,
) -> Result<Option<Source>> {
    let row = fairpos_postgres::registry::bundle_source(pool, &bundle.source).await?;
    Ok(row.map(Source::from_row))
}

impl Source {
    /// From a device's role and public key as the registry holds them.
    fn from_row((role, key): (String, Option<String>)) -> Source {
        Source {
            role,
            public_key: key.unwrap_or_default(),
        }
    }
}

/// The ledger a bundle's document says it is.
pub(crate) fn ledger_of(d: &BundleDoc) -> Result<LedgerId> {
    LedgerId::from_key(&d.key)
        .filter(|id| fairpos_sync::ledger::is_day(&id.day))
        .ok_or_else(|| {
            let key = crate::untrusted::shown_cut(&d.key, 80);
            Error::input(format!("{key} is not a ledger key"))
        })
}

/// The name a bundle's document is stored under: made from its heads, so that importing it
/// again writes nothing new.
pub(crate) fn chunk_name(doc: &Automerge) -> String {
    format!("bundle-{}", &keys_digest(&heads_text(&doc.get_heads())))
}

/// What importing a bundle's ledger stores, given the chunks stored of it.
#[derive(Debug)]
enum Fold {
    /// The ledger stored holds every change of the bundle's: nothing.
    Held,
    /// One snapshot (named `name`), holding every change of the chunks `superseded` (its
    /// own key not among them), which it replaces. Each import of a till's growing ledger from a USB stick had stored a
    /// whole snapshot beside the last, every one counted against the ledger's size limit.
    Snapshot {
        name: String,
        bytes: Vec<u8>,
        superseded: Vec<String>,
    },
}

/// What importing `bundle`, the bundle's document of the ledger `doc_id`, stores beside the
/// chunks `stored` (`(key, bytes)`) of it: nothing if they hold it; else it and they as one
/// snapshot, replacing those of them it is sure to hold. Chunks that do not load at all
/// (a damaged first snapshot) are left as they are, the bundle's document stored beside
/// them.
fn fold(doc_id: &str, stored: &[(String, Vec<u8>)], bundle: &Automerge) -> Fold {
    let alone = || Fold::Snapshot {
        name: chunk_name(bundle),
        bytes: bundle.save(),
        superseded: Vec::new(),
    };
    let Ok(Some(mut held)) = fairpos_sync::samod_storage::load_chunks(doc_id, stored) else {
        return alone();
    };
    if bundle
        .get_heads()
        .iter()
        .all(|h| held.get_change_meta_by_hash(h).is_some())
    {
        return Fold::Held;
    }
    // Only the chunks whose every change the document holds are replaced: automerge loads
    // what it can of damaged change chunks and passes over the rest (and the chunks after
    // them), so a chunk it did not take is left as it is.
    let mut superseded = contained(&held, stored);
    if held.merge(&mut bundle.clone()).is_err() {
        return alone();
    }
    let name = chunk_name(&held);
    // Stored under the snapshot's own key (imported before), it is written over, not gone.
    let own_key = format!("{doc_id}/snapshot/{name}");
    superseded.retain(|key| *key != own_key);
    Fold::Snapshot {
        name,
        bytes: held.save(),
        superseded,
    }
}

/// The keys of those of `stored` whose every change `doc` holds: a snapshot that loads on its
/// own and whose heads it holds, a change it holds (one waiting for a change it depends on
/// is not held).
fn contained(doc: &Automerge, stored: &[(String, Vec<u8>)]) -> Vec<String> {
    let holds = |hash: &automerge::ChangeHash| doc.get_change_meta_by_hash(hash).is_some();
    stored
        .iter()
        .filter(|(key, bytes)| {
            if key.contains("/snapshot/") {
                Automerge::load(bytes).is_ok_and(|snapshot| snapshot.get_heads().iter().all(holds))
            } else {
                automerge::Change::try_from(bytes.as_slice()).is_ok_and(|c| holds(&c.hash()))
            }
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// The ledgers of `docs` headquarters does not hold yet, per device (a ledger the bundle
/// carries twice counted once).
fn new_per_device(
    docs: &[Checked],
    held: impl Fn(&str) -> Result<bool>,
) -> Result<HashMap<&str, u64>> {
    let mut new: HashMap<&str, std::collections::BTreeSet<&str>> = HashMap::new();
    for (key, device, _) in docs {
        if !held(key)? {
            new.entry(device.as_str()).or_default().insert(key.as_str());
        }
    }
    Ok(new
        .into_iter()
        .map(|(device, keys)| (device, keys.len() as u64))
        .collect())
}

/// Verifies and imports `bundle`, held to `limits` as a sync is: no ledger over the size
/// limit, no till past its number of ledgers. `progress(imported, of)` is told after each
/// ledger stored and projected.
pub fn import(
    hq: &Hq,
    bundle: &Bundle,
    limits: &DocumentLimits,
    mut progress: impl FnMut(usize, usize),
) -> Result<Imported> {
    let source = source_of(hq, bundle);
    let mut known = Known::default();
    for device in devices_of(bundle) {
        // One headquarters does not know is refused whole by `check`, its changes written
        // by nobody it knows.
        if devices::shut_out_if_known(&hq.conn, &device)? == Some(true) {
            known.shut_out.insert(device.clone());
        }
        let actor = devices::actor_of(&hq.conn, &device)?;
        known.actors.insert(device, actor);
    }
    let checked = check(bundle, &hq.fair.id, source, &known, limits.max_bytes)?;
    let docs = match checked {
        Ok(docs) => docs,
        Err(Forged { key, why }) => {
            Hq::log_event(&hq.conn, &bundle.source, "refused", &why);
            return Err(Error::input(format!("{key}: {why}")));
        }
    };
    let (docs, refused) = leave_out_shut_out(docs, &known.shut_out);
    for (_, why) in &refused {
        Hq::log_event(&hq.conn, &bundle.source, "refused", why);
    }
    let held = |key: &str| -> Result<bool> {
        let n: i64 = hq.conn.query_row(
            "SELECT COUNT(*) FROM hq_docs WHERE doc_key = ?1",
            [key],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    };
    for (device, new) in new_per_device(&docs, held)? {
        if let Some(why) = crate::limits::too_many(&hq.conn, device, new, limits)? {
            return Err(Error::input(why));
        }
    }
    let of = docs.len() + refused.len();
    let mut out = Imported {
        refused,
        ..Imported::default()
    };
    for (key, device, doc) in docs {
        let doc_id = document_id(&key);
        let stored = fairpos_sync::samod_storage::document_chunks(&hq.conn, &doc_id)?;
        if let Fold::Snapshot {
            name,
            bytes,
            superseded,
        } = fold(&doc_id.to_string(), &stored, &doc)
        {
            let tx = rusqlite::Transaction::new_unchecked(
                &hq.conn,
                rusqlite::TransactionBehavior::Immediate,
            )?;
            put_chunk(&tx, &doc_id, "snapshot", &name, &bytes)?;
            let mut delete = tx.prepare_cached("DELETE FROM samod_kv WHERE key = ?1")?;
            for gone in &superseded {
                delete.execute([gone])?;
            }
            drop(delete);
            tx.commit()?;
        }
        crate::project::register_ledger(&hq.conn, &doc_id.to_string(), &key, &device)?;
        // Project what is stored now: earlier syncs and this bundle together.
        match project_stored(&hq.conn, &doc_id, &key, &device)? {
            Outcome::Projected { new_records, .. } => {
                out.new_records += new_records;
                out.documents += 1;
            }
            Outcome::Refused(why) => out.refused.push((key, why)),
            _ => out.documents += 1,
        }
        progress(out.documents + out.refused.len(), of);
    }
    Ok(out)
}

/// Verifies and imports `bundle` into a headquarters on PostgreSQL: its ledgers are stored
/// in the shared store (every serving process hears of them) and projected at once,
/// `progress` told as [`import`] tells it.
pub async fn import_postgres(
    pool: &fairpos_postgres::Pool,
    fair_id: &str,
    bundle: &Bundle,
    limits: &DocumentLimits,
    mut progress: impl FnMut(usize, usize),
) -> Result<Imported> {
    use fairpos_postgres::registry::{self, Authors};
    let source = source_in_postgres(pool, bundle).await?;
    let devices = devices_of(bundle);
    let mut known = Known::default();
    let client = pool.get().await.map_err(fairpos_postgres::Error::from)?;
    for device in &devices {
        let actor = match registry::authors_of(&client, device).await? {
            Authors::Actor(actor) => Some(actor),
            Authors::Unchecked | Authors::Nobody => None,
        };
        known.actors.insert(device.clone(), actor);
    }
    // Given back before the credentials take one of their own: never one connection held
    // while waiting for another.
    drop(client);
    for device in devices {
        let held = registry::credentials(pool, &device).await?;
        if held.is_some_and(|held| held.shut_out()) {
            known.shut_out.insert(device);
        }
    }
    let checked = check(bundle, fair_id, source, &known, limits.max_bytes)?;
    let docs = match checked {
        Ok(docs) => docs,
        Err(Forged { key, why }) => {
            registry::log_event(pool, &bundle.source, "refused", &why).await?;
            return Err(Error::input(format!("{key}: {why}")));
        }
    };
    let (docs, refused) = leave_out_shut_out(docs, &known.shut_out);
    for (_, why) in &refused {
        registry::log_event(pool, &bundle.source, "refused", why).await?;
    }
    // Every ledger announced at once, under the devices' announcement locks: none if one
    // till would pass its number of ledgers.
    let announced: Vec<(String, String, String)> = docs
        .iter()
        .map(|(key, device, _)| (key.clone(), document_id(key).to_string(), device.clone()))
        .collect();
    if let Some((device, would)) = registry::announce(pool, &announced, limits.per_device).await? {
        let why = crate::limits::over_limit(&device, would, 0, limits)
            .unwrap_or_else(|| format!("{device} would hold too many ledger documents"));
        return Err(Error::input(why));
    }
    let of = docs.len() + refused.len();
    let mut out = Imported {
        refused,
        ..Imported::default()
    };
    for (key, _, doc) in docs {
        let doc_id = document_id(&key);
        let stored = fairpos_postgres::documents::document_chunks(pool, &doc_id).await?;
        if let Fold::Snapshot {
            name,
            bytes,
            superseded,
        } = fold(&doc_id.to_string(), &stored, &doc)
        {
            let chunk = format!("{doc_id}/snapshot/{name}");
            fairpos_postgres::documents::replace_chunks(pool, (&chunk, &bytes), &superseded)
                .await?;
        }
        // Project what is stored now: earlier syncs and this bundle together.
        // Held to the size limit as a sync's ledger is: what is stored of it now.
        let max_bytes = Some(limits.max_bytes);
        match fairpos_postgres::ledgers::project_within(pool, &doc_id, max_bytes).await {
            Ok(projected) => out.new_records += projected.map_or(0, |p| p.new),
            Err(e) if e.refuses_ledger() => {
                let why = e.to_string();
                registry::refuse(pool, &doc_id.to_string(), &why).await?;
                out.refused.push((key, why));
                progress(out.documents + out.refused.len(), of);
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        out.documents += 1;
        progress(out.documents + out.refused.len(), of);
    }
    Ok(out)
}

fn keys_digest(text: &str) -> String {
    fairpos_sync::keys::secret_hash(text)[..16].to_string()
}

/// A hub's bundle of every ledger it holds, signed with its secret.
pub fn export(hq: &Hq) -> Result<Bundle> {
    // Refused before a headquarters' every ledger is loaded, not after.
    if !matches!(hq.role, Role::Hub { .. }) {
        return Err(exports_none());
    }
    let mut stmt = hq.conn.prepare(
        "SELECT doc_id, doc_key FROM hq_docs WHERE device IS NOT NULL AND refused IS NULL
         ORDER BY doc_key",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut docs = Vec::new();
    for (doc_id, key) in rows {
        let id = doc_id
            .parse()
            .map_err(|_| Error::Integrity(format!("bad document id {doc_id}")))?;
        if let Some(doc) = load_document(&hq.conn, &id)? {
            docs.push(BundleDoc::new(key, &doc.save()));
        }
    }
    signed_by_hub(hq, docs)
}

/// Why headquarters makes no bundle.
fn exports_none() -> Error {
    Error::input("headquarters does not export bundles; a till or a hub does")
}

/// A bundle of `docs` from the hub `hq`, signed with its secret.
pub(crate) fn signed_by_hub(hq: &Hq, docs: Vec<BundleDoc>) -> Result<Bundle> {
    let Role::Hub { device, .. } = &hq.role else {
        return Err(exports_none());
    };
    let secret = meta(&hq.conn, "secret")?
        .ok_or_else(|| Error::Integrity("the hub's secret is missing".into()))?;
    let mut bundle = Bundle {
        format: FORMAT.into(),
        fair: hq.fair.id.clone(),
        source: device.clone(),
        created_at: now_text(),
        docs,
        signature: String::new(),
    };
    bundle.sign(&secret);
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;

    use super::*;

    /// A document with `key` set, its new change's bytes beside it.
    fn with(mut doc: Automerge, key: &str) -> (Automerge, Vec<u8>) {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, 1).unwrap();
        tx.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        (doc, change)
    }

    /// A stored change chunk automerge cannot read passes over the chunks after it: those
    /// are kept, not replaced by a snapshot that lacks them. One it held is replaced.
    #[test]
    fn a_fold_replaces_only_the_chunks_whose_changes_it_holds() {
        let (first, _) = with(Automerge::new(), "a");
        let (later, held_change) = with(first.clone(), "b");
        let (_, unread_change) = with(later.clone(), "c");
        let stored = vec![
            ("d/incremental/1".to_string(), held_change),
            (
                "d/incremental/2".to_string(),
                b"\x85\x6f\x4a\x83 damaged".to_vec(),
            ),
            ("d/incremental/3".to_string(), unread_change),
            ("d/snapshot/s".to_string(), first.save()),
        ];
        let (bundle, _) = with(first.fork(), "x");
        let Fold::Snapshot {
            superseded, bytes, ..
        } = fold("d", &stored, &bundle)
        else {
            panic!("a change of the bundle is new")
        };
        assert!(
            !superseded.contains(&"d/incremental/3".to_string())
                && !superseded.contains(&"d/incremental/2".to_string()),
            "{superseded:?}"
        );
        let folded = Automerge::load(&bytes).unwrap();
        for kept in &superseded {
            let (_, chunk) = stored.iter().find(|(k, _)| k == kept).unwrap();
            if let Ok(change) = automerge::Change::try_from(chunk.as_slice()) {
                assert!(folded.get_change_meta_by_hash(&change.hash()).is_some());
            }
        }
        assert!(
            superseded.contains(&"d/snapshot/s".to_string()),
            "{superseded:?}"
        );
        // The bundle's change is in it.
        assert!(folded.get(automerge::ROOT, "x").unwrap().is_some());
        // Held already: nothing.
        assert!(matches!(fold("d", &stored, &first), Fold::Held));
    }
}
