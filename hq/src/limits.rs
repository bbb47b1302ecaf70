//! What a till or a hub may make headquarters hold: how many ledger documents per till, and
//! how large one may grow in storage. A ledger over its size is refused (logged, no longer
//! shared, so samod takes nothing more of it); an announcement past the count is refused.
//! Together with the sync message limit, a device cannot fill headquarters' disk or memory
//! with huge or endless documents.

use std::collections::HashSet;

use fairpos_sync::samod::DocumentId;
use rusqlite::Connection;

use crate::Result;

/// The limits `hq serve` enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Bytes one ledger document may take in storage (samod's chunks).
    pub max_bytes: u64,
    /// Ledger documents one till may have (one per day it sold).
    pub per_device: u64,
}

/// `--max-document`'s default, for `hq serve` and `hq bundle import` alike.
pub const DEFAULT_MAX_DOCUMENT: &str = "256MiB";
/// `hq bundle import --max-bundle`'s default: a till's fair of days, or a hub's of many
/// tills, is far less.
pub const DEFAULT_MAX_BUNDLE: &str = "1GiB";
/// `--max-documents-per-device`'s default, for `hq serve` and `hq bundle import` alike.
pub const DEFAULT_MAX_DOCUMENTS_PER_DEVICE: u64 = 400;

impl Default for DocumentLimits {
    fn default() -> DocumentLimits {
        DocumentLimits {
            max_bytes: 256 << 20,
            per_device: DEFAULT_MAX_DOCUMENTS_PER_DEVICE,
        }
    }
}

/// A size as `--max-document` takes it: a whole number and `KiB`, `MiB` or `GiB`.
pub fn parse_size(flag: &str, text: &str) -> Result<u64> {
    let bad = || {
        crate::Error::input(format!(
            "{flag} {text}: a whole number and KiB, MiB or GiB (64KiB, 256MiB)"
        ))
    };
    let digits = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: u64 = text[..digits].parse().map_err(|_| bad())?;
    let shift = match &text[digits..] {
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(bad()),
    };
    match n.checked_shl(shift).filter(|b| *b > 0 && *b >> shift == n) {
        Some(b) => Ok(b),
        None => Err(bad()),
    }
}

/// Why announcing `new` more documents of `device` would pass the limit, if it would.
pub fn too_many(
    conn: &Connection,
    device: &str,
    new: u64,
    limits: &DocumentLimits,
) -> Result<Option<String>> {
    let held: i64 = conn.query_row(
        "SELECT COUNT(*) FROM hq_docs WHERE device = ?1",
        [device],
        |r| r.get(0),
    )?;
    Ok(over_limit(device, held.max(0) as u64, new, limits))
}

/// Why `device`, holding `held` ledger documents, may not have `new` more; `None` if it may.
pub fn over_limit(device: &str, held: u64, new: u64, limits: &DocumentLimits) -> Option<String> {
    (held + new > limits.per_device).then(|| {
        format!(
            "{device} would hold {} ledger documents; the limit is {} (--max-documents-per-device)",
            held + new,
            limits.per_device
        )
    })
}

/// The bytes samod holds of `doc` (every chunk under its id).
pub fn stored_bytes(conn: &Connection, doc: &DocumentId) -> Result<u64> {
    let prefix = format!("{doc}/");
    // Keys under the prefix, by range (the primary key's order): `0` follows `/`.
    let end = format!("{doc}0");
    let bytes: i64 = conn.query_row(
        "SELECT COALESCE(SUM(length(bytes)), 0) FROM samod_kv WHERE key >= ?1 AND key < ?2",
        [&prefix, &end],
        |r| r.get(0),
    )?;
    Ok(bytes.max(0) as u64)
}

pub use fairpos_sync::protocol::OVERSIZED;

/// Documents refused for their size that are still over `limits`, as the share policy
/// starts with; one within the limits now (it was raised) is refused no longer.
pub fn oversized(conn: &Connection, limits: &DocumentLimits) -> Result<HashSet<DocumentId>> {
    let mut stmt = conn.prepare("SELECT doc_id FROM hq_docs WHERE refused LIKE ?1")?;
    let rows = stmt.query_map([format!("{OVERSIZED}%")], |r| r.get::<_, String>(0))?;
    let mut out = HashSet::new();
    for text in rows {
        let text = text?;
        let Ok(id) = text.parse::<DocumentId>() else {
            continue;
        };
        if stored_bytes(conn, &id)? > limits.max_bytes {
            out.insert(id);
        } else {
            conn.execute(
                "UPDATE hq_docs SET refused = NULL WHERE doc_id = ?1",
                [&text],
            )?;
        }
    }
    Ok(out)
}

/// Why a ledger samod just stored is over `limits`, if it is.
pub fn oversize(
    conn: &Connection,
    doc: &DocumentId,
    device: &str,
    limits: &DocumentLimits,
) -> Result<Option<String>> {
    Ok(over_size(doc, device, stored_bytes(conn, doc)?, limits))
}

/// Why `device`'s ledger `doc`, taking `bytes` in storage, is over `limits`, if it is.
pub fn over_size(
    doc: &DocumentId,
    device: &str,
    bytes: u64,
    limits: &DocumentLimits,
) -> Option<String> {
    fairpos_sync::protocol::over_size(&doc.to_string(), device, bytes, limits.max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_defaults_are_the_default_limits() {
        let flags = DocumentLimits {
            max_bytes: parse_size("--max-document", DEFAULT_MAX_DOCUMENT).unwrap(),
            per_device: DEFAULT_MAX_DOCUMENTS_PER_DEVICE,
        };
        assert_eq!(flags, DocumentLimits::default());
    }

    #[test]
    fn sizes_are_read_with_their_unit() {
        assert_eq!(parse_size("--x", "64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("--x", "256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("--x", "2GiB").unwrap(), 2 << 30);
        for bad in [
            "",
            "MiB",
            "0MiB",
            "12",
            "3MB",
            "-5MiB",
            "1.5GiB",
            "99999999999999GiB",
        ] {
            assert!(parse_size("--x", bad).is_err(), "{bad}");
        }
    }
}
