//! `hq statements …` and `hq slip …`: the money after the fair, checked against the payment
//! providers' statements and the tills' signed shift slips.

use std::fmt::Write as _;
use std::path::Path;

use fairpos_domain::statement::Provider;
use fairpos_domain::Fen;
use fairpos_projection::report::format::OutputFormat;

use super::args::{SlipCommand, StatementsCommand};
use super::kit::{file_label, output_format, print_json, read_bytes, write_output};
use crate::statements::matching::{match_statements, StatementMatch};
use crate::statements::{self, export, removal};
use crate::{slips, Error, Hq, Result};

pub fn statements(dir: &Path, command: StatementsCommand) -> Result<()> {
    match command {
        StatementsCommand::Import {
            file,
            provider,
            stall,
            json,
        } => {
            let provider = Provider::parse(&provider).ok_or_else(|| {
                Error::input(format!("--provider {provider}: give wechat or alipay"))
            })?;
            let bytes = read_bytes(&file)?;
            // Kept and shown by its name, as the stall downloaded it.
            let name = file
                .file_name()
                .map_or_else(|| file_label(&file), |n| n.to_string_lossy().into_owned());
            let mut hq = Hq::open(dir)?;
            let done = match crate::meta(&hq.conn, crate::META_DATABASE)? {
                Some(url) => {
                    statements::check_stall(&hq.conn, &stall)?;
                    let (name, bytes, stall) = (&name, &bytes, &stall);
                    super::postgres::with_pool(&url, |pool| async move {
                        statements::postgres::import(&pool, name, bytes, provider, stall).await
                    })?
                }
                None => statements::import(&mut hq, &name, &bytes, provider, &stall)?,
            };
            if json {
                return print_json(&done);
            }
            println!(
                "{}: {} ({}) of stall {}: {} new lines, {} held already, {} rows neither payment nor refund",
                done.file, done.layout, done.encoding, done.stall, done.new, done.already, done.skipped
            );
            for left in &done.others_money_in {
                println!(
                    "  left out as not the stall's takings: {} row{} of {} ({}): had shoppers \
                     paid this way, their payments would show as not received",
                    left.rows,
                    if left.rows == 1 { "" } else { "s" },
                    crate::untrusted::shown(&left.kind),
                    crate::web::yuan(left.amount.fen())
                );
            }
            Ok(())
        }
        StatementsCommand::Remove { file, json } => {
            let sha = removal::sha_of(&file, read_bytes)?;
            let mut hq = Hq::open(dir)?;
            let removed = match crate::meta(&hq.conn, crate::META_DATABASE)? {
                Some(url) => super::postgres::with_pool(&url, |pool| async move {
                    removal::remove_postgres(&pool, &sha).await
                })?,
                None => removal::remove(&mut hq, &sha)?,
            };
            if json {
                return print_json(&removed);
            }
            println!(
                "{} ({}, stall {}) taken back: {} lines removed",
                crate::untrusted::shown(&removed.file),
                removed.provider,
                crate::untrusted::shown(&removed.stall),
                removed.lines
            );
            if !removed.import_again.is_empty() {
                let names: Vec<String> = removed
                    .import_again
                    .iter()
                    .map(|n| crate::untrusted::shown(n))
                    .collect();
                println!(
                    "import again, for the lines they held too: {}",
                    names.join(", ")
                );
            }
            Ok(())
        }
        StatementsCommand::Match {
            json,
            format,
            out,
            window_minutes,
        } => {
            if !(1..=24 * 60).contains(&window_minutes) {
                return Err(Error::input("--window-minutes: give 1 to 1440 minutes"));
            }
            let format = if json { "json" } else { format.as_str() };
            let format = output_format(format, out.as_deref())?;
            let hq = Hq::open(dir)?;
            let m = match crate::meta(&hq.conn, crate::META_DATABASE)? {
                Some(url) => {
                    let sellers = statements::matching::seller_names(&hq.conn)?;
                    super::postgres::with_pool(&url, |pool| async move {
                        statements::matching::match_statements_postgres(
                            &pool,
                            sellers,
                            window_minutes,
                        )
                        .await
                    })?
                }
                None => match_statements(&hq.conn, window_minutes)?,
            };
            let bytes = match format {
                OutputFormat::Table => table(&m).into_bytes(),
                OutputFormat::Json => {
                    let mut j =
                        serde_json::to_string(&m).map_err(|e| Error::Other(e.to_string()))?;
                    j.push('\n');
                    j.into_bytes()
                }
                OutputFormat::Csv => export::csv(&m)?,
                OutputFormat::Xlsx => export::xlsx(&m)?,
            };
            write_output(out.as_deref().unwrap_or(Path::new("-")), &bytes)
        }
    }
}

