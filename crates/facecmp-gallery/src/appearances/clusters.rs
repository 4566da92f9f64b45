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

use std::collections::HashMap;

use facecmp::Embedding;

use crate::error::Result;
use crate::gallery::Gallery;
use crate::model::{Appearance, AppearanceFilter, AppearanceQuery};

/// Neighbours looked at for each new appearance.
const NEIGHBOURS: usize = 20;

/// What one clustering pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusteringRun {
    /// Unknown appearances that were in no cluster.
    pub considered: usize,
    /// Of those, how many joined an existing cluster.
    pub joined: usize,
    /// Clusters created.
    pub created: usize,
}

impl Gallery {
    /// Puts every appearance that matches nobody enrolled, and is in no
    /// cluster yet, into the cluster most of its neighbours at or above
    /// `threshold` are in, or into a new one. `threshold` should be stricter
    /// than the one used for matching (the FAR 1e-4 threshold): a false
    /// match here joins two strangers for good.
    pub fn cluster_unknown_appearances(&self, threshold: f32) -> Result<ClusteringRun> {
        let mut run = ClusteringRun::default();
        for appearance in self.unclustered_unknown()? {
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

    /// Appearances matched to nobody and in no cluster, oldest first.
    fn unclustered_unknown(&self) -> Result<Vec<Appearance>> {
        let mut found = Vec::new();
        let mut after = None;
        loop {
            let query = AppearanceQuery { filter: AppearanceFilter::default(), after, limit: 1000 };
            let page = self.appearances(&query)?;
            let Some(last) = page.last() else { return Ok(found) };
            after = Some(last.id);
            found.extend(page.into_iter().filter(|a| a.person.is_none() && a.cluster.is_none()));
        }
    }
}
