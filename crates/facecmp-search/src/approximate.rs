//! An approximate index (HNSW graph from `usearch`) for galleries where even the exact scan is too slow.
//!
//! The graph only proposes candidate samples; every candidate is re-scored from the exact index's `f32`
//! rows and aggregated per person exactly as [`SearchIndex::search`] does. So similarities are exact and
//! a returned person's score is right; what can be wrong is a person the graph failed to propose
//! (recall, measured in BENCHMARKS.md). The graph stores vectors as `f16`, half the bytes of the exact
//! rows it sits beside, since final scores never come from it.

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::top_persons::TopPersons;
use crate::{PersonId, PersonMatch, SampleId, SearchError, SearchIndex, kernel};

/// Graph parameters; the defaults are usearch's usual ones with a wider search beam.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApproximateOptions {
    /// Edges per node (HNSW's `M`).
    pub connectivity: usize,
    /// Beam width while inserting (`efConstruction`): higher builds slower and finds better edges.
    pub expansion_add: usize,
    /// Beam width while searching (`ef`): higher is slower and recalls more.
    pub expansion_search: usize,
    /// Samples fetched per person asked for: several samples of one person can fill the nearest list.
    pub candidates_per_result: usize,
}

impl Default for ApproximateOptions {
    fn default() -> Self {
        Self { connectivity: 16, expansion_add: 128, expansion_search: 64, candidates_per_result: 8 }
    }
}

/// The exact index plus an HNSW graph over the same samples. Updates go to both.
pub struct ApproximateIndex {
    exact: SearchIndex,
    graph: Index,
    options: ApproximateOptions,
}

impl ApproximateIndex {
    pub fn new(dimension: usize, options: ApproximateOptions) -> Result<Self, SearchError> {
        Self::from_exact(SearchIndex::new(dimension), options)
    }

    /// Builds the graph over every sample of `exact`, on all cores.
    pub fn from_exact(exact: SearchIndex, options: ApproximateOptions) -> Result<Self, SearchError> {
        let graph = Index::new(&IndexOptions {
            dimensions: exact.dimension(),
            metric: MetricKind::IP,
            quantization: ScalarKind::F16,
            connectivity: options.connectivity,
            expansion_add: options.expansion_add,
            expansion_search: options.expansion_search,
            multi: false,
        })
        .map_err(graph_error)?;
        let threads = rayon::current_num_threads();
        graph.reserve_capacity_and_threads(exact.len().max(1), threads).map_err(graph_error)?;
        let samples: Vec<(SampleId, &[f32])> =
            exact.samples().map(|(sample, _, vector)| (sample, vector)).collect();
        use rayon::prelude::*;
        samples
            .par_iter()
            .try_for_each(|&(sample, vector)| graph.add(graph_key(sample)?, vector).map_err(graph_error))?;
        Ok(Self { exact, graph, options })
    }

    /// Changes the search beam width (`ef`) without rebuilding.
    pub fn set_expansion_search(&mut self, expansion_search: usize) {
        self.graph.change_expansion_search(expansion_search);
        self.options.expansion_search = expansion_search;
    }

    /// The exact index underneath, for exact searches and counts.
    pub fn exact(&self) -> &SearchIndex {
        &self.exact
    }

    pub fn dimension(&self) -> usize {
        self.exact.dimension()
    }

    pub fn len(&self) -> usize {
        self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    pub fn people(&self) -> usize {
        self.exact.people()
    }

    pub fn insert(&mut self, sample: SampleId, person: PersonId, vector: &[f32]) -> Result<(), SearchError> {
        let key = graph_key(sample)?;
        self.exact.insert(sample, person, vector)?;
        let added = self.grow_graph_if_full().and_then(|()| self.graph.add(key, vector).map_err(graph_error));
        if added.is_err() {
            self.exact.remove_sample(sample);
        }
        added
    }

    pub fn remove_sample(&mut self, sample: SampleId) -> bool {
        if !self.exact.remove_sample(sample) {
            return false;
        }
        // The key is known to be in the graph; usearch only fails here on allocation.
        let _ = self.graph.remove(sample as u64);
        true
    }

    pub fn remove_person(&mut self, person: PersonId) -> usize {
        let samples: Vec<SampleId> = self
            .exact
            .samples()
            .filter(|&(_, owner, _)| owner == person)
            .map(|(sample, ..)| sample)
            .collect();
        samples.iter().filter(|&&sample| self.remove_sample(sample)).count()
    }

    /// Approximate best `k` persons: the graph's nearest samples, re-scored exactly, best sample per
    /// person. Same order and tie-breaks as [`SearchIndex::search`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<PersonMatch>, SearchError> {
        self.search_candidates(query, k, |count| self.graph.search(query, count))
    }

