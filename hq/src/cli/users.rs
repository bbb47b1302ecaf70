//! `fairpos hq user add|list|passwd|remove`: the dashboard's accounts.

use std::path::Path;

use super::args::UserCommand;
use super::kit::print_json;
use crate::accounts::{self, Access};
use crate::{Hq, Result};

pub fn run(dir: &Path, command: UserCommand) -> Result<()> {
    let mut hq = Hq::open(dir)?;
    match command {
        UserCommand::Add {
            name,
            role,
            stall,
            unit,
            password,
        } => {
            let access = Access::parse(&role, stall.as_deref(), unit.as_deref())?;
            accounts::add(&hq.conn, &name, &access, &password.text)?;
            let scope = access
                .scope()
                .map(|s| format!(" of {s}"))
                .unwrap_or_default();
            println!("account {name} added: {}{scope}", access.role());
        }
        UserCommand::List(f) => {
            let listed = accounts::list(&hq.conn)?;
            if f.json {
                return print_json(&listed);
            }
            println!(
                "{:<24} {:<11} {:<20} {:>8}",
                "account", "role", "of", "sessions"
            );
            for a in &listed {
                println!(
                    "{:<24} {:<11} {:<20} {:>8}",
                    a.name,
                    a.role,
                    a.scope.as_deref().unwrap_or("-"),
                    a.sessions
                );
            }
        }
        UserCommand::Passwd { name, password } => {
            let ended = accounts::set_password(&hq.conn, &name, &password.text)?;
            println!("password of {name} changed; sessions ended: {ended}");
        }
        UserCommand::Remove { name } => {
            accounts::remove(&mut hq.conn, &name)?;
            println!("account {name} removed; its sessions ended");
        }
    }
    Ok(())
}
