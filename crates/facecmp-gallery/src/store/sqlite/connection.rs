//! Opening an SQLite gallery file: the settings every read-write connection
//! needs, the read-only look that refuses a file that is not a gallery
//! before anything could change it, and SQLite's errors tagged with the
//! file's path.

use std::path::Path;
use std::time::Duration;

use facecmp::EmbedderIdentity;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::schema::{self, SCHEMA_VERSION};
use crate::error::{GalleryError, Result};
use crate::store::common::storage_error;

/// Attaches the gallery's path to SQLite errors.
pub(super) trait AtPath<T> {
    fn at(self, path: &str) -> Result<T>;
}

impl<T> AtPath<T> for rusqlite::Result<T> {
    fn at(self, path: &str) -> Result<T> {
        self.map_err(|error| storage_error(path, error))
    }
}

/// Reads a file's schema version and embedder on a read-only connection:
/// a file that is not a facecmp gallery is refused before anything could
/// change it (no WAL switch, no schema, not even an empty file's bytes).
pub(super) fn inspect(path: &Path) -> Result<(u32, EmbedderIdentity)> {
    let display = path.display().to_string();
    if !path.is_file() {
        return Err(GalleryError::Missing { path: display });
    }
    let not_a_gallery = || GalleryError::NotAGallery { path: display.clone() };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags).at(&display)?;
    connection.busy_timeout(Duration::from_secs(10)).at(&display)?;
    let found = match schema::version(&connection) {
        Ok(found) => found,
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(not_a_gallery());
        }
        Err(error) => return Err(storage_error(&display, error)),
    };
    if found > SCHEMA_VERSION {
        return Err(GalleryError::SchemaTooNew { path: display, found, supported: SCHEMA_VERSION });
    }
    if found == 0 {
        // Version 0 is also what an empty or foreign SQLite file reports.
        return Err(not_a_gallery());
    }
    let stored: Option<String> = connection
        .query_row("SELECT value FROM meta WHERE key = 'embedder'", [], |row| row.get(0))
        .optional()
        .unwrap_or(None);
    let identity = stored.and_then(|text| serde_json::from_str(&text).ok()).ok_or_else(not_a_gallery)?;
    Ok((found, identity))
}

/// Opens the file with the settings every read-write connection needs.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", true)?;
    connection.pragma_update(None, "secure_delete", true)?;
    Ok(connection)
}
