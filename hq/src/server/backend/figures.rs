//! What organizers read (the dashboard's pages and its JSON API), on either backend: the same
//! SQL over the same projection and roll-up, through the read connections on SQLite or the
//! pool on PostgreSQL.

use fairpos_projection::report::{self, Dimension, Report};
use fairpos_projection::rollup;

use crate::leaderboard::{self, Leaderboard};
use crate::reconcile::doubtful::{self, Doubtful};
use crate::reconcile::{self, Reconciliation};
use crate::state::AppState;
use crate::unit_items::{self, UnitItems};
use crate::Result;

/// Sales held, and voids and refunds, over every till.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Sales held, voided ones too.
    pub sales: i64,
    /// Sales held and not voided.
    pub live: i64,
    pub voids: i64,
    pub refunds: i64,
}

/// The counts' SQL, which both backends run.
const VOIDS_AND_REFUNDS: &str =
    "SELECT (SELECT COUNT(*) FROM voids), (SELECT COUNT(*) FROM refunds)";

impl AppState {
    /// The sales report `by`, from the roll-up.
    pub async fn report(&self, by: Dimension) -> Result<Report> {
        match &self.pg_organizers {
            Some(pool) => Ok(fairpos_postgres::report::build(pool, by).await?),
            None => {
                self.readers
                    .read(move |db| Ok(report::build(db, by)?))
                    .await
            }
        }
    }

    /// Sales held, voids and refunds.
    pub async fn counted(&self) -> Result<Counted> {
        let Some(pool) = &self.pg_organizers else {
            return self
                .readers
                .read(|db| {
                    let (sales, live) = rollup::sales_counted(db)?;
                    let (voids, refunds) =
                        db.query_row(VOIDS_AND_REFUNDS, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok(Counted {
                        sales,
                        live,
                        voids,
                        refunds,
                    })
                })
                .await;
        };
        use fairpos_postgres::Error as Pg;
        let client = pool.get().await.map_err(Pg::from)?;
        let held = client
            .query_one(
                "SELECT CAST(COALESCE(SUM(held), 0) AS BIGINT),
                        CAST(COALESCE(SUM(sales_n), 0) AS BIGINT)
                 FROM rollup WHERE dim = 'device' AND scope = ''",
                &[],
            )
            .await
            .map_err(Pg::from)?;
        let row = client
            .query_one(VOIDS_AND_REFUNDS, &[])
            .await
            .map_err(Pg::from)?;
        Ok(Counted {
            sales: held.get(0),
            live: held.get(1),
            voids: row.get(0),
            refunds: row.get(1),
        })
    }

    /// The reconciliation of every till, or of the tills of `stall` (a stall lead's).
    pub async fn reconciliation(&self, stall: Option<String>) -> Result<Reconciliation> {
        match &self.pg_organizers {
            Some(pool) => reconcile::postgres::reconcile(pool, stall.as_deref()).await,
            None => {
                self.readers
                    .read(move |db| match &stall {
                        Some(stall) => reconcile::of_stall(db, stall),
                        None => reconcile::reconcile(db),
                    })
                    .await
            }
        }
    }

    /// The voids and refunds that do not square with their sales (of the sales of `stall`'s
    /// tills, a stall lead's): read on asking, among the voids and refunds.
    pub async fn doubtful(&self, stall: Option<String>) -> Result<Doubtful> {
        match &self.pg_organizers {
            Some(pool) => doubtful::of_postgres(pool, stall.as_deref()).await,
            None => {
                self.readers
                    .read(move |db| doubtful::of(db, stall.as_deref()))
                    .await
            }
        }
    }

    /// The competition's standings.
    pub async fn leaderboard(&self) -> Result<Leaderboard> {
        let fair = self.fair.clone();
        match &self.pg_organizers {
            Some(pool) => leaderboard::of_postgres(pool, &fair).await,
            None => {
                self.readers
                    .read(move |db| leaderboard::of(db, &fair))
                    .await
            }
        }
    }

    /// Whether `token` is a big-screen token issued here and not revoked.
    pub async fn screen_token_valid(&self, token: String) -> Result<bool> {
        use crate::screen::tokens;
        let Some(pool) = &self.pg_organizers else {
            return self.readers.read(move |db| tokens::valid(db, &token)).await;
        };
        match tokens::secret_of(&token) {
            Some(secret) => Ok(fairpos_postgres::accounts::screen_token_valid(
                pool,
                &fairpos_sync::keys::secret_hash(secret),
            )
            .await?),
            None => Ok(false),
        }
    }

    /// A purchasing unit's itemised list; `None` for a unit not known.
    pub async fn unit_items(&self, code: String) -> Result<Option<UnitItems>> {
        match &self.pg_organizers {
            Some(pool) => {
                let (known, code) = self
                    .readers
                    .read(move |db| Ok((unit_items::catalog_name(db, &code)?, code)))
                    .await?;
                unit_items::of_postgres(pool, &code, known).await
            }
            None => self.readers.read(move |db| unit_items::of(db, &code)).await,
        }
    }
}
