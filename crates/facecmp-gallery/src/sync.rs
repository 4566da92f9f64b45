//! The in-memory search index and how it follows the store.
//!
//! Every change bumps the store's revision; before each search, access
//! decision or strict enrolment the gallery compares its revision with the
//! store's and replays the store's change log (or reloads everything when
//! the log no longer reaches back far enough). Kept apart from
//! [`Gallery`](crate::Gallery) so that the locking order and the replay
//! can be read in one place, without the operations built on them.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::Duration;

use facecmp::EmbedderIdentity;
use facecmp_search::SearchIndex;

use crate::error::{GalleryError, Result};
use crate::store::{Change, Changes, GalleryStore, Snapshot, StoreReader, StoredSample};

/// What the gallery and its watcher thread share.
pub struct Shared {
    pub(crate) store: Arc<dyn GalleryStore>,
    index: RwLock<Synced>,
    pub(crate) embedder: EmbedderIdentity,
}

/// The search index and the store revision it reflects.
pub(crate) struct Synced {
    pub(crate) index: SearchIndex,
    pub(crate) revision: i64,
}

impl Shared {
    /// Loads every sample of `store` into a new index and, when the store
    /// can notify changes (PostgreSQL), starts the watcher thread that
    /// replays them as they happen; it ends with the last `Arc`.
    pub(crate) fn start(store: Arc<dyn GalleryStore>, embedder: &EmbedderIdentity) -> Result<Arc<Shared>> {
        let mut snapshot = Snapshot::default();
        store.read(&mut |reader| {
            snapshot = reader.snapshot()?;
            Ok(())
        })?;
        let index = build_index(store.location(), snapshot.samples, embedder.dimension)?;
        let shared = Arc::new(Shared {
            index: RwLock::new(Synced { index, revision: snapshot.revision }),
            store,
            embedder: embedder.clone(),
        });
        if shared.store.wait_for_change(Duration::ZERO)?.is_some() {
            let watched = Arc::downgrade(&shared);
            let store = shared.store.clone();
            std::thread::Builder::new()
                .name("gallery-watcher".into())
                .spawn(move || watch(watched, store))
                .map_err(|error| GalleryError::Invalid(format!("cannot start the change watcher: {error}")))?;
        }
        Ok(shared)
    }

    pub(crate) fn read_index(&self) -> RwLockReadGuard<'_, Synced> {
        // The index is only ever replaced whole or changed one sample at a
        // time; a panic elsewhere cannot leave it torn.
        self.index.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_index(&self) -> RwLockWriteGuard<'_, Synced> {
        self.index.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// See [`Gallery::refresh`](crate::Gallery::refresh).
    ///
    /// The store is never called while the index lock is held (enrolment
    /// takes the store's write lock first, then the index's), so the two
    /// locks are always taken in one order.
    pub(crate) fn refresh(&self) -> Result<()> {
        let target = self.store.revision()?;
        for _ in 0..8 {
            let have = self.read_index().revision;
            if have >= target {
                return Ok(());
            }
            let mut fetched = None;
            self.store.read(&mut |reader| {
                fetched = Some(fetch(reader, have)?);
                Ok(())
            })?;
            let mut synced = self.write_index();
            if synced.revision == have
                && let Some(fetched) = fetched
            {
                apply(&mut synced, fetched, self.store.location(), self.embedder.dimension)?;
            }
        }
        Ok(())
    }

    /// The index brought up to date from `reader`, a transaction the caller
    /// holds (enrolment's write transaction), and kept locked for the
    /// caller's check.
    pub(crate) fn synced_in(&self, reader: &mut dyn StoreReader) -> Result<RwLockWriteGuard<'_, Synced>> {
        let mut synced = self.write_index();
        let have = synced.revision;
        let fetched = fetch(reader, have)?;
        apply(&mut synced, fetched, self.store.location(), self.embedder.dimension)?;
        Ok(synced)
    }
}

/// The watcher thread: replays changes as the store notifies them, until
/// the gallery is dropped. Failures only delay it (each request checks the
/// revision itself), so they are retried a second later.
fn watch(shared: Weak<Shared>, store: Arc<dyn GalleryStore>) {
    loop {
        let changed = store.wait_for_change(Duration::from_secs(1));
        let Some(shared) = shared.upgrade() else { return };
        match changed {
            Ok(Some(true)) => {
                let _ = shared.refresh();
            }
            Ok(Some(false)) => {}
            Ok(None) => return,
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// What a process behind the store needs to catch up.
enum Fetched {
    Changes { revision: i64, changes: Vec<Change> },
    Everything(Snapshot),
}

fn fetch(reader: &mut dyn StoreReader, since: i64) -> Result<Fetched> {
    Ok(match reader.changes_since(since)? {
        Changes::Log { revision, changes } => Fetched::Changes { revision, changes },
        Changes::Truncated => Fetched::Everything(reader.snapshot()?),
    })
}

fn apply(synced: &mut Synced, fetched: Fetched, location: &str, dimension: usize) -> Result<()> {
    match fetched {
        Fetched::Everything(snapshot) => {
            synced.index = build_index(location, snapshot.samples, dimension)?;
            synced.revision = snapshot.revision;
        }
        Fetched::Changes { revision, changes } => {
            for change in changes {
                match change {
                    Change::Added { sample, person, vector: Some(vector) } => {
                        // Row ids can be reused after a delete: the newest row wins.
                        synced.index.remove_sample(sample);
                        insert(&mut synced.index, location, sample, person, &vector, dimension)?;
                    }
                    // Removed again since; its removal follows in the log.
                    Change::Added { vector: None, .. } => {}
                    Change::RemovedSample { sample } => {
                        synced.index.remove_sample(sample);
                    }
                    Change::RemovedPerson { person } => {
                        synced.index.remove_person(person);
                    }
                }
            }
            synced.revision = revision;
        }
    }
    Ok(())
}

fn build_index(location: &str, samples: Vec<StoredSample>, dimension: usize) -> Result<SearchIndex> {
    let mut index = SearchIndex::with_capacity(dimension, samples.len());
    for stored in samples {
        insert(&mut index, location, stored.sample, stored.person, &stored.vector, dimension)?;
    }
    Ok(index)
}

fn insert(
    index: &mut SearchIndex,
    location: &str,
    sample: i64,
    person: i64,
    vector: &[f32],
    dimension: usize,
) -> Result<()> {
    let damaged =
        || GalleryError::DamagedSample { path: location.to_string(), sample, bytes: vector.len() * 4 };
    if vector.len() != dimension {
        return Err(damaged());
    }
    index.insert(sample, person, vector).map_err(|_| damaged())
}
