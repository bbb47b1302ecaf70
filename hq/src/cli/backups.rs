//! `hq backup` and `hq restore` as an operator runs them: one line on what the copy holds,
//! progress on stderr while a big one is written. And `hq catalog recover`, which takes back
//! from a till the catalog edits a restore lost.

use std::path::Path;

use fairpos_sync::bundle::Bundle;

use super::args::CopyFile;
use super::kit::{print_json, read_input};
use super::{import_into, postgres};
use crate::backup::{self, Holding};
use crate::bundles::{self, Source};
use crate::{catalog, Error, Hq, Result};

/// `bytes` as an operator reads a file's size.
fn size(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
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
    let holding = backup::backup(dir, &args.file, |copied, of| {
        eprintln!("backing up: {} of {}", size(copied), size(of));
    })?;
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
    let restored = backup::restore(dir, &args.file)?;
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
    match &restored.revoked_since {
        Some(devices) if !devices.is_empty() => println!(
            "revoked since the backup, and let in again by it: {}; revoke them again (hq \
             revoke-device DEVICE)",
            devices.join(", ")
        ),
        Some(_) => {}
        None if h.role == "hub" => {}
        None => {
            println!("devices revoked after the backup are let in again by it: revoke them again")
        }
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
    let bundle: Bundle = serde_json::from_str(&read_input(file)?)
        .map_err(|e| Error::input(format!("{}: not a bundle: {e}", file.display())))?;
    let database = postgres::database_of(dir, None)?;
    let source = match &database {
        Some(url) => {
            let device = bundle.source.clone();
            postgres::with_pool(url, |pool| async move {
                Ok(fairpos_postgres::registry::bundle_source(&pool, &device).await?)
            })?
            .map(|(role, key)| Source {
                role,
                public_key: key.unwrap_or_default(),
            })
        }
        None => bundles::source_of(&Hq::open(dir)?, &bundle),
    };
    let mut recovered = None;
    import_into(dir, |hq| {
        recovered = Some(catalog::recover(hq, &bundle, source, dry_run)?);
        Ok(())
    })?;
    let Some(recovery) = recovered else {
        return Err(Error::Other("the recovery did not run".into()));
    };
    if recovery.taken {
        let (kind, detail) = (
            "catalog recovered",
            format!("{} catalog changes taken from its copy", recovery.changes),
        );
        match &database {
            Some(url) => {
                let device = recovery.source.clone();
                postgres::with_pool(url, |pool| async move {
                    Ok(
                        fairpos_postgres::registry::log_event(&pool, &device, kind, &detail)
                            .await?,
                    )
                })?
            }
            None => Hq::log_event(&Hq::open(dir)?.conn, &recovery.source, kind, &detail),
        }
    }
    if json {
        return print_json(&recovery);
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
        recovery.source
    );
    for changed in &recovery.changed {
        let fields: Vec<String> = changed
            .fields
            .iter()
            .map(|(field, before, after)| format!("{field} {before} -> {after}"))
            .collect();
        println!(
            "  {} {}: {}",
            changed.section,
            changed.id,
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
