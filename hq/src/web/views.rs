//! The dashboard's pages as askama templates (`hq/templates/dashboard/`): every text from the
//! fair, the tills or a person goes through the template engine's escaping. What a template
//! takes pre-rendered (`|safe`) is only another template's output or a chart.

use askama::Template;
use chrono::FixedOffset;
use fairpos_projection::report::Report;

use crate::leaderboard::Leaderboard;
use crate::reconcile::doubtful::{Doubtful, DoubtfulRefund, DoubtfulVoid};
use crate::reconcile::Reconciliation;
use crate::unit_items::UnitItems;
use crate::Error;

/// An amount in fen however a template holds it (a field, a reference, a match binding).
pub(crate) trait AsFen {
    fn fen(&self) -> i64;
}

impl AsFen for i64 {
    fn fen(&self) -> i64 {
        *self
    }
}

impl<T: AsFen + ?Sized> AsFen for &T {
    fn fen(&self) -> i64 {
        (**self).fen()
    }
}

/// What every page's template calls through its `f`: money in yuan, a moment on the fair's
/// clock.
pub(crate) struct Formats {
    pub offset: FixedOffset,
}

impl Formats {
    pub fn yuan<T: AsFen>(&self, fen: T) -> String {
        super::yuan(fen.fen())
    }

    /// `text` as one segment of a link's path: every byte but ASCII letters, digits, `-`
    /// and `_` percent-encoded, dots too (a unit's code comes from a till's ledger: `..`
    /// was a step up, `../logout` the organizer logged out).
    pub fn segment(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    pub fn local(&self, text: &str) -> String {
        super::local_at(self.offset, text)
    }

    pub fn nonzero<T: AsFen>(&self, fen: T) -> bool {
        fen.fen() != 0
    }
}

/// One link of the menu.
pub(crate) struct NavItem<'a> {
    pub href: &'a str,
    pub label: &'a str,
    pub here: bool,
}

#[derive(Template)]
#[template(path = "dashboard/frame.html")]
pub(crate) struct Frame<'a> {
    pub fair: &'a str,
    pub title: &'a str,
    pub style: &'a str,
    pub nav: Vec<NavItem<'a>>,
    pub body: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/notice.html")]
pub(crate) struct Notice<'a> {
    pub style: &'a str,
    pub message: &'a str,
    pub href: &'a str,
    pub label: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/logout.html")]
pub(crate) struct LogoutPage<'a> {
    pub style: &'a str,
    pub fair: &'a str,
    /// The account's first page.
    pub back: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
pub(crate) struct Login<'a> {
    pub style: &'a str,
    pub fair: &'a str,
    pub csrf: &'a str,
    pub first_organizer: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/report_table.html")]
pub(crate) struct ReportTable<'a> {
    pub f: &'a Formats,
    pub r: &'a Report,
    pub key_label: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
pub(crate) struct Overview<'a> {
    pub f: &'a Formats,
    pub net_fen: i64,
    pub sales: i64,
    pub voids: i64,
    pub refunds: i64,
    pub charts: &'a [String],
    pub rec: &'a Reconciliation,
    /// The MiB left on the data directory's disk, when under `--min-free-disk`.
    pub disk_low_mib: Option<u64>,
}

#[derive(Template)]
#[template(path = "dashboard/stalls.html")]
pub(crate) struct Stalls<'a> {
    pub f: &'a Formats,
    pub report: &'a str,
    pub rec: &'a Reconciliation,
}

#[derive(Template)]
#[template(path = "dashboard/counties.html")]
pub(crate) struct Counties<'a> {
    pub chart: &'a str,
    pub report: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/units.html")]
pub(crate) struct Units<'a> {
    pub f: &'a Formats,
    pub r: &'a Report,
}

#[derive(Template)]
#[template(path = "dashboard/unit.html")]
pub(crate) struct Unit<'a> {
    pub f: &'a Formats,
    pub u: &'a UnitItems,
}

#[derive(Template)]
#[template(path = "dashboard/leaderboard.html")]
pub(crate) struct Standings<'a> {
    pub f: &'a Formats,
    pub board: &'a Leaderboard,
    pub teams_chart: &'a str,
    pub sellers_chart: &'a str,
}

#[derive(Template)]
#[template(path = "dashboard/anomalies.html")]
pub(crate) struct Anomalies<'a> {
    pub f: &'a Formats,
    pub rec: &'a Reconciliation,
    pub any_missing: bool,
    pub any_refused: bool,
}

