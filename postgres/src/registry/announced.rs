//! The ledger documents devices announce, and how far each is projected: what a till's
//! confirmation reads, and the refusals held for it.

use deadpool_postgres::GenericClient;
use fairpos_sync::plausible::Weight;
use fairpos_sync::samod_storage::chunks_digest;

use crate::{Pool, Result};

/// A ledger document and how far it is projected, as a confirmation reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocState {
    pub key: String,
    pub doc_id: String,
    pub device: Option<String>,
    pub heads: String,
    pub records: i64,
    pub refused: Option<String>,
}

/// Registers ledgers `(key, document id, device)` a device is about to sync (those
/// registered already are left as they are), unless a device would then hold more than
/// `per_device` ledgers: then nothing is registered and `(device, how many)` is returned.
/// Announcements of one device through two processes at once take turns, so the limit holds.
pub async fn announce(
    pool: &Pool,
    docs: &[(String, String, String)],
    per_device: u64,
) -> Result<Option<(String, u64)>> {
    let mut client = pool.get().await?;
    let tx = crate::read_committed(&mut client).await?;
    let devices: std::collections::BTreeSet<&str> = docs.iter().map(|d| d.2.as_str()).collect();
    // The devices' locks in the order of what is locked (their hashes): in the devices'
    // order, two announcements could wait for each other crosswise through two devices of
    // one hash.
    let names: Vec<&str> = devices.iter().copied().collect();
    crate::lock_names_in_order(&tx, ANNOUNCE_LOCK, &names).await?;
    let ids: Vec<&str> = docs.iter().map(|d| d.1.as_str()).collect();
    let held: std::collections::HashSet<String> = tx
        .query("SELECT doc_id FROM hq_docs WHERE doc_id = ANY($1)", &[&ids])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for device in devices {
        let new = docs
            .iter()
            .filter(|d| d.2 == device && !held.contains(&d.1))
            .map(|d| &d.1)
            .collect::<std::collections::HashSet<_>>()
            .len() as u64;
        if new == 0 {
            continue;
        }
        let holds: i64 = tx
            .query_one("SELECT COUNT(*) FROM hq_docs WHERE device = $1", &[&device])
            .await?
            .get(0);
        let would = holds.max(0) as u64 + new;
        if would > per_device {
            return Ok(Some((device.to_string(), would)));
        }
    }
    let keys: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    let owners: Vec<&str> = docs.iter().map(|d| d.2.as_str()).collect();
    tx.execute(
        "INSERT INTO hq_docs(doc_key, doc_id, device, heads, records)
         SELECT k, i, d, '', 0 FROM unnest($1::text[], $2::text[], $3::text[]) AS t(k, i, d)
         ON CONFLICT DO NOTHING",
        &[&keys, &ids, &owners],
    )
    .await?;
    tx.commit().await?;
    Ok(None)
}

/// The class of the advisory locks announcements of one device take turns on ("ann").
const ANNOUNCE_LOCK: i32 = 0x61_6e6e;

/// The key and device of an announced document (a device `None`: announced as no
/// device's).
pub async fn announced(pool: &Pool, doc_id: &str) -> Result<Option<(String, Option<String>)>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT doc_key, device FROM hq_docs WHERE doc_id = $1")
        .await?;
    let row = client.query_opt(&statement, &[&doc_id]).await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// The announced ledgers (of `device`, or of every device) and how far each is projected, by
/// key.
pub async fn documents(pool: &Pool, device: Option<&str>) -> Result<Vec<DocState>> {
    documents_where(pool, device, false).await
}

/// [`documents`], only those refused.
pub async fn refused_documents(pool: &Pool, device: Option<&str>) -> Result<Vec<DocState>> {
    documents_where(pool, device, true).await
}

async fn documents_where(
    pool: &Pool,
    device: Option<&str>,
    refused_only: bool,
) -> Result<Vec<DocState>> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT doc_key, doc_id, device, heads, records, refused FROM hq_docs
             WHERE device IS NOT NULL AND ($1::text IS NULL OR device = $1)
               AND (NOT $2 OR refused IS NOT NULL)
             ORDER BY doc_key",
        )
        .await?;
    let rows = client.query(&statement, &[&device, &refused_only]).await?;
    Ok(rows
        .iter()
        .map(|r| DocState {
            key: r.get(0),
            doc_id: r.get(1),
            device: r.get(2),
            heads: r.get(3),
            records: r.get(4),
            refused: r.get(5),
        })
        .collect())
}

/// Registers the ledger `key` (document `doc_id`) of `device` in a database that only
/// mirrors a SQLite headquarters (it knows no devices, and no till announces anything to
/// it), unless it is: how far it is projected is then kept as an announced ledger's is, so
/// that a start takes only the ledgers stored since, and each projection resumes from its
/// heads instead of reading the whole ledger again.
pub(crate) async fn register_mirrored(
    client: &impl GenericClient,
    key: &str,
    doc_id: &str,
    device: &str,
) -> Result<()> {
    let statement = client
        .prepare_cached(
            "INSERT INTO hq_docs(doc_key, doc_id, device, heads, records)
             VALUES ($1, $2, $3, '', 0) ON CONFLICT DO NOTHING",
        )
        .await?;
    client
        .execute(&statement, &[&key, &doc_id, &device])
        .await?;
    Ok(())
}

