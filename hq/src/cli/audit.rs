//! `hq audit`: who did what at headquarters ([`crate::audit`]), listed; `hq audit prune`,
//! the oldest entries moved into an archive; `hq audit verify`, the log checked as a hash
//! chain.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::args::{AuditArgs, AuditCommand, PruneArgs, VerifyArgs};
use super::kit::print_json;
use super::postgres::with_pool;
use crate::audit::archive::{Archive, Kept};
use crate::audit::verify::{self, Walk};
use crate::audit::{self, prune};
use crate::untrusted::shown;
use crate::{Error, Hq, Result};
use fairpos_postgres::audit::chain;

/// `hq audit`, `hq audit prune` and `hq audit verify`.
pub fn audit(dir: &Path, args: AuditArgs) -> Result<()> {
    match args.prune {
        None => print_audit(dir, args),
        Some(AuditCommand::Prune(prune)) => prune_command(dir, prune),
        Some(AuditCommand::Verify(verify)) => verify_command(dir, verify),
    }
}

/// `hq audit prune`: the first day kept (given, or months back from today at the fair), and
/// the archive it goes to (given, or a new one in a folder).
fn prune_command(dir: &Path, args: PruneArgs) -> Result<()> {
    let hq = Hq::open(dir)?;
    let now = Utc::now();
    let before = match (args.before, args.keep_months) {
        (Some(day), _) => day,
        (None, Some(months)) => prune::months_back(months, hq.fair.utc_offset, now),
        (None, None) => return Err(Error::input("give --before DAY or --keep-months N")),
    };
    // Refused before any folder is made for it.
    let cutoff = prune::cutoff(before, hq.fair.utc_offset, now)?;
    if args.dry_run {
        return audit_to_prune(hq, before, cutoff);
    }
    let path = match (args.archive, args.archive_dir) {
        (Some(file), _) => file,
        (None, Some(folder)) => prune::archive_in(&folder, before, now)?,
        (None, None) => return Err(Error::input("give --archive FILE or --archive-dir DIR")),
    };
    prune_audit(hq, before, cutoff, &path)
}

/// `hq audit prune --dry-run`: what a prune of the entries before day `before` (which
/// begins at `cutoff`) would move.
fn audit_to_prune(hq: Hq, before: NaiveDate, cutoff: DateTime<Utc>) -> Result<()> {
    let offset = hq.fair.utc_offset;
    let found = match crate::meta(&hq.conn, crate::META_DATABASE)? {
        Some(url) => with_pool(&url, |pool| async move {
            let at = crate::time_text(cutoff);
            Ok(fairpos_postgres::audit::found_before(&pool, &at).await?)
        })?,
        None => prune::found(&hq.conn, cutoff)?,
    };
    match (found.entries, found.first_at, found.last_at) {
        (0, ..) => println!("no entries written before {before} ({offset}): none would go"),
        (n, Some(first), Some(last)) => println!(
            "{n} entries written before {before} ({offset}), from {first} to {last}, \
             would be archived and removed"
        ),
        (n, ..) => println!("{n} entries written before {before} ({offset}) would go"),
    }
    Ok(())
}

/// `hq audit prune`: the entries written before day `before` (which begins at `cutoff`)
/// moved into a new file at `path`, with an entry saying so.
fn prune_audit(mut hq: Hq, before: NaiveDate, cutoff: DateTime<Utc>, path: &Path) -> Result<()> {
    let offset = hq.fair.utc_offset;
    let archive = Archive::create(path)?;
    let (actor, address) = (audit::system_user(), audit::system_user_address());
    let by = (actor.as_str(), address.as_str());
    let detail = |kept: &Kept| prune::detail(kept, before, offset);
    let kept = match crate::meta(&hq.conn, crate::META_DATABASE)? {
        Some(url) => with_pool(&url, |pool| async move {
            let mut archive = prune::ForPostgres::new(archive, by, &detail);
            let at = crate::time_text(cutoff);
            match fairpos_postgres::audit::prune(&pool, &at, &mut archive).await {
                Ok(_) => Ok(archive.kept),
                // Named, then the commit failed (the connection lost at it): whether the
                // entries left the log is the database's to say.
                Err(e) => Err(match &archive.kept {
                    Some(kept) => prune::archive_kept(e, kept),
                    None => e,
                }),
            }
        })?,
        None => prune::prune(&mut hq.conn, cutoff, archive, by, detail)?,
    };
    match kept {
        Some(kept) => println!(
            "{} entries written before {before} ({offset}) archived to {} (sha256 {}) and \
             removed from the audit log",
            kept.entries,
            kept.path.display(),
            kept.sha256
        ),
        None => println!("no entries written before {before} ({offset}): nothing archived"),
    }
    Ok(())
}

