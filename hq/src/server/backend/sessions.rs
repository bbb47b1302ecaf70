//! Who a token names (a device, a dashboard session), and logins, on either backend.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fairpos_postgres::accounts::{self as stored_accounts, EndedBecause, Lifetimes};
use fairpos_postgres::registry;
use fairpos_sync::keys;
use fairpos_sync::protocol::split_device_token;

use super::password_checks::checking_a_password;
use super::REFUSED;
use crate::accounts::{self, Access, Account};
use crate::devices::{self, NewSession, Peer};
use crate::sessions::{self, Opened};
use crate::state::{lock, AppState};
use crate::{Error, Result};

impl AppState {
    /// Who `token` names, or why it is refused. On PostgreSQL, a dashboard session is looked
    /// up through organizers' connections, a device's token through the tills'.
    pub async fn peer_of(&self, token: String) -> Result<std::result::Result<Peer, String>> {
        // No token holds a NUL (`%00` in a query), which PostgreSQL cannot take as text: it
        // was answered 500 there.
        if token.contains('\0') {
            return Ok(Err(REFUSED.to_string()));
        }
        let (Some(organizers), Some(pool)) = (&self.pg_organizers, &self.pg) else {
            let sessions = self.sessions;
            let read = self
                .readers
                .read(move |db| Ok(devices::authenticate(db, &token, &sessions)))
                .await?;
            if let Some(hash) = read.use_due {
                self.record_use_soon(hash);
            }
            // Credentials that do not hold are refused; a database that did not answer is
            // headquarters' failure, as on PostgreSQL (it was answered 401 with SQLite's
            // words, which a till's sync took as a refusal for good).
            return match read.peer {
                Ok(peer) => Ok(Ok(peer)),
                Err(e) if e.is_bad_input() => Ok(Err(e.to_string())),
                Err(e) => Err(e),
            };
        };
        if let Some(secret) = token.strip_prefix("org.") {
            let hash = keys::secret_hash(secret);
            let lifetimes = self.lifetimes();
            let live = stored_accounts::live_session(organizers, &hash, lifetimes, true).await?;
            let Some((session, name, role, scope)) = live else {
                return Ok(Err(REFUSED.to_string()));
            };
            let access = Access::from_row(&role, scope)?;
            return Ok(Ok(Peer::Person {
                session,
                account: Account { name, access },
            }));
        }
        let Some((device, secret)) = split_device_token(&token) else {
            return Ok(Err(REFUSED.to_string()));
        };
        let peer = registry::credentials(pool, device).await?.and_then(|c| {
            devices::device_peer(device, secret, &c.role, c.secret_hash.as_deref(), c.revoked)
        });
        Ok(peer.ok_or_else(|| REFUSED.to_string()))
    }

    /// Whether `token` still holds, for what it opened looking again (a screen's stream, an
    /// organizer's sync socket): a dashboard session looked up without its use recorded, so
    /// that an open screen or socket does not keep an idle session alive.
    pub async fn still_holds(&self, token: String) -> Result<bool> {
        let Some(secret) = token.strip_prefix("org.") else {
            return Ok(self.peer_of(token).await?.is_ok());
        };
        let hash = keys::secret_hash(secret);
        let Some(organizers) = &self.pg_organizers else {
            // Read as any request's token is, its use not written.
            let limits = self.sessions;
            let read = move |db: &_| Ok(devices::authenticate(db, &token, &limits).peer);
            return match self.readers.read(read).await? {
                Ok(_) => Ok(true),
                Err(e) if e.is_bad_input() => Ok(false),
                Err(e) => Err(e),
            };
        };
        let lifetimes = self.lifetimes();
        let live = stored_accounts::live_session(organizers, &hash, lifetimes, false).await?;
        Ok(live.is_some())
    }

    /// As [`AppState::peer_of`], a refusal logged as a sync event of the token's holder, named
    /// by a device code's shape only (a token's text is the sender's to choose), else as
    /// `(no device)`. Anyone may send any token, and each event is a write: an event a minute
    /// for each device headquarters knows, and one a minute between all it does not (made-up
    /// codes, one after another, or a till a restore forgot).
    pub async fn authenticate_token(
        &self,
        token: String,
    ) -> Result<std::result::Result<Peer, String>> {
        let who = refused_as(&token);
        let checked = self.peer_of(token).await?;
        if let Err(why) = &checked {
            let mut kind = who.clone();
            let mut line = format!("authentication failed: {why}");
            if who != "org" && who != NO_DEVICE && !self.knows_device(&who).await {
                kind = "(unknown device)".to_string();
                line.push_str(" (no device headquarters knows)");
            }
            if let Some(line) = self.refusals.admit(kind, line) {
                self.log_event(&who, "refused", &line).await;
            }
        }
        Ok(checked)
    }

