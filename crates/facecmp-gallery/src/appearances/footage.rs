//! The [`Gallery`]'s operations on footage: sources, appearances and
//! clusters, each checked here and written in one transaction of the
//! store. The search, [`Gallery::find_appearances`], is in `gallery.rs`.

use super::{check_batch, check_source};
use crate::clock::now;
use crate::error::Result;
use crate::gallery::Gallery;
use crate::model::{Appearance, AppearanceBatch, AppearanceQuery, Cluster, NewSource, Source};
use crate::names::validate_name;

impl Gallery {
    /// Finds the source footage comes from (a file by the SHA-256 of its
    /// content, whatever its name now; a camera or a set of photos by its
    /// name), or creates it. The answer says how far it is already indexed,
    /// so that indexing it again resumes there, or skips it when
    /// [`complete`](Source::complete).
    ///
    /// The source's retention becomes `source.retention_s`: its appearances
    /// are re-dated, and those already past a shorter one are deleted.
    pub fn upsert_source(&self, source: &NewSource) -> Result<Source> {
        check_source(source)?;
        self.store.upsert_source(source, now())
    }

    pub fn sources(&self) -> Result<Vec<Source>> {
        self.store.sources()
    }

    /// Writes a batch of appearances of one source and its progress in one
    /// transaction: after a crash the store holds every batch that
    /// returned, and the source's progress says exactly up to where. Every
    /// appearance is checked before anything is written. Returns their ids.
    pub fn write_appearances(&self, batch: &AppearanceBatch) -> Result<Vec<i64>> {
        check_batch(batch, &self.embedder.sha256, self.embedder.dimension)?;
        self.store.write_appearances(batch, now())
    }

    /// A page of appearances, in the order they were written (see
    /// [`AppearanceQuery`]); never one past its retention.
    pub fn appearances(&self, query: &AppearanceQuery) -> Result<Vec<Appearance>> {
        self.store.appearances(query, now())
    }

    /// One appearance by id (one of a cluster marked "not a face"
    /// included); `None` when there is none, or it expired.
    pub fn appearance(&self, id: i64) -> Result<Option<Appearance>> {
        Ok(self.store.appearances_by_id(&[id], now())?.pop())
    }

    /// The JPEG of an appearance's best face, unless it keeps none or is gone.
    pub fn appearance_thumbnail(&self, appearance: i64) -> Result<Option<Vec<u8>>> {
        self.store.appearance_thumbnail(appearance, now())
    }

    /// Deletes every appearance past its source's retention, with its
    /// vectors and thumbnail; returns how many. A service calls it now and
    /// then (reads never show an expired appearance meanwhile).
    pub fn purge_expired_appearances(&self) -> Result<usize> {
        self.store.purge_appearances(now())
    }

    /// Deletes a source with all its appearances; returns how many went.
    pub fn remove_source(&self, source: i64) -> Result<usize> {
        self.store.remove_source(source)
    }

    /// Deletes appearances, with their vectors and thumbnails: those of a
    /// person found by face but never matched to them, when they ask to be
    /// erased. Returns how many existed.
    pub fn remove_appearances(&self, appearances: &[i64]) -> Result<usize> {
        self.store.remove_appearances(appearances)
    }

    // ---- clusters

    pub fn create_cluster(&self, name: Option<&str>) -> Result<i64> {
        if let Some(name) = name {
            validate_name("cluster", name)?;
        }
        self.store.create_cluster(name, now())
    }

    pub fn clusters(&self) -> Result<Vec<Cluster>> {
        self.store.clusters()
    }

    /// Puts appearances in `cluster`, or in none; returns how many exist.
    pub fn set_cluster(&self, appearances: &[i64], cluster: Option<i64>) -> Result<usize> {
        self.store.set_cluster(appearances, cluster)
    }

    /// Moves every appearance of the clusters `from` into `into` and
    /// deletes them; `into` keeps its name and flag. Returns how many moved.
    pub fn merge_clusters(&self, into: i64, from: &[i64]) -> Result<usize> {
        self.store.merge_clusters(into, from)
    }

    pub fn name_cluster(&self, cluster: i64, name: Option<&str>) -> Result<()> {
        if let Some(name) = name {
            validate_name("cluster", name)?;
        }
        self.store.name_cluster(cluster, name)
    }

    /// Marks a cluster as not a face (a false detection): its appearances
    /// are left out of searches and listings unless asked for.
    pub fn mark_not_a_face(&self, cluster: i64, not_a_face: bool) -> Result<()> {
        self.store.mark_not_a_face(cluster, not_a_face)
    }
}
