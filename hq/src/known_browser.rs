//! Browsers an account has logged in from before, told apart from the rest by the login
//! throttle (what OWASP's authentication cheat sheet calls a device cookie).
//!
//! A venue's stall leads share one NAT address. A guesser there could use up the address's
//! failures (30 in 10 minutes), or an account's from anywhere (20), and so lock the leads
//! out of the dashboard. A login from a browser that holds the cookie of an earlier login
//! to the same account is counted against that cookie alone (5 failures in 10 minutes),
//! whatever the address or the account have failed meanwhile. The cookie grants nothing
//! else: no session, no page.
//!
//! The cookie is `NONCE.MAC`: a nonce of 8 random bytes and a tag (half an HMAC of them and
//! the account's name, so that a made-up cookie is told without reading the account's
//! password hash), and an HMAC-SHA256 (ring's) of the nonce, the
//! account's name and its password's stored hash under headquarters' key, so that a new
//! password (or the account removed) leaves the browsers known before unknown. The key is
//! made at the first `hq serve` and kept in the database (`meta` on SQLite, `hq_meta` on
//! PostgreSQL, where every process takes the one the first made), so a cookie holds across
//! restarts and processes. A browser is known to one account at a time: the last it
//! logged in to.

use ring::hmac;
use rusqlite::Connection;

use crate::{Error, Result};

/// The cookie's name.
pub const COOKIE: &str = "fairpos_known";
/// How long a browser stays known after a login: a year (a fair season and the next).
pub const LIFETIME_S: u64 = 365 * 24 * 3600;
/// Where the key is kept in the database.
const KEY_NAME: &str = "login_browser_key";
/// Bytes of a nonce: half random, half a tag ([`BrowserKey::may_vouch`]).
const NONCE_BYTES: usize = 16;
/// Bytes of a MAC (HMAC-SHA256).
const MAC_BYTES: usize = 32;

/// Headquarters' key for the cookies of known browsers.
pub struct BrowserKey(hmac::Key);

impl BrowserKey {
    /// The key whose 32 bytes `text` spells in hex.
    fn from_hex(text: &str) -> Result<BrowserKey> {
        let bytes = fairpos_sync::keys::unhex(text)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| Error::Other(format!("{KEY_NAME} in the database is not a key")))?;
        Ok(BrowserKey(hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
    }

    /// A new key, as hex (32 bytes of the system's random source).
    fn made() -> String {
        fairpos_sync::keys::new_secret()
    }

    /// The key of a SQLite headquarters, made now if it has none.
    pub fn of_sqlite(conn: &Connection) -> Result<BrowserKey> {
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
            (KEY_NAME, BrowserKey::made()),
        )?;
        let key: String =
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [KEY_NAME], |r| {
                r.get(0)
            })?;
        BrowserKey::from_hex(&key)
    }

    /// The key of a PostgreSQL headquarters, made now if it has none (two processes making
    /// one at once both take the first's).
    pub async fn of_postgres(pool: &fairpos_postgres::Pool) -> Result<BrowserKey> {
        let key =
            fairpos_postgres::registry::meta_claimed(pool, KEY_NAME, &BrowserKey::made()).await?;
        BrowserKey::from_hex(&key)
    }

    /// A new cookie value for a browser that has just logged in to `account`, whose
    /// password is stored as `password_hash`.
    pub fn cookie_for(&self, account: &str, password_hash: &str) -> String {
        let random = &fairpos_sync::keys::new_secret()[..NONCE_BYTES];
        let nonce = format!("{random}{}", self.nonce_tag(random, account));
        let mac = self.mac(&nonce, account, password_hash);
        format!("{nonce}.{mac}")
    }

    /// Whether `value` may be a cookie this key made for `account`, as far as its nonce
    /// tells without the account's password hash: only then is the hash read (from the
    /// database, on one of the connections organizers' pages take) to check it whole. A
    /// flood of logins with made-up cookies of the right spelling had every one read it.
    pub fn may_vouch(&self, value: &str, account: &str) -> bool {
        let Some((nonce, _)) = value.split_once('.').filter(|_| well_formed(value)) else {
            return false;
        };
        let (random, tag) = nonce.split_at(NONCE_BYTES);
        fairpos_sync::keys::same_secret(tag, &self.nonce_tag(random, account))
    }

    /// The second half of a nonce: half an HMAC of its first half and the account's name.
    fn nonce_tag(&self, random: &str, account: &str) -> String {
        let full = hmac::sign(&self.0, nonce_text(random, account).as_bytes());
        fairpos_sync::keys::hex(&full.as_ref()[..NONCE_BYTES / 2])
    }

    /// The nonce of `value` when it is a cookie this key made for `account` while its
    /// password was stored as `password_hash` (a new password, or the account removed and
    /// made again, leaves every cookie of before vouching for nothing): the browser's name
    /// for the throttle. Only the cookie's own spelling is taken (lower-case hex).
    pub fn vouches_for(&self, value: &str, account: &str, password_hash: &str) -> Option<String> {
        if !self.may_vouch(value, account) {
            return None;
        }
        let (nonce, mac) = value.split_once('.')?;
        let mac = fairpos_sync::keys::unhex(mac)?;
        let signed = signed_text(nonce, account, password_hash);
        hmac::verify(&self.0, signed.as_bytes(), &mac).ok()?;
        Some(nonce.to_string())
    }

    /// How the login throttle names the account `name` in its counts: a MAC of it, not the
    /// name (kept in PostgreSQL's `hq_attempts` for ten minutes, in its WAL and its dumps,
    /// where a password typed in the name field was kept in the clear), the same in every
    /// process.
    pub fn throttle_name(&self, name: &str) -> String {
        let tag = hmac::sign(&self.0, format!("throttle.{name}").as_bytes());
        fairpos_sync::keys::hex(&tag.as_ref()[..16])
    }

    fn mac(&self, nonce: &str, account: &str, password_hash: &str) -> String {
        let tag = hmac::sign(
            &self.0,
            signed_text(nonce, account, password_hash).as_bytes(),
        );
        fairpos_sync::keys::hex(tag.as_ref())
    }
}

