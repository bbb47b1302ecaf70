//! Bundles at headquarters: importing what a till or hub carried on a USB stick, and a hub
//! exporting what it holds. An import is checked whole before anything is written: the fair,
//! the source's signature, and every ledger change's author. Importing twice changes nothing.

use automerge::Automerge;
use fairpos_sync::bundle::{Bundle, BundleDoc, FORMAT};
use fairpos_sync::ids::document_id;
use fairpos_sync::ledger::heads_text;
use fairpos_sync::samod_storage::{load_document, put_chunk};
use fairpos_sync::LedgerId;
use rusqlite::params;

use crate::project::{check_authors, project_ledger, Outcome};
use crate::{devices, meta, now_text, Hq, Role};
use crate::{Error, Result};

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub documents: usize,
    pub new_records: usize,
}

/// Verifies and imports `bundle`.
pub fn import(hq: &Hq, bundle: &Bundle) -> Result<Imported> {
    if bundle.format != FORMAT {
        return Err(Error::input(format!(
            "not a fairpos bundle ({})",
            bundle.format
        )));
    }
    if bundle.fair != hq.fair.id {
        return Err(Error::input(format!(
            "the bundle is for fair {}, this headquarters runs {}",
            bundle.fair, hq.fair.id
        )));
    }
    let role: Option<String> = hq
        .conn
        .query_row(
            "SELECT role FROM devices WHERE device = ?1 AND revoked_at IS NULL",
            [&bundle.source],
            |r| r.get(0),
        )
        .ok();
    let Some(role) = role else {
        return Err(Error::input(format!(
            "the bundle comes from {}, which is not an enrolled device",
            bundle.source
        )));
    };
    let key = devices::public_key_of(&hq.conn, &bundle.source)?.unwrap_or_default();
    if !bundle.verify(&key) {
        return Err(Error::input(format!(
            "the bundle's signature does not verify: it was not written by {} as it is",
            bundle.source
        )));
    }
    // Check every document before writing any.
    let mut docs: Vec<(String, String, Automerge)> = Vec::new();
    for d in &bundle.docs {
        let id = LedgerId::from_key(&d.key)
            .ok_or_else(|| Error::input(format!("{} is not a ledger key", d.key)))?;
        if id.fair != hq.fair.id {
            return Err(Error::input(format!("{} belongs to another fair", d.key)));
        }
        if role == "till" && id.device != bundle.source {
            return Err(Error::input(format!(
                "forged ledger change: {} carries the ledger of {}",
                bundle.source, id.device
            )));
        }
        let bytes = d
            .bytes()
            .ok_or_else(|| Error::input(format!("{}: the document is not base64", d.key)))?;
        let doc = Automerge::load(&bytes)
            .map_err(|e| Error::input(format!("{}: the document does not load: {e}", d.key)))?;
        if let Some(why) = check_authors(&hq.conn, &id.device, &doc)? {
            Hq::log_event(&hq.conn, &bundle.source, "refused", &why);
            return Err(Error::input(format!("{}: {why}", d.key)));
        }
        docs.push((d.key.clone(), id.device, doc));
    }
    let mut out = Imported::default();
    for (key, device, doc) in docs {
        let doc_id = document_id(&key);
        let name = format!("bundle-{}", &keys_digest(&heads_text(&doc.get_heads())));
        put_chunk(&hq.conn, &doc_id, "snapshot", &name, &doc.save())?;
        hq.conn.execute(
            "INSERT INTO hq_docs(doc_id, doc_key, device, heads, records, updated_at)
             VALUES (?1, ?2, ?3, '', 0, ?4) ON CONFLICT(doc_id) DO NOTHING",
            params![doc_id.to_string(), key, device, now_text()],
        )?;
        // Project what is stored now: earlier syncs and this bundle together.
        let stored = load_document(&hq.conn, &doc_id)?.unwrap_or(doc);
        match project_ledger(&hq.conn, &doc_id, &key, &device, stored)? {
            Outcome::Projected { new_records, .. } => out.new_records += new_records,
            Outcome::Refused(why) => return Err(Error::input(format!("{key}: {why}"))),
            _ => {}
        }
        out.documents += 1;
    }
    Ok(out)
}

fn keys_digest(text: &str) -> String {
    fairpos_sync::keys::secret_hash(text)[..16].to_string()
}

/// A hub's bundle of every ledger it holds, signed with its secret.
pub fn export(hq: &Hq) -> Result<Bundle> {
    let Role::Hub { device, .. } = &hq.role else {
        return Err(Error::input(
            "headquarters does not export bundles; a till or a hub does",
        ));
    };
    let secret = meta(&hq.conn, "secret")?
        .ok_or_else(|| Error::Integrity("the hub's secret is missing".into()))?;
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
