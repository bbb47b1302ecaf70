//! The till controller: the operations a volunteer performs, each one store transaction
//! around pure domain logic. The CLI and the touchscreen both drive a till through this.
//!
//! Ids (UUIDs) are made here; times come from the caller, so tests can set the clock.

pub mod left_baskets;
pub mod printing;
pub mod receipt;
pub mod slip;
pub mod weighing;

use std::path::Path;

use chrono::{DateTime, FixedOffset};
use fairpos_domain::cart::Cart;
use fairpos_domain::catalog::{plu_value, Catalog, Stall};
use fairpos_domain::catalog_csv::{self, CatalogRow};
use fairpos_domain::codes::parse_credit_code;
use fairpos_domain::money::Fen;
use fairpos_domain::payment::{self, Method, Tender};
use fairpos_domain::refund::{self, RefundAsk, RefundLine};
use fairpos_domain::sale::{self, Buyer, Sale, SaleContext, Seller, Unit};
use fairpos_domain::shift::{self, Closing};
use fairpos_domain::slip::ShiftSlip;
use fairpos_domain::{demo, DomainError};
use fairpos_projection::{catalog, queries};
use fairpos_sync::catalog::CatalogProduct;
use fairpos_sync::convert::{self as records};
use fairpos_sync::record::{
    CashMoveRecord, ProductAddRecord, RefundRecord, ShiftCloseRecord, ShiftOpenRecord, VoidRecord,
};
use fairpos_sync::Record;

use crate::error::Result;
use crate::store::{self, InitOptions, Store, Writer};

pub type Time = DateTime<FixedOffset>;

/// A record id: a UUID v7, so that ids a till makes one after another sort together and
/// headquarters' indexes on them take each till's batch in a few neighbouring pages rather
/// than one page in every corner of a fair-sized b-tree.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What a buyer is buying and how they pay.
pub struct Order<'a> {
    pub seller: &'a str,
    pub cart: &'a Cart,
    /// Credit code of a purchasing unit; `None` for an individual.
    pub unit: Option<&'a str>,
    pub tenders: &'a [Tender],
}

#[derive(Clone, Debug)]
pub struct ShiftClosed {
    pub closing: Closing,
    pub last_sale: Option<String>,
    /// What the till states of the shift, for paper and headquarters.
    pub slip: ShiftSlip,
    /// The slip's signed QR text.
    pub slip_text: String,
}

#[derive(Clone, Debug)]
pub struct Refunded {
    pub number: String,
    pub sale_number: String,
    pub method: Method,
    pub amount: Fen,
    pub lines: Vec<RefundLine>,
}

pub struct Till {
    store: Store,
}

impl Till {
    /// Sets up a till on the demo fair: device T01 at stall S01, with its catalog, stalls,
    /// sellers and units.
    pub fn init_demo(dir: &Path, lead_pin: &str) -> Result<Till> {
        let mut till = Till::init(
            dir,
            &InitOptions {
                fair_toml: demo::FAIR_TOML,
                device: "T01",
                stall: "S01",
                lead_pin,
                actor: None,
            },
        )?;
        till.import_catalog(&catalog_csv::parse_catalog(
            "catalog.csv",
            demo::CATALOG_CSV,
        )?)?;
        till.import_stalls(&catalog_csv::parse_stalls("stalls.csv", demo::STALLS_CSV)?)?;
        till.import_sellers(&catalog_csv::parse_sellers(
            "sellers.csv",
            demo::SELLERS_CSV,
        )?)?;
        till.import_units(&catalog_csv::parse_units("units.csv", demo::UNITS_CSV)?)?;
        Ok(till)
    }

    pub fn init(dir: &Path, options: &InitOptions) -> Result<Till> {
        Ok(Till {
            store: Store::init(dir, options)?,
        })
    }

