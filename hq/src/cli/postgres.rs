//! The command line of a headquarters on PostgreSQL (`fairpos-postgres`): `hq init
//! --database` and the commands that then read and write the database rather than the data
//! directory's SQLite (devices, accounts, sessions, sales, events, reports, reconciliation,
//! statements, slips, bundles); and `fairpos hq postgres …`, the projection and reports in PostgreSQL
//! beside a SQLite headquarters. Any number of `project --follow` processes may run at once,
//! on any machines: each stored ledger is projected once, and a process killed at any
//! instant leaves nothing half-done.

use std::path::Path;

use fairpos_postgres::documents::{Listener, Origin};
use fairpos_postgres::follow::{catch_up, follow, read_waiting, Pass};
use fairpos_postgres::{connect_reached, migrate, registry};
use fairpos_projection::report::{self, Dimension};

use super::args::{PostgresCommand, ReportArgs};
use super::kit::{output_format, write_output};
use crate::progress::{self, Pace};
use crate::server::mirror;
use crate::server::postgres::{check_before_migrating, connect_checked};
use crate::{Error, Hq, Result};

pub use crate::META_DATABASE;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("the async runtime: {e}")))
}

/// The PostgreSQL database headquarters in `dir` runs on: `given` (`--database`), else the
/// one `hq init --database` recorded; `None` on SQLite. (`FAIRPOS_HQ_DATABASE` is read by
/// `hq init` and the `hq postgres` commands only: set for those, it does not turn a SQLite
/// headquarters into another.)
pub fn database_of(dir: &Path, given: Option<String>) -> Result<Option<String>> {
    match given {
        Some(url) => Ok(Some(url)),
        None => crate::meta(&Hq::open(dir)?.conn, META_DATABASE),
    }
}

/// As [`database_of`]; a database named on the command line, not the one `init` kept, must
/// be this fair's headquarters already (`add-device`, `revoke-device`: a device went into
/// another fair's, or into an empty database, by a wrong address). Read only.
pub fn checked_database_of(dir: &Path, given: Option<String>) -> Result<Option<String>> {
    let Some(url) = given else {
        return database_of(dir, None);
    };
    let hq = Hq::open(dir)?;
    if crate::meta(&hq.conn, META_DATABASE)?.as_deref() == Some(url.as_str()) {
        return Ok(Some(url));
    }
    let held = runtime()?.block_on(async {
        let pool = connect_reached(&url).await?;
        Ok::<_, Error>(registry::before_migrating(&pool).await?.0)
    })?;
    let shown = fairpos_postgres::shown_address(&url);
    match held {
        Some(fair) if fair == hq.fair.id => Ok(Some(url)),
        Some(other) => Err(crate::server::postgres::held_by(
            &shown,
            &other,
            &hq.fair.id,
        )),
        None => Err(Error::input(format!(
            "{shown} is no fair's headquarters: `hq init --database` makes it {}'s",
            hq.fair.id
        ))),
    }
}

/// Runs `work` with a pool on the database at `url`, brought to the latest schema first.
pub fn with_pool<T, F, Fut>(url: &str, work: F) -> Result<T>
where
    F: FnOnce(fairpos_postgres::Pool) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    runtime()?.block_on(async { work(connect_checked(url, None).await?).await })
}

/// As [`with_pool`], on the database as it is: not brought to the latest schema (for a
/// write after a command that failed, which must change nothing else).
pub fn with_pool_as_it_is<T, F, Fut>(url: &str, work: F) -> Result<T>
where
    F: FnOnce(fairpos_postgres::Pool) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    runtime()?.block_on(async { work(connect_reached(url).await?).await })
}

/// `hq init --database`: the database given the accounts `hq init` made.
pub fn give_founding_accounts(hq: &Hq, url: &str) -> Result<()> {
    let accounts = crate::server::postgres::founding_accounts(hq)?;
    with_pool(url, |pool| async move {
        crate::server::postgres::give_accounts(&pool, &accounts).await
    })
}

