//! Web console sessions, kept in the store so that every node behind a load
//! balancer knows them and a revoked key ends them everywhere at once.
//!
//! The cookie carries a random secret; the store keeps only its SHA-256
//! (hex), so a copy of the database opens no session. A session has an idle
//! expiry that each use slides forward and an absolute one that never moves.
//! The session's row ([`ConsoleSession`]) is in [`model`](crate::model).

use crate::clock::now;
use crate::error::Result;
use crate::gallery::Gallery;
pub use crate::model::ConsoleSession;

impl Gallery {
    /// A new session for an admin key; `token_sha256` is the hex SHA-256 of the cookie's random secret.
    pub fn create_session(
        &self,
        key_id: i64,
        token_sha256: &str,
        idle_timeout_s: i64,
        absolute_timeout_s: i64,
    ) -> Result<ConsoleSession> {
        self.store().create_session(key_id, token_sha256, now(), idle_timeout_s, absolute_timeout_s)
    }

    /// The live session for a token, sliding its idle expiry; None when unknown, expired or its key revoked.
    pub fn session(&self, token_sha256: &str) -> Result<Option<ConsoleSession>> {
        self.store().touch_session(token_sha256, now())
    }

    pub fn end_session(&self, token_sha256: &str) -> Result<()> {
        self.store().end_session(token_sha256)
    }
}
