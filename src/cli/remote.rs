//! Commands of a till's link to headquarters: `enroll`, `sync`, `bundle export`, and
//! `catalog add` (whose product travels in the till's ledger).

use std::path::Path;
use std::time::Duration;

use fairpos_domain::catalog::Product;
use fairpos_domain::catalog_csv::CatalogRow;
use fairpos_domain::codes::parse_gtin;
use fairpos_domain::money::Fen;
use fairpos_hq::{bundles, Hq, HQ_DB};
use fairpos_sync::tls::Trust;

use super::args::{BundleCommand, EnrollArgs, ProductArgs, SyncArgs, SyncCommand};
use super::print_json;
use crate::clock::now;
use crate::error::{Error, Result};
use crate::till::Till;
use crate::uplink::{self, SyncOptions};
use fairpos_hq::cli::kit::write_new;

pub fn enroll(dir: &Path, args: EnrollArgs) -> Result<()> {
    let ca = read_ca(args.ca.as_deref())?;
    let (till, again) = if args.again {
        let till = uplink::enroll_again(dir, &args.hq, &args.code, &args.lead_pin, ca.as_deref())?;
        (till, " again")
    } else {
        let trust = Trust::with_ca(ca.as_deref())?;
        let till = uplink::enroll(dir, &args.hq, &args.code, &args.lead_pin, &trust)?;
        (till, "")
    };
    let id = till.store().identity();
    println!(
        "till {} at stall {} of {} enrolled{again} with {}",
        id.device, id.stall, id.fair.name, args.hq
    );
    Ok(())
}

/// The text of the CA file given with `--ca`, if one was.
fn read_ca(ca: Option<&Path>) -> Result<Option<String>> {
    let read = |path| fairpos_hq::cli::kit::read_input(path).map_err(Error::from);
    ca.map(read).transpose()
}

pub fn sync(dir: &Path, args: SyncArgs) -> Result<()> {
    let options = SyncOptions {
        hq: args.hq.clone(),
        timeout: Duration::from_secs(args.timeout),
    };
    match args.command {
        Some(SyncCommand::Status(f)) => {
            let mut till = Till::open(dir)?;
            let status = uplink::status(&mut till)?;
            if f.json {
                return print_json(&status);
            }
            if !status.enrolled {
                println!("not enrolled with headquarters");
            }
            println!(
                "headquarters: {}\nlast success: {}\nunconfirmed sales: {}",
                status.hq.as_deref().unwrap_or("none"),
                status.last_success.as_deref().unwrap_or("never"),
                status.unconfirmed_sales
            );
            if let Some(e) = &status.last_error {
                println!("last error: {e}");
            }
            Ok(())
        }
        None if args.watch => uplink::watch(dir, &options, Duration::from_secs(args.interval)),
        None => {
            let told = |e: &Error, wait: Duration| {
                eprintln!("sync: {e}; trying again in {} s, as asked", wait.as_secs());
            };
            let report =
                uplink::sync_heeding_short_waits(dir, &options, told).map_err(with_wait_asked)?;
            println!(
                "synced with {}: headquarters holds all {} records of {} documents{}",
                report.hq,
                report.records,
                report.documents,
                if report.catalog_changed {
                    "; catalog updated"
                } else {
                    ""
                }
            );
            Ok(())
        }
    }
}

/// A failed sync's error, saying how long headquarters asked to be left alone when it did.
fn with_wait_asked(e: Error) -> Error {
    match e.retry_after() {
        Some(wait) if !wait.is_zero() => Error::Other(format!(
            "{e}; headquarters asked to be left alone for {} s: sync again after that",
            wait.as_secs()
        )),
        _ => e,
    }
}

pub fn bundle(dir: &Path, command: BundleCommand) -> Result<()> {
    let BundleCommand::Export { file, catalog } = command;
    // A hub's database is held as every `hq` command holds it, so that no restore replaces
    // it meanwhile.
    let _in_use = fairpos_hq::dir_lock::DirLock::shared(dir)?;
    let bundle = match (dir.join(HQ_DB).exists(), catalog) {
        (true, false) => bundles::export(&Hq::open(dir)?)?,
        (true, true) => fairpos_hq::catalog::export_hub_copy(&Hq::open(dir)?)?,
        (false, false) => uplink::export_bundle(&mut Till::open(dir)?)?,
        (false, true) => uplink::export_catalog_bundle(&mut Till::open(dir)?)?,
    };
    let bytes = serde_json::to_vec(&bundle).map_err(|e| Error::Other(format!("JSON: {e}")))?;
    write_new(&file, &bytes)?;
    let what = if catalog {
        "the catalog".to_string()
    } else {
        format!("{} documents", bundle.docs.len())
    };
    eprintln!(
        "bundle of {what} from {} written to {}",
        bundle.source,
        file.display()
    );
    Ok(())
}

pub fn add_product(dir: &Path, a: ProductArgs) -> Result<()> {
    let mut till = Till::open(dir)?;
    let barcode = match &a.barcode {
        Some(code) => Some(
            parse_gtin(code)?
                .ok_or_else(|| Error::input(format!("{code} is not an EAN-13, EAN-8 or UPC-A")))?
                .catalog_form(),
        ),
        None => None,
    };
    let product = Product {
        sku: a.sku,
        barcode,
        plu: a.plu,
        name_zh: a.name_zh,
        name_en: a.name_en,
        category: a.category,
        unit: a.unit,
        price: Fen::parse_yuan(&a.price)?,
        weighed: a.weighed,
        county_code: a.county_code,
        county_name: a.county_name,
        supplier: a.supplier,
        cert_no: a.cert_no,
        stall: a
            .stall
            .unwrap_or_else(|| till.store().identity().stall.clone()),
    };
    let stock = product
        .base_qty_from_units(&a.stock)
        .map_err(|why| Error::input(format!("--stock: {why}")))?;
    let now = now(&till)?;
    let sku = product.sku.clone();
    till.add_product(&CatalogRow { product, stock }, now)?;
    println!("product {sku} added; it reaches headquarters with the next sync");
    Ok(())
}
