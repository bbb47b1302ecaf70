//! The audit log as CSV (`hq audit --csv`, the dashboard's `/audit?format=csv`), for an IT
//! department's spreadsheet or log store. Some entries hold what a client sent or a person
//! typed (a refused enrolment's reason, a screen link's label): a cell that a spreadsheet
//! would take as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return first) is given a
//! leading `'`, as OWASP advises against CSV injection, and control and format characters
//! are written out ([`Entry::shown`]).

use fairpos_projection::report::format::spreadsheet_safe;

use super::Entry;
use crate::{Error, Result};

/// `entries` as CSV: a header row, then one row per entry, times in UTC (RFC 3339).
pub fn csv(entries: &[Entry]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::Other(format!("CSV: {e}"));
    w.write_record([
        "时间 at (UTC)",
        "操作 action",
        "操作人 actor",
        "来源 address",
        "内容 detail",
    ])
    .map_err(fail)?;
    for e in entries.iter().map(Entry::shown) {
        let cells = [&e.at, &e.action, &e.actor, &e.address, &e.detail];
        w.write_record(cells.map(|cell| spreadsheet_safe(cell).into_owned()))
            .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| Error::Other(format!("CSV: {}", e.error())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_are_given_a_quote() {
        let entry = |detail: &str| Entry {
            at: "2026-11-22T02:00:00Z".into(),
            actor: "@admin".into(),
            address: "127.0.0.1".into(),
            action: "screen-link".into(),
            detail: detail.into(),
        };
        let entries = [
            entry("=HYPERLINK(\"http://x\",\"hall A\"), link 1"),
            entry("hall B, link 2"),
            entry("-1+2"),
            entry("\u{202e}\u{0}\u{1b}[31mRED\r\nline"),
        ];
        let text = String::from_utf8(csv(&entries).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "no line break of a detail's: {text}");
        let written_out = r"\u{202e}\u{0}\u{1b}[31mRED\u{d}\u{a}line";
        assert!(lines[4].ends_with(written_out), "{}", lines[4]);
        assert!(lines[0].starts_with("时间 at (UTC),"));
        assert!(
            lines[1].ends_with(r#","'=HYPERLINK(""http://x"",""hall A""), link 1""#),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains(",'@admin,"), "{}", lines[1]);
        assert!(lines[2].ends_with(r#","hall B, link 2""#), "{}", lines[2]);
        assert!(lines[3].ends_with(",'-1+2"), "{}", lines[3]);
    }
}
