//! The answer to `GET /api/v1/hub/registry` (`server::api::registry`): every device, for a
//! fair hub to authenticate tills with. Each hub asks every second, and a province may run
//! a hub at each of hundreds of fairs, while its registry of thousands of tills is a
//! megabyte of JSON. So the answer (its JSON and an `ETag` of its bytes) is kept by a
//! process and given to every hub that asks; once every [`CHECKED_EVERY`] at most, the
//! registry's token (one value, another whenever a device changed: `super::token`) is
//! read, and the answer is made again only when the token is another. A hub that holds the
//! tag is answered `304 Not Modified` with no body. A device enrolled or revoked reaches
//! the hubs a quarter of a second later at most, then, than it would with every request
//! read afresh: a revoked till's credentials stop working at the hubs within about a
//! second and a quarter (a hub asks every second).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fairpos_sync::protocol::DeviceEntry;
use sha2::Digest;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::{Error, Result};

/// How often the registry's token is looked at, at most, while hubs ask: one read of one
/// value, four times a second per process however many hubs ask.
pub const CHECKED_EVERY: Duration = Duration::from_millis(250);

/// The registry's JSON and its tag (a quoted hex digest of the JSON).
#[derive(Clone, Debug)]
pub struct Tagged {
    pub body: Bytes,
    pub tag: String,
}

impl Tagged {
    pub fn of(entries: &[DeviceEntry]) -> Result<Tagged> {
        let body = serde_json::to_vec(entries)
            .map_err(|e| Error::Other(format!("the registry as JSON: {e}")))?;
        let digest = sha2::Sha256::digest(&body);
        Ok(Tagged {
            body: body.into(),
            tag: format!("\"{}\"", fairpos_sync::keys::hex(&digest[..16])),
        })
    }

    /// The answer to a hub that sent `headers`: 304 when its `If-None-Match` names the tag
    /// (or `*`), else the JSON with its tag.
    pub fn answer(&self, headers: &HeaderMap) -> Response {
        let held = headers
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == self.tag || t == "*");
        if held {
            return (StatusCode::NOT_MODIFIED, [(ETAG, self.tag.clone())]).into_response();
        }
        let head = [
            (CONTENT_TYPE, "application/json".to_string()),
            (ETAG, self.tag.clone()),
        ];
        (StatusCode::OK, head, self.body.clone()).into_response()
    }
}

/// The answer kept, the registry's token it was made of, and when the token was read.
#[derive(Debug)]
struct Kept {
    checked: Instant,
    token: Option<String>,
    tagged: Arc<Tagged>,
}

/// The answer made last.
#[derive(Debug)]
pub struct Made {
    check_every: Duration,
    last: Mutex<Option<Kept>>,
}

impl Default for Made {
    fn default() -> Made {
        Made::checking_every(CHECKED_EVERY)
    }
}

impl Made {
    /// Answers kept, the registry's token looked at once every `check_every` at most.
    pub fn checking_every(check_every: Duration) -> Made {
        Made {
            check_every,
            last: Mutex::new(None),
        }
    }

    /// The answer kept while its token was looked at within `check_every`, or while the
    /// registry's `token` is still the one it was made of; else one made now of what
    /// `entries` reads. Hubs asking meanwhile wait for it rather than read the registry
    /// too. The token is read before the entries and again after them: an answer is kept
    /// under its token only when the two agree (no device changed between), so that it is
    /// never kept under a token that is not its own, even one a restored database brings
    /// back. With no token (`None`), the answer is made again each time.
    pub async fn get<T, E>(
        &self,
        token: impl Fn() -> T,
        entries: impl FnOnce() -> E,
    ) -> Result<Arc<Tagged>>
    where
        T: Future<Output = Result<Option<String>>>,
        E: Future<Output = Result<Vec<DeviceEntry>>>,
    {
        let mut last = self.last.lock().await;
        if let Some(kept) = &*last {
            if kept.checked.elapsed() < self.check_every {
                return Ok(kept.tagged.clone());
            }
        }
        let before = token().await?;
        if let Some(kept) = &mut *last {
            if before.is_some() && kept.token == before {
                kept.checked = Instant::now();
                return Ok(kept.tagged.clone());
            }
        }
        let tagged = Arc::new(Tagged::of(&entries().await?)?);
        let after = token().await?;
        *last = Some(Kept {
            checked: Instant::now(),
            token: if before == after { before } else { None },
            tagged: tagged.clone(),
        });
        Ok(tagged)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn entry(device: &str) -> DeviceEntry {
        DeviceEntry {
            device: device.into(),
            stall: "S01".into(),
            role: "till".into(),
            secret_hash: None,
            public_key: None,
            actor: None,
            revoked: false,
        }
    }

    /// `made`'s answer when the registry is `devices` under `token`, counting in `reads`
    /// each time the registry is read for it.
    async fn answer(
        made: &Made,
        reads: &AtomicUsize,
        token: Option<&str>,
        devices: &[&str],
    ) -> Arc<Tagged> {
        let entries = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok(devices.iter().map(|d| entry(d)).collect())
        };
        let token = || async { Ok(token.map(str::to_string)) };
        made.get(token, entries).await.unwrap()
    }

