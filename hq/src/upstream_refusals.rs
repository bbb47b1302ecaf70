//! What headquarters refuses of the ledgers a fair hub relays, held at the hub
//! (`hq_docs.upstream_refused`) and told to the tills that sync there, as headquarters
//! tells its own. Before, the hub confirmed such a till's ledgers from its own projection,
//! and the till was told it had synced while headquarters held none of what it refused.
//! Kept apart from the hub's own refusals: the hub's projection, which clears those when
//! a ledger projects, never clears headquarters'.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::{Error, Result};

/// The start of what a till is told of a ledger refused upstream of its hub.
pub const TOLD: &str = "headquarters refuses it";

/// Gives `hq_docs` the column of refusals made upstream (a hub's; always empty at
/// headquarters).
pub(crate) fn add_column(conn: &Connection) -> Result<()> {
    if !fairpos_projection::schema::has_column(conn, "hq_docs", "upstream_refused")? {
        conn.execute_batch("ALTER TABLE hq_docs ADD COLUMN upstream_refused TEXT")?;
    }
    Ok(())
}

/// Holds `refused` (ledger key → why headquarters refuses it: every ledger it refuses, of
/// those the hub asked about) as what is refused upstream, and lets go of those no longer
/// refused. The keys of ledgers held here newly refused, to be said.
pub fn hold(conn: &Connection, refused: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let told: BTreeMap<&String, String> = refused
        .iter()
        .map(|(key, why)| (key, format!("{TOLD}: {why}")))
        .collect();
    let json = serde_json::to_string(&told)
        .map_err(|e| Error::Other(format!("the refusals of headquarters: {e}")))?;
    // Taken for writing first: read, then written, by a connection beside the server's
    // writer.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let newly: Vec<String> = tx
        .prepare(
            "SELECT doc_key FROM hq_docs
             WHERE device IS NOT NULL AND upstream_refused IS NULL
               AND doc_key IN (SELECT key FROM json_each(?1))",
        )?
        .query_map([&json], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    tx.execute(
        "UPDATE hq_docs SET upstream_refused = (SELECT value FROM json_each(?1)
                                                 WHERE key = hq_docs.doc_key)
         WHERE device IS NOT NULL
           AND upstream_refused IS NOT (SELECT value FROM json_each(?1)
                                         WHERE key = hq_docs.doc_key)",
        [&json],
    )?;
    tx.commit()?;
    Ok(newly)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hq;

    /// A ledger headquarters refuses is refused at the hub, told as headquarters' refusal,
    /// and let go of once headquarters no longer refuses it; the hub's own refusals stand.
    #[test]
    fn what_headquarters_refuses_is_held_and_let_go_of() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hq::test_hub(dir.path());
        for (key, refused) in [("T01/a", None), ("T02/b", None), ("T03/c", Some("too big"))] {
            hub.conn
                .execute(
                    "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, refused,
                                         updated_at)
                     VALUES (?1, ?1, ?2, '', 0, ?3, '')",
                    rusqlite::params![key, &key[..3], refused],
                )
                .unwrap();
        }
        let held = |key: &str| -> Option<String> {
            hub.conn
                .query_row(
                    "SELECT COALESCE(refused, upstream_refused) FROM hq_docs WHERE doc_key = ?1",
                    [key],
                    |r| r.get(0),
                )
                .unwrap()
        };
        let refused = BTreeMap::from([
            ("T01/a".to_string(), "sales copied".to_string()),
            ("T09/z".to_string(), "not held here".to_string()),
        ]);
        assert_eq!(hold(&hub.conn, &refused).unwrap(), ["T01/a"]);
        assert_eq!(
            held("T01/a").as_deref(),
            Some("headquarters refuses it: sales copied")
        );
        assert_eq!(held("T02/b"), None);
        assert!(hold(&hub.conn, &refused).unwrap().is_empty(), "said once");
        assert!(hold(&hub.conn, &BTreeMap::new()).unwrap().is_empty());
        assert_eq!(held("T01/a"), None, "no longer refused upstream");
        assert_eq!(held("T03/c").as_deref(), Some("too big"), "the hub's own");
    }
}
