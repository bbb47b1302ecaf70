//! Enrolment, announcements and confirmations, on either backend.

use fairpos_postgres::registry::{self, Enrolling, Enrolment};
use fairpos_sync::keys;
use fairpos_sync::protocol::{ConfirmedDoc, DocInfo, EnrollRequest, ROLE_HUB, ROLE_TILL};
use rusqlite::Connection;

use crate::devices::{self, Grant, Peer};
use crate::limits::over_limit;
use crate::project::{ledger_of, may_not_sync};
use crate::state::AppState;
use crate::{meta, project, Error, Result};

impl AppState {
    /// Uses the enrolment code of `request` for the device writing with its actor (a till
    /// or hub enrolling `again` as this fair's device, or `as` a till or a hub), keeping its
    /// `signing_key` as the key its bundles and slips are checked with when it made one
    /// (else the key its secret derives); the grant, and the fair file a device sets itself
    /// up with.
    pub async fn enroll_device(&self, request: EnrollRequest) -> Result<(Grant, String)> {
        let EnrollRequest {
            code,
            actor,
            again,
            signing_key,
            role: as_role,
        } = request;
        devices::check_same_fair(again.as_ref(), &self.fair.id)?;
        if signing_key
            .as_deref()
            .is_some_and(|k| !keys::is_public_key(k))
        {
            return Err(Error::input(
                "the device's signing key is not an Ed25519 public key",
            ));
        }
        if as_role
            .as_deref()
            .is_some_and(|r| r != ROLE_TILL && r != ROLE_HUB)
        {
            return Err(Error::input("a device enrols as a till or a hub"));
        }
        let Some(pool) = &self.pg else {
            return self
                .on_writer(move |db| {
                    let fair_toml = meta(db, "fair_toml")?.unwrap_or_default();
                    let device = again.as_ref().map(|a| a.device.as_str());
                    // Taken for writing first: the code is read, then used.
                    let tx = rusqlite::Transaction::new_unchecked(
                        db,
                        rusqlite::TransactionBehavior::Immediate,
                    )?;
                    let (role, key) = (as_role.as_deref(), signing_key.as_deref());
                    let grant = devices::enroll(&tx, &code, &actor, device, role, key)?;
                    tx.commit()?;
                    Ok((grant, fair_toml))
                })
                .await;
        };
        if fairpos_sync::ActorId::try_from(actor.as_str()).is_err() {
            return Err(Error::input("bad actor id"));
        }
        let secret = keys::new_secret();
        let public_key = signing_key.unwrap_or_else(|| keys::public_key(&secret));
        let enrolling = Enrolling {
            code_hash: &devices::code_hash(&code),
            actor: &actor,
            again: again.as_ref().map(|a| a.device.as_str()),
            role: as_role.as_deref(),
        };
        let enrolment =
            registry::enroll(pool, &enrolling, &keys::secret_hash(&secret), &public_key).await?;
        let (device, stall, role, retry) = match enrolment {
            Enrolment::Granted {
                device,
                stall,
                role,
                retry,
            } => (device, stall, role, retry),
            Enrolment::UnknownCode => return Err(Error::input("unknown enrolment code")),
            Enrolment::CodeUsed => return Err(Error::input("this enrolment code has been used")),
            Enrolment::RetryRefused => return Err(devices::retry_refused()),
            Enrolment::OtherRole(code_for) => return Err(devices::code_for_role(&code_for)),
            Enrolment::LedgersHeld(device) => return Err(devices::ledgers_held(&device)),
            Enrolment::OtherDevice {
                code_for,
                enrolling,
            } => return Err(devices::code_for_another(&code_for, &enrolling)),
        };
        let fair_toml = self
            .readers
            .read(|db| Ok(meta(db, "fair_toml")?.unwrap_or_default()))
            .await?;
        let grant = Grant {
            device,
            stall,
            role,
            secret,
            retry,
        };
        Ok((grant, fair_toml))
    }