/// Whether `value` is spelled as a cookie this module makes (`NONCE.MAC`, lower-case hex
/// of their lengths): only such a cookie is worth reading an account's password hash for.
fn well_formed(value: &str) -> bool {
    let hex = |text: &str, len: usize| {
        text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    value
        .split_once('.')
        .is_some_and(|(nonce, mac)| hex(nonce, 2 * NONCE_BYTES) && hex(mac, 2 * MAC_BYTES))
}

/// What a nonce's tag covers: its random half, and the account's name.
fn nonce_text(random: &str, account: &str) -> String {
    format!("nonce.{random}.{account}")
}

/// What a cookie's MAC covers: the nonce (of a fixed length), the account's name (after its
/// length, so that no name and hash can pass for another) and its password's stored hash.
fn signed_text(nonce: &str, account: &str, password_hash: &str) -> String {
    format!("{nonce}{}.{account}{password_hash}", account.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BrowserKey {
        BrowserKey::from_hex(&BrowserKey::made()).unwrap()
    }

    /// Two stored hashes of lead1's password (before and after a change).
    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3aGFzaA";

    #[test]
    fn a_cookie_vouches_for_its_account_and_password_under_its_key_alone() {
        let key = key();
        let cookie = key.cookie_for("lead1", HASH);
        let nonce = key.vouches_for(&cookie, "lead1", HASH).expect("its own");
        assert_eq!(nonce.len(), 32);
        assert_eq!(
            key.vouches_for(&cookie, "lead2", HASH),
            None,
            "another account"
        );
        assert_eq!(
            key.vouches_for(&cookie, "lead1", NEW_HASH),
            None,
            "a new password"
        );
        assert_eq!(
            self::key().vouches_for(&cookie, "lead1", HASH),
            None,
            "another key"
        );
        // The name and the hash cannot pass for another name and hash.
        assert_eq!(key.vouches_for(&cookie, "lead1$", &HASH[1..]), None);
        // Two logins, two browsers.
        let again = key.vouches_for(&key.cookie_for("lead1", HASH), "lead1", HASH);
        assert_ne!(again, Some(nonce));
    }

    #[test]
    fn the_throttle_names_an_account_by_a_mac_of_its_name_under_the_key() {
        let key = key();
        let named = key.throttle_name("lead1");
        assert_eq!(
            named,
            key.throttle_name("lead1"),
            "the same in every process"
        );
        assert_ne!(named, key.throttle_name("lead2"));
        assert_ne!(named, self::key().throttle_name("lead1"), "another key");
        assert!(!key.throttle_name("secret-pw").contains("secret"));
        assert_eq!(named.len(), 32);
    }

    #[test]
    fn a_cookie_changed_or_spelled_otherwise_vouches_for_nothing() {
        let key = key();
        let cookie = key.cookie_for("lead1", HASH);
        let (nonce, mac) = cookie.split_once('.').unwrap();
        let mut other = nonce.as_bytes().to_vec();
        other[0] = if other[0] == b'0' { b'1' } else { b'0' };
        let other = String::from_utf8(other).unwrap();
        for made_up in [
            format!("{other}.{mac}"),
            format!("{nonce}.{}", &mac[2..]),
            format!("{nonce}{mac}"),
            format!("{nonce}."),
            // The same bytes spelled in capitals.
            format!("{nonce}.{}", mac.to_ascii_uppercase()),
            format!("{}.{mac}", nonce.to_ascii_uppercase()),
            String::new(),
            "x.y".to_string(),
        ] {
            assert_eq!(key.vouches_for(&made_up, "lead1", HASH), None, "{made_up}");
        }
    }

    /// A cookie's nonce is told from a made-up one without the account's password hash,
    /// so a flood of made-up cookies reads no hash.
    #[test]
    fn a_made_up_cookie_is_told_before_the_password_hash_is_read() {
        let key = key();
        let cookie = key.cookie_for("lead1", HASH);
        assert!(key.may_vouch(&cookie, "lead1"));
        assert!(!key.may_vouch(&cookie, "lead2"), "another account");
        assert!(!self::key().may_vouch(&cookie, "lead1"), "another key");
        let made_up = format!("{}.{}", "ab".repeat(16), "cd".repeat(32));
        assert!(well_formed(&made_up));
        assert!(!key.may_vouch(&made_up, "lead1"));
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            .unwrap();
        let first = BrowserKey::of_sqlite(&conn).unwrap();
        let cookie = first.cookie_for("lead1", HASH);
        let again = BrowserKey::of_sqlite(&conn).unwrap();
        assert!(again.vouches_for(&cookie, "lead1", HASH).is_some());
        conn.execute("UPDATE meta SET value = 'zz' WHERE key = ?1", [KEY_NAME])
            .unwrap();
        assert!(BrowserKey::of_sqlite(&conn).is_err());
    }
}
