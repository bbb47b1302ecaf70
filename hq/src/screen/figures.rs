//! What the big screen shows, read from the projection: net sales and their count, sales by
//! hour of the latest day, net by origin county, the competition's teams and sellers, and how
//! many tills are synced and complete.

use fairpos_projection::report::Dimension;
use serde::Serialize;

use crate::state::AppState;
use crate::web::chart::{self, hours_of_last_day, labelled_bars, payment_bars, Bar};
use crate::web::yuan;
use crate::Result;

/// Rows the screen's bar lists show.
const TOP: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub net_fen: i64,
    /// `￥1234.00`.
    pub net: String,
    /// Sales not voided: labelled so on the screen, where the dashboard's overview counts
    /// every sale held, voids beside them (one label on both showed two numbers).
    pub sales: i64,
    pub tills: usize,
    /// Tills headquarters has heard from.
    pub synced: usize,
    /// Tills with no sale missing.
    pub complete: usize,
    pub hours: Vec<Bar>,
    pub counties: Vec<Bar>,
    pub payments: Vec<Bar>,
    pub teams: Vec<Bar>,
    pub sellers: Vec<Bar>,
}

impl Figures {
    /// The figures as they stand, read through `state` (SQLite's read connections or
    /// PostgreSQL's pool).
    pub async fn gather(state: &AppState) -> Result<Figures> {
        let by_stall = state.report(Dimension::Stall).await?;
        let sales = state.counted().await?.live;
        let rec = state.reconciliation(None).await?;
        let board = state.leaderboard().await?;
        Ok(Figures {
            net_fen: by_stall.net_fen,
            net: yuan(by_stall.net_fen),
            sales,
            tills: rec.devices.len(),
            synced: rec.devices.iter().filter(|d| d.last_seen.is_some()).count(),
            complete: rec.devices.iter().filter(|d| d.complete).count(),
            hours: hours_of_last_day(&state.report(Dimension::Hour).await?),
            counties: labelled_bars(&state.report(Dimension::County).await?),
            payments: payment_bars(&state.report(Dimension::Payment).await?),
            teams: board
                .teams
                .iter()
                .map(|s| Bar::new(&s.label, s.net_fen))
                .collect(),
            sellers: board
                .sellers
                .iter()
                .map(|s| Bar::new(format!("{} · {}", s.label, s.team), s.net_fen))
                .collect(),
        })
    }

    /// The charts as SVG, each with the element id it fills on the page.
    pub fn panels(&self) -> Vec<Panel> {
        let panel = |id, zh, en, svg| Panel { id, zh, en, svg };
        vec![
            panel(
                "hours",
                "按小时",
                "Sales by hour",
                chart::columns(&self.hours, "按小时 By hour"),
            ),
            panel(
                "counties",
                "产地县",
                "Net by origin county",
                chart::rows(&self.counties, "产地县 By county", TOP),
            ),
            panel(
                "teams",
                "团队排行",
                "Teams",
                chart::rows(&self.teams, "团队 Teams", TOP),
            ),
            panel(
                "sellers",
                "销售员排行",
                "Sellers",
                chart::rows(&self.sellers, "销售员 Sellers", TOP),
            ),
            panel(
                "payments",
                "支付方式",
                "By payment method",
                chart::rows(&self.payments, "支付方式 By payment", TOP),
            ),
        ]
    }
}

/// One chart of the screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panel {
    pub id: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub svg: String,
}
