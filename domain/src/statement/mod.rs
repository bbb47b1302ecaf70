//! The payment providers' statements a stall's merchant account downloads: what really
//! arrived by WeChat Pay and Alipay, to hold beside what the till recorded.
//!
//! Three published layouts are read, each found by its column names (never by position):
//! - WeChat Pay's merchant bill (商户平台 交易账单): a CSV whose every field is prefixed with a
//!   backtick, the rows followed by a summary block (`总交易单数,…`);
//! - the WeChat app's 账单明细 export: header lines (nickname, period, counts) before the
//!   column row `交易时间,交易类型,交易对方,…,交易单号,商户单号,备注`, amounts as `¥18.80`;
//! - Alipay's account statement (账务明细): GBK, `#` comment lines before and after the rows,
//!   fields padded with tabs, income and expense in columns of their own.
//!
//! The encoding is detected (UTF-8 with or without a byte-order mark, else GBK/GB18030), line
//! endings may be CRLF. A file is read whole or not at all: a bad row is named by its line.

mod layouts;
pub mod matching;

use std::borrow::Cow;

use chrono::NaiveDateTime;

use crate::money::Fen;
use crate::DomainError;

pub use layouts::{Layout, Row};

/// Who issued a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    Wechat,
    Alipay,
}

impl Provider {
    pub fn parse(text: &str) -> Option<Provider> {
        match text {
            "wechat" => Some(Provider::Wechat),
            "alipay" => Some(Provider::Alipay),
            _ => None,
        }
    }

    /// As the till names the payment method: `wechat`, `alipay`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechat => "wechat",
            Provider::Alipay => "alipay",
        }
    }
}

/// Which way the money went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flow {
    /// A shopper paid the stall.
    Payment,
    /// The stall gave money back.
    Refund,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Payment => "payment",
            Flow::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<Flow> {
        match text {
            "payment" => Some(Flow::Payment),
            "refund" => Some(Flow::Refund),
            _ => None,
        }
    }
}

/// One movement of money in a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    /// The line of the file it was read from (1-based).
    pub line: u64,
    /// The provider's number for this movement: unique within the provider.
    pub txn: String,
    pub flow: Flow,
    /// Always positive; the flow says which way.
    pub amount: Fen,
    /// Beijing time, as the providers print it.
    pub at: NaiveDateTime,
    /// The other party or the goods, as the statement names them (may be empty).
    pub note: String,
}

/// A statement file read whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub provider: Provider,
    pub layout: Layout,
    /// `utf-8` or `gbk`.
    pub encoding: &'static str,
    pub lines: Vec<StatementLine>,
    /// Rows that are neither a payment nor a refund (withdrawals, fees, revoked orders, and
    /// those of `others_money_in`).
    pub skipped: usize,
    /// Money in left out as not the stall's takings, by its kind (`微信红包`, `转账`): had
    /// shoppers paid that way, their payments would be missing from the match.
    pub others_money_in: Vec<MoneyInLeftOut>,
    /// The span of Beijing time the file accounts for: the period its header states (the
    /// WeChat app's 起始时间/终止时间, Alipay's 起始日期/终止日期), else the whole days of its
    /// rows (a merchant bill is a day's bill). A till's QR payment inside it and absent from
    /// the file was not received. `None` for a file with no rows and no stated period.
    pub covers: Option<(NaiveDateTime, NaiveDateTime)>,
    /// The one direction of money the file accounts for, when it holds only one (a bill of
    /// payments only, an export of money out only: [`Layout::flows_accounted`]); `None`, both.
    pub flows: Option<Flow>,
}

/// Rows of money in of one kind that is not the stall's takings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MoneyInLeftOut {
    /// As the file names it (a WeChat 交易类型, an Alipay 业务类型).
    pub kind: String,
    pub rows: usize,
    #[serde(rename = "amount_fen")]
    pub amount: Fen,
}

