//! The database's password kept out of the address, as a province's database administrator
//! gives it to libpq's programs: `PGPASSWORD`, or a password file (`PGPASSFILE`,
//! `~/.pgpass`) that only its owner may read; and never shown.
//!
//! `scripts/postgres.sh` starts the test server with one rule before the others: members of
//! `fairpos_password_users` log in over TCP with a password (SCRAM). This test makes such a
//! role and gives it a new database. Everyone else is trusted, as in every other test.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// A password with the characters a password file must escape.
const SECRET: &str = r"s3cret:with\colon";

/// `fairpos --data DATA ARGS` with the environment `env` and no password from this
/// process's own environment.
fn fairpos(data: &Path, args: &[&str], env: &[(&str, &Path)], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fairpos"));
    command
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env_remove("FAIRPOS_HQ_DATABASE");
    for (name, value) in env {
        command.env(name, value);
    }
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `sql` as the server's superuser.
fn psql(server: &str, sql: &str) {
    let status = Command::new("psql")
        .env("PGOPTIONS", "--client-min-messages=warning")
        .args([&format!("{server}/postgres"), "-qc", sql])
        .status()
        .unwrap();
    assert!(status.success(), "{sql}");
}

fn init_args(url: &str) -> Vec<&str> {
    let mut args = vec![
        "hq",
        "init",
        "--demo",
        "--organizer-password",
        "organizer-pw",
    ];
    args.extend(["--database", url]);
    args
}

#[test]
fn the_database_password_comes_from_pgpassword_or_a_password_file_and_is_never_shown() {
    let Some(database) = common::postgres::fresh_database("password") else {
        return;
    };
    let server = std::env::var("FAIRPOS_TEST_POSTGRES").unwrap();
    let (_, db) = database.rsplit_once('/').unwrap();
    let role = format!("fairpos_pw_{}", std::process::id());
    psql(
        &server,
        "DO $$ BEGIN CREATE ROLE fairpos_password_users NOLOGIN; \
         EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    );
    psql(
        &server,
        &format!(
            "DROP ROLE IF EXISTS {role}; \
             CREATE ROLE {role} LOGIN PASSWORD '{SECRET}' IN ROLE fairpos_password_users"
        ),
    );
    psql(&server, &format!("ALTER DATABASE {db} OWNER TO {role}"));
    let url = database.replacen("postgres@", &format!("{role}@"), 1);
    let host_port = url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(at, _)| at.to_string())
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let data = |name: &str| files.path().join(name);

    // No password anywhere: the server refuses the login.
    let out = fairpos(&data("h0"), &init_args(&url), &[], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("database"), "{}", stderr(&out));

    // A password file: a comment, a line for another database, then this one's, escaped,
    // its password ending at the next unescaped `:` (libpq's rule).
    let pgpass = data("pgpass");
    let escaped = SECRET.replace('\\', r"\\").replace(':', r"\:");
    std::fs::write(
        &pgpass,
        format!(
            "# hostname:port:database:username:password\n\
             {host_port}:other:{role}:not-this\n\
             {host_port}:{db}:{role}:{escaped}:not-the-password\n"
        ),
    )
    .unwrap();
    // Others may read it: not read, and said so.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env = [("PGPASSFILE", pgpass.as_path())];
    let out = fairpos(&data("h1"), &init_args(&url), &env, None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has group or world access, so it is not read"),
        "{}",
        stderr(&out)
    );
    // Its owner's alone: headquarters is set up on the database.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let h = data("h2");
    let out = fairpos(&h, &init_args(&url), &env, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = fairpos(
        &h,
        &["hq", "add-device", "--device", "T01", "--stall", "S01"],
        &env,
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // The data directory keeps the address without the password: later commands need one.
    let devices = ["hq", "devices", "--json"];
    let out = fairpos(&h, &devices, &[], None);
    assert!(!out.status.success(), "no password, no database");
    // PGPASSWORD, as libpq's programs take it; a wrong one is refused.
    let out = fairpos(&h, &devices, &[], Some(SECRET));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("T01"));
    let out = fairpos(&h, &devices, &[], Some("wrong-guess"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("password authentication failed"),
        "{}",
        stderr(&out)
    );
    // ~/.pgpass when PGPASSFILE is not set.
    let home = data("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::copy(&pgpass, home.join(".pgpass")).unwrap();
    std::fs::set_permissions(home.join(".pgpass"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = fairpos(&h, &devices, &[("HOME", home.as_path())], None);
    assert!(out.status.success(), "{}", stderr(&out));

    // A password in the address works, is warned about, and is never printed.
    let encoded = SECRET.replace(':', "%3A").replace('\\', "%5C");
    let with_password = url.replacen('@', &format!(":{encoded}@"), 1);
    let out = fairpos(&data("h3"), &init_args(&with_password), &[], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(
        said.contains("the database's password is kept with its address"),
        "{said}"
    );
    assert!(
        !said.contains(&encoded) && !said.contains("s3cret"),
        "{said}"
    );
    // An address that does not parse is shown with its password masked.
    let broken = with_password.replacen(&host_port, "127.0.0.1:not-a-port", 1);
    let out = fairpos(&data("h4"), &init_args(&broken), &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("{role}:***@127.0.0.1:not-a-port")),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
}