/// How far an announced ledger is projected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectedState {
    /// Its heads as projected ([`heads_text`]; empty before its first projection).
    ///
    /// [`heads_text`]: fairpos_sync::ledger::heads_text
    pub heads: String,
    /// The digest of the chunks they were read from, if it was projected.
    pub chunks_digest: Option<String>,
    /// What its records at those heads come to, if known: stored by this build with those
    /// very heads (`weight_heads`). Unknown where a build before stored none, or where one
    /// still running projected the ledger further since (it writes the heads alone). A
    /// projection resuming from the heads with it reads only the records added since.
    pub weight: Option<Weight>,
    /// What its projection goes on from with only the chunks stored since, without loading
    /// the document, if this build stored it with the heads, the digest and the weight.
    pub chunks_read: Option<ChunksRead>,
}

/// A ledger projected, as its next projection reads the chunks stored since on their own
/// ([`fairpos_sync::ledger_changes::ChangeReader::appended`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunksRead {
    pub doc_key: String,
    pub device: String,
    /// How many records it holds.
    pub records: i64,
    /// The keys of the stored chunks its heads were read from, every change in them
    /// projected: their digest is the `chunks_digest` stored.
    pub keys: Vec<String>,
    /// Its records map's object id ([`fairpos_sync::ledger_changes::ChangeReader::new`]).
    pub records_map: String,
}

/// How far `doc_id` is projected, if it is announced.
pub async fn projected(
    client: &impl GenericClient,
    doc_id: &str,
) -> Result<Option<ProjectedState>> {
    let statement = client
        .prepare_cached(
            "SELECT heads, chunks_digest, weight_fen, weight_qty, weight_heads = heads,
                    doc_key, device, records, chunk_keys, records_map, refused IS NULL
             FROM hq_docs WHERE doc_id = $1",
        )
        .await?;
    let row = client.query_opt(&statement, &[&doc_id]).await?;
    Ok(row.map(|r| {
        let described = r.get::<_, Option<bool>>(4) == Some(true);
        let weight = Weight::from_stored(r.get(2), r.get(3)).filter(|_| described);
        let digest: Option<String> = r.get(1);
        // Only with the heads and the weight they were stored with (a build before writes
        // the heads and the digest alone), and not for a ledger refused.
        let chunks_read = match (r.get(6), r.get(8), r.get(9)) {
            (Some(device), Some(keys), Some(records_map)) if weight.is_some() && r.get(10) => {
                Some(ChunksRead {
                    doc_key: r.get(5),
                    device,
                    records: r.get(7),
                    keys,
                    records_map,
                })
            }
            _ => None,
        }
        .filter(|read: &ChunksRead| {
            let keys = read.keys.iter().map(String::as_str);
            digest.as_deref() == Some(chunks_digest(keys).as_str())
        });
        ProjectedState {
            heads: r.get(0),
            chunks_digest: digest,
            weight,
            chunks_read,
        }
    }))
}

/// The bytes samod holds of each of `doc_ids` that is an announced ledger, and its device:
/// `(document id, device, bytes)`.
pub async fn stored_sizes(pool: &Pool, doc_ids: &[String]) -> Result<Vec<(String, String, i64)>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT d.doc_id, d.device,
                    (SELECT CAST(COALESCE(SUM(octet_length(k.bytes)), 0) AS BIGINT)
                     FROM samod_kv k
                     WHERE k.key > d.doc_id || '/' AND k.key < d.doc_id || '0')
             FROM hq_docs d WHERE d.doc_id = ANY($1) AND d.device IS NOT NULL",
            &[&doc_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// The ledgers refused with a reason that starts with `why`.
pub async fn refused_for(pool: &Pool, why: &str) -> Result<Vec<String>> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT doc_id FROM hq_docs WHERE starts_with(refused, $1)",
            &[&why],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Takes back the refusal of `doc_id` (a limit was raised).
pub async fn unrefuse(pool: &Pool, doc_id: &str) -> Result<()> {
    crate::execute(
        pool,
        "UPDATE hq_docs SET refused = NULL WHERE doc_id = $1",
        &[&doc_id],
    )
    .await?;
    Ok(())
}

/// Marks the ledger `doc_id` refused and logs why as a sync event of its device, once: a
/// refusal already stored (by another process, or at an earlier pass) is not logged again.
pub async fn refuse(pool: &Pool, doc_id: &str, why: &str) -> Result<()> {
    crate::execute(
        pool,
        "WITH marked AS (
                 UPDATE hq_docs SET refused = $2, updated_at = now()
                 WHERE doc_id = $1 AND refused IS DISTINCT FROM $2 RETURNING device)
             INSERT INTO sync_events(device, kind, detail)
             SELECT device, 'refused', $2 FROM marked WHERE device IS NOT NULL",
        &[&doc_id, &why],
    )
    .await?;
    Ok(())
}