/// The match in words: the alarms first. Every text from a till's ledger or a statement
/// file written as [`shown`] writes it: a seller's name with terminal escapes in it (a
/// forged ledger's) could erase the "paid on paper only" lines from the organizer's view.
fn table(m: &StatementMatch) -> String {
    use crate::untrusted::shown;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} matched; {} recorded but not in a statement (paid on paper only); {} in a statement but recorded at no till",
        m.matched.len(),
        m.recorded_not_in_statement.len(),
        m.in_statement_not_recorded.len()
    );
    if !m.recorded_not_in_statement.is_empty() {
        let _ = writeln!(t, "paid on paper only, by seller and shift:");
        for r in &m.recorded_not_in_statement {
            let _ = writeln!(
                t,
                "  {:<8} {:<8} shift {}  {} {} {} {:>10}  {}{}",
                shown(&r.seller),
                shown(&r.seller_name),
                shown(r.shift.get(..8).unwrap_or(&r.shift)),
                shown(&r.sale),
                r.method,
                r.flow,
                Fen(r.amount_fen).to_string(),
                shown(&r.at),
                if r.record.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", shown(&r.record))
                }
            );
        }
    }
    if !m.in_statement_not_recorded.is_empty() {
        let _ = writeln!(t, "in a statement, recorded at no till:");
        for s in &m.in_statement_not_recorded {
            let _ = writeln!(
                t,
                "  {} {} {} {:>10}  {}  {} ({}:{})",
                shown(&s.stall),
                s.provider,
                s.flow,
                Fen(s.amount_fen).to_string(),
                shown(&s.at),
                shown(&s.txn),
                shown(&s.file),
                s.line
            );
        }
    }
    for n in &m.not_covered {
        let _ = writeln!(
            t,
            "not checked: stall {} {}: {} movements ({}) at times no imported statement covers",
            shown(&n.stall),
            n.method,
            n.count,
            Fen(n.amount_fen)
        );
    }
    t
}

pub fn slip(dir: &Path, command: SlipCommand) -> Result<()> {
    let SlipCommand::Verify { text, image, json } = command;
    let given = super::logs::slip_given(image.as_deref());
    let text = match (text, image) {
        (Some(text), _) => text,
        (None, Some(path)) => slips::read_image(&file_label(&path), &read_bytes(&path)?)?,
        (None, None) => return Err(Error::input("give the slip's text or --image FILE")),
    };
    let hq = Hq::open(dir)?;
    let database = crate::meta(&hq.conn, crate::META_DATABASE)?;
    let v = match &database {
        Some(url) => {
            let (fair, text) = (&hq.fair.id, &text);
            super::postgres::with_pool(url, |pool| async move {
                slips::verify_postgres(&pool, fair, text).await
            })?
        }
        None => slips::verify(&hq, &text)?,
    };
    // Written once the slip is recorded, whatever then comes of reading the reconciliation.
    let recorded = if v.already {
        "recorded before"
    } else {
        "recorded"
    };
    let last = v.last_sale.as_deref().unwrap_or("none");
    let outcome = format!(
        "{given}: {} shift {}, last sale {last}, {recorded}",
        v.device, v.shift
    );
    super::logs::record_outcome(dir, "slip verify", outcome);
    // The slip is recorded: a reconciliation that cannot be read is said, not made the
    // command's failure (which would write "failed" for a slip it recorded).
    let rec = match &database {
        Some(url) => super::postgres::with_pool(url, |pool| async move {
            crate::reconcile::postgres::reconcile(&pool, None).await
        }),
        None => crate::reconcile::reconcile(&hq.conn),
    };
    let missing = match rec {
        Ok(rec) => Some(
            rec.devices
                .iter()
                .find(|d| d.device == v.device)
                .map(|d| (d.missing.clone(), d.missing_count))
                .unwrap_or_default(),
        ),
        Err(e) => {
            eprintln!(
                "warning: the slip is recorded, but the reconciliation could not be read: {e}"
            );
            None
        }
    };
    if json {
        return print_json(&serde_json::json!({
            "slip": v,
            "missing": missing.as_ref().map(|m| &m.0),
            "missing_count": missing.as_ref().map(|m| m.1),
        }));
    }
    println!(
        "slip of {} shift {} closed {} {}: sales {}…{} ({}), the till's last {}, expected {}, counted {}, variance {}",
        v.device,
        v.shift,
        v.closed_at,
        if v.already {
            "(recorded before)"
        } else {
            "verified and recorded"
        },
        v.first_sale.as_deref().unwrap_or("-"),
        v.last_sale.as_deref().unwrap_or("-"),
        v.sales,
        v.till_last.as_deref().unwrap_or("-"),
        Fen(v.expected_fen),
        Fen(v.counted_fen),
        Fen(v.variance_fen)
    );
    match missing {
        None => println!("missing at headquarters: not known (see the warning)"),
        Some((_, 0)) => println!(
            "headquarters holds every sale of {} up to its last stated number",
            v.device
        ),
        Some((missing, count)) => {
            println!("missing at headquarters ({count}): {}", missing.join(", "))
        }
    }
    Ok(())
}
