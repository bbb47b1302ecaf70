//! Reconciliation: per till, proof that headquarters holds every sale (the last sale number
//! each shift close or verified shift slip stated, against the numbers held), and each shift's cash-up; across the
//! fair, oversold stock and the voids and refunds of each seller. Plain SQL over the
//! projection. The voids and refunds that do not square with their sales are read apart, on
//! asking ([`doubtful`]): they look up a sale each.

pub mod doubtful;
pub mod postgres;
mod sqlite;

use std::collections::{BTreeMap, HashMap};

use fairpos_domain::shift::CashFlows;
use fairpos_domain::SaleNumber;
use rusqlite::Connection;
use serde::Serialize;

use crate::Result;
/// A seller's voids and refunds, as the roll-up counts them.
pub use fairpos_projection::rollup::Corrections as SellerCorrections;
use fairpos_projection::rollup::DeviceTotals;

/// Most missing numbers listed per till (the count is always whole).
const MISSING_LISTED: usize = 1000;

#[derive(Clone, Debug, Serialize)]
pub struct Reconciliation {
    pub devices: Vec<DeviceReport>,
    pub oversold: Vec<Oversold>,
    pub sellers: Vec<SellerCorrections>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub stall: String,
    pub stall_name: String,
    /// Sales not voided, less refunds.
    pub net_fen: i64,
    /// When headquarters last took in anything of this till.
    pub last_seen: Option<String>,
    pub sales_held: i64,
    /// The highest sale number held.
    pub last_held: Option<String>,
    /// The last sale number stated at each shift close, in order.
    pub closes: Vec<StatedClose>,
    /// The last sale number of each verified shift slip (`hq slip verify`), in order: known
    /// before the close itself arrives.
    pub slips: Vec<StatedClose>,
    /// The highest number any close or slip stated: up to there, every number must be held.
    pub stated_last_sale: Option<String>,
    /// Numbers not held: gaps below the highest stated or held number.
    pub missing: Vec<String>,
    pub missing_count: usize,
    /// Why headquarters refuses a ledger of this till (the first of them, by day), if it
    /// does: that ledger is taken no further (what was projected of it before stays), so
    /// sales and shift closes in it may be missing with nothing stating them.
    pub refused: Option<String>,
    /// Every stated number is held, and no ledger of the till is refused.
    pub complete: bool,
    pub shifts: Vec<ShiftCash>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StatedClose {
    pub shift: String,
    pub closed_at: String,
    pub last_sale: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ShiftCash {
    pub shift: String,
    pub seller: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub float_fen: i64,
    pub cash_sales_fen: i64,
    pub cash_voided_fen: i64,
    pub cash_refunds_fen: i64,
    /// Cash put in minus cash taken out.
    pub cash_moves_fen: i64,
    pub expected_fen: i64,
    pub counted_fen: Option<i64>,
    pub variance_fen: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Oversold {
    pub device: String,
    pub sale: String,
    pub sku: String,
    pub name: String,
}

/// What reconciliation reads, from either backend: each in one pass over its table rather
/// than queries per till (a province has thousands).
#[derive(Default)]
pub(crate) struct Read {
    /// The roll-up's totals of every till that has sales.
    pub totals: Vec<DeviceTotals>,
    /// Devices headquarters knows: `(device, stall, role)`.
    pub devices: Vec<(String, String, String)>,
    /// Stall names by id.
    pub stall_names: HashMap<String, String>,
    /// When headquarters last took in anything of each till.
    pub last_seen: HashMap<String, String>,
    /// Why a ledger of each till is refused, for those with one refused.
    pub refused: HashMap<String, String>,
    /// The cash of every shift.
    pub cash: HashMap<String, CashFlows>,
    /// Every shift, by till and opening.
    pub shifts: Vec<ShiftRow>,
    /// Per till, the shift slips verified, in order.
    pub slips: HashMap<String, Vec<crate::slips::SlipStated>>,
    pub oversold: Vec<Oversold>,
    pub corrections: Vec<SellerCorrections>,
}

impl Read {
    /// Only the tills of `stall` (by the registry's stall, else the roll-up's): a stall
    /// lead's reconciliation reads the sale numbers of no other till (it read those of every
    /// till with a number missing, a province's worth, and then kept the stall's).
    pub(crate) fn keep_stall(&mut self, stall: &str) {
        let registered: HashMap<String, String> = self
            .devices
            .iter()
            .map(|(device, at, _)| (device.clone(), at.clone()))
            .collect();
        self.totals
            .retain(|t| registered.get(&t.device).unwrap_or(&t.stall) == stall);
        self.devices.retain(|(_, at, _)| at == stall);
    }
}

/// A shift as the projection holds it.
pub(crate) struct ShiftRow {
    pub device: String,
    pub id: String,
    pub seller: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub counted_fen: Option<i64>,
    pub variance_fen: Option<i64>,
    pub last_sale: Option<String>,
    pub last_sale_seq: Option<i64>,
}

/// The shifts' SQL, which PostgreSQL runs too.
pub(crate) const SHIFTS: &str = "SELECT device, id, seller, opened_at, closed_at, counted_fen,
        variance_fen, last_sale, last_sale_seq
    FROM shifts ORDER BY device, opened_at, id";

/// Oversold lines of sales not voided, from the oversold rows alone (each holds its sale's
/// till, number and the line's name), on both backends. Looking each sale and line up among
/// a province's took 7.5 s of a reconciliation's 12.5 s read from disk (20 000 oversold
/// lines in 10 million sales) and 0.19 s with the pages cached.
pub(crate) const OVERSOLD: &str = "SELECT o.device, o.number, o.sku, COALESCE(o.name_zh, o.sku)
    FROM sale_oversold o
    WHERE o.device IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.sale_id = o.sale_id)
    ORDER BY o.device, o.seq, o.sku";

/// The ledgers refused, by till and day; PostgreSQL runs it too ([`refused_by_till`]).
pub(crate) const REFUSED: &str = "SELECT device, doc_key, refused FROM hq_docs
    WHERE device IS NOT NULL AND refused IS NOT NULL ORDER BY device, doc_key";

/// Why the first ledger of each till that [`REFUSED`] lists is refused, with its day.
pub(crate) fn refused_by_till(
    rows: impl IntoIterator<Item = (String, String, String)>,
) -> HashMap<String, String> {
    let mut refused = HashMap::new();
    for (device, key, why) in rows {
        refused.entry(device).or_insert_with(|| {
            let day = key.rsplit('/').next().unwrap_or(&key);
            format!("ledger {day}: {why}")
        });
    }
    refused
}

/// The sale numbers (sequence) a till's sales hold, ascending; PostgreSQL runs it too.
pub(crate) const SEQS: &str = "SELECT seq FROM sales WHERE device = ?1 ORDER BY seq";

/// Every till: enrolled ones and any other whose sales are held, with the roll-up's totals
/// of its sales (none held: zero), and its stall's name.
fn devices_of(read: &mut Read) -> Vec<(DeviceTotals, String)> {
    let mut tills: BTreeMap<String, DeviceTotals> = std::mem::take(&mut read.totals)
        .into_iter()
        .map(|t| (t.device.clone(), t))
        .collect();
    for (device, stall, role) in std::mem::take(&mut read.devices) {
        if role != "till" {
            tills.remove(&device);
            continue;
        }
        let totals = tills.entry(device.clone()).or_insert(DeviceTotals {
            device,
            stall: String::new(),
            net_fen: 0,
            held: 0,
            low: 0,
            high: 0,
        });
        totals.stall = stall;
    }
    tills
        .into_values()
        .map(|totals| {
            let stall_name = read
                .stall_names
                .get(&totals.stall)
                .cloned()
                .unwrap_or_else(|| totals.stall.clone());
            (totals, stall_name)
        })
        .collect()
}

/// What reconciliation reads of every till, by till.
struct Fleet {
    last_seen: HashMap<String, String>,
    refused: HashMap<String, String>,
    /// Per till, its closed shifts in order with the last sale number each stated.
    closes: HashMap<String, Vec<(StatedClose, u64)>>,
    /// Per till, its shifts in order, cash counted.
    shifts: HashMap<String, Vec<ShiftCash>>,
    /// Per till, the shift slips verified, in order.
    slips: HashMap<String, Vec<crate::slips::SlipStated>>,
}

impl Fleet {
    fn of(read: &mut Read) -> Fleet {
        let mut closes: HashMap<String, Vec<(StatedClose, u64)>> = HashMap::new();
        let mut shifts: HashMap<String, Vec<ShiftCash>> = HashMap::new();
        for row in std::mem::take(&mut read.shifts) {
            if let Some(closed_at) = &row.closed_at {
                let stated = row
                    .last_sale_seq
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0);
                let close = StatedClose {
                    shift: row.id.clone(),
                    closed_at: closed_at.clone(),
                    last_sale: row.last_sale.clone(),
                };
                closes
                    .entry(row.device.clone())
                    .or_default()
                    .push((close, stated));
            }
            let flows = read.cash.get(&row.id).copied().unwrap_or_default();
            shifts.entry(row.device).or_default().push(ShiftCash {
                seller: row.seller,
                opened_at: row.opened_at,
                closed_at: row.closed_at,
                counted_fen: row.counted_fen,
                variance_fen: row.variance_fen,
                float_fen: flows.float.0,
                cash_sales_fen: flows.cash_sales.0,
                cash_voided_fen: flows.cash_voided.0,
                cash_refunds_fen: flows.cash_refunds.0,
                cash_moves_fen: (flows.cash_in - flows.cash_out).0,
                expected_fen: flows.expected().0,
                shift: row.id,
            });
        }
        for list in closes.values_mut() {
            list.sort_by(|a, b| a.0.closed_at.cmp(&b.0.closed_at));
        }
        Fleet {
            last_seen: std::mem::take(&mut read.last_seen),
            refused: std::mem::take(&mut read.refused),
            closes,
            shifts,
            slips: std::mem::take(&mut read.slips),
        }
    }
}

fn device_report(
    seqs: &mut impl FnMut(&str) -> Result<Vec<u64>>,
    fleet: &mut Fleet,
    totals: &DeviceTotals,
    stall_name: &str,
) -> Result<DeviceReport> {
    let device = totals.device.as_str();
    let last_seen = fleet.last_seen.remove(device);
    let refused = fleet.refused.remove(device);
    let closes = fleet.closes.remove(device).unwrap_or_default();
    let slips = fleet.slips.remove(device).unwrap_or_default();
    let stated = closes
        .iter()
        .map(|(_, s)| *s)
        .chain(slips.iter().map(|s| s.3))
        .max()
        .unwrap_or(0);
    let gaps = if totals.gap_free() {
        Gaps::after(totals.high, stated)
    } else {
        Gaps::find(&seqs(device)?, stated)
    };
    let shifts = fleet.shifts.remove(device).unwrap_or_default();
    Ok(DeviceReport {
        device: device.to_string(),
        stall: totals.stall.clone(),
        stall_name: stall_name.to_string(),
        net_fen: totals.net_fen,
        last_seen,
        sales_held: totals.held as i64,
        last_held: (totals.held > 0).then(|| SaleNumber::new(device, totals.high).to_string()),
        stated_last_sale: (stated > 0).then(|| SaleNumber::new(device, stated).to_string()),
        closes: closes.into_iter().map(|(c, _)| c).collect(),
        slips: slips
            .into_iter()
            .map(|(shift, closed_at, last_sale, _)| StatedClose {
                shift,
                closed_at,
                last_sale,
            })
            .collect(),
        missing_count: gaps.count,
        missing: gaps
            .listed
            .iter()
            .map(|&s| SaleNumber::new(device, s).to_string())
            .collect(),
        complete: gaps.complete && refused.is_none(),
        refused,
        shifts,
    })
}

/// The numbers missing from a till's held sale numbers, found gap by gap: the work grows with
/// the sales held, not with the highest number (a till cannot make headquarters count to a
/// number it sent).
#[derive(Debug, PartialEq, Eq)]
struct Gaps {
    /// Numbers not held below the highest stated or held number.
    count: usize,
    /// The first of them, at most [`MISSING_LISTED`].
    listed: Vec<u64>,
    /// No number up to the highest stated one is missing.
    complete: bool,
}

impl Gaps {
    /// The gaps when every number from 1 to `high` is held (none held: `high` is 0).
    fn after(high: u64, stated: u64) -> Gaps {
        let mut gaps = Gaps::find(&[], 0);
        if stated > high {
            gaps.count = usize::try_from(stated - high).unwrap_or(usize::MAX);
            let listed = (MISSING_LISTED as u64).min(stated - high);
            gaps.listed = (high + 1..=high + listed).collect();
            gaps.complete = false;
        }
        gaps
    }

