//! `fairpos hq …` (and the `fairpos-hq` binary): headquarters and the fair hub from the
//! command line.

pub mod args;
mod audit;
mod backups;
mod imports;
mod init;
pub mod kit;
mod logs;
mod money;
mod new_password;
mod postgres;
mod text;
mod users;

pub use new_password::end_interrupted;

use std::path::Path;

use fairpos_domain::Fen;
use fairpos_projection::report::format::OutputFormat;
use serde::Serialize;

use self::args::{
    HqBundleCommand, HqCatalogCommand, HqCommand, ImportOnly, ScreenLinkArgs, ServeArgs,
};
use self::kit::{output_format, print_json, read_input, report_to, write_output};
use crate::dir_lock::DirLock;
use crate::server::proxy::Trusted;
use crate::sessions::{parse_span, parse_std_span, SessionLimits};
use crate::{devices, hub, leaderboard, reconcile, unit_items};
use crate::{Error, Hq, Result, Role};

#[derive(Serialize)]
struct CodeView {
    code: String,
    device: String,
    stall: String,
    role: &'static str,
}

#[derive(Serialize)]
struct SaleRow {
    device: String,
    sale: String,
    id: String,
    at: String,
    total_fen: i64,
    status: &'static str,
}

pub fn run(dir: &Path, command: HqCommand) -> Result<()> {
    // Every command holds the data directory's lock shared while it runs, `hq serve` for as
    // long as it serves; `hq restore` takes it alone.
    let _in_use = match &command {
        HqCommand::Restore(_) => None,
        _ => DirLock::shared(dir)?,
    };
    let done = logs::done_by(&command);
    let result = run_command(dir, command);
    if let Some(done) = done {
        logs::record(dir, done, result.as_ref().err());
    }
    result
}

