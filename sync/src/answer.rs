//! What an error answer of headquarters says, whichever route it came on (an API call or the
//! sync socket's upgrade): the reason, from its body, and when to ask again, from its
//! `Retry-After` (RFC 9110, 10.2.3: seconds, or an HTTP date).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The reason in an error answer's body: the API's `{"error": …}`, else a line of plain
/// text, else that none was given (a proxy's HTML page, say, is no line to print).
pub fn reason(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(why) = json["error"].as_str() {
            return told(why);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let one_plain_line = !text.is_empty() && text.len() <= 200 && !text.contains(['\n', '<', '{']);
    if one_plain_line {
        // Written out as the API's reasons are: an escape in a proxy's (or a forged
        // headquarters') plain answer reached the terminal and the till's last error as is.
        told(text)
    } else {
        "no reason given".into()
    }
}

/// What headquarters says (an error's reason, a ledger's refusal) as a till prints and keeps
/// it: its control and format characters written out (an escape would redraw the terminal,
/// a line break forge a log line), and cut after [`LONGEST_REASON`] characters.
pub fn told(text: &str) -> String {
    fairpos_domain::text::shown_cut(text, LONGEST_REASON)
}

/// The most characters of a reason kept.
pub const LONGEST_REASON: usize = 300;

/// The most of an error answer's body read, for its reason.
pub const LARGEST_REASON: usize = 64 << 10;

/// The most of an answer's body read: an enrolment's, with the whole catalog in it, is a few
/// megabytes for a province; a headquarters answering more is not heard out.
pub const LARGEST_ANSWER: usize = 256 << 20;

/// `response`'s body, read no further than `most` bytes: `None` when it holds more.
pub async fn body_at_most(
    mut response: reqwest::Response,
    most: usize,
) -> reqwest::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > most {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The longest wait heard in a `Retry-After`: a headquarters (or a proxy before it) that asks
/// for more is heard as asking this long, so that a mistaken answer cannot keep a fair's
/// sales from headquarters for the day.
pub const LONGEST_WAIT_ASKED: Duration = Duration::from_secs(600);

/// How long headquarters asked to be left alone, read at `now`: `Retry-After` in seconds or
/// as a date (a date gone by is no wait), [`LONGEST_WAIT_ASKED`] at most. None when the
/// header is missing or unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let asked = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or_default()
        }
    };
    Some(asked.min(LONGEST_WAIT_ASKED))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn asked(value: &str, now: SystemTime) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        retry_after(&headers, now)
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sat, 05 Dec 2026 10:00:00 GMT").unwrap();
        assert_eq!(asked("30", now), Some(Duration::from_secs(30)));
        assert_eq!(asked(" 0 ", now), Some(Duration::ZERO));
        let later = "Sat, 05 Dec 2026 10:01:30 GMT";
        assert_eq!(asked(later, now), Some(Duration::from_secs(90)));
        let gone_by = "Sat, 05 Dec 2026 09:59:00 GMT";
        assert_eq!(asked(gone_by, now), Some(Duration::ZERO));
        let longest = Some(LONGEST_WAIT_ASKED);
        assert_eq!(asked("86400", now), longest);
        assert_eq!(asked("Sun, 06 Dec 2026 10:00:00 GMT", now), longest);
        for unreadable in ["-5", "soon", "1.5", ""] {
            assert_eq!(asked(unreadable, now), None, "{unreadable:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn what_headquarters_says_is_written_out_and_cut_short() {
        let forged = br#"{"error":"\u001b[2Jheadquarters\r\nerror: forged line"}"#;
        assert_eq!(
            reason(forged),
            r"\u{1b}[2Jheadquarters\u{d}\u{a}error: forged line"
        );
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(1_000_000));
        let told = reason(long.as_bytes());
        assert_eq!(told.chars().count(), LONGEST_REASON + 1, "cut, with …");
        assert!(told.ends_with('…'));
    }

    #[test]
    fn the_reason_is_the_apis_error_or_a_line_of_plain_text() {
        let api = br#"{"error":"too many connections from your address: try again later"}"#;
        assert_eq!(
            reason(api),
            "too many connections from your address: try again later"
        );
        assert_eq!(reason(b"  bad gateway\n"), "bad gateway");
        assert_eq!(
            reason(b"\x1b]2;x\x07\x1b[2Kforged\rline"),
            "\\u{1b}]2;x\\u{7}\\u{1b}[2Kforged\\u{d}line"
        );
        let page = b"<html><head><title>502 Bad Gateway</title></head></html>";
        for none in [&page[..], br#"{"ready":false}"#, b"a\nb", b""] {
            assert_eq!(reason(none), "no reason given");
        }
    }
}