    #[tokio::test]
    async fn an_answer_is_made_once_for_as_long_as_it_is_kept_and_again_after() {
        let reads = AtomicUsize::new(0);
        let kept = Made::checking_every(Duration::from_secs(3600));
        let first = answer(&kept, &reads, Some("a"), &["T01"]).await;
        let again = answer(&kept, &reads, Some("b"), &["T01", "T02"]).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(first.tag, again.tag, "the answer kept");
        let fresh = Made::checking_every(Duration::ZERO);
        let one = answer(&fresh, &reads, None, &["T01"]).await;
        let two = answer(&fresh, &reads, None, &["T01", "T02"]).await;
        assert_eq!(reads.load(Ordering::SeqCst), 3, "no token: read each time");
        assert_ne!(one.tag, two.tag, "another registry, another tag");
        assert_eq!(one.tag, first.tag, "the same registry, the same tag");
    }

    #[tokio::test]
    async fn past_its_age_an_answer_is_made_again_only_when_the_token_is_another() {
        let reads = AtomicUsize::new(0);
        let made = Made::checking_every(Duration::ZERO);
        let first = answer(&made, &reads, Some("a"), &["T01"]).await;
        for _ in 0..3 {
            let same = answer(&made, &reads, Some("a"), &["T01", "T02"]).await;
            assert_eq!(same.tag, first.tag, "token a: the answer kept");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let changed = answer(&made, &reads, Some("b"), &["T01", "T02"]).await;
        assert_ne!(changed.tag, first.tag, "token b: made again");
        let unknown = answer(&made, &reads, None, &["T01"]).await;
        assert_eq!(unknown.tag, first.tag, "no token: made again, of T01 alone");
        answer(&made, &reads, None, &["T01"]).await;
        assert_eq!(reads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn an_answer_whose_token_changed_while_it_was_read_is_not_kept_under_it() {
        let reads = AtomicUsize::new(0);
        let looks = AtomicUsize::new(0);
        // A device changes between the first look and the second: "a", then "b" for good.
        let token = || async {
            let look = looks.fetch_add(1, Ordering::SeqCst);
            Ok(Some(if look == 0 { "a" } else { "b" }.to_string()))
        };
        let entries = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok(vec![entry("T01")])
        };
        let made = Made::checking_every(Duration::ZERO);
        for _ in 0..3 {
            made.get(token, entries).await.unwrap();
        }
        // Made at the first (under neither token), again at the second (under "b"), then kept.
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_hub_holding_the_tag_is_answered_304_and_any_other_the_json() {
        let tagged = Tagged::of(&[entry("T01")]).unwrap();
        let asking = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(IF_NONE_MATCH, value.parse().unwrap());
            }
            tagged.answer(&headers).status()
        };
        let weak = format!("W/{}", tagged.tag);
        let listed = format!("\"other\", {}", tagged.tag);
        for held in [tagged.tag.as_str(), &weak, &listed, "*"] {
            assert_eq!(asking(Some(held)), StatusCode::NOT_MODIFIED, "{held}");
        }
        for other in [None, Some("\"other\""), Some("")] {
            assert_eq!(asking(other), StatusCode::OK, "{other:?}");
        }
        assert_eq!(
            tagged.body.as_ref(),
            serde_json::to_vec(&[entry("T01")]).unwrap()
        );
    }
}
