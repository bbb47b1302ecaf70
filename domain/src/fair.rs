//! The fair a till sells at: its name, competition rate, clock offset and in-store barcode
//! rules, read from a `fair.toml`.

use chrono::FixedOffset;
use serde::Deserialize;

use crate::money::PointsRate;
use crate::DomainError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fair {
    /// Short stable identifier used in document keys: `id` in the file, or derived from the
    /// name.
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub currency: String,
    pub points_per_yuan: PointsRate,
    /// Local time at the fair (China: +08:00). Days and hours in reports follow it.
    pub utc_offset: FixedOffset,
    pub barcode_rules: Vec<BarcodeRule>,
}

/// An in-store barcode layout: `prefix`, PLU digits, value digits, EAN-13 check digit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarcodeRule {
    pub prefix: String,
    pub plu_digits: usize,
    pub value: RuleValue,
    pub value_digits: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleValue {
    WeightG,
    AmountFen,
}

impl BarcodeRule {
    /// Length of codes made by this rule, check digit included (saturating: a fair file may
    /// state any sizes, which the parser then refuses for not making 13).
    pub fn code_len(&self) -> usize {
        self.prefix
            .len()
            .saturating_add(self.plu_digits)
            .saturating_add(self.value_digits)
            .saturating_add(1)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FairFile {
    id: Option<String>,
    name: String,
    name_en: Option<String>,
    currency: Option<String>,
    points_per_yuan: Option<toml::Value>,
    utc_offset: Option<String>,
    #[serde(default)]
    barcode_rule: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    prefix: String,
    plu_digits: usize,
    value: String,
    value_digits: usize,
}

impl Fair {
    /// Reads a fair from the text of a `fair.toml`.
    pub fn from_toml(text: &str) -> Result<Fair, DomainError> {
        let bad = |why: String| DomainError::BadFair(why);
        let file: FairFile = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        if file.name.trim().is_empty() {
            return Err(bad("`name` is empty".into()));
        }
        let id = match file.id {
            Some(id) => {
                let ok = !id.is_empty()
                    && id.len() <= 40
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(bad(format!(
                        "`id` {id:?} must be 1-40 letters, digits, '-' or '_'"
                    )));
                }
                id
            }
            None => format!("fair-{:016x}", fnv1a(file.name.as_bytes())),
        };
        let points_per_yuan = match file.points_per_yuan {
            None => PointsRate::parse("0")?,
            Some(toml::Value::String(s)) => PointsRate::parse(&s)?,
            Some(toml::Value::Integer(i)) => PointsRate::parse(&i.to_string())?,
            Some(other) => {
                let shown = match &other {
                    toml::Value::Float(f) => f.to_string(),
                    other => format!("a {}", other.type_str()),
                };
                return Err(bad(format!(
                    "`points_per_yuan` must be a decimal string such as \"0.1\", not {shown}"
                )));
            }
        };
        let offset_text = file.utc_offset.unwrap_or_else(|| "+08:00".to_string());
        let utc_offset = parse_offset(&offset_text)
            .ok_or_else(|| bad(format!("`utc_offset` {offset_text:?} is not like +08:00")))?;
        let mut barcode_rules = Vec::new();
        for (i, r) in file.barcode_rule.into_iter().enumerate() {
            let value = match r.value.as_str() {
                "weight_g" => RuleValue::WeightG,
                "amount_fen" => RuleValue::AmountFen,
                other => {
                    return Err(bad(format!(
                        "barcode_rule {}: value {other:?} is not weight_g or amount_fen",
                        i + 1
                    )))
                }
            };
            let rule = BarcodeRule {
                prefix: r.prefix,
                plu_digits: r.plu_digits,
                value,
                value_digits: r.value_digits,
            };
            if !rule.prefix.bytes().all(|b| b.is_ascii_digit())
                || rule.prefix.is_empty()
                || rule.code_len() != 13
            {
                return Err(bad(format!(
                    "barcode_rule {}: prefix, PLU and value digits must make an EAN-13 (13 digits with the check digit)",
                    i + 1
                )));
            }
            barcode_rules.push(rule);
        }
        let currency = file.currency.unwrap_or_else(|| "CNY".into());
        if currency.trim().is_empty() {
            return Err(bad("`currency` is empty: leave it out for CNY".into()));
        }
        Ok(Fair {
            id,
            name: file.name,
            name_en: file.name_en.unwrap_or_default(),
            currency,
            points_per_yuan,
            utc_offset,
            barcode_rules,
        })
    }
}

impl Fair {
    /// Refuses, in a new fair file (a till's `init --fair`, `hq init`), a barcode rule whose
    /// prefix is not one of GS1's in-store ones (20 to 29, or 02 and 04 before it): such a
    /// rule read goods' own barcodes (69…) as scale labels, and nothing of a stall's sold by
    /// its barcode. Nor may two rules' codes begin alike: the first matching took the other's
    /// labels. A fair already stored opens as it is, checked or not (refused there, a till
    /// or headquarters set up before this check would not open).
    pub fn check_barcode_prefixes(&self) -> Result<(), DomainError> {
        let bad = |why: String| DomainError::BadFair(why);
        for (i, rule) in self.barcode_rules.iter().enumerate() {
            let in_store = rule.prefix.starts_with('2')
                || rule.prefix.starts_with("02")
                || rule.prefix.starts_with("04");
            if !in_store {
                return Err(bad(format!(
                    "barcode_rule {}: prefix {} is no in-store prefix (GS1's 20 to 29, or 02, \
                     04): goods' own barcodes would be read as scale labels",
                    i + 1,
                    rule.prefix
                )));
            }
            let overlapping = |other: &BarcodeRule| {
                other.prefix.starts_with(&rule.prefix) || rule.prefix.starts_with(&other.prefix)
            };
            if let Some(other) = self.barcode_rules[..i].iter().position(overlapping) {
                return Err(bad(format!(
                    "barcode_rule {}: prefix {} begins as barcode_rule {}'s ({}): a label would \
                     be read by the first",
                    i + 1,
                    rule.prefix,
                    other + 1,
                    self.barcode_rules[other].prefix
                )));
            }
        }
        Ok(())
    }
}

fn parse_offset(text: &str) -> Option<FixedOffset> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// 64-bit FNV-1a: a stable short digest for derived ids (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_demo_fair() {
        let fair = Fair::from_toml(crate::demo::FAIR_TOML).unwrap();
        assert_eq!(fair.name, "2026 湖南高校消费帮扶产品展销会");
        assert!(fair.id.starts_with("fair-"));
        assert_eq!(fair.utc_offset, FixedOffset::east_opt(8 * 3600).unwrap());
        assert_eq!(fair.barcode_rules.len(), 2);
        assert_eq!(fair.barcode_rules[1].value, RuleValue::AmountFen);
        assert_eq!(fair.points_per_yuan.points_centi(crate::Fen(1000)), 100);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = Fair::from_toml("name = \"x\"\n[[barcode_rule]]\nprefix = \"2\"\nplu_digits = 5\nvalue = \"weight_g\"\nvalue_digits = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("EAN-13"), "{err}");
        // Sizes that overflow when added are refused the same way, not a panic.
        let huge = "name = \"x\"\n[[barcode_rule]]\nprefix = \"21\"\n\
                    plu_digits = 9223372036854775807\nvalue = \"weight_g\"\n\
                    value_digits = 9223372036854775807\n";
        let err = Fair::from_toml(huge).unwrap_err().to_string();
        assert!(err.contains("EAN-13"), "{err}");
        let err = Fair::from_toml("name = \"x\"\ncurrency = \" \"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`currency` is empty"), "{err}");
        let err = Fair::from_toml("nme = \"x\"").unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        // A prefix outside GS1's in-store ones read goods' barcodes (69…) as labels; two
        // rules beginning alike took each other's labels.
        let rule = |prefix: &str| {
            format!(
                "[[barcode_rule]]\nprefix = \"{prefix}\"\nplu_digits = 5\n\
                 value = \"weight_g\"\nvalue_digits = {}\n",
                12 - 5 - prefix.len()
            )
        };
        let with = |rules: &[&str]| {
            let rules: String = rules.iter().map(|p| rule(p)).collect();
            let fair = Fair::from_toml(&format!("name = \"x\"\n{rules}")).unwrap();
            fair.check_barcode_prefixes()
                .map(|_| fair.barcode_rules.len())
        };
        let err = with(&["69"]).unwrap_err().to_string();
        assert!(err.contains("no in-store prefix"), "{err}");
        let err = with(&["21", "2"]).unwrap_err().to_string();
        assert!(err.contains("begins as barcode_rule 1's"), "{err}");
        assert_eq!(with(&["21", "22", "02", "04"]).unwrap(), 4);
    }
}
