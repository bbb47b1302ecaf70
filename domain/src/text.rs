//! Text files as Chinese offices save them: UTF-8, or GBK (a spreadsheet's "CSV" in
//! Chinese Windows, and payment providers' statements).

/// The text of `bytes` and its encoding: UTF-8 (a byte-order mark dropped), else GBK (read as
/// GB18030, its superset). `None` when it is neither.
pub fn utf8_or_gbk(bytes: &[u8]) -> Option<(String, &'static str)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Some((text.to_string(), "utf-8"));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    (!had_errors).then(|| (text.into_owned(), "gbk"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utf8_and_gbk_and_refuses_neither() {
        let (gbk, _, _) = encoding_rs::GBK.encode("保靖黄金茶");
        assert_eq!(utf8_or_gbk(&gbk), Some(("保靖黄金茶".into(), "gbk")));
        let bom = "\u{feff}sku".as_bytes();
        assert_eq!(utf8_or_gbk(bom), Some(("sku".into(), "utf-8")));
        // UTF-16, as "Unicode text" is saved: neither.
        assert_eq!(utf8_or_gbk(&[0xff, 0xfe, b's', 0, 0xd8, 0x00]), None);
    }
}
