//! `hq catalog recover BUNDLE`: catalog edits headquarters lost, taken back from a till's
//! or a fair hub's copy of the catalog. A restore from a backup taken before them, the
//! database they were in gone (a lost disk), leaves them only at the tills and hubs that
//! synced since: one serves them in a bundle (`fairpos bundle export --catalog`), signed as
//! its ledgers are.
//!
//! A till never edits the catalog, so every change its copy holds that headquarters lacks
//! was headquarters' own, or was forged at the till. Nothing in a change says which: all
//! the changes would change is listed first (the whole document compared, as JSON, before
//! and after: every field of every entry, entries removed, anything else), `--dry-run`
//! lists only that, and an organizer takes them from a till they hold. Only a copy that
//! holds every change of headquarters' catalog is taken (a till synced since the restore,
//! whatever headquarters edited since): one that lacks some is behind, or of another
//! headquarters' lineage.

use automerge::ReadDoc;
use fairpos_sync::bundle::{Bundle, BundleDoc};
use fairpos_sync::catalog::{CatalogDoc, SECTIONS};
use serde::Serialize;
use serde_json::{Map, Value};

use super::key;
use crate::bundles::{check_signed, Source};
use crate::untrusted::shown;
use crate::{Error, Hq, Result, Role};

/// What a till's or a hub's copy of the catalog brings headquarters.
#[derive(Debug, Serialize)]
pub struct Recovery {
    /// The till or hub the copy came from.
    pub source: String,
    /// Changes the copy holds and headquarters lacks.
    pub changes: usize,
    /// What they change, as headquarters would hold it after.
    pub changed: Vec<Changed>,
    /// Whether they were taken (not with `--dry-run`).
    pub taken: bool,
}

/// One entry a recovery changes: its section (`products`…, or `catalog` for the document's
/// own fields), its id (a SKU…), and each field that differs, before and after (`null` for
/// one that is not there: an entry added, or removed).
#[derive(Debug, Serialize, PartialEq)]
pub struct Changed {
    pub section: String,
    pub id: String,
    pub fields: Vec<(String, Value, Value)>,
}

/// A hub's copy of headquarters' catalog, signed with its secret (`fairpos bundle export
/// --catalog` on a hub's directory): a hub syncs the catalog as a till does, so its copy
/// holds every edit it was sent, for [`examine`] as a till's.
pub fn export_hub_copy(hq: &Hq) -> Result<Bundle> {
    let doc = super::load(hq)?;
    let copy = BundleDoc::new(key(hq), &doc.automerge().save());
    crate::bundles::signed_by_hub(hq, vec![copy])
}

/// The most a catalog bundle's document may be, in bytes: a sync's limit on a document.
pub fn largest_copy() -> u64 {
    crate::limits::DocumentLimits::default().max_bytes
}

/// Checks `bundle` (from `source`, as headquarters knows it) against `held`, the catalog
/// headquarters holds, and lists what the copy would change; with the copy itself, to
/// take ([`super::merge_in`]) or not.
pub(crate) fn examine(
    hq: &Hq,
    held: &CatalogDoc,
    bundle: &Bundle,
    source: Option<Source>,
) -> Result<(Recovery, automerge::Automerge)> {
    if hq.role != Role::Hq {
        return Err(Error::input(
            "a hub takes headquarters' catalog whole: recover the catalog at headquarters",
        ));
    }
    // A till's copy or a hub's: each syncs the catalog, and signs what it exports.
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
    if bytes.len() as u64 > largest_copy() {
        return Err(Error::input(format!(
            "{}'s catalog is {} bytes, over the {} a document may be",
            bundle.source,
            bytes.len(),
            largest_copy()
        )));
    }
    let copy = CatalogDoc::load(&key, &hq.fair.id, &bytes)
        .map_err(|e| Error::input(format!("{}'s catalog: {e}", bundle.source)))?;
    let heads = held.automerge().get_heads();
    let lacking = heads
        .iter()
        .filter(|h| copy.automerge().get_change_by_hash(h).is_none())
        .count();
    if lacking > 0 {
        return Err(Error::input(format!(
            "{}'s catalog lacks {lacking} of headquarters' latest catalog changes: sync it \
             with headquarters, then export its catalog again (a copy that still lacks them \
             is of another headquarters' catalog)",
            bundle.source
        )));
    }
    let changes = copy.automerge().get_changes_meta(&heads).len();
    let mut merged = held.automerge().clone();
    let mut incoming = copy.automerge().clone();
    merged
        .merge(&mut incoming)
        .map_err(|e| Error::input(format!("{}'s catalog does not merge: {e}", bundle.source)))?;
    only_what_headquarters_writes(&merged).map_err(|why| {
        Error::input(format!(
            "{}'s catalog {why}, which headquarters never writes: not taken",
            bundle.source
        ))
    })?;
    // Read as the tills read it: a copy that leaves an entry unreadable, or the catalog more
    // than a till takes, is refused before anything is listed.
    let merged = CatalogDoc::open(&key, &hq.fair.id, merged)?;
    merged.contents_for_a_till().map_err(|e| {
        Error::input(format!(
            "{}'s catalog would leave the catalog unreadable ({e}): not taken",
            bundle.source
        ))
    })?;
    let changed = changed(&as_json(held.automerge())?, &as_json(merged.automerge())?);
    let recovery = Recovery {
        source: bundle.source.clone(),
        changes,
        changed,
        taken: false,
    };
    Ok((recovery, incoming))
}