fn run_command(dir: &Path, command: HqCommand) -> Result<()> {
    match command {
        HqCommand::Init {
            demo: use_demo,
            fair,
            organizer_password,
            organizer_password_stdin,
            database,
        } => init::init(
            dir,
            use_demo,
            fair.as_deref(),
            organizer_password.as_deref(),
            organizer_password_stdin,
            database.as_deref(),
        ),
        // Imports refuse a hub (`imports::import_into`); so does a recovery of the catalog.
        HqCommand::Catalog(HqCatalogCommand::Import { file }) => imports::catalog(dir, &file),
        HqCommand::Catalog(HqCatalogCommand::Recover {
            bundle,
            dry_run,
            json,
        }) => {
            not_on_a_hub(&Hq::open(dir)?, dir, "recover the catalog")?;
            backups::recover_catalog(dir, &bundle, dry_run, json)
        }
        HqCommand::Stalls(ImportOnly::Import { file }) => imports::stalls(dir, &file),
        HqCommand::Sellers(ImportOnly::Import { file }) => imports::sellers(dir, &file),
        HqCommand::Units(ImportOnly::Import { file }) => imports::units(dir, &file),
        HqCommand::Serve(serve) => {
            let ServeArgs {
                listen,
                upstream,
                session_idle,
                request_head_timeout,
                send_timeout,
                request_timeout,
                sync_idle,
                max_sync_sockets,
                max_connections_per_address,
                background_nice,
                session_max,
                tls_cert,
                tls_key,
                max_sync_message,
                max_document,
                max_documents_per_device,
                postgres_mirror,
                database,
                min_free_disk,
                metrics_listen,
                metrics_token_file,
                proxy_protocol,
                forwarded_for,
            } = *serve;
            let database = postgres::database_of(dir, database)?;
            let sessions = SessionLimits {
                idle: parse_span("--session-idle", &session_idle)?,
                absolute: parse_span("--session-max", &session_max)?,
            };
            crate::server::serve(
                dir,
                crate::server::ServeOptions {
                    listen,
                    upstream,
                    sessions,
                    client_limits: crate::server::http::ClientLimits {
                        head: parse_std_span("--request-head-timeout", &request_head_timeout)?,
                        send: parse_std_span("--send-timeout", &send_timeout)?,
                    },
                    request_timeout: parse_std_span("--request-timeout", &request_timeout)?,
                    tls: tls_cert.zip(tls_key),
                    max_sync_message: max_sync_message as usize * 1024 * 1024,
                    sync_idle: parse_std_span("--sync-idle", &sync_idle)?,
                    max_sync_sockets: max_sync_sockets.into(),
                    max_connections_per_address: max_connections_per_address as usize,
                    background_nice,
                    documents: crate::limits::DocumentLimits {
                        max_bytes: crate::limits::parse_size("--max-document", &max_document)?,
                        per_device: max_documents_per_device,
                    },
                    postgres_mirror,
                    database,
                    min_free_disk: match min_free_disk.as_str() {
                        "0" => 0,
                        size => crate::limits::parse_size("--min-free-disk", size)?,
                    },
                    metrics_listen,
                    metrics_token: metrics_token_file
                        .as_deref()
                        .map(crate::server::scrape::Token::read)
                        .transpose()?
                        .map(std::sync::Arc::new),
                    proxy_protocol: proxy_protocol
                        .map(|list| Trusted::parse("--proxy-protocol", &list))
                        .transpose()?
                        .map(std::sync::Arc::new),
                    forwarded_for: forwarded_for
                        .map(|list| Trusted::parse("--forwarded-for", &list))
                        .transpose()?
                        .inspect(warn_of_wide_networks),
                },
            )
        }
        HqCommand::EndSessions => {
            let n = match postgres::database_of(dir, None)? {
                Some(url) => postgres::end_sessions(&url)? as usize,
                None => crate::sessions::end_all(&Hq::open(dir)?.conn)?,
            };
            println!("sessions ended: {n}; everyone logs in again");
            logs::record_outcome(dir, "end-sessions", format!("{n} sessions ended"));
            Ok(())
        }
        HqCommand::User(c) => users::run(dir, c),
        HqCommand::AddDevice {
            device,
            stall,
            hub,
            json,
            database,
        } => {
            let hq = Hq::open(dir)?;
            // A device added here would not be known at headquarters, and its enrolment (a
            // code used here) would clear what the copy holds of it.
            not_on_a_hub(&hq, dir, &format!("add {device}"))?;
            if !hub && stall.is_empty() {
                return Err(Error::input("a till needs --stall"));
            }
            let database = postgres::checked_database_of(dir, database)?;
            // A till's stall must be one of the fair's, as the database holds them.
            let known = match (&database, hub) {
                (_, true) => true,
                (Some(url), false) => postgres::has_stall(&hq, url, &stall)?,
                (None, false) => fairpos_projection::catalog::has_stall(&hq.conn, &stall)?,
            };
            if !known {
                return Err(Error::input(format!(
                    "no stall {stall} in this fair: give one of `hq stalls import`'s ids"
                )));
            }
            let code = match database {
                Some(url) => postgres::add_device(&url, &device, &stall, hub)?,
                None => devices::add_device(&hq, &device, &stall, hub)?,
            };
            if json {
                print_json(&CodeView {
                    code,
                    device,
                    stall,
                    role: if hub { "hub" } else { "till" },
                })
            } else {
                println!("enrolment code for {device}: {code} (works once)");
                Ok(())
            }
        }
        HqCommand::ScreenLink(a) => screen_link(dir, a),
        HqCommand::RevokeDevice { device, database } => {
            match postgres::checked_database_of(dir, database)? {
                Some(url) => postgres::revoke(&url, &device)?,
                None => {
                    let hq = Hq::open(dir)?;
                    // Revoked here, the device would come back with the next copy.
                    not_on_a_hub(&hq, dir, &format!("revoke {device}"))?;
                    devices::revoke(&hq.conn, &device)?
                }
            }
            println!("{device} revoked: its credentials no longer work");
            Ok(())
        }
        HqCommand::Devices(f) => {
            let entries = match postgres::database_of(dir, None)? {
                Some(url) => postgres::devices(&url)?,
                None => crate::registry::entries(&Hq::open(dir)?.conn)?,
            };
            if f.json {
                return print_json(&entries);
            }
            for e in &entries {
                let state = if e.revoked {
                    "revoked"
                } else if e.secret_hash.is_some() {
                    "enrolled"
                } else {
                    "waiting for enrolment"
                };
                println!("{:<6} {:<5} {:<5} {state}", e.device, e.role, e.stall);
            }
            Ok(())
        }
        HqCommand::Enroll {
            hq: url,
            code,
            ca,
            again,
        } => {
            let ca = ca.map(|file| read_input(&file)).transpose()?;
            let hub = if again {
                hub::enroll_again(dir, &url, &code, ca.as_deref())?
            } else {
                let trust = fairpos_sync::tls::Trust::with_ca(ca.as_deref())?;
                hub::enroll(dir, &url, &code, &trust)?
            };
            let again = if again { " again" } else { "" };
            println!(
                "hub {} of {} enrolled{again} with {url}; start it with `fairpos --data {} hq serve`",
                match &hub.role {
                    Role::Hub { device, .. } => device.as_str(),
                    Role::Hq => "?",
                },
                hub.fair.name,
                dir.display()
            );
            Ok(())
        }
        HqCommand::Bundle(HqBundleCommand::Import {
            file,
            max_document,
            max_documents_per_device,
            max_bundle,
        }) => imports::bundle(
            dir,
            &file,
            &max_document,
            max_documents_per_device,
            &max_bundle,
        ),
        HqCommand::Backup(a) => backups::backup(dir, a),
        HqCommand::Restore(a) => backups::restore(dir, a),
        HqCommand::Sales(f) => {
            let mut out = kit::RowsOut::new(f.json);
            let mut print = |row: SaleRow| {
                out.row(&row, |r| {
                    format!(
                        "{}  {}  {:>10}  {}",
                        r.sale,
                        r.at,
                        fairpos_domain::Fen(r.total_fen),
                        r.status
                    )
                })
            };
            match postgres::database_of(dir, None)? {
                Some(url) => {
                    postgres::each_sale(&url, |(device, sale, id, at, total_fen, voided)| {
                        print(SaleRow {
                            device,
                            sale,
                            id,
                            at,
                            total_fen,
                            status: sale_status(voided),
                        })
                    })?
                }
                None => each_sale_in(&Hq::open(dir)?.conn, print)?,
            }
            out.finish()
        }
        HqCommand::Report(a) => match postgres::database_of(dir, None)? {
            Some(url) => postgres::report(&url, &a),
            None => report_to(&Hq::open(dir)?.conn, &a),
        },
        HqCommand::Reconcile(f) if f.doubtful => {
            let doubtful = match postgres::database_of(dir, None)? {
                Some(url) => postgres::with_pool(&url, |pool| async move {
                    reconcile::doubtful::of_postgres(&pool, None).await
                })?,
                None => reconcile::doubtful::of(&Hq::open(dir)?.conn, None)?,
            };
            if f.json {
                return print_json(&doubtful);
            }
            print!("{}", text::doubtful(&doubtful));
            Ok(())
        }
        HqCommand::Reconcile(f) => {
            let rec = match postgres::database_of(dir, None)? {
                Some(url) => postgres::with_pool(&url, |pool| async move {
                    reconcile::postgres::reconcile(&pool, None).await
                })?,
                None => reconcile::reconcile(&Hq::open(dir)?.conn)?,
            };
            if f.json {
                return print_json(&rec);
            }
            print!("{}", text::reconciliation(&rec));
            Ok(())
        }
        HqCommand::Leaderboard(f) => {
            let hq = Hq::open(dir)?;
            let board = match postgres::database_of(dir, None)? {
                Some(url) => postgres::with_pool(&url, |pool| async move {
                    leaderboard::of_postgres(&pool, &hq.fair).await
                })?,
                None => leaderboard::of(&hq.conn, &hq.fair)?,
            };
            if f.json {
                return print_json(&board);
            }
            println!("points per yuan: {}", board.points_per_yuan);
            for (title, rows) in [("teams", &board.teams), ("sellers", &board.sellers)] {
                println!("{title}:");
                for s in rows.iter() {
                    println!(
                        "{:>3}. {:<8} {:<24} {:>12} {:>10} pts",
                        s.rank,
                        s.key,
                        s.label,
                        Fen(s.net_fen).to_string(),
                        s.points
                    );
                }
            }
            Ok(())
        }
        HqCommand::Statements(c) => money::statements(dir, c),
        HqCommand::Slip(c) => money::slip(dir, c),
        HqCommand::Postgres(c) => postgres::run(dir, c),
        HqCommand::Unit { code, format, out } => {
            // Credit codes are kept upper-case, as `hq units import` writes them.
            let code = code.trim().to_ascii_uppercase();
            let items = match postgres::database_of(dir, None)? {
                Some(url) => {
                    let known = unit_items::catalog_name(&Hq::open(dir)?.conn, &code)?;
                    let code = code.as_str();
                    postgres::with_pool(&url, |pool| async move {
                        unit_items::of_postgres(&pool, code, known).await
                    })?
                }
                None => unit_items::of(&Hq::open(dir)?.conn, &code)?,
            };
            let Some(items) = items else {
                return Err(Error::input(format!(
                    "no purchasing unit {code} in the fair's units or sales"
                )));
            };
            let bytes = match output_format(&format, out.as_deref())? {
                OutputFormat::Table => text::unit_items(&items).into_bytes(),
                OutputFormat::Csv => unit_items::csv(&items)?,
                OutputFormat::Json => {
                    let mut j = serde_json::to_string_pretty(&items)
                        .map_err(|e| Error::Other(e.to_string()))?;
                    j.push('\n');
                    j.into_bytes()
                }
                OutputFormat::Xlsx => unit_items::xlsx(&items)?,
            };
            write_output(out.as_deref().unwrap_or(Path::new("-")), &bytes)
        }
        HqCommand::Events(f) => logs::print_events(dir, f.json),
        HqCommand::Audit(a) => audit::audit(dir, a),
    }
}

