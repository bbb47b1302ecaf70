//! The device registry's token in PostgreSQL: a random value in `hq_meta`, drawn again by
//! triggers whenever a device is added, changed or removed, so that a process can tell the
//! registry hubs copy has not changed by reading one value rather than every device (as
//! SQLite's `hq/src/registry`).

use crate::{Pool, Result};

/// The schema of migration 10: the triggers, and the first token. A statement that inserts,
/// deletes or truncates draws one; an update, only for a row it changed. A transaction that
/// changes a device holds the token's row until it commits, so such transactions (an
/// enrolment, a revocation: a few a minute) take turns.
pub(crate) const SCHEMA: &str = "
CREATE OR REPLACE FUNCTION devices_registry_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hq_meta(key, value) VALUES ('registry_token', gen_random_uuid()::text)
    ON CONFLICT(key) DO UPDATE SET value = excluded.value;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_registry_added_or_removed AFTER INSERT OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION devices_registry_token();
CREATE TRIGGER devices_registry_changed AFTER UPDATE ON devices
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION devices_registry_token();
INSERT INTO hq_meta(key, value) VALUES ('registry_token', gen_random_uuid()::text)
    ON CONFLICT(key) DO NOTHING;
";

/// The token of the registry as it is now: another whenever a device changed.
pub async fn token(pool: &Pool) -> Result<Option<String>> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            "SELECT value FROM hq_meta WHERE key = 'registry_token'",
            &[],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}
