//! API keys for the HTTP service.
//!
//! A key reads `fck_<id>_<secret>`: the id finds the row, and only the
//! SHA-256 of the 256-bit random secret is stored. A fast hash suffices
//! because the secret is random, not a password; the digests are compared
//! in constant time so response timing reveals nothing about a guess.
//!
//! A camera key may be scoped to zones: it may then ask only about those.
//! The key's row ([`ApiKey`], [`Role`]) is in [`model`](crate::model).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::now;
use crate::error::{GalleryError, Result};
use crate::gallery::Gallery;
use crate::ids::random_hex;
pub use crate::model::{ApiKey, Role};
use crate::names::validate_name;

const PREFIX: &str = "fck_";

impl Gallery {
    /// Creates a key and returns it with its token; the token is shown once
    /// and cannot be recovered from the gallery.
    pub fn create_key(&self, name: &str, role: Role) -> Result<(ApiKey, String)> {
        self.create_scoped_key(name, role, &[])
    }

    /// Creates a key limited to `zones` (camera keys only; empty: every zone).
    pub fn create_scoped_key(&self, name: &str, role: Role, zones: &[String]) -> Result<(ApiKey, String)> {
        if !name.is_empty() {
            validate_name("key", name)?;
        }
        for zone in zones {
            validate_name("zone", zone)?;
        }
        if role == Role::Admin && !zones.is_empty() {
            return Err(GalleryError::Invalid("an admin key cannot be limited to zones".into()));
        }
        let mut zones = zones.to_vec();
        zones.sort();
        zones.dedup();
        let secret = random_hex(32);
        let created = now();
        let id = self.store().create_key(name, role, &zones, &digest(&secret), created)?;
        let key = ApiKey { id, name: name.to_string(), role, created, revoked: None, zones };
        Ok((key, format!("{PREFIX}{id}_{secret}")))
    }

    pub fn keys(&self) -> Result<Vec<ApiKey>> {
        self.store().keys()
    }

    /// Revokes a key for good, ending its console sessions.
    pub fn revoke_key(&self, id: i64) -> Result<()> {
        self.store().revoke_key(id, now())
    }

    /// The live key a token belongs to, if any.
    pub fn authenticate(&self, token: &str) -> Result<Option<ApiKey>> {
        let Some((id, secret)) = parse_token(token) else { return Ok(None) };
        let Some(record) = self.store().live_key(id)? else { return Ok(None) };
        let matches: bool = digest(secret).as_slice().ct_eq(&record.secret_sha256).into();
        Ok(matches.then_some(record.key))
    }
}

fn parse_token(token: &str) -> Option<(i64, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    Some((id.parse().ok()?, secret))
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}
