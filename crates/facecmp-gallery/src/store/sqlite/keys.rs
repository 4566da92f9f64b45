//! API keys and console sessions in SQLite. Neither moves the revision:
//! the search index does not depend on them.

use rusqlite::{Connection, OptionalExtension, params};

use super::connection::AtPath;
use crate::error::{GalleryError, Result};
use crate::model::{ApiKey, ConsoleSession, Role};
use crate::store::api::KeyRecord;
use crate::store::common::{split_names, typed_key};

/// name, role, secret digest, created, zones (joined).
type KeyRow = (String, String, Vec<u8>, i64, Option<String>);

/// In a write transaction.
pub(super) fn create_key(
    transaction: &Connection,
    path: &str,
    name: &str,
    role: Role,
    zones: &[String],
    secret_sha256: &[u8],
    time: i64,
) -> Result<i64> {
    transaction
        .execute(
            "INSERT INTO api_keys (name, role, secret_sha256, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), secret_sha256, time],
        )
        .at(path)?;
    let id = transaction.last_insert_rowid();
    for zone in zones {
        transaction
            .execute(
                "INSERT INTO api_key_zones (key_id, zone) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![id, zone],
            )
            .at(path)?;
    }
    Ok(id)
}

pub(super) fn keys(db: &Connection, path: &str) -> Result<Vec<ApiKey>> {
    let mut statement = db
        .prepare_cached(
            "SELECT k.id, k.name, k.role, k.created, k.revoked,
                    (SELECT group_concat(z.zone, char(31)) FROM api_key_zones z WHERE z.key_id = k.id)
             FROM api_keys k ORDER BY k.id",
        )
        .at(path)?;
    let rows = statement
        .query_map([], |row| {
            let role: String = row.get(2)?;
            Ok((
                role,
                ApiKey {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    role: Role::Camera,
                    created: row.get(3)?,
                    revoked: row.get(4)?,
                    zones: split_names(row.get(5)?),
                },
            ))
        })
        .at(path)?;
    rows.map(|row| {
        let (role, key) = row.at(path)?;
        typed_key(path, &role, key)
    })
    .collect()
}

pub(super) fn live_key(db: &Connection, path: &str, id: i64) -> Result<Option<KeyRecord>> {
    let row: Option<KeyRow> = db
        .prepare_cached(
            "SELECT k.name, k.role, k.secret_sha256, k.created,
                    (SELECT group_concat(z.zone, char(31)) FROM api_key_zones z WHERE z.key_id = k.id)
             FROM api_keys k WHERE k.id = ?1 AND k.revoked IS NULL",
        )
        .and_then(|mut statement| {
            statement
                .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
                .optional()
        })
        .at(path)?;
    let Some((name, role, secret_sha256, created, zones)) = row else { return Ok(None) };
    let key = ApiKey { id, name, role: Role::Camera, created, revoked: None, zones: split_names(zones) };
    Ok(Some(KeyRecord { key: typed_key(path, &role, key)?, secret_sha256 }))
}

/// In a write transaction.
pub(super) fn revoke_key(transaction: &Connection, path: &str, id: i64, time: i64) -> Result<()> {
    let exists: bool = transaction
        .query_row("SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1)", [id], |row| row.get(0))
        .at(path)?;
    if !exists {
        return Err(GalleryError::NoSuchKey(id));
    }
    transaction
        .execute("UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL", params![id, time])
        .at(path)?;
    transaction.execute("DELETE FROM console_sessions WHERE key_id = ?1", [id]).at(path)?;
    Ok(())
}

/// In a write transaction.
pub(super) fn create_session(
    transaction: &Connection,
    path: &str,
    key_id: i64,
    token_sha256: &str,
    created: i64,
    idle_s: i64,
    absolute_s: i64,
) -> Result<ConsoleSession> {
    let key_name: Option<String> = transaction
        .query_row(
            "SELECT name FROM api_keys WHERE id = ?1 AND revoked IS NULL AND role = 'admin'",
            [key_id],
            |row| row.get(0),
        )
        .optional()
        .at(path)?;
    let key_name = key_name.ok_or(GalleryError::NoSuchKey(key_id))?;
    let absolute = created.saturating_add(absolute_s);
    let expires = created.saturating_add(idle_s).min(absolute);
    transaction
        .execute(
            "INSERT INTO console_sessions (token_sha256, key_id, created, idle_timeout, expires,
                                           absolute_expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![token_sha256, key_id, created, idle_s, expires, absolute],
        )
        .at(path)?;
    Ok(ConsoleSession { key_id, key_name, created, expires })
}

/// In a write transaction.
pub(super) fn touch_session(
    transaction: &Connection,
    path: &str,
    token_sha256: &str,
    now: i64,
) -> Result<Option<ConsoleSession>> {
    let found: Option<(i64, String, i64, i64, i64)> = transaction
        .query_row(
            "SELECT s.key_id, k.name, s.created, s.absolute_expires, s.idle_timeout
             FROM console_sessions s JOIN api_keys k ON k.id = s.key_id
             WHERE s.token_sha256 = ?1 AND k.revoked IS NULL AND s.expires > ?2 AND s.absolute_expires > ?2",
            params![token_sha256, now],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
        )
        .optional()
        .at(path)?;
    let Some((key_id, key_name, created, absolute, idle_s)) = found else {
        transaction
            .execute("DELETE FROM console_sessions WHERE expires <= ?1 OR absolute_expires <= ?1", [now])
            .at(path)?;
        return Ok(None);
    };
    let expires = now.saturating_add(idle_s).min(absolute);
    transaction
        .execute(
            "UPDATE console_sessions SET expires = ?2 WHERE token_sha256 = ?1",
            params![token_sha256, expires],
        )
        .at(path)?;
    Ok(Some(ConsoleSession { key_id, key_name, created, expires }))
}

pub(super) fn end_session(db: &Connection, path: &str, token_sha256: &str) -> Result<()> {
    db.execute("DELETE FROM console_sessions WHERE token_sha256 = ?1", [token_sha256]).at(path).map(drop)
}