/// `hq audit`: who did what, oldest first (those the options let through).
fn print_audit(dir: &Path, args: AuditArgs) -> Result<()> {
    let hq = Hq::open(dir)?;
    let offset = hq.fair.utc_offset;
    let filter = audit::filter(args.since, args.until, offset, args.action, args.actor)?;
    let entries = match crate::meta(&hq.conn, crate::META_DATABASE)? {
        Some(url) => {
            let filter = &filter;
            with_pool(&url, |pool| async move {
                Ok(fairpos_postgres::audit::entries_where(&pool, filter, None).await?)
            })?
            .into_iter()
            .map(audit::from_postgres)
            .collect()
        }
        None => audit::entries_where(&hq.conn, &filter, None)?,
    };
    if args.json {
        return print_json(&entries);
    }
    if args.csv {
        let text = audit::export::csv(&entries)?;
        return super::kit::write_output(Path::new("-"), &text);
    }
    // What a person typed (a label, a file name) cannot start a line of its own.
    for e in &entries {
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", shown(&e.detail))
        };
        let (actor, address) = (shown(&e.actor), shown(&e.address));
        println!("{} {} by {actor} from {address}{detail}", e.at, e.action);
    }
    Ok(())
}

/// `hq audit verify`: the log walked as a hash chain, with the archives given; what it
/// found, or why it is broken (exit 1).
fn verify_command(dir: &Path, args: VerifyArgs) -> Result<()> {
    let hq = Hq::open(dir)?;
    let (archived, before_the_chain) = verify::archived(&args.archive)?;
    if before_the_chain > 0 && !args.json {
        println!(
            "{before_the_chain} entries of the archives given were pruned before the chain \
             began: not checked"
        );
    }
    let anchor = match &args.anchors {
        Some(path) => verify::last_anchor(path)?,
        None => None,
    };
    // A mistyped digest is bad input, not a log found cut or rewritten.
    if let Some(typo) = args.holds.iter().find(|d| !chain::is_digest(d)) {
        return Err(Error::input(format!(
            "--holds {typo}: not a digest of the audit log (64 hexadecimal digits)"
        )));
    }
    let holds = args.holds.iter().map(|d| d.to_lowercase());
    let sought: Vec<String> = holds.chain(anchor.clone()).collect();
    let mut walk = Walk::new(&sought, archived);
    match crate::meta(&hq.conn, crate::META_DATABASE)? {
        Some(url) => {
            let walk = &mut walk;
            with_pool(&url, |pool| async move {
                let each = |id, entry, link| walk.add(id, &entry, &link);
                Ok(fairpos_postgres::audit::walk(&pool, each).await?)
            })?
        }
        None => verify::walk_sqlite(&hq.conn, &mut walk)?,
    }
    let (verdict, from_archives, archives_named) = walk.finish();
    let archives = verify::written_by(&args.archive, &archives_named)?;
    // --strict: every gap filled by an archive given, none taken on a prune's word, and
    // each archive the very file its prune wrote.
    let unchecked = verdict.pruned.first().filter(|_| args.strict);
    let not_as_written = archives.iter().find(|a| a.written_by.is_none());
    let not_as_written = not_as_written.filter(|_| args.strict);
    if args.json {
        let head = verdict.head.as_ref();
        let pruned = verdict.pruned.iter();
        let pruned: Vec<_> = pruned
            .map(|(after, by)| serde_json::json!({ "before": after, "by": by }))
            .collect();
        print_json(&serde_json::json!({
            "whole": verdict.broken.is_none()
                && verdict.missing.is_empty()
                && unchecked.is_none()
                && not_as_written.is_none(),
            "entries": verdict.entries,
            "from_archives": from_archives,
            "archives": archives
                .iter()
                .map(|a| serde_json::json!({
                    "path": a.path,
                    "sha256": a.sha256,
                    "written_by_prune": a.written_by,
                }))
                .collect::<Vec<_>>(),
            "archived_before_the_chain": before_the_chain,
            "pruned_without_archive": pruned,
            "newest": head.map(|(id, _)| id),
            "newest_digest": head.map(|(_, digest)| digest),
            "broken": verdict.broken.as_ref().map(ToString::to_string),
            "missing": verdict.missing,
        }))?;
    }
    if let Some(broken) = &verdict.broken {
        return Err(Error::Integrity(format!(
            "the audit log is broken: {broken}"
        )));
    }
    if let Some((after, by)) = unchecked {
        return Err(Error::Integrity(format!(
            "entries before #{after} were removed, as the prune of entry #{by} says, and no \
             archive given holds them: --strict takes no prune's word for it (give its \
             archive with --archive)"
        )));
    }
    if let Some(a) = not_as_written {
        return Err(Error::Integrity(format!(
            "{}: no prune's entry holds its SHA-256 ({}): the file was changed since its \
             prune wrote it, that prune's entry is in an archive not given, or the prune did \
             not commit",
            a.path.display(),
            a.sha256
        )));
    }
    if let Some(missing) = verdict.missing.first() {
        let noted = match (&args.anchors, &anchor) {
            (Some(path), Some(last)) if last == missing => format!(
                "noted last in {}: the log was cut or rewritten since (a restore rewrites the \
                 entries it carries; after one, start a new file)",
                path.display()
            ),
            _ => "given: the log was cut or rewritten since it was noted, or a prune removed \
                  its entry (give that prune's archive with --archive)"
                .to_string(),
        };
        return Err(Error::Integrity(format!(
            "no entry of the audit log holds the digest {missing} {noted}"
        )));
    }
    if !args.json {
        print_verdict(&verdict, from_archives, &args, sought.len());
        print_archives(&archives);
    }
    if let (Some(path), Some((newest, digest))) = (&args.anchors, &verdict.head) {
        if verify::note_anchor(path, *newest, digest)? && !args.json {
            println!("noted in {}", path.display());
        }
    }
    Ok(())
}

