//! Where a gallery keeps its rows: the [`GalleryStore`] trait and its
//! backends.
//!
//! The trait is synchronous and object-safe: [`Gallery`](crate::Gallery)
//! holds an `Arc<dyn GalleryStore>` beside its in-memory search index and
//! never sees SQL. Writes are whole operations (enrol, erase, decide and
//! record): each runs in one transaction of the backend, bumps the store's
//! revision in that same transaction, and logs every sample it adds or
//! removes in a change log that other processes replay into their index.
//!
//! Two operations decide inside their transaction. Enrolment's `--strict`
//! check is the caller's, an [`EnrolCheck`] over a [`StoreReader`] of that
//! transaction (searched against an index brought up to date under the
//! write lock, so two enrolments at once cannot both accept one face under
//! two names). The access decision is the store's own: each backend runs
//! [`decide_verdict`], the same rules for every backend, on the
//! [`DecisionRecord`] it is given, and writes the event.
//!
//! The trait and its records are in `api.rs`, what both backends share in
//! `common.rs`; each backend is a folder with the same files, one a concern
//! (`people`, `access`, `crops`, `keys`, `changes`, `appearances`,
//! `schema`). This file only gathers them.

use std::sync::Arc;

use facecmp::EmbedderIdentity;

use crate::error::Result;

mod api;
mod common;
mod location;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

pub use api::{
    AppearanceChange, CHANGE_LOG_KEPT, Change, Changes, DecisionRecord, EnrolCheck, Evidence, GalleryStore,
    IndexedAppearance, KeyRecord, RecordedDecision, SampleRecord, Snapshot, StoreReader, StoredSample,
};
pub use common::{decide_verdict, names_person};
pub use location::GalleryLocation;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A PostgreSQL store for a URL, its schema created.
#[cfg(feature = "postgres")]
pub(crate) fn create_postgres(url: &str, embedder: &EmbedderIdentity) -> Result<Arc<dyn GalleryStore>> {
    Ok(Arc::new(PostgresStore::create(url, embedder)?))
}

/// A PostgreSQL store for a URL.
#[cfg(feature = "postgres")]
pub(crate) fn open_postgres(url: &str) -> Result<Arc<dyn GalleryStore>> {
    Ok(Arc::new(PostgresStore::open(url)?))
}

#[cfg(not(feature = "postgres"))]
pub(crate) fn create_postgres(url: &str, _: &EmbedderIdentity) -> Result<Arc<dyn GalleryStore>> {
    open_postgres(url)
}

#[cfg(not(feature = "postgres"))]
pub(crate) fn open_postgres(url: &str) -> Result<Arc<dyn GalleryStore>> {
    Err(crate::error::GalleryError::Invalid(format!(
        "{}: this facecmp was built without PostgreSQL support (cargo feature `postgres`)",
        location::redact_password(url)
    )))
}
