//! Splits a scanner's byte stream into codes. A code ends with CR, LF, CRLF or TAB; bytes of
//! a code that arrive in pieces wait for the rest.

/// Longest code kept: more than a QR code holds (2 953 bytes at most), so a kiosk's basket
/// of many lines comes through whole (at 512 bytes, one of about forty lines did not). A
/// longer run without a terminator is noise, dropped up to the next terminator.
pub const MAX_CODE: usize = 4096;

#[derive(Clone, Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// The code under way ran past [`MAX_CODE`]: the rest of it is dropped too (its tail
    /// was read as a code of its own).
    overlong: bool,
}

impl LineSplitter {
    pub fn new() -> LineSplitter {
        LineSplitter::default()
    }

    /// Feeds bytes; returns the codes they complete (empty codes are skipped, so CRLF ends
    /// one code).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut codes = Vec::new();
        for &b in bytes {
            match b {
                b'\r' | b'\n' | b'\t' => {
                    let code = String::from_utf8_lossy(&self.partial).trim().to_string();
                    self.partial.clear();
                    let overlong = std::mem::take(&mut self.overlong);
                    if !code.is_empty() && !overlong {
                        codes.push(code);
                    }
                }
                _ if self.overlong => {}
                _ if self.partial.len() >= MAX_CODE => {
                    self.partial.clear();
                    self.overlong = true;
                }
                _ => self.partial.push(b),
            }
        }
        codes
    }

    /// Bytes received after the last terminator.
    pub fn pending(&self) -> &[u8] {
        &self.partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_terminator_and_split_writes() {
        let mut s = LineSplitter::new();
        assert!(s.push(b"69357801").is_empty());
        assert_eq!(s.push(b"00128\r\n6935780"), vec!["6935780100128"]);
        assert_eq!(
            s.push(b"100296\n96385074\t"),
            vec!["6935780100296", "96385074"]
        );
        assert_eq!(s.push(b"036000291452\r"), vec!["036000291452"]);
        assert_eq!(s.push(b"\n\r\t"), Vec::<String>::new());
        assert!(s.pending().is_empty());
    }

    #[test]
    fn a_code_as_long_as_a_qr_code_holds_comes_whole_and_a_longer_run_not_at_all() {
        let mut s = LineSplitter::new();
        let basket = format!("FPB1:K01:{}", "LS-MH-1*2,".repeat(290));
        assert!(basket.len() > 2_900);
        assert_eq!(s.push(format!("{basket}\r\n").as_bytes()), vec![basket]);
        // A run past the longest code: none of it is a code, not even its tail; the next
        // code after its terminator is.
        let noise = "9".repeat(MAX_CODE + 10);
        assert!(s.push(noise.as_bytes()).is_empty());
        assert_eq!(s.push(b"\r6935780100128\r"), vec!["6935780100128"]);
    }
}