    pub fn open(dir: &Path) -> Result<Till> {
        Ok(Till {
            store: Store::open(dir)?,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    pub fn device(&self) -> &str {
        &self.store.identity().device
    }

    /// The database with every record projected, for reading.
    pub fn reader(&mut self) -> Result<&rusqlite::Connection> {
        self.store.reader()
    }

    pub fn catalog(&mut self) -> Result<Catalog> {
        Ok(catalog::catalog(self.store.reader()?)?)
    }

    pub fn import_catalog(&mut self, rows: &[CatalogRow]) -> Result<(usize, usize)> {
        self.store.write(|w| {
            w.reload_state_after();
            Ok(catalog::import(w.conn(), rows)?)
        })
    }

    /// As [`Till::import_catalog`], but the products held keep their stock on hand (a file
    /// without a stock column): what sells meanwhile is not put back.
    pub fn import_catalog_keeping_stock(&mut self, rows: &[CatalogRow]) -> Result<(usize, usize)> {
        self.store.write(|w| {
            w.reload_state_after();
            Ok(catalog::import_keeping_stock(w.conn(), rows)?)
        })
    }

    pub fn import_stalls(&mut self, rows: &[Stall]) -> Result<()> {
        self.store
            .write(|w| Ok(catalog::import_stalls(w.conn(), rows)?))
    }

    pub fn import_sellers(&mut self, rows: &[Seller]) -> Result<()> {
        self.store.write(|w| {
            w.reload_state_after();
            Ok(catalog::import_sellers(w.conn(), rows)?)
        })
    }

    pub fn import_units(&mut self, rows: &[Unit]) -> Result<()> {
        self.store.write(|w| {
            w.reload_state_after();
            Ok(catalog::import_units(w.conn(), rows)?)
        })
    }

    /// Opens a shift with `float` in the drawer.
    pub fn open_shift(&mut self, seller: &str, float: Fen, now: Time) -> Result<String> {
        self.store.write(|w| {
            let device = w.identity().device.to_string();
            if let Some(open) = &w.state().shift {
                return Err(DomainError::ShiftAlreadyOpen {
                    since: open.opened_at.clone(),
                    seller: open.seller.clone(),
                }
                .into());
            }
            known_seller(w, seller)?;
            let shift = new_id();
            let seq = w.next_record_seq();
            w.append(&Record::ShiftOpen(ShiftOpenRecord {
                header: records::header(new_id(), &device, seq, &now),
                shift: shift.clone(),
                seller: seller.to_string(),
                float_fen: float.0,
            }))?;
            Ok(shift)
        })
    }

    /// Completes and records a sale. When this returns, the sale is on disk.
    pub fn sell(&mut self, order: &Order, now: Time) -> Result<Sale> {
        self.sell_and(order, now, |_| Ok(()))
    }

    /// [`Till::sell`], and `then` in the sale's own transaction (a kiosk's basket noted on
    /// its payment QR forgotten: apart, a crash between them kept a sold basket as left).
    pub fn sell_and(
        &mut self,
        order: &Order,
        now: Time,
        then: impl FnOnce(&rusqlite::Connection) -> Result<()>,
    ) -> Result<Sale> {
        // Input is checked before the transaction starts.
        let unit_code = order.unit.map(parse_credit_code).transpose()?;
        if order.cart.is_empty() {
            return Err(DomainError::EmptyCart.into());
        }
        self.store.write_sale(|w| {
            let state = w.state();
            let shift = state.shift.as_ref().ok_or(DomainError::NoOpenShift)?;
            let seller = known_seller(w, order.seller)?;
            let buyer = match &unit_code {
                None => Buyer::Individual,
                Some(code) => Buyer::Unit(
                    state
                        .units
                        .get(code)
                        .cloned()
                        .ok_or_else(|| DomainError::UnknownUnit { code: code.clone() })?,
                ),
            };
            let identity = w.identity();
            let context = SaleContext {
                id: new_id(),
                seq: state.last_sale_seq + 1,
                device: identity.device.clone(),
                stall: identity.stall.clone(),
                shift: shift.id.clone(),
                at: now,
                seller,
                buyer,
            };
            let sale = sale::complete(context, order.cart, order.tenders, |sku| {
                state.stock_of(sku)
            })?;
            let record_seq = w.next_record_seq();
            w.append(&Record::Sale(records::sale_record(&sale, record_seq)))?;
            then(w.conn())?;
            Ok(sale)
        })
    }

    /// Voids a whole sale. Needs the lead PIN and an open shift (the money goes back from
    /// its drawer).
    pub fn void(&mut self, sale: &str, reason: &str, pin: &str, now: Time) -> Result<String> {
        self.store.check_lead_pin(pin)?;
        self.store.write(|w| {
            let device = w.identity().device.to_string();
            let found = find_sale(w, sale)?;
            // Any refund, not a positive sum of them: after a free line's refund (0 fen) the
            // void went through, and the line's stock came back twice.
            refund::check_void(&found.number, found.voided, found.has_refunds, reason)?;
            let shift = open_shift(w)?;
            let seq = w.next_record_seq();
            w.reload_state_after();
            w.append(&Record::Void(VoidRecord {
                header: records::header(new_id(), &device, seq, &now),
                sale: found.id,
                number: found.number.clone(),
                shift: shift.id,
                reason: reason.trim().to_string(),
            }))?;
            Ok(found.number)
        })
    }

    /// Refunds chosen lines of a sale; goods go back to stock.
    pub fn refund(
        &mut self,
        sale: &str,
        asks: &[RefundAsk],
        method: Method,
        now: Time,
    ) -> Result<Refunded> {
        self.store.write(|w| {
            let device = w.identity().device.to_string();
            let found = find_sale(w, sale)?;
            let sold = queries::sold_lines(w.conn(), &found.id)?;
            let lines = refund::plan(&found.number, found.voided, &sold, asks)?;
            let shift = open_shift(w)?;
            let amount: Fen = lines.iter().map(|l| l.amount).sum();
            let (paid, refunded) = queries::paid_and_refunded(w.conn(), &found.id)?;
            let methods = |of: Vec<(String, Fen)>| -> Result<Vec<(Method, Fen)>> {
                of.into_iter()
                    .map(|(m, fen)| Ok((Method::parse(&m)?, fen)))
                    .collect()
            };
            let (paid, refunded) = (methods(paid)?, methods(refunded)?);
            payment::refund_within(&found.number, method, amount, &paid, &refunded)?;
            let number = format!(
                "{device}-R{:06}",
                queries::refund_count(w.conn(), &device)? + 1
            );
            let seq = w.next_record_seq();
            w.reload_state_after();
            w.append(&Record::Refund(RefundRecord {
                header: records::header(new_id(), &device, seq, &now),
                number: number.clone(),
                sale: found.id,
                sale_number: found.number.clone(),
                shift: shift.id,
                method: method.as_str().to_string(),
                amount_fen: amount.0,
                lines: records::refund_lines(&lines),
            }))?;
            Ok(Refunded {
                number,
                sale_number: found.number,
                method,
                amount,
                lines,
            })
        })
    }

    /// Puts cash into the drawer (`amount` > 0) or takes it out (< 0).
    pub fn cash_move(&mut self, amount: Fen, reason: &str, now: Time) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(DomainError::ReasonNeeded.into());
        }
        // A move of nothing stays in the ledger for good (the touchscreen refuses it).
        if amount.0 == 0 {
            return Err(DomainError::BadAmount {
                text: amount.to_string(),
                why: fairpos_domain::AmountIssue::Zero,
            }
            .into());
        }
        self.store.write(|w| {
            let device = w.identity().device.to_string();
            let shift = open_shift(w)?;
            let seq = w.next_record_seq();
            w.append(&Record::CashMove(CashMoveRecord {
                header: records::header(new_id(), &device, seq, &now),
                shift: shift.id,
                amount_fen: amount.0,
                reason: reason.trim().to_string(),
            }))
        })
    }

    /// Closes the open shift with the cash counted in the drawer, and makes its slip.
    pub fn close_shift(&mut self, counted: Fen, now: Time) -> Result<ShiftClosed> {
        let (closing, last_sale, slip) = self.store.write(|w| {
            let device = w.identity().device.to_string();
            let shift = open_shift(w)?;
            let flows = queries::cash_flows(w.conn(), &shift.id)?;
            let closing = shift::close(&flows, counted);
            let last_sale = w.state().last_sale_number.clone();
            let last_sale_seq = w.state().last_sale_seq;
            let seq = w.next_record_seq();
            let close = Record::ShiftClose(ShiftCloseRecord {
                header: records::header(new_id(), &device, seq, &now),
                shift: shift.id.clone(),
                expected_fen: closing.expected.0,
                counted_fen: closing.counted.0,
                variance_fen: closing.variance.0,
                last_sale: last_sale.clone(),
                last_sale_seq,
            });
            w.append(&close)?;
            let slip = slip::build_slip(w, &shift.id, &closing, &close)?;
            let slip_text = slip::sign_and_keep(w, &slip)?;
            Ok((closing, last_sale, (slip, slip_text)))
        })?;
        let (slip, slip_text) = slip;
        Ok(ShiftClosed {
            closing,
            last_sale,
            slip,
            slip_text,
        })
    }

    /// Adds a product at the till (offline if need be). It goes into the till's ledger, from
    /// which headquarters folds it into the fair's catalog.
    pub fn add_product(&mut self, row: &CatalogRow, now: Time) -> Result<()> {
        row.product.validate().map_err(DomainError::BadCatalog)?;
        let mut catalog = self.catalog()?.products().to_vec();
        if catalog.iter().any(|p| p.sku == row.product.sku) {
            return Err(DomainError::BadCatalog(format!(
                "sku {} is in the catalog already",
                row.product.sku
            ))
            .into());
        }
        // A PLU is read by its value off a scale's label (`00012` is `12`): one another
        // product holds so was sold as that product.
        if let Some(plu) = &row.product.plu {
            let value = Some(plu_value(plu));
            if let Some(holder) = catalog
                .iter()
                .find(|p| p.plu.as_deref().map(plu_value) == value)
            {
                return Err(DomainError::BadCatalog(format!(
                    "plu {plu} is {}'s ({}): a scale's label reads them as one",
                    holder.sku,
                    holder.plu.as_deref().unwrap_or_default()
                ))
                .into());
            }
        }
        catalog.push(row.product.clone());
        // Barcodes and PLUs must stay unique.
        Catalog::new(catalog)?;
        let product = CatalogProduct::from(row);
        self.store.write(|w| {
            let device = w.identity().device.to_string();
            let seq = w.next_record_seq();
            w.append(&Record::ProductAdd(ProductAddRecord {
                header: records::header(new_id(), &device, seq, &now),
                product,
            }))
        })
    }

    /// Work that follows an acknowledged sale: the rest of its projection, and compaction of
    /// ledger documents whose loose changes have piled up. The touchscreen runs it when idle;
    /// the CLI before it exits.
    pub fn tidy(&mut self) -> Result<()> {
        self.store.catch_up()?;
        self.store
            .compact_ledgers(LOOSE_CHANGES_BEFORE_COMPACTION)?;
        self.store.checkpoint_if_due()?;
        Ok(())
    }
}

/// Loose ledger changes a document may gather before it is folded into a snapshot.
pub const LOOSE_CHANGES_BEFORE_COMPACTION: i64 = 500;

fn known_seller(w: &Writer, id: &str) -> Result<Seller> {
    Ok(w.state()
        .sellers
        .get(id)
        .cloned()
        .ok_or_else(|| DomainError::UnknownSeller { id: id.to_string() })?)
}

/// A sale of this till by number or id.
fn find_sale(w: &Writer, key: &str) -> Result<queries::SaleSummary> {
    Ok(
        queries::find_sale(w.conn(), key)?.ok_or_else(|| DomainError::UnknownSale {
            key: key.to_string(),
        })?,
    )
}

fn open_shift(w: &Writer) -> Result<queries::OpenShift> {
    Ok(w.state().shift.clone().ok_or(DomainError::NoOpenShift)?)
}

pub use store::verify::Verification;