    /// Same, restricted to persons for which `allowed` is true; the graph walk skips the others.
    pub fn search_among(
        &self,
        query: &[f32],
        k: usize,
        allowed: &dyn Fn(PersonId) -> bool,
    ) -> Result<Vec<PersonMatch>, SearchError> {
        let passes = |key: u64| self.exact.person_of(key as SampleId).is_some_and(allowed);
        self.search_candidates(query, k, |count| self.graph.filtered_search(query, count, passes))
    }

    /// Asks the graph for `k × candidates_per_result` samples, more if they cover fewer than `k` persons.
    fn search_candidates(
        &self,
        query: &[f32],
        k: usize,
        nearest: impl Fn(usize) -> Result<usearch::ffi::Matches, cxx::Exception>,
    ) -> Result<Vec<PersonMatch>, SearchError> {
        self.exact.check_vector(query)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let mut count = (k * self.options.candidates_per_result).min(self.len());
        loop {
            let matches = nearest(count).map_err(graph_error)?;
            let mut top = TopPersons::new(k);
            for key in matches.keys {
                let sample = key as SampleId;
                if let (Some(person), Some(vector)) =
                    (self.exact.person_of(sample), self.exact.vector_of(sample))
                {
                    top.offer(PersonMatch { person, similarity: kernel::dot(vector, query), sample });
                }
            }
            let found = top.into_sorted_vec();
            if found.len() == k || count >= self.len() {
                return Ok(found);
            }
            count = (count * 4).min(self.len());
        }
    }

    /// usearch needs capacity reserved before `add`; grow geometrically like a `Vec`.
    fn grow_graph_if_full(&self) -> Result<(), SearchError> {
        if self.graph.size() < self.graph.capacity() {
            return Ok(());
        }
        let threads = rayon::current_num_threads();
        self.graph
            .reserve_capacity_and_threads((self.graph.capacity() * 2).max(64), threads)
            .map_err(graph_error)
    }
}

impl std::fmt::Debug for ApproximateIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApproximateIndex")
            .field("exact", &self.exact)
            .field("options", &self.options)
            .finish()
    }
}

/// usearch keys are `u64` and reserve `u64::MAX` for free slots, i.e. sample id −1.
fn graph_key(sample: SampleId) -> Result<u64, SearchError> {
    match sample as u64 {
        u64::MAX => Err(SearchError::Approximate("sample id -1 is reserved by the approximate index".into())),
        key => Ok(key),
    }
}

fn graph_error(error: cxx::Exception) -> SearchError {
    SearchError::Approximate(error.what().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{Gallery, Rng};

    fn built(persons: usize) -> (Gallery, ApproximateIndex) {
        let gallery = Gallery::generate(persons, 3, 32, 21);
        let mut exact = SearchIndex::new(32);
        for (sample, person, vector) in gallery.samples() {
            exact.insert(sample, person, vector).unwrap();
        }
        (gallery, ApproximateIndex::from_exact(exact, ApproximateOptions::default()).unwrap())
    }

    #[test]
    fn finds_the_enrolled_person_with_exact_scores() {
        let (gallery, index) = built(300);
        let mut rng = Rng::new(22);
        for person in [0, 17, 299] {
            let query = gallery.probe(person, &mut rng);
            let approximate = index.search(&query, 3).unwrap();
            let exact = index.exact().search(&query, 3).unwrap();
            assert_eq!(approximate[0], exact[0]);
            assert_eq!(approximate.len(), 3);
        }
    }

    #[test]
    fn updates_reach_the_graph() {
        let (gallery, mut index) = built(100);
        let query = gallery.probe(5, &mut Rng::new(23));
        assert_eq!(index.remove_person(5), 3);
        assert!(index.search(&query, 100).unwrap().iter().all(|hit| hit.person != 5));
        index.insert(10_000, 5, &query).unwrap();
        let best = index.search(&query, 1).unwrap()[0];
        assert_eq!((best.person, best.sample), (5, 10_000));
        let among = index.search_among(&query, 2, &|person| person != 5).unwrap();
        assert!(among.iter().all(|hit| hit.person != 5) && among.len() == 2);
    }

    #[test]
    fn bad_input_is_an_error() {
        let (_, mut index) = built(10);
        assert!(matches!(index.search(&[0.0; 3], 1), Err(SearchError::DimensionMismatch { .. })));
        assert!(matches!(index.insert(-1, 1, &[0.0; 32]), Err(SearchError::Approximate(_))));
        assert!(matches!(index.insert(0, 1, &[0.0; 32]), Err(SearchError::DuplicateSample(0))));
        assert_eq!(index.len(), 30);
    }
}
