//! API keys and console sessions in PostgreSQL. Neither moves the
//! revision: the search index does not depend on them.

use postgres::GenericClient;

use super::connection::pg_error;
use crate::error::{GalleryError, Result};
use crate::model::{ApiKey, ConsoleSession, Role};
use crate::store::api::KeyRecord;
use crate::store::common::{split_names, typed_key};

/// In a transaction.
pub(super) fn create_key(
    transaction: &mut impl GenericClient,
    location: &str,
    name: &str,
    role: Role,
    zones: &[String],
    secret_sha256: &[u8],
    time: i64,
) -> Result<i64> {
    let id: i64 = transaction
        .query_one(
            "INSERT INTO api_keys (name, role, secret_sha256, created) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&name, &role.as_str(), &secret_sha256, &time],
        )
        .map_err(|e| pg_error(location, e))?
        .get(0);
    for zone in zones {
        transaction
            .execute(
                "INSERT INTO api_key_zones (key_id, zone) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, zone],
            )
            .map_err(|e| pg_error(location, e))?;
    }
    Ok(id)
}

pub(super) fn keys(client: &mut impl GenericClient, location: &str) -> Result<Vec<ApiKey>> {
    let rows = client
        .query(
            "SELECT k.id, k.name, k.role, k.created, k.revoked,
                    (SELECT string_agg(z.zone, chr(31)) FROM api_key_zones z WHERE z.key_id = k.id)
             FROM api_keys k ORDER BY k.id",
            &[],
        )
        .map_err(|e| pg_error(location, e))?;
    rows.iter()
        .map(|row| {
            let key = ApiKey {
                id: row.get(0),
                name: row.get(1),
                role: Role::Camera,
                created: row.get(3),
                revoked: row.get(4),
                zones: split_names(row.get(5)),
            };
            typed_key(location, row.get(2), key)
        })
        .collect()
}

pub(super) fn live_key(
    client: &mut impl GenericClient,
    location: &str,
    id: i64,
) -> Result<Option<KeyRecord>> {
    let row = client
        .query_opt(
            "SELECT k.name, k.role, k.secret_sha256, k.created,
                    (SELECT string_agg(z.zone, chr(31)) FROM api_key_zones z WHERE z.key_id = k.id)
             FROM api_keys k WHERE k.id = $1 AND k.revoked IS NULL",
            &[&id],
        )
        .map_err(|e| pg_error(location, e))?;
    let Some(row) = row else { return Ok(None) };
    let key = ApiKey {
        id,
        name: row.get(0),
        role: Role::Camera,
        created: row.get(3),
        revoked: None,
        zones: split_names(row.get(4)),
    };
    Ok(Some(KeyRecord { key: typed_key(location, row.get(1), key)?, secret_sha256: row.get(2) }))
}

/// In a transaction.
pub(super) fn revoke_key(
    transaction: &mut impl GenericClient,
    location: &str,
    id: i64,
    time: i64,
) -> Result<()> {
    let exists = transaction
        .query_opt("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE", &[&id])
        .map_err(|e| pg_error(location, e))?;
    if exists.is_none() {
        return Err(GalleryError::NoSuchKey(id));
    }
    transaction
        .execute("UPDATE api_keys SET revoked = $2 WHERE id = $1 AND revoked IS NULL", &[&id, &time])
        .map_err(|e| pg_error(location, e))?;
    transaction
        .execute("DELETE FROM console_sessions WHERE key_id = $1", &[&id])
        .map_err(|e| pg_error(location, e))?;
    Ok(())
}

/// In a transaction.
pub(super) fn create_session(
    transaction: &mut impl GenericClient,
    location: &str,
    key_id: i64,
    token_sha256: &str,
    created: i64,
    idle_s: i64,
    absolute_s: i64,
) -> Result<ConsoleSession> {
    let key_name: String = transaction
        .query_opt(
            "SELECT name FROM api_keys WHERE id = $1 AND revoked IS NULL AND role = 'admin' FOR KEY SHARE",
            &[&key_id],
        )
        .map_err(|e| pg_error(location, e))?
        .map(|row| row.get(0))
        .ok_or(GalleryError::NoSuchKey(key_id))?;
    let absolute = created.saturating_add(absolute_s);
    let expires = created.saturating_add(idle_s).min(absolute);
    transaction
        .execute(
            "INSERT INTO console_sessions (token_sha256, key_id, created, idle_timeout, expires,
                                           absolute_expires)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&token_sha256, &key_id, &created, &idle_s, &expires, &absolute],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(ConsoleSession { key_id, key_name, created, expires })
}

/// In a transaction.
pub(super) fn touch_session(
    transaction: &mut impl GenericClient,
    location: &str,
    token_sha256: &str,
    now: i64,
) -> Result<Option<ConsoleSession>> {
    let row = transaction
        .query_opt(
            "UPDATE console_sessions s SET expires = LEAST($2 + s.idle_timeout, s.absolute_expires)
             FROM api_keys k
             WHERE s.token_sha256 = $1 AND k.id = s.key_id AND k.revoked IS NULL
               AND s.expires > $2 AND s.absolute_expires > $2
             RETURNING s.key_id, k.name, s.created, s.expires",
            &[&token_sha256, &now],
        )
        .map_err(|e| pg_error(location, e))?;
    if row.is_none() {
        transaction
            .execute("DELETE FROM console_sessions WHERE expires <= $1 OR absolute_expires <= $1", &[&now])
            .map_err(|e| pg_error(location, e))?;
    }
    Ok(row.map(|row| ConsoleSession {
        key_id: row.get(0),
        key_name: row.get(1),
        created: row.get(2),
        expires: row.get(3),
    }))
}

pub(super) fn end_session(client: &mut impl GenericClient, location: &str, token_sha256: &str) -> Result<()> {
    client
        .execute("DELETE FROM console_sessions WHERE token_sha256 = $1", &[&token_sha256])
        .map_err(|e| pg_error(location, e))?;
    Ok(())
}
