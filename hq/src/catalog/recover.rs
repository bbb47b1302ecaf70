//! `hq catalog recover BUNDLE`: catalog edits headquarters lost, taken back from a till's
//! copy of the catalog. A restore from a backup taken before them, the database they were
//! in gone (a lost disk), leaves them only at the tills that synced since: the till serves
//! them in a bundle (`fairpos bundle export --catalog`), signed as its ledgers are.
//!
//! A till never edits the catalog, so every change its copy holds that headquarters lacks
//! was headquarters' own, or was forged at the till. Nothing in a change says which: what
//! the changes would change is shown first (`--dry-run` shows only that), and an organizer
//! takes them from a till they hold. Only a copy that holds every change of headquarters'
//! catalog is taken (a till synced since the restore, whatever headquarters edited since):
//! one that lacks some is behind, or of another headquarters' lineage.

use automerge::{ChangeHash, ReadDoc};
use fairpos_sync::bundle::Bundle;
use fairpos_sync::catalog::{
    CatalogDoc, CatalogProduct, CatalogSeller, CatalogStall, CatalogUnit, Entry,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{key, load, merge_in};
use crate::bundles::{check_signed, Source};
use crate::{Error, Hq, Result};

/// What a till's copy of the catalog brings headquarters.
#[derive(Debug, Serialize)]
pub struct Recovery {
    /// The till the copy came from.
    pub source: String,
    /// Changes the copy holds and headquarters lacks.
    pub changes: usize,
    /// The entries they change, as headquarters would hold them after.
    pub changed: Vec<Changed>,
    /// Whether they were taken (not with `--dry-run`).
    pub taken: bool,
}

/// One entry a recovery changes: its section (`products`…), its id (a SKU…), and each field
/// that differs, before and after (`null` for an entry headquarters does not hold).
#[derive(Debug, Serialize, PartialEq)]
pub struct Changed {
    pub section: &'static str,
    pub id: String,
    pub fields: Vec<(String, Value, Value)>,
}

/// Checks `bundle` (from `source`, as headquarters knows it) and what its catalog brings
/// `hq`; merges it in as an edit unless `dry_run` (the caller logs it where the
/// headquarters keeps its events).
pub(crate) fn recover(
    hq: &Hq,
    bundle: &Bundle,
    source: Option<Source>,
    dry_run: bool,
) -> Result<Recovery> {
    check_signed(bundle, &hq.fair.id, source)?;
    let key = key(hq);
    let [doc] = bundle.docs.as_slice() else {
        return Err(not_a_catalog(bundle));
    };
    if doc.key != key {
        return Err(not_a_catalog(bundle));
    }
    let bytes = doc
        .bytes()
        .ok_or_else(|| Error::input(format!("{}: the document is not base64", doc.key)))?;
    let copy = CatalogDoc::load(&key, &hq.fair.id, &bytes)
        .map_err(|e| Error::input(format!("{}'s catalog: {e}", bundle.source)))?;
    let held = load(hq)?;
    let heads = held.automerge().get_heads();
    let lacking = heads
        .iter()
        .filter(|h| copy.automerge().get_change_by_hash(h).is_none())
        .count();
    if lacking > 0 {
        return Err(Error::input(format!(
            "{}'s catalog lacks {lacking} of headquarters' latest catalog changes: sync the \
             till with headquarters, then export its catalog again (a copy that still lacks \
             them is of another headquarters' catalog)",
            bundle.source
        )));
    }
    let changes = new_changes(&copy, &heads);
    let mut merged = held.automerge().clone();
    let mut incoming = copy.automerge().clone();
    merged
        .merge(&mut incoming)
        .map_err(|e| Error::input(format!("{}'s catalog does not merge: {e}", bundle.source)))?;
    let after = CatalogDoc::open(&key, &hq.fair.id, merged)?;
    let changed = changed(&held, &after)?;
    if !dry_run && changes > 0 {
        merge_in(hq, copy.automerge().clone())?;
    }
    Ok(Recovery {
        source: bundle.source.clone(),
        changes,
        changed,
        taken: !dry_run && changes > 0,
    })
}

fn not_a_catalog(bundle: &Bundle) -> Error {
    Error::input(format!(
        "the bundle from {} is not a till's catalog: write one with `fairpos bundle export \
         --catalog FILE` at the till",
        bundle.source
    ))
}

/// How many changes `copy` holds beyond `heads` (which it holds).
fn new_changes(copy: &CatalogDoc, heads: &[ChangeHash]) -> usize {
    copy.automerge().get_changes(heads).len()
}

/// Every entry that differs between `before` and `after`, section by section.
fn changed(before: &CatalogDoc, after: &CatalogDoc) -> Result<Vec<Changed>> {
    let mut out = Vec::new();
    section::<CatalogProduct>(before, after, &mut out)?;
    section::<CatalogStall>(before, after, &mut out)?;
    section::<CatalogSeller>(before, after, &mut out)?;
    section::<CatalogUnit>(before, after, &mut out)?;
    Ok(out)
}

fn section<E: Entry>(
    before: &CatalogDoc,
    after: &CatalogDoc,
    out: &mut Vec<Changed>,
) -> Result<()> {
    let by_id = |doc: &CatalogDoc| -> Result<Vec<(String, Map<String, Value>)>> {
        let mut rows = Vec::new();
        for entry in doc.entries::<E>()? {
            let Ok(Value::Object(mut fields)) = serde_json::to_value(entry) else {
                continue;
            };
            let id = match fields.remove(E::ID) {
                Some(Value::String(id)) => id,
                Some(other) => other.to_string(),
                None => continue,
            };
            rows.push((id, fields));
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(rows)
    };
    let was = by_id(before)?;
    for (id, now) in by_id(after)? {
        let then = was
            .binary_search_by(|(i, _)| i.cmp(&id))
            .ok()
            .map(|at| &was[at].1);
        let mut fields = Vec::new();
        for (field, value) in &now {
            let old = then
                .and_then(|t| t.get(field))
                .cloned()
                .unwrap_or(Value::Null);
            if &old != value {
                fields.push((field.clone(), old, value.clone()));
            }
        }
        if !fields.is_empty() {
            out.push(Changed {
                section: E::SECTION,
                id,
                fields,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
