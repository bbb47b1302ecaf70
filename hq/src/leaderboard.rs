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
    /// 1 for the most net; equal nets share a rank (1, 1, 3), named apart by key alone.
    pub rank: usize,
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

/// The standings, their three reads in one transaction: a sale projected between them
/// counted for its seller and not its team (the teams added up to another total than the
/// sellers).
pub fn of(db: &Connection, fair: &Fair) -> Result<Leaderboard> {
    let tx = db.unchecked_transaction()?;
    Ok(standings(
        fair,
        report::build(&tx, Dimension::Team)?,
        report::build(&tx, Dimension::Seller)?,
        rollup::seller_teams(&tx)?,
    ))
}

/// The same, from a headquarters on PostgreSQL (its roll-up, by the same SQL), read in one
/// repeatable-read transaction.
pub async fn of_postgres(pool: &fairpos_postgres::Pool, fair: &Fair) -> Result<Leaderboard> {
    let (teams, sellers, seller_teams) = fairpos_postgres::report::standings(pool).await?;
    Ok(standings(fair, teams, sellers, seller_teams))
}

/// Standings from the reports by team and by seller, and each seller's team.
fn standings(
    fair: &Fair,
    teams: report::Report,
    sellers: report::Report,
    seller_teams: Vec<(String, String)>,
) -> Leaderboard {
    let rate = fair.points_per_yuan;
    let points = |fen: i64| centi_text(rate.points_centi(Fen(fen)));
    let teams = teams
        .rows
        .into_iter()
        .map(|r| Standing {
            rank: 0,
            team: r.key.clone(),
            points: points(r.net_fen),
            key: r.key,
            label: r.label,
            net_fen: r.net_fen,
        })
        .collect();
    let team_of: HashMap<String, String> = seller_teams.into_iter().collect();
    let sellers = sellers
        .rows
        .into_iter()
        .map(|r| Standing {
            rank: 0,
            team: team_of.get(&r.key).cloned().unwrap_or_default(),
            points: points(r.net_fen),
            key: r.key,
            label: r.label,
            net_fen: r.net_fen,
        })
        .collect();
    Leaderboard {
        points_per_yuan: rate.to_string(),
        teams: ranked(teams),
        sellers: ranked(sellers),
    }
}

/// `standings`, most net first, given their ranks: a tie shares one, and the next rank
/// counts those before it (1, 1, 3). Two of equal net were ranked 1 and 2 by their names.
fn ranked(mut standings: Vec<Standing>) -> Vec<Standing> {
    for i in 0..standings.len() {
        standings[i].rank = match i.checked_sub(1).map(|before| &standings[before]) {
            Some(before) if before.net_fen == standings[i].net_fen => before.rank,
            _ => i + 1,
        };
    }
    standings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_nets_share_a_rank_and_the_next_counts_those_before() {
        let standing = |key: &str, net_fen| Standing {
            rank: 0,
            key: key.into(),
            label: key.into(),
            team: String::new(),
            net_fen,
            points: String::new(),
        };
        let board = ranked(vec![
            standing("A", 500),
            standing("B", 500),
            standing("C", 300),
            standing("D", 300),
            standing("E", 100),
        ]);
        let ranks: Vec<usize> = board.iter().map(|s| s.rank).collect();
        assert_eq!(ranks, [1, 1, 3, 3, 5]);
        assert!(ranked(Vec::new()).is_empty());
    }
}
