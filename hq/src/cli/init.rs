//! `hq init`: a headquarters set up in a data directory, on SQLite or on a PostgreSQL
//! database another data directory may have set up first; all of it, or nothing left.

use std::path::Path;

use fairpos_domain::demo;

use super::kit::read_input;
use super::{new_password, postgres};
use crate::{catalog, Founding, Hq, Result};

/// Sets up headquarters in `dir` for the fair in the file `fair` (the demo's without one),
/// its first organizer's password given or read from standard input, the demo's catalog
/// imported when `use_demo`, on the PostgreSQL `database` when given.
pub(super) fn init(
    dir: &Path,
    use_demo: bool,
    fair: Option<&Path>,
    organizer_password: Option<&str>,
    organizer_password_stdin: bool,
    database: Option<&str>,
) -> Result<()> {
    let fair_toml = match fair {
        Some(path) => read_input(path)?,
        None => demo::FAIR_TOML.to_string(),
    };
    // What would refuse init is checked before a password is asked for.
    let fair = fairpos_domain::fair::Fair::from_toml(&fair_toml)?;
    fair.check_barcode_prefixes()?;
    crate::instance::check_unused(dir)?;
    // Before anything is written: a database that cannot be reached, or that is another
    // fair's headquarters, fails init.
    let accounts_kept = match database {
        Some(url) => postgres::claim_at(url, &fair.id)?,
        None => false,
    };
    let organizer_password = if accounts_kept {
        // The database's accounts are the fair's: none is made or asked for (an organizer
        // account removed there came back, with a password typed here for nothing).
        if organizer_password.is_some() || organizer_password_stdin {
            eprintln!(
                "note: the database holds the fair's accounts already: the organizer's \
                 password given is not used (`hq user passwd` changes one)"
            );
        }
        // Only this directory's own copy, which a headquarters on PostgreSQL never reads.
        fairpos_sync::keys::new_secret()
    } else {
        new_password::of_first_organizer(organizer_password, organizer_password_stdin)?
    };
    let hq = Hq::init(
        dir,
        &fair_toml,
        Founding::Hq {
            organizer_password: &organizer_password,
        },
    )?;
    let set_up = || -> Result<bool> {
        // Another data directory made the database this fair's headquarters first:
        // its catalog is the fair's, and the demo's is not imported over it.
        let joined = match database {
            Some(url) => postgres::adopt_catalog(&hq, url)?,
            None => false,
        };
        if use_demo && !joined {
            catalog::import_demo(&hq)?;
        }
        if let Some(url) = database {
            postgres::store_catalog(&hq, url)?;
            if !accounts_kept {
                postgres::give_founding_accounts(&hq, url)?;
            }
            crate::set_meta(&hq.conn, postgres::META_DATABASE, url)?;
        }
        Ok(joined)
    };
    let joined = match set_up() {
        Ok(joined) => joined,
        Err(e) => {
            // Half made, it was a headquarters on SQLite (the database's address is
            // kept last), which `hq serve` served and a new `init` refused: taken
            // away.
            drop(hq);
            Hq::remove_database_of(dir);
            return Err(e);
        }
    };
    if let Some(url) = database {
        if fairpos_postgres::shown_address(url) != url {
            eprintln!(
                "warning: the database's password is kept with its address in {}; \
                     leave it out of --database and give it as libpq's programs take \
                     it: PGPASSWORD, or a password file (PGPASSFILE, ~/.pgpass)",
                dir.join(crate::HQ_DB).display()
            );
        }
    }
    println!(
        "headquarters of {} ({}) set up in {}",
        hq.fair.name,
        hq.fair.id,
        dir.display()
    );
    if joined {
        println!(
            "the database was its headquarters already: the fair's catalog and \
                 accounts there are kept"
        );
    } else if accounts_kept {
        println!("the database held the fair's accounts already: they are kept");
    }
    Ok(())
}
