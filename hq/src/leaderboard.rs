//! The marketing competition: net sales and points (the fair's points per yuan) by team and
//! by seller.

use std::collections::HashMap;

use rusqlite::Connection;
use serde::Serialize;

use crate::Result;
use fairpos_domain::fair::Fair;
use fairpos_domain::money::centi_text;
use fairpos_domain::Fen;
use fairpos_projection::report::{self, Dimension};
use fairpos_projection::rollup;

#[derive(Clone, Debug, Serialize)]
pub struct Standing {
    pub key: String,
    pub label: String,
    pub team: String,
    pub net_fen: i64,
    /// Points with two decimals, from the fair's points per yuan.
    pub points: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Leaderboard {
    pub points_per_yuan: String,
    pub teams: Vec<Standing>,
    pub sellers: Vec<Standing>,
}

pub fn of(db: &Connection, fair: &Fair) -> Result<Leaderboard> {
    let rate = fair.points_per_yuan;
    let points = |fen: i64| centi_text(rate.points_centi(Fen(fen)));
    let teams = report::build(db, Dimension::Team)?
        .rows
        .into_iter()
        .map(|r| Standing {
            team: r.key.clone(),
            points: points(r.net_fen),
            key: r.key,
            label: r.label,
            net_fen: r.net_fen,
        })
        .collect();
    let team_of: HashMap<String, String> = rollup::seller_teams(db)?.into_iter().collect();
    let sellers = report::build(db, Dimension::Seller)?
        .rows
        .into_iter()
        .map(|r| Standing {
            team: team_of.get(&r.key).cloned().unwrap_or_default(),
            points: points(r.net_fen),
            key: r.key,
            label: r.label,
            net_fen: r.net_fen,
        })
        .collect();
    Ok(Leaderboard {
        points_per_yuan: rate.to_string(),
        teams,
        sellers,
    })
}
