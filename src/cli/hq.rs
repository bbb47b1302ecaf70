//! `fairpos hq ...`: headquarters and the fair hub from the command line.

use std::path::Path;

use serde::Serialize;

use super::args::{HqBundleCommand, HqCommand, ImportOnly};
use super::{file_label, print_json, read_input, report_to};
use crate::catalog_csv::{self, demo};
use crate::error::{Error, Result};
use crate::hq::{self, bundles, catalog, devices, Hq};

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

#[derive(Serialize)]
struct EventRow {
    at: String,
    device: String,
    kind: String,
    detail: String,
}

pub fn run(dir: &Path, command: HqCommand) -> Result<()> {
    match command {
        HqCommand::Init {
            demo: use_demo,
            fair,
            organizer_password,
        } => {
            let fair_toml = match &fair {
                Some(path) => read_input(path)?,
                None => demo::FAIR_TOML.to_string(),
            };
            let hq = Hq::init(dir, &fair_toml, &organizer_password)?;
            if use_demo {
                catalog::import_products(
                    &hq,
                    &catalog_csv::parse_catalog("catalog.csv", demo::CATALOG_CSV)?,
                )?;
                catalog::import_stalls(
                    &hq,
                    &catalog_csv::parse_stalls("stalls.csv", demo::STALLS_CSV)?,
                )?;
                catalog::import_sellers(
                    &hq,
                    &catalog_csv::parse_sellers("sellers.csv", demo::SELLERS_CSV)?,
                )?;
                catalog::import_units(
                    &hq,
                    &catalog_csv::parse_units("units.csv", demo::UNITS_CSV)?,
                )?;
            }
            println!(
                "headquarters of {} ({}) set up in {}",
                hq.fair.name,
                hq.fair.id,
                dir.display()
            );
            Ok(())
        }
        HqCommand::Catalog(ImportOnly::Import { file }) => {
            let rows = catalog_csv::parse_catalog(&file_label(&file), &read_input(&file)?)?;
            catalog::import_products(&Hq::open(dir)?, &rows)?;
            println!("{} products imported into the fair's catalog", rows.len());
            Ok(())
        }
        HqCommand::Stalls(ImportOnly::Import { file }) => {
            let rows = catalog_csv::parse_stalls(&file_label(&file), &read_input(&file)?)?;
            catalog::import_stalls(&Hq::open(dir)?, &rows)?;
            println!("{} stalls imported", rows.len());
            Ok(())
        }
        HqCommand::Sellers(ImportOnly::Import { file }) => {
            let rows = catalog_csv::parse_sellers(&file_label(&file), &read_input(&file)?)?;
            catalog::import_sellers(&Hq::open(dir)?, &rows)?;
            println!("{} sellers imported", rows.len());
            Ok(())
        }
        HqCommand::Units(ImportOnly::Import { file }) => {
            let rows = catalog_csv::parse_units(&file_label(&file), &read_input(&file)?)?;
            catalog::import_units(&Hq::open(dir)?, &rows)?;
            println!("{} units imported", rows.len());
            Ok(())
        }
        HqCommand::Serve { listen, upstream } => {
            hq::server::serve(dir, hq::server::ServeOptions { listen, upstream })
        }
        HqCommand::AddDevice {
            device,
            stall,
            hub,
            json,
        } => {
            let hq = Hq::open(dir)?;
            if !hub && stall.is_empty() {
                return Err(Error::input("a till needs --stall"));
            }
            let code = devices::add_device(&hq, &device, &stall, hub)?;
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
        HqCommand::RevokeDevice { device } => {
            let hq = Hq::open(dir)?;
            devices::revoke(&hq.conn, &device)?;
            println!("{device} revoked: its credentials no longer work");
            Ok(())
        }
        HqCommand::Devices(f) => {
            let hq = Hq::open(dir)?;
            let entries = devices::registry(&hq.conn)?;
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
        HqCommand::Enroll { hq: url, code } => {
            let hub = crate::uplink::enroll_hub(dir, &url, &code)?;
            println!(
                "hub {} of {} enrolled with {url}; start it with `fairpos --data {} hq serve`",
                match &hub.role {
                    hq::Role::Hub { device, .. } => device.as_str(),
                    hq::Role::Hq => "?",
                },
                hub.fair.name,
                dir.display()
            );
            Ok(())
        }
        HqCommand::Bundle(HqBundleCommand::Import { file }) => {
            let text = read_input(&file)?;
            let bundle: fairpos_sync::bundle::Bundle = serde_json::from_str(&text)
                .map_err(|e| Error::input(format!("{}: not a bundle: {e}", file.display())))?;
            let hq = Hq::open(dir)?;
            let imported = bundles::import(&hq, &bundle)?;
            println!(
                "bundle from {} imported: {} documents, {} new records",
                bundle.source, imported.documents, imported.new_records
            );
            Ok(())
        }
        HqCommand::Sales(f) => {
            let hq = Hq::open(dir)?;
            let mut stmt = hq.conn.prepare(
                "SELECT s.device, s.number, s.id, s.at, s.total_fen,
                        EXISTS(SELECT 1 FROM voids v WHERE v.sale_id = s.id)
                 FROM sales s ORDER BY s.device, s.seq",
            )?;
            let rows: Vec<SaleRow> = stmt
                .query_map([], |r| {
                    Ok(SaleRow {
                        device: r.get(0)?,
                        sale: r.get(1)?,
                        id: r.get(2)?,
                        at: r.get(3)?,
                        total_fen: r.get(4)?,
                        status: if r.get::<_, bool>(5)? {
                            "voided"
                        } else {
                            "completed"
                        },
                    })
                })?
                .collect::<Result<_, _>>()?;
            if f.json {
                return print_json(&rows);
            }
            for r in &rows {
                println!(
                    "{}  {}  {:>10}  {}",
                    r.sale,
                    r.at,
                    crate::domain::Fen(r.total_fen),
                    r.status
                );
            }
            Ok(())
        }
        HqCommand::Report(a) => {
            let hq = Hq::open(dir)?;
            report_to(&hq.conn, &a)
        }
        HqCommand::Events(f) => {
            let hq = Hq::open(dir)?;
            let mut stmt = hq
                .conn
                .prepare("SELECT at, device, kind, detail FROM sync_events ORDER BY id")?;
            let rows: Vec<EventRow> = stmt
                .query_map([], |r| {
                    Ok(EventRow {
                        at: r.get(0)?,
                        device: r.get(1)?,
                        kind: r.get(2)?,
                        detail: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            if f.json {
                return print_json(&rows);
            }
            for r in &rows {
                println!("{} {} {}: {}", r.at, r.device, r.kind, r.detail);
            }
            Ok(())
        }
    }
}
