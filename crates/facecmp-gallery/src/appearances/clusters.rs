//! Who else was here: the appearances that match nobody enrolled, grouped
//! into candidate people as the index grows.
//!
//! Incremental nearest-cluster assignment: each new unknown appearance
//! joins the cluster that most of its close neighbours (above a strict
//! threshold) are in, or starts a cluster of its own. It never merges two
//! existing clusters by itself — one face scoring high against two people
//! would chain them into one, the failure of single-linkage clustering; an
//! operator merges in the console. Compared with re-running Chinese
//! whispers (dlib) or HDBSCAN (Immich) over everything, it costs one search
//! per new appearance and leaves clusters an operator named or merged alone.

use std::collections::{BTreeSet, HashMap};

use facecmp::{Embedding, Pipeline};
use serde::Serialize;

use crate::enrol::{EnrolPolicy, THUMBNAIL_QUALITY};
use crate::error::Result;
use crate::gallery::Gallery;
use crate::model::{Appearance, AppearanceFilter, AppearanceQuery, Cluster, Enrolled};
use crate::{IdentifyError, Rejection, prepare_sample};

/// Neighbours looked at for each new appearance.
const NEIGHBOURS: usize = 20;

/// How many of a cluster's faces naming it enrols: the best ones, as a
/// person is enrolled from a few good photos.
pub const FACES_ENROLLED_PER_CLUSTER: usize = 3;

/// A cluster as an operator reviews it: who, how often, when, where.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSummary {
    #[serde(flatten)]
    pub cluster: Cluster,
    /// The earliest and the latest of its appearances (by when they were
    /// seen: wall time for cameras, else when they were indexed, then their
    /// time in the source).
    pub first_seen: Option<Appearance>,
    pub last_seen: Option<Appearance>,
    pub sources: Vec<String>,
    /// Its best faces, best first: what naming it enrols.
    pub best: Vec<i64>,
}

/// What one clustering pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusteringRun {
    /// Unknown appearances that were in no cluster.
    pub considered: usize,
    /// Of those, how many joined an existing cluster.
    pub joined: usize,
    /// Clusters created.
    pub created: usize,
    /// Unknown appearances still in no cluster: those a bounded run
    /// ([`Gallery::cluster_some_unknown_appearances`]) did not reach.
    pub left: usize,
}

impl Gallery {
    /// Puts every appearance that matches nobody enrolled, and is in no
    /// cluster yet, into the cluster most of its neighbours at or above
    /// `threshold` are in, or into a new one. `threshold` should be stricter
    /// than the one used for matching (the FAR 1e-4 threshold): a false
    /// match here joins two strangers for good.
    pub fn cluster_unknown_appearances(&self, threshold: f32) -> Result<ClusteringRun> {
        self.cluster_some_unknown_appearances(threshold, usize::MAX)
    }

    /// [`Gallery::cluster_unknown_appearances`] for the oldest `at_most` of
    /// them: one search each, so a service whose workers also decide access
    /// groups a backlog in bounded steps.
    pub fn cluster_some_unknown_appearances(&self, threshold: f32, at_most: usize) -> Result<ClusteringRun> {
        let unclustered = self.unclustered_unknown()?;
        let mut run =
            ClusteringRun { left: unclustered.len().saturating_sub(at_most), ..ClusteringRun::default() };
        for appearance in unclustered.into_iter().take(at_most) {
            run.considered += 1;
            let vectors: Vec<Embedding> =
                self.appearance_vectors(appearance.id)?.into_iter().filter_map(Embedding::from_raw).collect();
            if vectors.is_empty() {
                continue;
            }
            let found =
                self.find_appearances(&vectors, &AppearanceFilter::default(), NEIGHBOURS, threshold)?;
            let mut votes: HashMap<i64, (usize, f32)> = HashMap::new();
            for neighbour in found.iter().filter(|f| f.matched && f.appearance.id != appearance.id) {
                if let (Some(cluster), None) = (neighbour.appearance.cluster, neighbour.appearance.person) {
                    let vote = votes.entry(cluster).or_insert((0, f32::MIN));
                    *vote = (vote.0 + 1, vote.1.max(neighbour.similarity));
                }
            }
            let chosen = votes
                .into_iter()
                .max_by(|a, b| a.1.0.cmp(&b.1.0).then(a.1.1.total_cmp(&b.1.1)).then(b.0.cmp(&a.0)));
            let cluster = match chosen {
                Some((cluster, _)) => {
                    run.joined += 1;
                    cluster
                }
                None => {
                    run.created += 1;
                    self.create_cluster(None)?
                }
            };
            self.set_cluster(&[appearance.id], Some(cluster))?;
        }
        Ok(run)
    }