/// What `hq audit verify` found in a whole log.
fn print_verdict(
    verdict: &fairpos_postgres::audit::chain::Verdict,
    from_archives: u64,
    args: &VerifyArgs,
    sought: usize,
) {
    let Some((newest, digest)) = &verdict.head else {
        println!("the audit log is empty");
        return;
    };
    let archives = if from_archives > 0 {
        format!(
            " ({from_archives} of them from {} archives)",
            args.archive.len()
        )
    } else {
        String::new()
    };
    println!(
        "the audit log is whole: {} entries{archives}, each as written and following the one \
         before it",
        verdict.entries
    );
    for (after, by) in &verdict.pruned {
        println!(
            "entries before #{after} were removed by the prune of entry #{by}, as it says \
             (give its archive with --archive to check them too)"
        );
    }
    if sought > 0 {
        println!("each digest given is held by an entry: nothing up to it was changed");
    }
    println!(
        "the newest entry: #{newest}, digest {digest}; keep it elsewhere, and `hq audit verify \
         --holds {digest}` will show later that nothing up to it was changed"
    );
}

/// Whether each archive given is the file its prune wrote.
fn print_archives(archives: &[verify::ArchiveFile]) {
    for a in archives {
        let (path, sha256) = (a.path.display(), &a.sha256);
        match a.written_by {
            Some(id) => println!(
                "{path} is the archive the prune of entry #{id} wrote (SHA-256 {sha256}, as \
                 that entry holds)"
            ),
            None => println!(
                "{path}: no prune's entry holds its SHA-256 ({sha256}): changed since its \
                 prune wrote it (each of its entries checked in its place all the same), that \
                 prune's entry is in an archive not given, or the prune did not commit; \
                 --strict refuses it"
            ),
        }
    }
}
