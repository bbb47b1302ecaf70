//! The till's identifiers: its device code and the numbers of its sales. A till makes its
//! own identity, never headquarters: device code plus a contiguous sequence, so a gap in the
//! numbers is visible evidence of a missing sale.

use std::fmt;
use std::ops::Deref;

use crate::DomainError;

/// A till's (or a hub's) device code: a capital letter and digits, such as `T01`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceCode(String);

impl DeviceCode {
    pub fn parse(text: &str) -> Result<DeviceCode, DomainError> {
        let ok = (2..=8).contains(&text.len())
            && text.as_bytes()[0].is_ascii_uppercase()
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(DeviceCode(text.to_string()))
        } else {
            // Told back as typed, but not at any length.
            let code = match text.char_indices().nth(16) {
                Some((end, _)) => format!("{}…", &text[..end]),
                None => text.to_string(),
            };
            Err(DomainError::BadDeviceCode { code })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for DeviceCode {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for DeviceCode {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for DeviceCode {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The receipt number of a till's `seq`th sale: `T01-000157`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaleNumber {
    device: String,
    seq: u64,
}

impl SaleNumber {
    pub fn new(device: &str, seq: u64) -> SaleNumber {
        SaleNumber {
            device: device.to_string(),
            seq,
        }
    }

    /// Reads `T01-000157`; `None` for anything else (a refund number `T01-R000001`, an id).
    pub fn parse(text: &str) -> Option<SaleNumber> {
        let (device, digits) = text.trim().rsplit_once('-')?;
        if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let device = DeviceCode::parse(device).ok()?;
        let number = SaleNumber::new(&device, digits.parse().ok()?);
        // Written back the same way, or it names nothing this till wrote (`T01-0000157`).
        (number.to_string() == text.trim()).then_some(number)
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for SaleNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:06}", self.device, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_codes_are_a_capital_and_digits() {
        assert_eq!(DeviceCode::parse("T01").unwrap().as_str(), "T01");
        for bad in ["t01", "T", "01", "T-1", "T012345678"] {
            assert!(DeviceCode::parse(bad).is_err(), "{bad}");
        }
        let long = DeviceCode::parse(&"码".repeat(10_000)).unwrap_err();
        let told = format!("bad device code \"{}…\"", "码".repeat(16));
        assert!(long.to_string().starts_with(&told), "{long}");
    }

    #[test]
    fn sale_numbers_round_trip() {
        let n = SaleNumber::new("T03", 157);
        assert_eq!(n.to_string(), "T03-000157");
        assert_eq!(SaleNumber::parse("T03-000157"), Some(n));
        assert_eq!(
            SaleNumber::parse("T03-1234567").map(|n| n.seq()),
            Some(1_234_567)
        );
        assert_eq!(SaleNumber::parse("T03-R000001"), None);
        assert_eq!(SaleNumber::parse("T03-0000157"), None);
        assert_eq!(
            SaleNumber::parse("0196f9c2-1f3a-7000-8000-000000000001"),
            None
        );
    }
}