/// Checks that `doc` holds only what headquarters writes into a catalog: scalars at the
/// root beside the four sections, each section a map of entries, each entry a map of
/// strings, integers, booleans and nulls. The list of what a copy changes is read as JSON,
/// which shows a counter, a timestamp or a float as a number, a text as a string and a
/// table as a map: those would change what tills read unseen (a till of an earlier build
/// reads a price written as a counter as none; a table or bytes make tills refuse the whole
/// catalog). Says where the first other thing is.
fn only_what_headquarters_writes(doc: &automerge::Automerge) -> std::result::Result<(), String> {
    use automerge::{ObjType, ScalarValue, Value as Am, ROOT};
    let scalar_ok = |v: &Am| {
        matches!(
            v,
            Am::Scalar(s) if matches!(
                s.as_ref(),
                ScalarValue::Str(_)
                    | ScalarValue::Int(_)
                    | ScalarValue::Uint(_)
                    | ScalarValue::Boolean(_)
                    | ScalarValue::Null
            )
        )
    };
    let kind = |v: &Am| match v {
        Am::Object(t) => format!("a {t:?}").to_lowercase(),
        Am::Scalar(s) => scalar_kind(s.as_ref()).to_string(),
    };
    for key in doc.keys(ROOT) {
        let Ok(Some((value, section))) = doc.get(ROOT, key.as_str()) else {
            continue;
        };
        if !is_section(&key) {
            if !scalar_ok(&value) {
                return Err(format!("writes {} at {}", kind(&value), shown(&key)));
            }
            continue;
        }
        if value != Am::Object(ObjType::Map) {
            return Err(format!("writes {} as the section {key}", kind(&value)));
        }
        for id in doc.keys(&section) {
            let Ok(Some((value, entry))) = doc.get(&section, id.as_str()) else {
                continue;
            };
            if value != Am::Object(ObjType::Map) {
                return Err(format!("writes {} as {key} {}", kind(&value), shown(&id)));
            }
            for field in doc.keys(&entry) {
                let Ok(Some((value, _))) = doc.get(&entry, field.as_str()) else {
                    continue;
                };
                if !scalar_ok(&value) {
                    return Err(format!(
                        "writes {} into {key} {} {}",
                        kind(&value),
                        shown(&id),
                        shown(&field)
                    ));
                }
            }
        }
    }
    Ok(())
}

fn scalar_kind(s: &automerge::ScalarValue) -> &'static str {
    use automerge::ScalarValue as S;
    match s {
        S::Bytes(_) => "bytes",
        S::Str(_) => "a string",
        S::Int(_) | S::Uint(_) => "an integer",
        S::F64(_) => "a float",
        S::Counter(_) => "a counter",
        S::Timestamp(_) => "a timestamp",
        S::Boolean(_) => "a boolean",
        S::Unknown { .. } => "a value of an unknown type",
        S::Null => "a null",
    }
}

fn not_a_catalog(bundle: &Bundle) -> Error {
    Error::input(format!(
        "the bundle from {} is not a copy of the catalog: write one with `fairpos bundle \
         export --catalog FILE` at the till or the hub",
        bundle.source
    ))
}

/// The whole document as JSON: every map, list and value in it.
fn as_json(doc: &automerge::Automerge) -> Result<Map<String, Value>> {
    match serde_json::to_value(automerge::AutoSerde::from(doc)) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Integrity("a catalog that is not a map".into())),
        Err(e) => Err(Error::Integrity(format!("a catalog as JSON: {e}"))),
    }
}

/// Everything that differs between the documents `before` and `after`: each entry of each
/// section field by field, and the document's other fields as entries of `catalog`.
fn changed(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<Changed> {
    let mut out = Vec::new();
    let mut own = Vec::new();
    for key in keys_of(before, after) {
        let (then, now) = (value_at(before, &key), value_at(after, &key));
        if then == now {
            continue;
        }
        match (then, now) {
            (Value::Object(then), Value::Object(now)) if is_section(&key) => {
                for id in keys_of(&then, &now) {
                    let fields = entry_changes(&value_at(&then, &id), &value_at(&now, &id));
                    if !fields.is_empty() {
                        out.push(Changed {
                            section: key.clone(),
                            id,
                            fields,
                        });
                    }
                }
            }
            (then, now) => own.push((key, then, now)),
        }
    }
    if !own.is_empty() {
        out.push(Changed {
            section: "catalog".into(),
            id: "(the document)".into(),
            fields: own,
        });
    }
    out
}

fn is_section(key: &str) -> bool {
    SECTIONS.contains(&key)
}

/// Each field of an entry that differs, before and after. Entries are maps (checked by
/// [`only_what_headquarters_writes`]); one not there (added, or removed) has no fields.
fn entry_changes(then: &Value, now: &Value) -> Vec<(String, Value, Value)> {
    let empty = Map::new();
    let then = then.as_object().unwrap_or(&empty);
    let now = now.as_object().unwrap_or(&empty);
    keys_of(then, now)
        .into_iter()
        .filter_map(|field| {
            let (a, b) = (value_at(then, &field), value_at(now, &field));
            (a != b).then_some((field, a, b))
        })
        .collect()
}

/// The keys of `a` and `b`, sorted, each once.
fn keys_of(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}

fn value_at(map: &Map<String, Value>, key: &str) -> Value {
    map.get(key).cloned().unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