    /// Every cluster with what an operator needs to judge it, largest first
    /// (clusters marked "not a face" included: they say so).
    pub fn cluster_summaries(&self) -> Result<Vec<ClusterSummary>> {
        let mut members: HashMap<i64, Vec<Appearance>> = HashMap::new();
        let filter = AppearanceFilter { include_not_a_face: true, ..AppearanceFilter::default() };
        for appearance in self.all_appearances(filter)? {
            if let Some(cluster) = appearance.cluster {
                members.entry(cluster).or_default().push(appearance);
            }
        }
        let mut summaries: Vec<ClusterSummary> = self
            .clusters()?
            .into_iter()
            .map(|cluster| summarise(cluster.clone(), members.remove(&cluster.id).unwrap_or_default()))
            .collect();
        summaries.sort_by(|a, b| {
            b.cluster.appearances.cmp(&a.cluster.appearances).then(a.cluster.id.cmp(&b.cluster.id))
        });
        Ok(summaries)
    }

    /// Enrols a cluster's best faces (their thumbnails) as `person`'s
    /// samples, each through the ordinary review (a thumbnail the review
    /// refuses is reported, not enrolled), and names the cluster after them
    /// when one was accepted.
    pub fn enrol_cluster(
        &self,
        pipeline: &Pipeline,
        cluster: i64,
        person: &str,
    ) -> std::result::Result<Vec<std::result::Result<Enrolled, Rejection>>, IdentifyError> {
        // Only this cluster's appearances are read, not the whole index.
        let record = self
            .clusters()?
            .into_iter()
            .find(|c| c.id == cluster)
            .ok_or(crate::GalleryError::NoSuchCluster(cluster))?;
        let filter = AppearanceFilter {
            cluster: Some(cluster),
            include_not_a_face: true,
            ..AppearanceFilter::default()
        };
        let summary = summarise(record, self.all_appearances(filter)?);
        let policy = EnrolPolicy { quality: THUMBNAIL_QUALITY, strict: None };
        let mut outcomes = Vec::new();
        for appearance in summary.best {
            let Some(jpeg) = self.appearance_thumbnail(appearance)? else { continue };
            let input = format!("appearance {appearance}");
            let outcome = match prepare_sample(pipeline, &input, &jpeg, &policy)? {
                Ok(sample) => self.enrol(person, None, &sample, None)?,
                Err(rejection) => Err(rejection),
            };
            outcomes.push(outcome);
        }
        // A cluster is named after a person only once that person exists.
        if outcomes.iter().any(Result::is_ok) {
            self.name_cluster(cluster, Some(person))?;
        }
        Ok(outcomes)
    }

    fn all_appearances(&self, filter: AppearanceFilter) -> Result<Vec<Appearance>> {
        let mut found = Vec::new();
        let mut after = None;
        loop {
            let query = AppearanceQuery { filter: filter.clone(), after, limit: 1000 };
            let page = self.appearances(&query)?;
            let Some(last) = page.last() else { return Ok(found) };
            after = Some(last.id);
            found.extend(page);
        }
    }

    /// Appearances matched to nobody and in no cluster, oldest first.
    fn unclustered_unknown(&self) -> Result<Vec<Appearance>> {
        let all = self.all_appearances(AppearanceFilter::default())?;
        Ok(all.into_iter().filter(|a| a.person.is_none() && a.cluster.is_none()).collect())
    }
}

fn summarise(cluster: Cluster, mut members: Vec<Appearance>) -> ClusterSummary {
    // Files have no wall clock: their appearances are ordered by when the
    // file was indexed, then by where they are in it.
    members.sort_by_key(|a| (a.wall_start_ms.unwrap_or(a.created * 1000), a.source, a.media_start_ms));
    let sources: BTreeSet<String> = members.iter().map(|a| a.source_name.clone()).collect();
    let mut best: Vec<&Appearance> = members.iter().filter(|a| a.has_thumbnail).collect();
    // The detector's confidence on a larger face: the face most like a reference photo.
    best.sort_by(|a, b| face_quality(b).total_cmp(&face_quality(a)));
    ClusterSummary {
        first_seen: members.first().cloned(),
        last_seen: members.last().cloned(),
        sources: sources.into_iter().collect(),
        best: best.iter().take(FACES_ENROLLED_PER_CLUSTER).map(|a| a.id).collect(),
        cluster,
    }
}

fn face_quality(appearance: &Appearance) -> f32 {
    appearance.detector_score * appearance.face.w.min(appearance.face.h)
}