    /// Whether `device` is one headquarters added (enrolled, revoked or not yet enrolled);
    /// `false` when the database cannot say.
    async fn knows_device(&self, device: &str) -> bool {
        let device = device.to_string();
        let Some(pool) = &self.pg else {
            let known = self.readers.read(move |db| {
                let sql = "SELECT EXISTS(SELECT 1 FROM devices WHERE device = ?1)";
                Ok(db.query_row(sql, [&device], |r| r.get(0))?)
            });
            return known.await.unwrap_or(false);
        };
        matches!(registry::credentials(pool, &device).await, Ok(Some(_)))
    }

    /// Checks `password` for the account `name` (Argon2 on a blocking thread; an unknown
    /// name costs the same) and opens a session.
    pub async fn open_session_checked(&self, name: String, password: String) -> Result<Opened> {
        let Some(pool) = &self.pg_organizers else {
            // The account read on a reading connection, the password checked in its turn,
            // the session opened on the writer: a login no longer holds its turn at the
            // password checks while it waits for the writer, which syncing tills keep busy.
            let looked_up = name.clone();
            let credentials = self
                .readers
                .read(move |db| accounts::credentials(db, &looked_up))
                .await?;
            let (access, stored) = match credentials {
                Some((access, stored)) => (Some(access), stored),
                None => (None, accounts::decoy_hash().to_string()),
            };
            let password_hash = checking_a_password(move || {
                accounts::verify_password(&stored, &password).map(|()| stored)
            })
            .await?;
            let access = access.ok_or_else(|| Error::input("wrong name or password"))?;
            let account = Account { name, access };
            let db = self.db.clone();
            return tokio::task::spawn_blocking(move || {
                let conn = lock(&db)?;
                let (token, peer_id) =
                    devices::open_checked_session(&conn, &account, &password_hash)?;
                Ok(Opened {
                    token,
                    peer_id,
                    account,
                    password_hash,
                })
            })
            .await
            .map_err(|e| Error::Other(format!("the login task: {e}")))?;
        };
        let stored = stored_accounts::stored(pool, &name).await?;
        let (access, hash) = match stored {
            Some(s) => (Some(Access::from_row(&s.role, s.scope)?), s.password_hash),
            None => (None, accounts::decoy_hash().to_string()),
        };
        let password_hash =
            checking_a_password(move || accounts::verify_password(&hash, &password).map(|()| hash))
                .await?;
        let access = access.ok_or_else(|| Error::input("wrong name or password"))?;
        let account = Account { name, access };
        let new = NewSession::of(&account);
        let (hash, session) = (&new.token_hash, &new.session);
        if !stored_accounts::open_session(pool, hash, session, &account.name, &password_hash)
            .await?
        {
            return Err(Error::input("wrong name or password"));
        }
        Ok(Opened {
            token: new.token,
            peer_id: new.peer_id,
            account,
            password_hash,
        })
    }

    /// The stored hash of the password of the account `name`, if there is one.
    pub async fn password_hash_of(&self, name: String) -> Result<Option<String>> {
        let Some(pool) = &self.pg_organizers else {
            let credentials = move |db: &_| accounts::credentials(db, &name);
            let read = self.readers.read(credentials).await?;
            return Ok(read.map(|(_, hash)| hash));
        };
        let stored = stored_accounts::stored(pool, &name).await?;
        Ok(stored.map(|s| s.password_hash))
    }

    /// Ends the dashboard session of `token` (nothing happens for any other token).
    pub async fn log_out(&self, token: String) -> Result<()> {
        match &self.pg_organizers {
            None => self.on_writer(move |db| devices::logout(db, &token)).await,
            Some(pool) => match token.strip_prefix("org.") {
                Some(secret) => {
                    Ok(stored_accounts::end_session(pool, &keys::secret_hash(secret)).await?)
                }
                None => Ok(()),
            },
        }
    }

    /// Removes the sessions that have ended (expired, or their account removed), each
    /// written in the audit log as ended and why ([`sessions::sweep`]); how many.
    pub async fn sweep_sessions(&self) -> Result<u64> {
        let limits = self.sessions;
        let Some(pool) = &self.pg_organizers else {
            // Read first: a sweep with nothing to do takes no write lock.
            let any = move |db: &_| sessions::any_ended(db, &limits);
            if !self.readers.read(any).await? {
                return Ok(0);
            }
            // A session whose use is being written was used lately: the next sweep decides.
            let being_used = self.uses_being_recorded.clone();
            let sweep = move |db: &_| {
                // Copied, so that no request waits for the set while the sweep writes.
                let being_used = being_used
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                Ok(sessions::sweep(db, &limits, &being_used)? as u64)
            };
            return self.on_writer(sweep).await;
        };
        let (lifetime, idle) = (sessions::lifetime_over(&limits), sessions::unused(&limits));
        let why = EndedBecause {
            lifetime: &lifetime,
            idle: &idle,
            removed: sessions::ACCOUNT_REMOVED,
        };
        let lifetimes = self.lifetimes();
        Ok(stored_accounts::sweep_sessions(pool, lifetimes, sessions::ENDED, why).await?)
    }

