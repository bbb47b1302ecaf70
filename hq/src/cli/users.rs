//! `fairpos hq user add|list|passwd|remove`: the dashboard's accounts.

use std::path::Path;

use super::args::UserCommand;
use super::kit::print_json;
use crate::accounts::{self, Access};
use crate::{Hq, Result};

pub fn run(dir: &Path, command: UserCommand) -> Result<()> {
    let mut hq = Hq::open(dir)?;
    let database = super::postgres::database_of(dir, None)?;
    if let Some(url) = database {
        return on_postgres(&hq, &url, command);
    }
    match command {
        UserCommand::Add {
            name,
            role,
            stall,
            unit,
            password,
        } => {
            let access = Access::parse(&role, stall.as_deref(), unit.as_deref())?;
            // What would refuse the account is checked before its password is asked for.
            accounts::check_new(&hq.conn, &name, &access)?;
            if accounts::access_of(&hq.conn, &name)?.is_some() {
                return Err(accounts::already(&name));
            }
            let held = accounts::list(&hq.conn)?;
            accounts::check_unlike(&name, held.iter().map(|a| a.name.as_str()))?;
            accounts::add(&hq.conn, &name, &access, &password.read(&name)?)?;
            added(&name, &access);
        }
        UserCommand::List(f) => show(&accounts::list(&hq.conn)?, f.json)?,
        UserCommand::Passwd { name, password } => {
            if accounts::access_of(&hq.conn, &name)?.is_none() {
                return Err(accounts::no_account(&name));
            }
            let ended = accounts::set_password(&hq.conn, &name, &password.read(&name)?)?;
            println!("password of {name} changed; sessions ended: {ended}");
        }
        UserCommand::Remove { name } => {
            accounts::remove(&mut hq.conn, &name)?;
            println!("account {name} removed; its sessions ended");
        }
    }
    Ok(())
}

fn added(name: &str, access: &Access) {
    let scope = access
        .scope()
        .map(|s| format!(" of {s}"))
        .unwrap_or_default();
    println!("account {name} added: {}{scope}", access.role());
}

fn show(listed: &[accounts::Listed], json: bool) -> Result<()> {
    if json {
        return print_json(&listed);
    }
    println!(
        "{:<24} {:<11} {:<20} {:>8}",
        "account", "role", "of", "sessions"
    );
    for a in listed {
        println!(
            "{:<24} {:<11} {:<20} {:>8}",
            a.name,
            a.role,
            a.scope.as_deref().unwrap_or("-"),
            a.sessions
        );
    }
    Ok(())
}

/// The same commands on a headquarters on PostgreSQL (`hq init --database`).
fn on_postgres(hq: &Hq, url: &str, command: UserCommand) -> Result<()> {
    use fairpos_postgres::accounts::{self as stored, Removal, Stored};
    if let UserCommand::Add { role, .. } = &command {
        if role != "organizer" {
            // A stall or unit another data directory imported is the fair's too.
            super::postgres::catch_up_catalog(hq, url)?;
        }
    }
    super::postgres::with_pool(url, |pool| async move {
        match command {
            UserCommand::Add {
                name,
                role,
                stall,
                unit,
                password,
            } => {
                let access = Access::parse(&role, stall.as_deref(), unit.as_deref())?;
                accounts::check_new(&hq.conn, &name, &access)?;
                if stored::stored(&pool, &name).await?.is_some() {
                    return Err(accounts::already(&name));
                }
                let held = stored::list(&pool).await?;
                accounts::check_unlike(&name, held.iter().map(|a| a.name.as_str()))?;
                let account = Stored {
                    role: access.role().to_string(),
                    scope: access.scope().map(str::to_string),
                    password_hash: accounts::hash_password(&password.read(&name)?)?,
                };
                if !stored::add(&pool, &name, &account).await? {
                    return Err(accounts::already(&name));
                }
                added(&name, &access);
            }
            UserCommand::List(f) => {
                let listed: Vec<accounts::Listed> = stored::list(&pool)
                    .await?
                    .into_iter()
                    .map(|a| accounts::Listed {
                        name: a.name,
                        role: a.role,
                        scope: a.scope,
                        created_at: a.created_at,
                        sessions: a.sessions,
                    })
                    .collect();
                show(&listed, f.json)?;
            }
            UserCommand::Passwd { name, password } => {
                if stored::stored(&pool, &name).await?.is_none() {
                    return Err(accounts::no_account(&name));
                }
                let hash = accounts::hash_password(&password.read(&name)?)?;
                let ended = stored::set_password(&pool, &name, &hash)
                    .await?
                    .ok_or_else(|| accounts::no_account(&name))?;
                println!("password of {name} changed; sessions ended: {ended}");
            }
            UserCommand::Remove { name } => match stored::remove(&pool, &name).await? {
                Removal::Removed => println!("account {name} removed; its sessions ended"),
                Removal::NoAccount => return Err(accounts::no_account(&name)),
                Removal::LastOrganizer => {
                    return Err(crate::Error::input(format!(
                        "{name} is the last organizer: add another before removing it"
                    )))
                }
            },
        }
        Ok(())
    })
}
