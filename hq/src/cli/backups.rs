//! `hq backup` and `hq restore` as an operator runs them: one line on what the copy holds,
//! progress on stderr while a big one is written. And `hq catalog recover`, which takes back
//! from a till the catalog edits a restore lost.

use std::path::Path;

use super::args::CopyFile;
use super::imports::import_into;
use super::kit::print_json;
use super::postgres;
use crate::backup::{self, Holding, Progress};
use crate::bundles;
use crate::untrusted::shown;
use crate::{catalog, Error, Hq, Result};

/// `bytes` as an operator reads a file's size.
fn size(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// A copy this large is said to be checked however quickly it was made: its check takes
/// several times as long as a copy the kernel makes from the page cache.
const CHECK_SAID_FROM: u64 = 256 << 20;

/// A long copy's progress, on stderr: `doing: X MiB of Y MiB`, then that it is checked and
/// written to disk (when it was long to copy, or is large).
fn told_on_stderr(doing: &'static str) -> impl FnMut(Progress) {
    let mut told = false;
    move |progress| match progress {
        Progress::Copied { bytes, of } => {
            told = true;
            eprintln!("{doing}: {} of {}", size(bytes), size(of));
        }
        Progress::Checking { bytes } if told || bytes >= CHECK_SAID_FROM => {
            told = true;
            eprintln!("{doing}: checking every page of the copy ({})", size(bytes));
        }
        Progress::Flushing { bytes } if told => {
            eprintln!("{doing}: writing the copy to disk ({})", size(bytes));
        }
        Progress::Checking { .. } | Progress::Flushing { .. } => {}
    }
}

fn holds(h: &Holding) -> String {
    format!(
        "{} ledgers, {} sales, {}",
        h.ledgers,
        h.sales,
        size(h.bytes)
    )
}

pub fn backup(dir: &Path, args: CopyFile) -> Result<()> {
    let holding = backup::backup(dir, &args.file, told_on_stderr("backing up"))?;
    if args.json {
        return print_json(&holding);
    }
    println!(
        "backed up the {} of fair {} to {}: {}",
        role_name(&holding.role),
        holding.fair,
        args.file.display(),
        holds(&holding)
    );
    Ok(())
}

pub fn restore(dir: &Path, args: CopyFile) -> Result<()> {
    let restored = backup::restore(dir, &args.file, told_on_stderr("restoring"))?;
    if args.json {
        return print_json(&restored);
    }
    let h = &restored.holding;
    println!(
        "restored the {} of fair {} from {}: {}",
        role_name(&h.role),
        h.fair,
        args.file.display(),
        holds(h)
    );
    if let Some(kept) = &restored.replaced_kept_as {
        println!("the database it replaced is kept as {}", kept.display());
    }
    if restored.catalog_changes_merged > 0 {
        println!(
            "{} catalog changes made since the backup (the tills hold them) were merged in",
            restored.catalog_changes_merged
        );
    }
    if restored.ledgers_carried > 0 {
        println!(
            "{} ledgers' changes synced since the backup were carried over from the database \
             replaced (hq serve projects them when it starts)",
            restored.ledgers_carried
        );
    }
    if restored.audit_entries_kept > 0 {
        println!(
            "{} audit log entries written since the backup were kept",
            restored.audit_entries_kept
        );
    }
    match &restored.revoked_since {
        Some(devices) if !devices.is_empty() => println!(
            "devices revoked since the backup, which it would let in again, revoked again: {}",
            devices.join(", ")
        ),
        Some(_) => {}
        None if h.role == "hub" => {}
        None => {
            println!("devices revoked after the backup are let in again by it: revoke them again")
        }
    }
    match &restored.enrolled_again_since {
        Some(devices) if !devices.is_empty() => println!(
            "devices enrolled again since the backup, kept as enrolled now (the backup's \
             tokens of them refused): {}",
            devices.join(", ")
        ),
        Some(_) => {}
        None if h.role == "hub" => {}
        None => println!(
            "devices enrolled again after the backup hold their old tokens good in it: revoke \
             them, add them and enrol them again"
        ),
    }
    if restored.sessions_ended > 0 {
        println!(
            "dashboard sessions ended: {} (the backup's: one ended since would live again); \
             everyone logs in again",
            restored.sessions_ended
        );
    }
    match &restored.accounts_changed_since {
        Some(accounts) if !accounts.is_empty() => println!(
            "accounts changed since the backup, as it had them again: {}; set them again \
             (hq user add|passwd|remove)",
            accounts.join(", ")
        ),
        Some(_) => {}
        None if h.role == "hub" => {}
        None => println!(
            "accounts and screen links changed after the backup are as it had them again: \
             check them (hq user list, hq screen-link --list)"
        ),
    }
    match &restored.screen_links_revoked_since {
        Some(links) if !links.is_empty() => println!(
            "screen links revoked since the backup, which it would let in again, revoked \
             again: {}",
            links.join(", ")
        ),
        _ => {}
    }
    for warning in &restored.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "each till's next sync brings back what it sold since the backup; a till enrolled \
         since is given a new code (hq add-device) and runs `fairpos enroll --again`"
    );
    Ok(())
}