/// The most of each list `/anomalies/doubtful` shows: a forged ledger may hold thousands,
/// which the API and `hq reconcile --doubtful` list whole.
pub(crate) const DOUBTFUL_SHOWN: usize = 500;

#[derive(Template)]
#[template(path = "dashboard/doubtful.html")]
pub(crate) struct DoubtfulCorrections<'a> {
    pub voids: &'a [DoubtfulVoid],
    pub refunds: &'a [DoubtfulRefund],
    /// How many more of each there are than shown.
    pub more_voids: usize,
    pub more_refunds: usize,
}

impl DoubtfulCorrections<'_> {
    /// The lists of `doubtful`, at most [`DOUBTFUL_SHOWN`] of each.
    pub(crate) fn of(doubtful: &Doubtful) -> DoubtfulCorrections<'_> {
        let shown = |n: usize| n.min(DOUBTFUL_SHOWN);
        let (voids, refunds) = (&doubtful.voids, &doubtful.refunds);
        DoubtfulCorrections {
            voids: &voids[..shown(voids.len())],
            refunds: &refunds[..shown(refunds.len())],
            more_voids: voids.len() - shown(voids.len()),
            more_refunds: refunds.len() - shown(refunds.len()),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
pub(crate) struct AuditLog<'a> {
    pub f: &'a Formats,
    /// Oldest first.
    pub entries: &'a [crate::audit::Entry],
    /// The form's fields as asked (empty: not asked).
    pub since: String,
    pub until: String,
    pub action: String,
    pub actor: String,
    /// Whether any field was asked.
    pub filtered: bool,
    /// The same entries as CSV, up to 100 000 of them (more refused).
    pub csv_href: String,
}

/// Renders a template, a failure said as the server's error.
pub(crate) fn render(t: &impl Template) -> crate::Result<String> {
    t.render()
        .map_err(|e| Error::Other(format!("a dashboard template: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::doubtful::Doubt;

    #[test]
    fn the_doubtful_page_shows_at_most_its_share_of_each_list_and_counts_the_rest() {
        let void = |n: usize| DoubtfulVoid {
            device: "T01".into(),
            sale: format!("T01-{n:06}"),
            voided_at: "T02".into(),
        };
        let refund = DoubtfulRefund {
            device: "T01".into(),
            sale: "T01-000001".into(),
            refund: "T02-R000001".into(),
            doubt: Doubt::RefundedElsewhere,
            detail: "<b>".into(),
        };
        let flood = Doubtful {
            voids: (1..=DOUBTFUL_SHOWN + 7).map(void).collect(),
            refunds: vec![refund],
        };
        let page = render(&DoubtfulCorrections::of(&flood)).unwrap();
        assert_eq!(page.matches("voided at T02").count(), DOUBTFUL_SHOWN);
        assert!(page.contains("and 7 more"), "{page}");
        assert!(!page.contains("T01-000507"), "the rest not shown");
        assert!(page.contains("--doubtful --json"), "where every one is");
        assert!(!page.contains("<b>"), "escaped");
        let few = Doubtful {
            voids: vec![void(1)],
            refunds: Vec::new(),
        };
        let page = render(&DoubtfulCorrections::of(&few)).unwrap();
        assert!(!page.contains("more") && !page.contains("--json"), "{page}");
    }

    /// A unit's code comes from a till's ledger: its link is one path segment, whatever the
    /// code holds (a forged `../logout` made the organizer's "items" link log them out).
    #[test]
    fn a_units_link_is_one_path_segment() {
        use fairpos_projection::report::{Dimension, ReportRow};
        let row = ReportRow {
            key: "../logout?a#b".into(),
            label: "a unit".into(),
            net_fen: 100,
            sales_fen: 100,
            refunds_fen: 0,
            count: 1,
            qty: None,
            qty_unit: None,
        };
        let report = Report {
            by: Dimension::Unit,
            net_fen: 100,
            sales_fen: 100,
            refunds_fen: 0,
            rows: vec![row],
        };
        let f = Formats {
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
        };
        let page = render(&Units { f: &f, r: &report }).unwrap();
        assert!(
            page.contains(r#"href="/units/%2E%2E%2Flogout%3Fa%23b""#),
            "{page}"
        );
        assert_eq!(f.segment(".."), "%2E%2E");
        assert_eq!(f.segment("91430000MA4L0000X1"), "91430000MA4L0000X1");
    }
}