    /// Sweeps ended sessions out every minute (every half of `--session-idle` when that is
    /// shorter), on a task of the current runtime, for as long as it runs.
    pub fn keep_sessions_swept(&self) {
        let state = self.clone();
        let half_idle = (self.sessions.idle / 2).to_std().unwrap_or_default();
        let every = half_idle.clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                if let Err(e) = state.sweep_sessions().await {
                    eprintln!("sweeping ended sessions out: {e}");
                }
            }
        });
    }

    /// Writes a dashboard session's use (SQLite), dated now, on the writer after its
    /// request is answered, so that an organizer's page never waits for the writer, which
    /// syncing tills keep busy; one write at a time for each session, though every request
    /// meanwhile finds its use due. A write that fails is told (once a minute) and tried
    /// again by the session's next request.
    fn record_use_soon(&self, token_hash: String) {
        let used_at = chrono::Utc::now();
        let pending = PendingUse::take(self.uses_being_recorded.clone(), token_hash);
        let Some(pending) = pending else {
            return;
        };
        let (db, log) = (self.db.clone(), self.refusals.clone());
        tokio::task::spawn_blocking(move || {
            let recorded = lock(&db).and_then(|db| sessions::record_use(&db, &pending.0, used_at));
            if let Err(e) = recorded {
                let line = format!("recording a dashboard session's use: {e}");
                log.write("recording a session's use".into(), line);
            }
        });
    }

    /// How long sessions live, as PostgreSQL compares them.
    fn lifetimes(&self) -> Lifetimes {
        let seconds = |d: chrono::Duration| d.num_milliseconds() as f64 / 1000.0;
        Lifetimes {
            idle_s: seconds(self.sessions.idle),
            absolute_s: seconds(self.sessions.absolute),
            stale_s: seconds((self.sessions.idle / 4).min(chrono::Duration::minutes(1))),
        }
    }
}

/// A session whose use is being written: its token's hash, held in the set of those until
/// dropped (the write done, failed, or its thread unwound), so that no session is left out
/// of the writes for good.
struct PendingUse(String, Arc<Mutex<HashSet<String>>>);

impl PendingUse {
    /// `token_hash` taken into `set`; `None` when a write of its use is under way already.
    fn take(set: Arc<Mutex<HashSet<String>>>, token_hash: String) -> Option<PendingUse> {
        let fresh = set
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token_hash.clone());
        fresh.then(|| PendingUse(token_hash, set))
    }
}

impl Drop for PendingUse {
    fn drop(&mut self) {
        let mut set = self.1.lock().unwrap_or_else(PoisonError::into_inner);
        set.remove(&self.0);
    }
}

/// What a refused token naming no device by a device code's shape is logged as.
const NO_DEVICE: &str = "(no device)";

/// Who a refused `token` is logged as: the device it names when that has a device code's
/// shape, `org` for a dashboard session's, else [`NO_DEVICE`].
fn refused_as(token: &str) -> String {
    let named = token.split('.').next().unwrap_or_default();
    if named == "org" || fairpos_domain::DeviceCode::parse(named).is_ok() {
        named.to_string()
    } else {
        NO_DEVICE.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_use_is_written_once_at_a_time_and_let_go_however_the_write_ends() {
        let set: Arc<Mutex<HashSet<String>>> = Arc::default();
        let take = |hash: &str| PendingUse::take(set.clone(), hash.to_string());
        let first = take("a");
        assert!(first.is_some());
        assert!(take("a").is_none(), "one write at a time for a session");
        assert!(take("b").is_some(), "another session's beside it");
        drop(first);
        assert!(take("a").is_some(), "let go once written");
        // A write whose thread unwinds lets go too, and a poisoned set still takes uses.
        let unwound = std::thread::spawn({
            let set = set.clone();
            move || {
                let _pending = PendingUse::take(set.clone(), "c".into());
                let _held = set.lock().unwrap();
                panic!("a write that panics");
            }
        });
        assert!(unwound.join().is_err());
        assert!(set.is_poisoned());
        assert!(take("c").is_some());
    }

    #[test]
    fn a_refused_token_is_logged_by_a_device_codes_shape_only() {
        assert_eq!(refused_as("T01.f00d"), "T01");
        assert_eq!(refused_as("org.abc"), "org");
        assert_eq!(refused_as("H1.x"), "H1");
        for sent in [
            "",
            "t01.x",
            "T01\n forged line.x",
            &"A".repeat(400_000),
            "\u{1b}[2J",
        ] {
            assert_eq!(refused_as(sent), "(no device)", "{sent:?}");
        }
    }
}