fn role_name(role: &str) -> &'static str {
    match role {
        "hub" => "hub",
        _ => "headquarters",
    }
}

pub fn recover_catalog(dir: &Path, file: &Path, dry_run: bool, json: bool) -> Result<()> {
    // Base64 in JSON: a third more than the document, and a little. Read no further than
    // that, whatever the file says its length is (a pipe says 0).
    let largest = catalog::largest_copy() / 3 * 4 + (1 << 20);
    let too_big = format!(
        "too big for a catalog bundle (a document may be {} bytes)",
        catalog::largest_copy()
    );
    let bundle = super::kit::read_bundle(file, largest, &too_big)?;
    let hq = Hq::open(dir)?;
    let database = crate::meta(&hq.conn, crate::META_DATABASE)?;
    let source = match &database {
        Some(url) => {
            let bundle = &bundle;
            postgres::with_pool(url, |pool| async move {
                bundles::source_in_postgres(&pool, bundle).await
            })?
        }
        None => bundles::source_of(&hq, &bundle),
    };
    if dry_run {
        // Read only: the catalog as the database holds it, merged in memory.
        let mut held = catalog::load(&hq)?;
        if let Some(url) = &database {
            if let Some(mut stored) = postgres::stored_catalog(&hq, url)? {
                held.automerge_mut()
                    .merge(&mut stored)
                    .map_err(|e| Error::Integrity(format!("the stored catalog: {e}")))?;
            }
        }
        let (recovery, _) = catalog::examine(&hq, &held, &bundle, source)?;
        return tell(&recovery, json);
    }
    let mut recovered = None;
    // A hub refused before (`cli::run`), the dry run too.
    let stored = import_into(dir, None, |hq| {
        let held = catalog::load(hq)?;
        let (mut recovery, copy) = catalog::examine(hq, &held, &bundle, source)?;
        if recovery.changes > 0 {
            catalog::merge_in(hq, copy)?;
            recovery.taken = true;
        }
        recovered = Some(recovery);
        Ok(())
    });
    let Some(recovery) = recovered else {
        stored?;
        return Err(Error::Other("the recovery did not run".into()));
    };
    // Logged and told once taken, even when the database did not store it yet (the next
    // import, or `hq serve` starting, stores it: the error says so).
    if recovery.taken {
        let detail = format!("{} catalog changes taken from its copy", recovery.changes);
        if let Err(e) = log_recovery(&hq, database.as_deref(), &recovery.source, &detail) {
            eprintln!("warning: the recovery was not logged: {e}");
        }
    }
    tell(&recovery, json)?;
    stored
}

/// Logs a recovery where the headquarters keeps its events.
fn log_recovery(hq: &Hq, database: Option<&str>, device: &str, detail: &str) -> Result<()> {
    const KIND: &str = "catalog recovered";
    match database {
        Some(url) => {
            let (device, detail) = (device.to_string(), detail.to_string());
            postgres::with_pool(url, |pool| async move {
                Ok(fairpos_postgres::registry::log_event(&pool, &device, KIND, &detail).await?)
            })
        }
        None => {
            Hq::log_event(&hq.conn, device, KIND, detail);
            Ok(())
        }
    }
}

/// What a recovery brings, as an organizer reads it before taking it (what came from the
/// till escaped).
fn tell(recovery: &catalog::Recovery, json: bool) -> Result<()> {
    if json {
        return print_json(recovery);
    }
    if recovery.changes == 0 {
        println!(
            "headquarters holds every catalog change {}'s copy holds: nothing to take",
            recovery.source
        );
        return Ok(());
    }
    let changes = match recovery.changes {
        1 => "1 change".to_string(),
        n => format!("{n} changes"),
    };
    println!(
        "{}'s catalog holds {changes} headquarters lacks; what they change:",
        shown(&recovery.source)
    );
    if recovery.changed.is_empty() {
        println!("  nothing: every value they write is the value headquarters holds");
    }
    for changed in &recovery.changed {
        let fields: Vec<String> = changed
            .fields
            .iter()
            .map(|(field, before, after)| {
                let (before, after) = (shown(&before.to_string()), shown(&after.to_string()));
                format!("{} {before} -> {after}", shown(field))
            })
            .collect();
        println!(
            "  {} {}: {}",
            shown(&changed.section),
            shown(&changed.id),
            fields.join(", ")
        );
    }
    if recovery.taken {
        println!("taken: headquarters' catalog holds them now");
    } else {
        println!("--dry-run: nothing was taken");
    }
    Ok(())
}
