//! API keys for the HTTP service.
//!
//! A key reads `fck_<id>_<secret>`: the id finds the row, and only the
//! SHA-256 of the 256-bit random secret is stored. A fast hash suffices
//! because the secret is random, not a password; the digests are compared
//! in constant time so response timing reveals nothing about a guess.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{AtPath, GalleryError, Result};
use crate::gallery::{Gallery, now, random_hex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages people, samples, zones and grants; reads the audit trail.
    Admin,
    /// A camera: may only ask for access decisions and identification.
    Camera,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Camera => "camera",
        }
    }

    fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "camera" => Some(Role::Camera),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created: i64,
    pub revoked: Option<i64>,
}

const PREFIX: &str = "fck_";

impl Gallery {
    /// Creates a key and returns it with its token; the token is shown once
    /// and cannot be recovered from the gallery.
    pub fn create_key(&self, name: &str, role: Role) -> Result<(ApiKey, String)> {
        let secret = random_hex(32);
        let created = now();
        let id = self.with_db(|db, path| {
            db.execute(
                "INSERT INTO api_keys (name, role, secret_sha256, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.as_str(), digest(&secret), created],
            )
            .at(path)?;
            Ok(db.last_insert_rowid())
        })?;
        let key = ApiKey { id, name: name.to_string(), role, created, revoked: None };
        Ok((key, format!("{PREFIX}{id}_{secret}")))
    }

    pub fn keys(&self) -> Result<Vec<ApiKey>> {
        self.with_db(|db, path| {
            let mut statement =
                db.prepare("SELECT id, name, role, created, revoked FROM api_keys ORDER BY id").at(path)?;
            let rows = statement
                .query_map([], |row| {
                    let role: String = row.get(2)?;
                    Ok(ApiKey {
                        id: row.get(0)?,
                        name: row.get(1)?,
                        role: Role::parse(&role).unwrap_or(Role::Camera),
                        created: row.get(3)?,
                        revoked: row.get(4)?,
                    })
                })
                .at(path)?;
            rows.collect::<rusqlite::Result<_>>().at(path)
        })
    }

    /// Revokes a key for good.
    pub fn revoke_key(&self, id: i64) -> Result<()> {
        let changed = self.with_db(|db, path| {
            db.execute(
                "UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                params![id, now()],
            )
            .at(path)
        })?;
        if changed == 0 && !self.keys()?.iter().any(|key| key.id == id) {
            return Err(GalleryError::NoSuchKey(id));
        }
        Ok(())
    }

    /// The live key a token belongs to, if any.
    pub fn authenticate(&self, token: &str) -> Result<Option<ApiKey>> {
        let Some((id, secret)) = parse_token(token) else { return Ok(None) };
        let row: Option<(String, String, Vec<u8>, i64)> = self.with_db(|db, path| {
            db.query_row(
                "SELECT name, role, secret_sha256, created FROM api_keys WHERE id = ?1 AND revoked IS NULL",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
            .at(path)
        })?;
        let Some((name, role, stored, created)) = row else { return Ok(None) };
        let matches: bool = digest(secret).as_slice().ct_eq(&stored).into();
        Ok(match (matches, Role::parse(&role)) {
            (true, Some(role)) => Some(ApiKey { id, name, role, created, revoked: None }),
            _ => None,
        })
    }
}

fn parse_token(token: &str) -> Option<(i64, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    Some((id.parse().ok()?, secret))
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}
