//! A price change lost with headquarters' disk (or PostgreSQL database), taken back from a till
//! or a hub that synced it.

use super::*;

/// Headquarters' disk is lost with an afternoon's price change, and noon's backup restored
/// onto a new machine: there is no replaced database to take the change from. A till that
/// synced it gives it back (`fairpos bundle export --catalog`, then `hq catalog recover`,
/// shown with `--dry-run` first), and a price set after that reaches the till (without it,
/// the new price would race the lost one there, and could lose).
#[test]
fn a_price_change_lost_with_headquarters_disk_is_taken_back_from_a_till() {
    let backup: fn(&Hq, &Path) = |hq, file| {
        hq.ok(&["hq", "backup", file.to_str().unwrap()]);
    };
    let new_machine: fn(&Hq, &Path) -> Hq = |_, file| {
        let new = Hq {
            dir: tempfile::tempdir().unwrap(),
        };
        new.ok(&["hq", "restore", file.to_str().unwrap()]);
        new
    };
    price_change_lost_with_the_disk_is_taken_back(Hq::demo(), backup, new_machine);
}

/// The same on PostgreSQL: noon's `pg_dump` restored, and a new data directory joining the
/// database (`hq init --database`), whose catalog it adopts.
#[test]
fn a_price_change_lost_with_the_postgresql_database_is_taken_back_from_a_till() {
    let Some(hq) = Hq::demo_postgres("recover") else {
        return;
    };
    let backup: fn(&Hq, &Path) = |hq, file| {
        let url = hq.database_url().unwrap();
        run(
            "pg_dump",
            &["--format=custom", "--file", file.to_str().unwrap(), &url],
        );
    };
    let new_machine: fn(&Hq, &Path) -> Hq = |hq, file| {
        let url = hq.database_url().unwrap();
        let dbname = format!("--dbname={url}");
        run(
            "pg_restore",
            &[
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--no-owner",
                &dbname,
                file.to_str().unwrap(),
            ],
        );
        Hq::demo_on(&url)
    };
    price_change_lost_with_the_disk_is_taken_back(hq, backup, new_machine);
}

fn price_change_lost_with_the_disk_is_taken_back(
    hq: Hq,
    backup: fn(&Hq, &Path),
    new_machine: fn(&Hq, &Path) -> Hq,
) {
    let sku = "BJ-HJC-100";
    let backups = tempfile::tempdir().unwrap();
    let noon = backups.path().join("noon.db");
    let server = hq.serve();
    let url = server.url.clone();
    let till = Till::enrolled(&url, &hq.add_device("T01", "S01"));
    till.synced();
    backup(&hq, &noon);
    set_price(&hq, sku, "61.00");
    synced_until_price(&till, sku, 6100);
    server.stop();

    let new = new_machine(&hq, &noon);
    drop(hq);
    let server = Server::start(new.data(), &["--listen", url.trim_start_matches("http://")]);
    assert_eq!(price_at_headquarters(&new, sku), 5800, "noon's price");
    till.synced();
    assert_eq!(price_at(&till, sku), 6100, "the till keeps the afternoon's");

    let bundle = backups.path().join("t01-catalog.json");
    let bundle = bundle.to_str().unwrap();
    till.ok(&["bundle", "export", "--catalog", bundle]);
    let out = new.run(&["hq", "bundle", "import", bundle]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("hq catalog recover"), "{said}");

    let catalog_version = || -> Option<String> {
        use rusqlite::OptionalExtension;
        rusqlite::Connection::open(new.data().join("hq.db"))
            .unwrap()
            .query_row(
                "SELECT value FROM meta WHERE key = 'catalog_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap()
    };
    let before = catalog_version();
    let shown = new.ok(&["hq", "catalog", "recover", "--dry-run", bundle]);
    assert_eq!(
        catalog_version(),
        before,
        "a dry run writes no catalog edit"
    );
    assert!(
        shown.contains("T01's catalog holds 1 change headquarters lacks"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("products {sku}: price_fen 5800 -> 6100")),
        "{shown}"
    );
    assert!(shown.contains("--dry-run: nothing was taken"), "{shown}");
    assert_eq!(price_at_headquarters(&new, sku), 5800);
    let taken = new.ok(&["hq", "catalog", "recover", bundle]);
    assert!(
        taken.contains("taken: headquarters' catalog holds them now"),
        "{taken}"
    );
    assert_eq!(price_at_headquarters(&new, sku), 6100);

    set_price(&new, sku, "62.00");
    synced_until_price(&till, sku, 6200);
    assert!(
        new.events().contains("catalog recovered"),
        "{}",
        new.events()
    );
    server.stop();
}

/// The same from a fair hub: the hub syncs the catalog as a till does, so its copy holds the
/// afternoon's price when headquarters' restored database lacks it, and it exports it
/// signed (`fairpos bundle export --catalog` on the hub's directory).
#[test]
fn a_price_change_lost_with_headquarters_disk_is_taken_back_from_a_hub() {
    let sku = "BJ-HJC-100";
    let hq = Hq::demo();
    let backups = tempfile::tempdir().unwrap();
    let noon = backups.path().join("noon.db");
    let server = hq.serve();
    let url = server.url.clone();
    let hub_code = hq.add_hub("H1");
    let hub = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    hub.ok(&["hq", "enroll", "--hq", &url, "--code", &hub_code]);
    let hub_server = Server::start(hub.data(), &["--upstream", &url]);
    hq.ok(&["hq", "backup", noon.to_str().unwrap()]);
    set_price(&hq, sku, "61.00");
    let started = std::time::Instant::now();
    while price_at_headquarters(&hub, sku) != 6100 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the afternoon's price never reached the hub"
        );
        common::hq::pause(200);
    }
    hub_server.stop();
    server.stop();

    let new = Hq {
        dir: tempfile::tempdir().unwrap(),
    };
    new.ok(&["hq", "restore", noon.to_str().unwrap()]);
    drop(hq);
    assert_eq!(price_at_headquarters(&new, sku), 5800, "noon's price");
    let bundle = backups.path().join("h1-catalog.json");
    let bundle = bundle.to_str().unwrap();
    hub.ok(&["bundle", "export", "--catalog", bundle]);
    let shown = new.ok(&["hq", "catalog", "recover", "--dry-run", bundle]);
    assert!(
        shown.contains("H1's catalog holds 1 change headquarters lacks"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("products {sku}: price_fen 5800 -> 6100")),
        "{shown}"
    );
    new.ok(&["hq", "catalog", "recover", bundle]);
    assert_eq!(price_at_headquarters(&new, sku), 6100);
}
