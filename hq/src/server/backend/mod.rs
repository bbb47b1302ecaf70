//! Where the server keeps what it knows: in the data directory's SQLite database, or in
//! PostgreSQL ([`AppState::pg`]), which every `hq serve` process naming it shares. Routes ask
//! through these methods of [`AppState`] and do not care which.
//!
//! On PostgreSQL: devices, enrolment codes, announced documents, how far each is projected,
//! sync events ([`devices`]), the dashboard's accounts and sessions ([`sessions`]), and the
//! projection the dashboard's pages, the big screen and the JSON API read ([`figures`]).

mod devices;
mod figures;
mod password_checks;
mod sessions;

pub use figures::Counted;

use std::net::IpAddr;

use fairpos_postgres::registry;

use crate::audit::verify::Numbered;
use crate::state::AppState;
use crate::Hq;

/// Why a token is refused, whatever the backend.
const REFUSED: &str = "unknown, expired or revoked credentials";

impl AppState {
    /// Records a sync event (and prints it); a failure to record it is printed too.
    pub async fn log_event(&self, device: &str, kind: &str, detail: &str) {
        let Some(pool) = &self.pg else {
            let (device, kind, detail) = (device.to_string(), kind.to_string(), detail.to_string());
            let logged = self
                .on_writer(move |db| {
                    Hq::log_event(db, &device, &kind, &detail);
                    Ok(())
                })
                .await;
            if let Err(e) = logged {
                eprintln!("recording a sync event: {e}");
            }
            return;
        };
        eprintln!("{kind}: {device}: {detail}");
        if let Err(e) = registry::log_event(pool, device, kind, detail).await {
            eprintln!("recording a sync event: {e}");
        }
    }

    /// Writes to the audit log what `actor` from `address` did ([`crate::audit`]), the
    /// actor and the detail cut short (a client may have sent them); a failure to write it
    /// is printed. On PostgreSQL through organizers' connections: a login never waits for
    /// one behind the tills' syncs.
    pub async fn audit(&self, actor: &str, address: IpAddr, action: &str, detail: &str) {
        let address = address.to_string();
        let (actor, detail) = (
            crate::audit::cut_short(actor),
            crate::audit::cut_short(detail),
        );
        let (actor, detail) = (actor.as_str(), detail.as_str());
        let written = match &self.pg_organizers {
            Some(pool) => fairpos_postgres::audit::record(pool, actor, &address, action, detail)
                .await
                .map_err(crate::Error::from),
            None => {
                let (actor, action, detail) =
                    (actor.to_string(), action.to_string(), detail.to_string());
                self.on_writer(move |db| {
                    crate::audit::record(db, &actor, &address, &action, &detail)
                })
                .await
            }
        };
        if let Err(e) = written {
            eprintln!("writing to the audit log: {e}");
        }
    }

    /// Whether there is an account named `name` (for the audit log: a name that is none,
    /// perhaps a password typed in the wrong field, is not written down).
    pub async fn is_account(&self, name: String) -> crate::Result<bool> {
        match &self.pg_organizers {
            Some(pool) => Ok(fairpos_postgres::accounts::stored(pool, &name)
                .await?
                .is_some()),
            None => {
                self.readers
                    .read(move |db| Ok(crate::accounts::access_of(db, &name)?.is_some()))
                    .await
            }
        }
    }

    /// The audit log's last `latest` entries `filter` lets through, oldest first; on
    /// PostgreSQL through organizers' connections, on SQLite a read connection.
    pub async fn audit_entries(
        &self,
        filter: &fairpos_postgres::audit::Filter,
        latest: u32,
    ) -> crate::Result<Vec<crate::audit::Entry>> {
        match &self.pg_organizers {
            Some(pool) => Ok(
                fairpos_postgres::audit::entries_where(pool, filter, Some(latest))
                    .await?
                    .into_iter()
                    .map(crate::audit::from_postgres)
                    .collect(),
            ),
            None => {
                let filter = filter.clone();
                self.readers
                    .read(move |db| crate::audit::entries_where(db, &filter, Some(latest)))
                    .await
            }
        }
    }

    /// The whole audit log walked as a hash chain ([`crate::audit::verify`]); on
    /// PostgreSQL through organizers' connections, on SQLite a read connection; hashed off
    /// the async workers either way. `held` (a guard of whoever asked) is kept until the walk
    /// ends, also when the caller stops waiting for it. `None` when another process on the
    /// PostgreSQL database is walking it.
    pub async fn audit_checked(
        &self,
        held: impl Send + 'static,
    ) -> crate::Result<Option<fairpos_postgres::audit::chain::Verdict>> {
        let state = self.clone();
        let walked = tokio::spawn(async move {
            let _held = held;
            state.audit_walked().await
        });
        walked
            .await
            .map_err(|e| crate::Error::Other(format!("the audit log's check: {e}")))?
    }

    async fn audit_walked(&self) -> crate::Result<Option<fairpos_postgres::audit::chain::Verdict>> {
        use crate::audit::verify::{walk_sqlite, Walk};
        let mut walk = Walk::new(&[], Vec::new());
        let Some(pool) = &self.pg_organizers else {
            let walked = self.readers.read(move |db| {
                walk_sqlite(db, &mut walk)?;
                Ok(walk)
            });
            return Ok(Some(walked.await?.finish().0));
        };
        // Rows read here, a few batches ahead of their hashing on a blocking thread.
        let (hand, mut taken) = tokio::sync::mpsc::channel::<Vec<Numbered>>(4);
        let hashing = tokio::task::spawn_blocking(move || {
            while let Some(batch) = taken.blocking_recv() {
                for (id, entry, link) in batch {
                    walk.add(id, &entry, &link);
                }
            }
            walk.finish().0
        });
        let each = |batch| {
            let hand = hand.clone();
            async move {
                // Refused only when the hashing thread is gone, whose end says why.
                let _ = hand.send(batch).await;
            }
        };
        let read = fairpos_postgres::audit::walk_alone_in_batches(pool, 1024, each).await;
        drop(hand);
        let verdict = hashing
            .await
            .map_err(|e| crate::Error::Other(format!("the audit log's check: {e}")))?;
        Ok(read?.then_some(verdict))
    }
}