/// `hq screen-link`: issues, lists or revokes the big screen's tokens.
/// Refuses `what` (`add T10`, `revoke T09`) on a fair hub in `dir`: a hub's registry is
/// headquarters', copied from there whenever it changes.
fn not_on_a_hub(hq: &Hq, dir: &Path, what: &str) -> Result<()> {
    match hq.role {
        Role::Hub { .. } => Err(Error::input(format!(
            "{} is a fair hub, whose devices and catalog are headquarters': {what} at \
             headquarters, and the hub takes it within seconds",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

fn screen_link(dir: &Path, a: ScreenLinkArgs) -> Result<()> {
    use crate::screen::tokens;
    let hq = Hq::open(dir)?;
    let database = postgres::database_of(dir, None)?;
    if let Some(id) = a.revoke {
        match &database {
            Some(url) => postgres::revoke_screen_token(url, &id)?,
            None => tokens::revoke(&hq.conn, &id)?,
        }
        println!("screen link {id} revoked");
        return Ok(());
    }
    if a.list {
        let all = match &database {
            Some(url) => postgres::screen_tokens(url)?,
            None => tokens::list(&hq.conn)?,
        };
        if a.json {
            return print_json(&all);
        }
        for t in all {
            let state = if t.revoked { "revoked" } else { "in use" };
            // The label as a terminal may show it (it was typed by anyone with the command).
            let label = crate::untrusted::shown(&t.label);
            println!("{}  {}  {label}  {state}", t.id, t.created_at);
        }
        return Ok(());
    }
    let base = a.base.trim_end_matches('/');
    // Checked before a token is issued; a query or fragment would swallow the link's path.
    if !(base.starts_with("http://") || base.starts_with("https://"))
        || base.contains(['?', '#'])
        || base.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::input(format!(
            "--base {base}: give the server's address as http://HOST:PORT or https://HOST \
             (a path is allowed, a query or fragment not)"
        )));
    }
    if a.label.chars().count() > MAX_LABEL {
        return Err(Error::input(format!(
            "--label: at most {MAX_LABEL} characters"
        )));
    }
    let (id, token) = match &database {
        Some(url) => postgres::issue_screen_token(url, &a.label)?,
        None => tokens::issue(&hq.conn, &a.label)?,
    };
    let url = format!("{base}/screen?token={token}");
    logs::record_outcome(dir, "screen-link", format!("{}, link {id}", a.label));
    if a.json {
        print_json(&serde_json::json!({ "id": id, "url": url, "label": a.label }))
    } else {
        println!("{url}");
        eprintln!(
            "screen link {id} ({}): revoke with `fairpos hq screen-link --revoke {id}`",
            crate::untrusted::shown(&a.label)
        );
        Ok(())
    }
}

/// The longest label of a screen link, in characters.
const MAX_LABEL: usize = 100;

fn sale_status(voided: bool) -> &'static str {
    if voided {
        "voided"
    } else {
        "completed"
    }
}

/// Every sale projected, by device and sequence, each handed to `each` as it is read.
fn each_sale_in(
    conn: &rusqlite::Connection,
    mut each: impl FnMut(SaleRow) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT s.device, s.number, s.id, s.at, s.total_fen,
                EXISTS(SELECT 1 FROM voids v WHERE v.sale_id = s.id)
         FROM sales s ORDER BY s.device, s.seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        each(SaleRow {
            device: r.get(0)?,
            sale: r.get(1)?,
            id: r.get(2)?,
            at: r.get(3)?,
            total_fen: r.get(4)?,
            status: sale_status(r.get(5)?),
        })?;
    }
    Ok(())
}

/// Says the `--forwarded-for` networks whose every address is believed ([`Trusted::wide`]).
fn warn_of_wide_networks(proxies: &Trusted) {
    for net in proxies.wide() {
        eprintln!(
            "warning: --forwarded-for {net}: every address in it is taken for a proxy, so a \
             client there that is none names its own address (and dodges the per-address \
             login limits); name the proxies themselves where you can"
        );
    }
}
