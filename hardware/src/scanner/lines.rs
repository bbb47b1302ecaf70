//! Splits a scanner's byte stream into codes. A code ends with CR, LF, CRLF or TAB; bytes of
//! a code that arrive in pieces wait for the rest.

/// Longest code kept; a longer run without a terminator is noise and is dropped.
pub const MAX_CODE: usize = 512;

#[derive(Clone, Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
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
                    if !code.is_empty() {
                        codes.push(code);
                    }
                }
                _ if self.partial.len() >= MAX_CODE => {
                    self.partial.clear();
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
}