    /// `held`: the numbers held, ascending and distinct; `stated`: the highest number a shift
    /// close stated (0 for none).
    fn find(held: &[u64], stated: u64) -> Gaps {
        let top = stated.max(held.last().copied().unwrap_or(0));
        let mut gaps = Gaps {
            count: 0,
            listed: Vec::new(),
            complete: true,
        };
        let mut add = |from: u64, to: u64| {
            // The numbers from..=to are missing.
            if from > to {
                return;
            }
            let n = to - from + 1;
            gaps.count = gaps
                .count
                .saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            let room = MISSING_LISTED.saturating_sub(gaps.listed.len()) as u64;
            gaps.listed.extend(from..from + n.min(room));
            if from <= stated {
                gaps.complete = false;
            }
        };
        let mut next = 1;
        for &h in held.iter().filter(|&&h| h >= 1) {
            if h > next {
                add(next, h - 1);
            }
            next = next.max(h.saturating_add(1));
        }
        if top >= next {
            add(next, top);
        }
        gaps
    }
}

/// The reconciliation a stall lead sees: the tills of `stall`, what they oversold, and the
/// voids and refunds of the sales made at that stall.
pub fn of_stall(conn: &Connection, stall: &str) -> Result<Reconciliation> {
    let mut read = sqlite::read(conn, Some(stall))?;
    read.keep_stall(stall);
    let all = assemble(read, |device| sqlite::seqs(conn, device))?;
    Ok(only_stall(all, stall))
}

/// The reconciliation of every till headquarters knows.
pub fn reconcile(conn: &Connection) -> Result<Reconciliation> {
    let read = sqlite::read(conn, None)?;
    assemble(read, |device| sqlite::seqs(conn, device))
}

/// Of everything, the tills of `stall` and what they oversold (the corrections were read for
/// the stall already).
pub(crate) fn only_stall(mut all: Reconciliation, stall: &str) -> Reconciliation {
    all.devices.retain(|d| d.stall == stall);
    let tills: std::collections::HashSet<&str> =
        all.devices.iter().map(|d| d.device.as_str()).collect();
    all.oversold.retain(|o| tills.contains(o.device.as_str()));
    all
}

/// The reconciliation from what was read; `seqs` gives the numbers a till holds, asked only
/// for tills whose numbers are not all held from one up.
pub(crate) fn assemble(
    mut read: Read,
    mut seqs: impl FnMut(&str) -> Result<Vec<u64>>,
) -> Result<Reconciliation> {
    let devices = devices_of(&mut read);
    let mut fleet = Fleet::of(&mut read);
    let mut out = Vec::new();
    for (totals, stall_name) in devices {
        out.push(device_report(&mut seqs, &mut fleet, &totals, &stall_name)?);
    }
    Ok(Reconciliation {
        devices: out,
        oversold: read.oversold,
        sellers: read.corrections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stall lead's reconciliation asks for the numbers of its own tills alone, though
    /// another stall's till has a number missing too.
    #[test]
    fn a_stalls_reconciliation_reads_the_numbers_of_its_tills_alone() {
        let till = |device: &str, stall: &str| DeviceTotals {
            device: device.into(),
            stall: stall.into(),
            net_fen: 100,
            held: 2,
            low: 1,
            high: 3,
        };
        let registered = |device: &str, stall: &str| (device.into(), stall.into(), "till".into());
        let mut read = Read {
            totals: vec![till("T01", "S01"), till("T02", "S02"), till("T03", "")],
            devices: vec![
                registered("T01", "S01"),
                registered("T02", "S02"),
                registered("T03", "S01"),
            ],
            ..Read::default()
        };
        read.keep_stall("S01");
        let mut asked = Vec::new();
        let seen = assemble(read, |device| {
            asked.push(device.to_string());
            Ok(vec![1, 3])
        })
        .unwrap();
        assert_eq!(asked, ["T01", "T03"]);
        let devices: Vec<&str> = seen.devices.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(devices, ["T01", "T03"]);
    }

    fn gaps(held: &[u64], stated: u64) -> (usize, Vec<u64>, bool) {
        let g = Gaps::find(held, stated);
        (g.count, g.listed, g.complete)
    }

    #[test]
    fn gaps_are_named_up_to_the_highest_stated_or_held_number() {
        assert_eq!(gaps(&[], 0), (0, vec![], true));
        assert_eq!(gaps(&[1, 2, 3], 3), (0, vec![], true));
        assert_eq!(gaps(&[1, 3, 6], 6), (3, vec![2, 4, 5], false));
        // Stated further than held: the tail is missing.
        assert_eq!(gaps(&[1, 2], 4), (2, vec![3, 4], false));
        // A gap above the last stated close does not make the stated ones incomplete.
        assert_eq!(gaps(&[1, 2, 5], 2), (2, vec![3, 4], true));
        assert_eq!(gaps(&[2], 0), (1, vec![1], true));
    }

    #[test]
    fn gaps_after_numbers_held_from_one_are_those_the_walk_finds() {
        for (high, stated) in [(0, 0), (0, 3), (5, 0), (5, 5), (5, 9), (3, 2000)] {
            let held: Vec<u64> = (1..=high).collect();
            assert_eq!(
                Gaps::after(high, stated),
                Gaps::find(&held, stated),
                "{high} held, {stated} stated"
            );
        }
    }

    #[test]
    fn a_huge_number_is_counted_not_walked() {
        let (count, listed, complete) = gaps(&[1, 1_000_000_000_000], 1);
        assert_eq!(count, 999_999_999_998);
        assert_eq!(listed.len(), MISSING_LISTED);
        assert_eq!(listed[0], 2);
        assert!(complete);
    }
}
