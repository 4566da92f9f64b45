//! PostgreSQL's connections: connected on first use and again after a
//! failure, and its errors sorted into storage errors and an unreachable
//! database (which fails closed, and the next call tries again).

use std::sync::{Mutex, MutexGuard};

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use crate::error::{GalleryError, Result};

pub(super) fn lock(connection: &Mutex<Option<Client>>) -> MutexGuard<'_, Option<Client>> {
    // A panic cannot leave a transaction open: it rolls back on drop.
    connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` on `connection`, connecting (and LISTENing on `listen`) first
/// if there is none or it was closed; drops it after an `Unavailable`.
pub(super) fn on_connection<T>(
    connection: &mut Option<Client>,
    config: &Config,
    location: &str,
    listen: Option<&str>,
    f: impl FnOnce(&mut Client, &str) -> Result<T>,
) -> Result<T> {
    if connection.as_ref().is_none_or(Client::is_closed) {
        *connection = None;
        let mut client = config.connect(NoTls).map_err(|e| pg_error(location, e))?;
        if let Some(channel) = listen {
            client.batch_execute(&format!("LISTEN {channel}")).map_err(|e| pg_error(location, e))?;
        }
        *connection = Some(client);
    }
    let client = connection.as_mut().expect("connected above");
    let result = f(client, location);
    if matches!(result, Err(GalleryError::Unavailable { .. })) {
        *connection = None;
    }
    result
}

/// A failed call: a server-side error is a storage error; anything else
/// (closed connection, refused, timed out) means the database is unreachable.
pub(super) fn pg_error(location: &str, error: postgres::Error) -> GalleryError {
    match error.as_db_error() {
        Some(db) if !is_connection_state(db.code()) => {
            GalleryError::Database { path: location.to_string(), detail: db.message().to_string() }
        }
        _ => GalleryError::Unavailable { path: location.to_string(), detail: error.to_string() },
    }
}

/// Server errors that mean "not now" rather than "not so": shutting down,
/// starting up, too many connections.
fn is_connection_state(code: &SqlState) -> bool {
    [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
    ]
    .contains(code)
}