/// Brings the database at `url` to the latest schema and makes it the headquarters of the
/// fair `fair_id`, unless it is another fair's (`hq init --database`, before it writes).
/// Returns whether it holds accounts already (another data directory set it up first):
/// then they are the fair's, and `init` gives it none.
pub fn claim_at(url: &str, fair_id: &str) -> Result<bool> {
    runtime()?.block_on(async {
        let pool = crate::server::postgres::connect_for(url, fair_id).await?;
        Ok(!fairpos_postgres::accounts::list(&pool).await?.is_empty())
    })
}

/// The fair's catalog as the database at `url` holds it (every data directory's and every
/// serving process's edits), if it holds one.
pub(super) fn stored_catalog(hq: &Hq, url: &str) -> Result<Option<automerge::Automerge>> {
    let id = crate::catalog::doc_id(hq);
    let shown = id.to_string();
    let chunks = with_pool(url, |pool| async move {
        Ok(fairpos_postgres::documents::document_chunks(&pool, &id).await?)
    })?;
    fairpos_sync::samod_storage::load_chunks(&shown, &chunks).map_err(|e| {
        let shown = fairpos_postgres::shown_address(url);
        Error::Integrity(format!("the catalog in {shown}: {e}"))
    })
}

/// Merges the database's catalog into the data directory's, before anything is imported into
/// it here.
pub fn catch_up_catalog(hq: &Hq, url: &str) -> Result<()> {
    match stored_catalog(hq, url)? {
        Some(stored) => crate::catalog::merge_in(hq, stored),
        None => Ok(()),
    }
}

/// `hq init --database` joining a database that is the fair's headquarters already: the data
/// directory takes the database's catalog as its own ([`crate::catalog::adopt`]). Returns
/// whether the database held one.
pub fn adopt_catalog(hq: &Hq, url: &str) -> Result<bool> {
    match stored_catalog(hq, url)? {
        Some(stored) => crate::catalog::adopt(hq, stored).map(|()| true),
        None => Ok(false),
    }
}

/// Stores the chunks of the data directory's catalog document the database at `url` lacks:
/// every serving process hears of them and merges them in, and a data directory that joins
/// later finds the catalog there. The stalls' names and teams too, which label the reports
/// every process reads from the database.
pub fn store_catalog(hq: &Hq, url: &str) -> Result<()> {
    let id = crate::catalog::doc_id(hq);
    let chunks = fairpos_sync::samod_storage::document_chunks(&hq.conn, &id)?;
    let stalls = crate::server::mirror::stalls(&hq.conn)?;
    with_pool(url, |pool| async move {
        let held: std::collections::HashSet<String> =
            fairpos_postgres::documents::chunk_keys(&pool, &id)
                .await?
                .into_iter()
                .collect();
        let lacking: Vec<_> = chunks
            .into_iter()
            .filter(|(key, _)| !held.contains(key))
            .collect();
        if !lacking.is_empty() {
            fairpos_postgres::documents::put_chunks(&pool, &lacking).await?;
        }
        fairpos_postgres::report::put_stalls(&pool, &stalls).await?;
        Ok(())
    })
}

/// `hq devices` on PostgreSQL.
pub fn devices(url: &str) -> Result<Vec<fairpos_sync::protocol::DeviceEntry>> {
    with_pool(
        url,
        |pool| async move { Ok(registry::entries(&pool).await?) },
    )
}

/// `hq sales` on PostgreSQL: each sale handed to `each` as it is read.
pub fn each_sale(url: &str, each: impl FnMut(registry::SaleEntry) -> Result<()>) -> Result<()> {
    with_pool(
        url,
        |pool| async move { registry::each_sale(&pool, each).await },
    )
}

/// `hq events` on PostgreSQL: each `(at, device, kind, detail)` handed to `each` as it is
/// read.
pub fn each_event(
    url: &str,
    each: impl FnMut((String, String, String, String)) -> Result<()>,
) -> Result<()> {
    with_pool(url, |pool| async move {
        registry::each_event(&pool, each).await
    })
}

/// `hq report` on PostgreSQL.
pub fn report(url: &str, a: &ReportArgs) -> Result<()> {
    runtime()?.block_on(print_report(url, a))
}