/// Reads a statement file downloaded from `provider`. `file` names it in errors.
pub fn parse(file: &str, bytes: &[u8], provider: Provider) -> Result<Statement, DomainError> {
    let (text, encoding) = crate::text::utf8_or_gbk(bytes).ok_or_else(|| DomainError::BadCsv {
        file: file.to_string(),
        why: "neither UTF-8 nor GBK text: is this the statement file as downloaded?".into(),
    })?;
    let rows: Vec<&str> = text.lines().collect();
    let Some((header_at, layout, header)) = rows
        .iter()
        .enumerate()
        .find_map(|(i, row)| Layout::recognise(row).map(|(l, h)| (i, l, h)))
    else {
        return Err(DomainError::BadCsv {
            file: file.to_string(),
            why: "no column row of a WeChat Pay bill, a WeChat 账单明细 or an Alipay 账务明细 \
                  was found"
                .into(),
        });
    };
    if layout.provider() != provider {
        return Err(DomainError::BadCsv {
            file: file.to_string(),
            why: format!(
                "this is {}, not a {} statement: check --provider",
                layout.describe(),
                provider.as_str()
            ),
        });
    }
    let columns = layout.columns(&header).map_err(|why| DomainError::BadCsv {
        file: file.to_string(),
        why,
    })?;
    let (mut lines, mut skipped, mut refused) = (Vec::new(), 0, Vec::new());
    let mut others_money_in: Vec<MoneyInLeftOut> = Vec::new();
    let mut span: Option<(NaiveDateTime, NaiveDateTime)> = None;
    for (line, row) in records(&rows[header_at + 1..], header_at as u64 + 2, header.len()) {
        if row.trim().is_empty() {
            continue;
        }
        if layout.ends_at(&row) {
            break;
        }
        let read = || {
            let fields = split_row(&row)?;
            if fields.len() <= columns.last() {
                return Err(format!(
                    "{} fields where the column row has {}",
                    fields.len(),
                    header.len()
                ));
            }
            let at = time(columns.get(&fields, "time"))?;
            Ok((at, layout.read(&columns, &fields, line)?))
        };
        match read() {
            Ok((at, read)) => {
                span = Some(span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
                match read {
                    Row::Line(l) => lines.push(l),
                    Row::Neither => skipped += 1,
                    Row::OthersMoneyIn(kind, amount) => {
                        skipped += 1;
                        left_out(&mut others_money_in, kind, amount);
                    }
                }
            }
            Err(why) => refused.push((line, why)),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for l in &lines {
        if !seen.insert((l.txn.as_str(), l.flow)) {
            let why = format!("transaction {} appears twice in this file", l.txn);
            refused.push((l.line, why));
        }
    }
    if let Some(refusal) = DomainError::csv_rows(file, refused) {
        return Err(refusal);
    }
    let whole_days = span.and_then(|(first, last)| {
        Some((
            first.date().and_hms_opt(0, 0, 0)?,
            last.date().and_hms_opt(23, 59, 59)?,
        ))
    });
    Ok(Statement {
        provider,
        layout,
        encoding,
        lines,
        skipped,
        others_money_in,
        covers: stated_period(&rows[..header_at]).or(whole_days),
        flows: layout.flows_accounted(&header, &rows[..header_at]),
    })
}

/// Counts a row of money in of `kind` left out; the kinds kept in the order first met.
fn left_out(kinds: &mut Vec<MoneyInLeftOut>, kind: String, amount: Fen) {
    match kinds.iter_mut().find(|k| k.kind == kind) {
        Some(k) => {
            k.rows += 1;
            k.amount = Fen(k.amount.0.saturating_add(amount.0));
        }
        None => kinds.push(MoneyInLeftOut {
            kind,
            rows: 1,
            amount,
        }),
    }
}

/// The period the lines before the column row state: `起始时间：[2026-11-28 00:00:00]
/// 终止时间：[…]` (WeChat app) or `#起始日期：[2026年11月28日 00:00:00]   终止日期：[…]` (Alipay).
fn stated_period(rows: &[&str]) -> Option<(NaiveDateTime, NaiveDateTime)> {
    fn bracketed_after<'a>(row: &'a str, key: &str) -> Option<&'a str> {
        let rest = &row[row.find(key)?..];
        let open = rest.find(['[', '［'])?;
        let inner = &rest[open..];
        let inner = &inner[inner.chars().next()?.len_utf8()..];
        Some(&inner[..inner.find([']', '］'])?])
    }
    rows.iter().find_map(|row| {
        let from = time(bracketed_after(row, "起始")?).ok()?;
        let to = time(bracketed_after(row, "终止")?).ok()?;
        (from <= to).then_some((from, to))
    })
}

/// The CSV records of `rows` (physical lines, the first numbered `first_line`), each with
/// the line it starts on. A quoted field may hold a line break (a 商品名称 or 备注 typed on
/// two lines), so a record runs on over the lines until its quote closes (a quote opens a
/// field only at its start, as in RFC 4180; one inside an unquoted field is text). Not when
/// the quote never closes, or a line it would run over is a row of its own (as many fields
/// as the column row, `fields`): a field that starts with a stray quote (`"双11特惠`) would
/// otherwise swallow the rows up to the next quote, unsaid. Such a line is read alone, as a
/// spreadsheet reads it.
fn records<'a>(rows: &[&'a str], first_line: u64, fields: usize) -> Vec<(u64, Cow<'a, str>)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut quoted = false;
        loop {
            quoted = quotes_left_open(rows[end], quoted);
            end += 1;
            if !quoted || end == rows.len() {
                break;
            }
        }
        let a_row_of_its_own = |line: &&str| split_row(line).is_ok_and(|f| f.len() >= fields);
        if quoted || rows[start + 1..end].iter().any(a_row_of_its_own) {
            end = start + 1;
        }
        let row = if end - start == 1 {
            Cow::Borrowed(rows[start])
        } else {
            Cow::Owned(rows[start..end].join("\n"))
        };
        out.push((first_line + start as u64, row));
        start = end;
    }
    out
}

