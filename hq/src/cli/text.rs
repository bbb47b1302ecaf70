//! Reconciliation and a unit's list as text for a terminal.

use fairpos_domain::Fen;

use crate::reconcile::doubtful::Doubtful;
use crate::reconcile::Reconciliation;
use crate::unit_items::UnitItems;

pub fn reconciliation(rec: &Reconciliation) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for d in &rec.devices {
        let _ = writeln!(
            out,
            "{} ({}): {} sales held, last {}, closes state up to {}, {}",
            d.device,
            d.stall,
            d.sales_held,
            d.last_held.as_deref().unwrap_or("none"),
            d.stated_last_sale.as_deref().unwrap_or("nothing"),
            if d.complete { "complete" } else { "INCOMPLETE" }
        );
        if let Some(why) = &d.refused {
            let _ = writeln!(out, "  refused {why}: taken no further");
        }
        if d.missing_count > 0 {
            let _ = writeln!(
                out,
                "  missing {}: {}",
                d.missing_count,
                d.missing.join(", ")
            );
        }
        for s in &d.shifts {
            let _ = writeln!(
                out,
                "  shift {} {} {} to {}: float {} + cash sales {} - voided {} - refunds {} + moves {} = expected {}, counted {}, variance {}",
                s.shift.chars().take(8).collect::<String>(),
                s.seller,
                s.opened_at,
                s.closed_at.as_deref().unwrap_or("open"),
                Fen(s.float_fen),
                Fen(s.cash_sales_fen),
                Fen(s.cash_voided_fen),
                Fen(s.cash_refunds_fen),
                Fen(s.cash_moves_fen),
                Fen(s.expected_fen),
                s.counted_fen.map_or("-".into(), |c| Fen(c).to_string()),
                s.variance_fen.map_or("-".into(), |v| Fen(v).to_string()),
            );
        }
    }
    for o in &rec.oversold {
        let _ = writeln!(
            out,
            "oversold: {} {} {} ({})",
            o.sale, o.sku, o.name, o.device
        );
    }
    for s in &rec.sellers {
        let _ = writeln!(
            out,
            "{} {} ({}): {} voids {}, {} refunds {}",
            s.seller,
            s.name,
            s.team,
            s.voids,
            Fen(s.voided_fen),
            s.refunds,
            Fen(s.refunded_fen)
        );
    }
    out
}

pub fn doubtful(d: &Doubtful) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for v in &d.voids {
        let _ = writeln!(
            out,
            "doubtful void: {} voided at {}, sold at {}",
            v.sale, v.voided_at, v.device
        );
    }
    for r in &d.refunds {
        let _ = writeln!(
            out,
            "doubtful refund: {} of {} ({}): {}",
            r.refund,
            r.sale,
            r.doubt.label(),
            r.detail
        );
    }
    if out.is_empty() {
        out.push_str("no doubtful voids or refunds: each squares with its sale\n");
    }
    out
}

pub fn unit_items(u: &UnitItems) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{} {}\n", u.name, u.tax_id);
    for i in &u.items {
        let _ = writeln!(
            out,
            "{}  {}  {:<10}  {:<24} {:>9} x {:>6} {:<2} {:>10}",
            i.date,
            i.sale,
            i.stall,
            i.item,
            Fen(i.unit_price_fen).to_string(),
            i.quantity,
            i.unit,
            Fen(i.amount_fen).to_string()
        );
    }
    let _ = writeln!(out, "total {}", Fen(u.total_fen));
    out
}