/// `hq screen-link` on PostgreSQL: a new token for the big screen, `(id, token)`.
pub fn issue_screen_token(url: &str, label: &str) -> Result<(String, String)> {
    let (id, token, hash) = crate::screen::tokens::new_token();
    with_pool(url, |pool| async move {
        fairpos_postgres::accounts::screen_token_issue(&pool, &id, &hash, label).await?;
        Ok((id, token))
    })
}

/// `hq screen-link --revoke` on PostgreSQL.
pub fn revoke_screen_token(url: &str, id: &str) -> Result<()> {
    let revoked = with_pool(url, |pool| async move {
        Ok(fairpos_postgres::accounts::screen_token_revoke(&pool, id).await?)
    })?;
    if !revoked {
        return Err(crate::screen::tokens::not_in_use(id));
    }
    Ok(())
}

/// `hq screen-link --list` on PostgreSQL.
pub fn screen_tokens(url: &str) -> Result<Vec<crate::screen::tokens::ScreenToken>> {
    let all = with_pool(url, |pool| async move {
        Ok(fairpos_postgres::accounts::screen_tokens(&pool).await?)
    })?;
    Ok(all
        .into_iter()
        .map(
            |(id, label, created_at, revoked)| crate::screen::tokens::ScreenToken {
                id,
                label,
                created_at,
                revoked,
            },
        )
        .collect())
}

/// `hq end-sessions` on PostgreSQL: how many sessions there were.
pub fn end_sessions(url: &str) -> Result<u64> {
    with_pool(url, |pool| async move {
        Ok(fairpos_postgres::accounts::end_all(&pool).await?)
    })
}

/// Whether the fair's stalls hold `stall`: the data directory's, else the catalog the
/// database at `url` holds (read, not merged in: another data directory may have imported
/// it).
pub fn has_stall(hq: &Hq, url: &str, stall: &str) -> Result<bool> {
    if fairpos_projection::catalog::has_stall(&hq.conn, stall)? {
        return Ok(true);
    }
    let Some(stored) = stored_catalog(hq, url)? else {
        return Ok(false);
    };
    let doc =
        fairpos_sync::catalog::CatalogDoc::open(&crate::catalog::key(hq), &hq.fair.id, stored)?;
    Ok(doc.contents()?.stalls.iter().any(|s| s.id == stall))
}

/// `hq add-device` on a headquarters on PostgreSQL: the device and its one-time code there.
pub fn add_device(url: &str, device: &str, stall: &str, hub: bool) -> Result<String> {
    fairpos_domain::DeviceCode::parse(device)?;
    let (code, hash) = crate::devices::new_code();
    let role = if hub { "hub" } else { "till" };
    let added = with_pool(url, |pool| async move {
        Ok(registry::add_device(&pool, device, stall, role, &hash).await?)
    })?;
    if !added {
        return Err(crate::devices::enrolled_already(device));
    }
    Ok(code)
}

/// `hq revoke-device` on a headquarters on PostgreSQL: every process serving it closes the
/// device's connections within a second or so.
pub fn revoke(url: &str, device: &str) -> Result<()> {
    let revoked = with_pool(url, |pool| async move {
        Ok(registry::revoke(&pool, device).await?)
    })?;
    if !revoked {
        return Err(Error::input(format!("no enrolled device {device}")));
    }
    Ok(())
}