/// Whether a quoted field is still open at the end of `line`, read from inside one when
/// `open` (the record's earlier lines left it open).
fn quotes_left_open(line: &str, mut open: bool) -> bool {
    let mut field_start = !open;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if open {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    open = false;
                }
            }
        } else if c == ',' {
            field_start = true;
        } else {
            open = field_start && c == '"';
            field_start = false;
        }
    }
    open
}

/// The fields of one CSV row, each trimmed of the padding the providers add: spaces, tabs
/// and WeChat's leading backtick (which keeps spreadsheets from reading numbers).
fn split_row(row: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(row.as_bytes());
    let record = match reader.records().next() {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(format!("not a CSV row: {e}")),
        None => return Ok(Vec::new()),
    };
    Ok(record
        .iter()
        .map(|field| clean(field).replace(['\r', '\n'], " "))
        .collect())
}

/// A field as written, without what keeps a spreadsheet from reading a long number as one:
/// WeChat's leading backtick, and Excel's `="…"` guard (the same transaction number imported
/// from a file saved that way was another transaction, its movement held twice).
fn clean(field: &str) -> String {
    let t = field.trim_matches(|c: char| c.is_whitespace());
    let t = t
        .strip_prefix('`')
        .unwrap_or(t)
        .trim_matches(|c: char| c.is_whitespace());
    let t = t
        .strip_prefix("=\"")
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(t);
    t.to_string()
}

/// An amount of money in, as the statements print it: `18.80`, `¥18.80`, `￥18.80`, `+18.80`,
/// `1,280.00`. A minus sign is refused: money out belongs in an expense column or a refund.
fn amount(text: &str) -> Result<Fen, String> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let t = t.trim_start_matches(['¥', '￥']);
    without_thousands(t)
        .and_then(|t| Fen::parse_yuan(&t).ok())
        .filter(|f| f.0 >= 0)
        .ok_or_else(|| format!("amount {text:?} is not yuan with at most two decimals"))
}

/// `1,280.00` as `1280.00`: commas only between groups of three digits of the whole yuan.
/// A comma anywhere else (`18,80`, a decimal comma of a spreadsheet's re-save) is refused,
/// not read as a hundred times the amount.
fn without_thousands(t: &str) -> Option<String> {
    if !t.contains(',') {
        return Some(t.to_string());
    }
    let (whole, decimals) = t.split_once('.').map_or((t, None), |(w, d)| (w, Some(d)));
    let mut groups = whole.split(',');
    let first = groups.next()?;
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    if first.is_empty() || first.len() > 3 || !digits(first) {
        return None;
    }
    let mut plain = first.to_string();
    for g in groups {
        if g.len() != 3 || !digits(g) {
            return None;
        }
        plain.push_str(g);
    }
    if let Some(d) = decimals {
        plain.push('.');
        plain.push_str(d);
    }
    Some(plain)
}

/// An amount in an expense column (Alipay's 支出金额): `-26.50` or `26.50`; never `+`.
fn expense(text: &str) -> Result<Fen, String> {
    let t = text.trim();
    if t.starts_with('+') {
        return Err(format!("expense {text:?} carries a plus sign"));
    }
    amount(t.strip_prefix('-').unwrap_or(t))
}

/// A time as the statements print it: `2026-11-28 10:15:32` (also with slashes, or without
/// seconds as a spreadsheet saves it again).
fn time(text: &str) -> Result<NaiveDateTime, String> {
    const FORMATS: [&str; 5] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M",
        "%Y年%m月%d日 %H:%M:%S",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text.trim(), f).ok())
        .ok_or_else(|| format!("time {text:?} is not like 2026-11-28 10:15:32"))
}

#[cfg(test)]
mod tests;
