//! What comes from outside: text (a till's bundle, a copy of the catalog) as an organizer's
//! terminal may show it, and files read no further than they may hold.

use std::path::Path;

/// Text as a terminal may show it: the fair's one way of writing out what came from outside.
pub use fairpos_domain::text::{is_hidden, shown, shown_cut};

/// The bytes of `path`, read no further than `limit` whatever the file says its length is
/// (a pipe says 0): `None` when it holds more.
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    read_at_most_from(std::fs::File::open(path)?, limit)
}

/// What `reader` holds (standard input, say), read no further than `limit`: `None` when it
/// holds more.
pub fn read_at_most_from(
    reader: impl std::io::Read,
    limit: u64,
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_no_further_than_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("five");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_at_most(&file, 5).unwrap(), Some(b"12345".to_vec()));
        assert_eq!(read_at_most(&file, 4).unwrap(), None, "one byte too many");
        assert!(read_at_most(&dir.path().join("none"), 5).is_err());
    }
}