pub fn run(dir: &Path, command: PostgresCommand) -> Result<()> {
    runtime()?.block_on(async {
        match command {
            PostgresCommand::Migrate { db, dry_run: true } => {
                let pool = connect_reached(&db.database).await?;
                let version = fairpos_postgres::schema_version(&pool).await?;
                let pending = fairpos_postgres::pending(&pool).await?;
                // `migrate` also fills the rows a build before left without their sale,
                // whatever it applies: that is not a change of the schema.
                if pending.is_empty() {
                    println!("the database is up to date (schema {version}): nothing to apply");
                } else {
                    println!("would apply, to the database at schema {version}:");
                    for (number, what) in pending {
                        println!("  {number}: {what}");
                    }
                }
                Ok(())
            }
            PostgresCommand::Migrate { db, dry_run: false } => {
                let pool = connect_reached(&db.database).await?;
                check_before_migrating(&pool, &db.database, None).await?;
                let applied = migrate(&pool).await?;
                let version = fairpos_postgres::schema_version(&pool).await?;
                if applied.is_empty() {
                    println!("the database is up to date (schema {version})");
                } else {
                    let shown: Vec<String> = applied.iter().map(i32::to_string).collect();
                    println!("applied migrations {} (schema {version})", shown.join(", "));
                }
                Ok(())
            }
            PostgresCommand::CopyDocuments(db) => copy_documents(dir, &db.database).await,
            PostgresCommand::Project { db, follow } => project(&db.database, follow).await,
            PostgresCommand::Report { db, report } => print_report(&db.database, &report).await,
        }
    })
}

/// Copies every stored chunk of this headquarters' documents that the database lacks, and
/// its stalls' names, into the database.
async fn copy_documents(dir: &Path, url: &str) -> Result<()> {
    let hq = Hq::open(dir)?;
    // Claimed, as the mirror is: two headquarters copying into one database counted both
    // fairs' sales in one set of reports.
    let pool = crate::server::postgres::connect_for(url, &hq.fair.id).await?;
    let db = std::sync::Arc::new(std::sync::Mutex::new(hq.conn));
    let told = |done, of| eprintln!("copying: {done} of {of} chunks");
    let (chunks, stalls) =
        mirror::copy_all(&db, &pool, progress::paced(Pace::OPERATOR, told)).await?;
    println!("copied {chunks} chunks the database lacked and {stalls} stalls");
    Ok(())
}

fn say(pass: &Pass) {
    println!(
        "projected {} documents: {} new records",
        pass.documents, pass.new_records
    );
    for (doc, why) in &pass.refused {
        eprintln!("refused {doc}: {why}");
    }
    for (doc, why) in &pass.failed {
        eprintln!("projecting {doc} failed: {why}");
    }
}

/// Projects every ledger stored; with `follow`, then each one any process stores, until the
/// connection ends or the process is stopped.
async fn project(url: &str, follow_store: bool) -> Result<()> {
    let pool = connect_checked(url, None).await?;
    // Listening before catching up: a ledger stored in between is heard, not missed.
    let listener = if follow_store {
        Some(Listener::start(url, &Origin::new(), &[]).await?)
    } else {
        None
    };
    let told = |done, of| eprintln!("projecting: {done} of {of} documents");
    let mut caught_up = catch_up(&pool, None, progress::paced(Pace::OPERATOR, told)).await?;
    if listener.is_none() {
        // No later pass: a change stored before the one it follows is judged now.
        read_waiting(&pool, None, &mut caught_up).await;
    }
    say(&caught_up);
    if listener.is_none() && !caught_up.failed.is_empty() {
        return Err(Error::Other(format!(
            "{} documents could not be projected (see above): run `hq postgres project` again",
            caught_up.failed.len()
        )));
    }
    if let Some(mut listener) = listener {
        follow(&pool, &mut listener, None, &caught_up, say).await?;
        return Err(Error::Other(
            "the database connection that hears stored ledgers ended".into(),
        ));
    }
    Ok(())
}

async fn print_report(url: &str, a: &ReportArgs) -> Result<()> {
    let by: Dimension = a.by.parse()?;
    let format = output_format(&a.format, a.out.as_deref())?;
    let pool = connect_reached(url).await?;
    let latest = fairpos_postgres::MIGRATIONS.len() as i32;
    if fairpos_postgres::schema_version(&pool).await? < latest {
        return Err(Error::input(
            "the database does not hold fairpos's tables yet: run `fairpos hq postgres migrate`",
        ));
    }
    let built = fairpos_postgres::report::build(&pool, by).await?;
    let bytes = report::format::render(&built, format)?;
    write_output(a.out.as_deref().unwrap_or(Path::new("-")), &bytes)
}
