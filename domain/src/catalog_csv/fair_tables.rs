//! The fair's tables beside its catalog: stalls, sellers and purchasing units, each read by
//! header name with its ids unique, and the stalls other rows name that the fair lacks.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{first_use, Table};
use crate::catalog::Stall;
use crate::codes::parse_credit_code;
use crate::sale::{Seller, Unit};
use crate::DomainError;

pub fn parse_stalls(file: &str, text: &str) -> Result<Vec<Stall>, DomainError> {
    parse_stalls_over(file, text, &HashMap::new())
}

/// As [`parse_stalls`], over the stalls `held` (by id): a column the header leaves out keeps
/// what the stall holds.
pub fn parse_stalls_over(
    file: &str,
    text: &str,
    held: &HashMap<String, Stall>,
) -> Result<Vec<Stall>, DomainError> {
    let table = Table::read(file, text, &["id", "name"])?;
    let mut seen = HashMap::new();
    table.each_row(&["id", "name", "team"], |line, r| {
        let id = table.required(r, "id")?;
        let team = match held.get(&id) {
            Some(stall) if !table.has("team") => stall.team.clone(),
            _ => table.get(r, "team").to_string(),
        };
        let name = table.required(r, "name")?;
        first_use(&mut seen, vec![id.clone()], line)?;
        Ok(Stall { id, name, team })
    })
}

pub fn parse_sellers(file: &str, text: &str) -> Result<Vec<Seller>, DomainError> {
    parse_sellers_over(file, text, &HashMap::new())
}

/// As [`parse_sellers`], over the sellers `held` (by id): a column the header leaves out
/// keeps what the seller holds (the team the leaderboard counts them for, their stall).
pub fn parse_sellers_over(
    file: &str,
    text: &str,
    held: &HashMap<String, Seller>,
) -> Result<Vec<Seller>, DomainError> {
    let table = Table::read(file, text, &["id", "name"])?;
    let mut seen = HashMap::new();
    table.each_row(&["id", "name", "team", "stall"], |line, r| {
        let id = table.required(r, "id")?;
        let was = held.get(&id);
        let column = |name: &str, kept: fn(&Seller) -> &str| match was {
            Some(seller) if !table.has(name) => kept(seller).to_string(),
            _ => table.get(r, name).to_string(),
        };
        let seller = Seller {
            name: table.required(r, "name")?,
            team: column("team", |s| &s.team),
            stall: column("stall", |s| &s.stall),
            id,
        };
        first_use(&mut seen, vec![seller.id.clone()], line)?;
        Ok(seller)
    })
}

/// Kinds of purchasing unit.
pub const UNIT_KINDS: [&str; 5] = ["union", "organ", "soe", "school", "other"];

pub fn parse_units(file: &str, text: &str) -> Result<Vec<Unit>, DomainError> {
    parse_units_over(file, text, &HashMap::new())
}

/// As [`parse_units`], over the units `held` (by credit code): a unit of a file without a
/// `kind` column keeps its kind. (An empty `kind` field still means `other`.)
pub fn parse_units_over(
    file: &str,
    text: &str,
    held: &HashMap<String, Unit>,
) -> Result<Vec<Unit>, DomainError> {
    let table = Table::read(file, text, &["name", "tax_id"])?;
    let mut seen = HashMap::new();
    table.each_row(&["name", "tax_id", "kind"], |line, r| {
        let tax_id = parse_credit_code(&table.required(r, "tax_id")?).map_err(|e| e.to_string())?;
        let kind = match (table.get(r, "kind"), held.get(&tax_id)) {
            (_, Some(unit)) if !table.has("kind") => unit.kind.clone(),
            ("", _) => "other".to_string(),
            (k, _) if UNIT_KINDS.contains(&k) => k.to_string(),
            (k, _) => {
                return Err(format!(
                    "kind {k:?} is not one of {}",
                    UNIT_KINDS.join(", ")
                ))
            }
        };
        let name = table.required(r, "name")?;
        first_use(&mut seen, vec![tax_id.clone()], line)?;
        Ok(Unit { tax_id, name, kind })
    })
}

/// The stalls `rows` (`(stall, the row's id)`, `what` they are) name that are not among
/// `held`, each in words with up to three of the rows naming it: no till sells at a stall the
/// fair lacks, which a typo in a file makes. None while `held` is empty: the fair's stalls
/// are not imported yet.
pub fn unknown_stalls<'r>(
    rows: impl Iterator<Item = (&'r str, &'r str)>,
    held: &HashSet<String>,
    what: &str,
) -> Vec<String> {
    if held.is_empty() {
        return Vec::new();
    }
    let mut naming: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (stall, id) in rows.filter(|(stall, _)| !stall.is_empty() && !held.contains(*stall)) {
        naming.entry(stall).or_default().push(id);
    }
    naming
        .into_iter()
        .map(|(stall, ids)| {
            let shown: Vec<String> = ids
                .iter()
                .take(3)
                .map(|id| id.escape_debug().to_string())
                .collect();
            let shown = shown.join(", ");
            let more = match ids.len() {
                n if n > 3 => format!(" and {} more", n - 3),
                _ => String::new(),
            };
            format!(
                "stall {} is not among the fair's stalls ({what} {shown}{more}): import the \
                 stall, or correct the code",
                stall.escape_debug()
            )
        })
        .collect()
}