    /// Registers the ledgers `peer` is about to sync; why not, when not (see
    /// [`project::announce`]).
    pub async fn announce_ledgers(&self, peer: Peer, keys: Vec<String>) -> Result<Option<String>> {
        // A key sent twice is one ledger, counted once against the device's limit.
        let mut keys = keys;
        keys.sort_unstable();
        keys.dedup();
        let (fair, limits) = (self.fair.id.clone(), self.documents);
        let Some(pool) = &self.pg else {
            return self
                .on_writer(move |db| project::announce(db, &peer, &fair, &keys, &limits))
                .await;
        };
        let mut docs = Vec::with_capacity(keys.len());
        let mut revoked_tills = Vec::new();
        for key in keys {
            let id = match ledger_of(&key, &fair) {
                Ok(id) => id,
                Err(why) => return Ok(Some(why)),
            };
            // A hub's: the till's credentials, read once for whether it is one and revoked.
            let (allowed, revoked) = match &peer {
                Peer::Till(d) => (*d == id.device, false),
                Peer::Hub(_) => match registry::credentials(pool, &id.device).await? {
                    Some(c) => (c.role == ROLE_TILL, c.revoked),
                    None => (false, false),
                },
                Peer::Person { .. } => (false, false),
            };
            if !allowed {
                let why = may_not_sync(&peer, &id.device);
                self.log_event(peer.name(), "refused", &why).await;
                return Ok(Some(why));
            }
            let doc_id = fairpos_sync::ids::document_id(&key).to_string();
            if revoked {
                revoked_tills.push((key.clone(), doc_id.clone(), id.device.clone()));
            }
            docs.push((key, doc_id, id.device));
        }
        // As on SQLite (`project::announce`): a revoked till's ledger a hub relays for the
        // first time is refused, and said; one registered before, said in the log. (Not in
        // `announce`'s transaction: a refusal that fails to be written leaves the ledger
        // unsaid, as before.)
        let mut revoked_before = Vec::new();
        for (key, doc_id, device) in revoked_tills {
            match registry::announced(pool, &doc_id).await? {
                None => revoked_before.push((doc_id, device)),
                Some(_) => {
                    let said = project::relayed_since(&key, &peer);
                    self.log_event(&device, "refused", &said).await;
                }
            }
        }
        match registry::announce(pool, &docs, limits.per_device).await? {
            None => {
                for (doc_id, device) in revoked_before {
                    let why = project::revoked_before(&device, &peer);
                    // Logged as the till's sync event there.
                    registry::refuse(pool, &doc_id, &why).await?;
                }
                Ok(None)
            }
            Some((device, would)) => {
                let why = over_limit(&device, would, 0, &limits)
                    .unwrap_or_else(|| format!("{device} holds too many ledger documents"));
                self.log_event(peer.name(), "refused", &why).await;
                Ok(Some(why))
            }
        }
    }

    /// How far headquarters has projected the ledgers of `device` (every device's: `None`),
    /// or only those it refuses.
    pub async fn confirmed_docs(
        &self,
        device: Option<String>,
        refused_only: bool,
    ) -> Result<Vec<ConfirmedDoc>> {
        let Some(pool) = &self.pg else {
            return self
                .readers
                .read(move |db| docs_of(db, device.as_deref(), refused_only))
                .await;
        };
        let docs = if refused_only {
            registry::refused_documents(pool, device.as_deref()).await?
        } else {
            registry::documents(pool, device.as_deref()).await?
        };
        Ok(docs
            .into_iter()
            .map(|d| ConfirmedDoc {
                key: d.key,
                heads: d.heads,
                records: d.records,
                refused: d.refused,
            })
            .collect())
    }

    /// Every announced document (the catalog too, on SQLite), read beside the writer.
    pub async fn documents(&self) -> Result<Vec<DocInfo>> {
        let Some(pool) = &self.pg else {
            return self.readers.read(all_docs).await;
        };
        let docs = registry::documents(pool, None).await?;
        Ok(docs
            .into_iter()
            .map(|d| DocInfo {
                key: d.key,
                doc_id: d.doc_id,
                device: d.device,
                records: d.records,
            })
            .collect())
    }
}

/// The ledgers of `device` (every device's: `None`), or only those refused. A ledger
/// headquarters refuses upstream of a hub is refused here too (`upstream_refused`).
fn docs_of(db: &Connection, device: Option<&str>, refused_only: bool) -> Result<Vec<ConfirmedDoc>> {
    let mut stmt = db.prepare_cached(
        "SELECT doc_key, heads, records, COALESCE(refused, upstream_refused) FROM hq_docs
         WHERE device IS NOT NULL AND (?1 IS NULL OR device = ?1)
           AND (NOT ?2 OR COALESCE(refused, upstream_refused) IS NOT NULL)
         ORDER BY doc_key",
    )?;
    let rows = stmt.query_map(rusqlite::params![device, refused_only], |r| {
        Ok(ConfirmedDoc {
            key: r.get(0)?,
            heads: r.get(1)?,
            records: r.get(2)?,
            refused: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn all_docs(db: &Connection) -> Result<Vec<DocInfo>> {
    let mut stmt =
        db.prepare("SELECT doc_key, doc_id, device, records FROM hq_docs ORDER BY doc_key")?;
    let rows = stmt.query_map([], |r| {
        Ok(DocInfo {
            key: r.get(0)?,
            doc_id: r.get(1)?,
            device: r.get(2)?,
            records: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
