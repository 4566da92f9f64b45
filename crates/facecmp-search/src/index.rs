//! The exact index: one contiguous matrix of samples (and its `i8` twin), scanned in full for every query.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use rayon::prelude::*;

use crate::kernel;
use crate::quantized::{self, ABSOLUTE_SLACK};
use crate::top_persons::{TopPersons, rank};
use crate::{PersonId, PersonMatch, SampleId, SearchError};

/// Rows scored into one stack buffer before their scores are looked at.
const SCORE_BLOCK_ROWS: usize = 256;
/// Rows per parallel task (4 MB at dimension 128). Smaller indexes are scanned on the calling thread:
/// waking the thread pool costs more than scanning them.
const TASK_ROWS: usize = 16 * 1024;
/// Above this `k`, keeping a sorted top-`k` list costs O(k) per admitted row, and with many persons
/// wanted nearly every row is admitted; a per-person array of best scores is then cheaper.
const LARGEST_LISTED_K: usize = 64;

/// Each person is given a dense slot number so that a filter can be evaluated once per person into a
/// plain array before the (parallel) scan, rather than once per row.
type Slot = u32;

/// Exact top-k search over enrolled samples.
///
/// Each row is held twice: as `f32` (the scores returned) and as `i8` codes with a per-row error bound
/// (read by the scan; see `quantized.rs`). Memory: `dimension × 5 + 48` bytes or so per sample.
/// Rows are kept contiguous: removing a sample moves the last row into its place, so row order is
/// arbitrary and results never depend on it (ties are broken by person id, then sample id).
#[derive(Clone)]
pub struct SearchIndex {
    dimension: usize,
    /// Row-major, `dimension` values per row.
    vectors: Vec<f32>,
    /// The same rows quantised, with one scale and one error bound per row.
    codes: Vec<i8>,
    row_scales: Vec<f32>,
    row_error_bounds: Vec<f32>,
    row_samples: Vec<SampleId>,
    row_slots: Vec<Slot>,
    sample_rows: HashMap<SampleId, usize>,
    slot_persons: Vec<PersonId>,
    /// Samples per slot; 0 marks a free slot.
    slot_sample_counts: Vec<u32>,
    free_slots: Vec<Slot>,
    person_slots: HashMap<PersonId, Slot>,
}

impl SearchIndex {
    pub fn new(dimension: usize) -> Self {
        Self::with_capacity(dimension, 0)
    }

    /// An empty index with room for `samples` samples, to avoid regrowing the matrix while loading.
    pub fn with_capacity(dimension: usize, samples: usize) -> Self {
        Self {
            dimension,
            vectors: Vec::with_capacity(samples * dimension),
            codes: Vec::with_capacity(samples * dimension),
            row_scales: Vec::with_capacity(samples),
            row_error_bounds: Vec::with_capacity(samples),
            row_samples: Vec::with_capacity(samples),
            row_slots: Vec::with_capacity(samples),
            sample_rows: HashMap::with_capacity(samples),
            slot_persons: Vec::new(),
            slot_sample_counts: Vec::new(),
            free_slots: Vec::new(),
            person_slots: HashMap::new(),
        }
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.row_samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.row_samples.is_empty()
    }

    /// Number of distinct persons with at least one sample.
    pub fn people(&self) -> usize {
        self.person_slots.len()
    }

    pub fn contains_sample(&self, sample: SampleId) -> bool {
        self.sample_rows.contains_key(&sample)
    }

    /// The person `sample` was enrolled under.
    pub fn person_of(&self, sample: SampleId) -> Option<PersonId> {
        let &row = self.sample_rows.get(&sample)?;
        Some(self.slot_persons[self.row_slots[row] as usize])
    }

    /// The vector stored for `sample`.
    pub fn vector_of(&self, sample: SampleId) -> Option<&[f32]> {
        self.sample_rows.get(&sample).map(|&row| self.row(row))
    }

    /// Every sample with its person and vector, in storage order (arbitrary after removals).
    pub fn samples(&self) -> impl ExactSizeIterator<Item = (SampleId, PersonId, &[f32])> + '_ {
        (0..self.len()).map(|row| {
            (self.row_samples[row], self.slot_persons[self.row_slots[row] as usize], self.row(row))
        })
    }

    /// Adds `sample` of `person`. `vector` should be unit length (similarities are plain dot products).
    pub fn insert(&mut self, sample: SampleId, person: PersonId, vector: &[f32]) -> Result<(), SearchError> {
        self.check_vector(vector)?;
        if self.sample_rows.contains_key(&sample) {
            return Err(SearchError::DuplicateSample(sample));
        }
        let slot = self.acquire_slot(person);
        self.sample_rows.insert(sample, self.len());
        self.vectors.extend_from_slice(vector);
        let (scale, error_bound) = quantized::quantize(vector, &mut self.codes);
        self.row_scales.push(scale);
        self.row_error_bounds.push(error_bound);
        self.row_samples.push(sample);
        self.row_slots.push(slot);
        Ok(())
    }

    /// Removes one sample; `false` if it was not in the index.
    pub fn remove_sample(&mut self, sample: SampleId) -> bool {
        let Some(row) = self.sample_rows.remove(&sample) else {
            return false;
        };
        let slot = self.row_slots[row];
        self.release_slot(slot);
        // Move the last row into the hole so the matrix stays contiguous.
        let last = self.len() - 1;
        let dimension = self.dimension;
        self.vectors.copy_within(last * dimension..(last + 1) * dimension, row * dimension);
        self.vectors.truncate(last * dimension);
        self.codes.copy_within(last * dimension..(last + 1) * dimension, row * dimension);
        self.codes.truncate(last * dimension);
        self.row_scales.swap_remove(row);
        self.row_error_bounds.swap_remove(row);
        self.row_samples.swap_remove(row);
        self.row_slots.swap_remove(row);
        if row != last {
            self.sample_rows.insert(self.row_samples[row], row);
        }
        true
    }

    /// Removes every sample of `person` and returns how many there were. Scans the owner column
    /// (≈ 1 ms at 1 M samples) rather than keeping a per-person list that every insert would maintain.
    pub fn remove_person(&mut self, person: PersonId) -> usize {
        let Some(&slot) = self.person_slots.get(&person) else {
            return 0;
        };
        let samples: Vec<SampleId> = self
            .row_slots
            .iter()
            .zip(&self.row_samples)
            .filter(|&(&row_slot, _)| row_slot == slot)
            .map(|(_, &sample)| sample)
            .collect();
        for &sample in &samples {
            self.remove_sample(sample);
        }
        samples.len()
    }

    /// Best `k` persons by their best sample's similarity to `query`, best first. Fewer if fewer persons
    /// are enrolled; ties go to the lower person id, then to the lower sample id.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<PersonMatch>, SearchError> {
        self.check_vector(query)?;
        Ok(self.scan_shortlist(query, k, None))
    }

    /// Same results as [`SearchIndex::search`], from a scan of the `f32` rows alone (4× the bytes of the
    /// `i8` copy). Kept as the reference the fast path is tested and benchmarked against.
    pub fn search_full_scan(&self, query: &[f32], k: usize) -> Result<Vec<PersonMatch>, SearchError> {
        self.check_vector(query)?;
        Ok(self.scan(query, k, None))
    }

    /// Same as [`SearchIndex::search`], restricted to persons for which `allowed` is true. `allowed` is
    /// called once per enrolled person, on the calling thread.
    pub fn search_among(
        &self,
        query: &[f32],
        k: usize,
        allowed: &dyn Fn(PersonId) -> bool,
    ) -> Result<Vec<PersonMatch>, SearchError> {
        self.check_vector(query)?;
        let allowed_slots: Vec<bool> = self
            .slot_persons
            .iter()
            .zip(&self.slot_sample_counts)
            .map(|(&person, &count)| count > 0 && allowed(person))
            .collect();
        Ok(self.scan_shortlist(query, k, Some(&allowed_slots)))
    }

    pub(crate) fn check_vector(&self, vector: &[f32]) -> Result<(), SearchError> {
        if vector.len() != self.dimension {
            return Err(SearchError::DimensionMismatch { expected: self.dimension, got: vector.len() });
        }
        // A finite squared length bounds every dot product with another such vector (Cauchy–Schwarz),
        // so no score can become infinite or NaN and break the ranking.
        let squared_length: f32 = vector.iter().map(|x| x * x).sum();
        if !squared_length.is_finite() {
            return Err(SearchError::NotFinite);
        }
        Ok(())
    }

    fn acquire_slot(&mut self, person: PersonId) -> Slot {
        let slot = match self.person_slots.get(&person) {
            Some(&slot) => slot,
            None => {
                let slot = self.free_slots.pop().unwrap_or_else(|| {
                    self.slot_persons.push(person);
                    self.slot_sample_counts.push(0);
                    (self.slot_persons.len() - 1) as Slot
                });
                self.slot_persons[slot as usize] = person;
                self.person_slots.insert(person, slot);
                slot
            }
        };
        self.slot_sample_counts[slot as usize] += 1;
        slot
    }

    fn release_slot(&mut self, slot: Slot) {
        let count = &mut self.slot_sample_counts[slot as usize];
        *count -= 1;
        if *count == 0 {
            self.person_slots.remove(&self.slot_persons[slot as usize]);
            self.free_slots.push(slot);
        }
    }

    /// Exact top `k` in two steps: scan the `i8` copy for each row's score bounds, keeping every row whose
    /// upper bound reaches the `k`-th best person's lower bound; then score only those from the `f32`
    /// rows. Any row of a true top-`k` person passes (the `k` persons with the best lower bounds all score
    /// at least the threshold), so the result equals [`SearchIndex::scan`]'s.
    fn scan_shortlist(&self, query: &[f32], k: usize, allowed_slots: Option<&[bool]>) -> Vec<PersonMatch> {
        let rows = self.len();
        if k == 0 || rows == 0 {
            return Vec::new();
        }
        if k > LARGEST_LISTED_K {
            return self.scan_per_person(query, k, allowed_slots);
        }
        let query_length = quantized::length_upper_bound(query);
        let shortlist = if rows <= TASK_ROWS {
            self.shortlist_rows(0..rows, query, query_length, k, allowed_slots)
        } else {
            (0..rows.div_ceil(TASK_ROWS))
                .into_par_iter()
                .map(|task| {
                    let range = task * TASK_ROWS..((task + 1) * TASK_ROWS).min(rows);
                    self.shortlist_rows(range, query, query_length, k, allowed_slots)
                })
                .reduce(|| Shortlist::new(k), Shortlist::merge)
        };
        let threshold = shortlist.lower_bounds.admission_threshold();
        let mut top = TopPersons::new(k);
        for &(row, upper_bound) in &shortlist.candidates {
            if upper_bound >= threshold {
                let similarity = kernel::dot(self.row(row), query);
                let person = self.slot_persons[self.row_slots[row] as usize];
                top.offer(PersonMatch { person, similarity, sample: self.row_samples[row] });
            }
        }
        top.into_sorted_vec()
    }

    fn shortlist_rows(
        &self,
        rows: Range<usize>,
        query: &[f32],
        query_length: f32,
        k: usize,
        allowed_slots: Option<&[bool]>,
    ) -> Shortlist {
        let mut shortlist = Shortlist::new(k);
        let mut scores = [0.0f32; SCORE_BLOCK_ROWS];
        let dimension = self.dimension;
        for block_start in rows.clone().step_by(SCORE_BLOCK_ROWS) {
            let block_end = (block_start + SCORE_BLOCK_ROWS).min(rows.end);
            let scores = &mut scores[..block_end - block_start];
            kernel::score_codes(
                &self.codes[block_start * dimension..block_end * dimension],
                &self.row_scales[block_start..block_end],
                query,
                scores,
            );
            let mut threshold = shortlist.lower_bounds.admission_threshold();
            for (row, &approximate) in (block_start..).zip(scores.iter()) {
                let margin = self.row_error_bounds[row] * query_length + ABSOLUTE_SLACK;
                let upper_bound = approximate + margin;
                if upper_bound < threshold {
                    continue;
                }
                let slot = self.row_slots[row] as usize;
                if allowed_slots.is_some_and(|allowed| !allowed[slot]) {
                    continue;
                }
                shortlist.candidates.push((row, upper_bound));
                let lower_bound = PersonMatch {
                    person: self.slot_persons[slot],
                    similarity: approximate - margin,
                    sample: 0,
                };
                shortlist.lower_bounds.offer(lower_bound);
                threshold = shortlist.lower_bounds.admission_threshold();
            }
        }
        shortlist
    }

    /// Exact top `k` for large `k`: score every f32 row, keep each person's best, sort the persons.
    /// O(rows + persons · log persons) whatever `k` is.
    fn scan_per_person(&self, query: &[f32], k: usize, allowed_slots: Option<&[bool]>) -> Vec<PersonMatch> {
        let dimension = self.dimension;
        let mut scores = vec![0.0f32; self.len()];
        scores.par_chunks_mut(TASK_ROWS).enumerate().for_each(|(task, scores)| {
            let first = task * TASK_ROWS;
            let rows = &self.vectors[first * dimension..(first + scores.len()) * dimension];
            kernel::score_rows(rows, query, scores);
        });
        let mut best: Vec<Option<PersonMatch>> = vec![None; self.slot_persons.len()];
        for (row, &similarity) in scores.iter().enumerate() {
            let slot = self.row_slots[row] as usize;
            if allowed_slots.is_some_and(|allowed| !allowed[slot]) {
                continue;
            }
            let candidate =
                PersonMatch { person: self.slot_persons[slot], similarity, sample: self.row_samples[row] };
            if best[slot].is_none_or(|current| rank(&candidate, &current) == Ordering::Less) {
                best[slot] = Some(candidate);
            }
        }
        let mut persons: Vec<PersonMatch> = best.into_iter().flatten().collect();
        persons.sort_unstable_by(rank);
        persons.truncate(k);
        persons
    }

    fn row(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dimension..(row + 1) * self.dimension]
    }

    fn scan(&self, query: &[f32], k: usize, allowed_slots: Option<&[bool]>) -> Vec<PersonMatch> {
        let rows = self.len();
        if k == 0 || rows == 0 {
            return Vec::new();
        }
        if k > LARGEST_LISTED_K {
            return self.scan_per_person(query, k, allowed_slots);
        }
        let top = if rows <= TASK_ROWS {
            self.scan_rows(0..rows, query, k, allowed_slots)
        } else {
            (0..rows.div_ceil(TASK_ROWS))
                .into_par_iter()
                .map(|task| {
                    let range = task * TASK_ROWS..((task + 1) * TASK_ROWS).min(rows);
                    self.scan_rows(range, query, k, allowed_slots)
                })
                .reduce(|| TopPersons::new(k), TopPersons::merge)
        };
        top.into_sorted_vec()
    }

    fn scan_rows(
        &self,
        rows: Range<usize>,
        query: &[f32],
        k: usize,
        allowed_slots: Option<&[bool]>,
    ) -> TopPersons {
        let mut top = TopPersons::new(k);
        let mut scores = [0.0f32; SCORE_BLOCK_ROWS];
        let dimension = self.dimension;
        for block_start in rows.clone().step_by(SCORE_BLOCK_ROWS) {
            let block_end = (block_start + SCORE_BLOCK_ROWS).min(rows.end);
            let scores = &mut scores[..block_end - block_start];
            kernel::score_rows(&self.vectors[block_start * dimension..block_end * dimension], query, scores);
            let mut threshold = top.admission_threshold();
            for (row, &similarity) in (block_start..).zip(scores.iter()) {
                if similarity < threshold {
                    continue;
                }
                let slot = self.row_slots[row] as usize;
                if allowed_slots.is_some_and(|allowed| !allowed[slot]) {
                    continue;
                }
                let person = self.slot_persons[slot];
                top.offer(PersonMatch { person, similarity, sample: self.row_samples[row] });
                threshold = top.admission_threshold();
            }
        }
        top
    }
}

/// Rows that may belong to the result, and the best persons by guaranteed (lower-bound) score.
struct Shortlist {
    /// Only the threshold matters: the `k`-th best lower bound among distinct persons.
    lower_bounds: TopPersons,
    /// Row and its score's upper bound.
    candidates: Vec<(usize, f32)>,
}

impl Shortlist {
    fn new(k: usize) -> Self {
        Self { lower_bounds: TopPersons::new(k), candidates: Vec::new() }
    }

    fn merge(mut self, other: Shortlist) -> Shortlist {
        self.lower_bounds = self.lower_bounds.merge(other.lower_bounds);
        self.candidates.extend(other.candidates);
        self
    }
}

impl fmt::Debug for SearchIndex {
    /// The matrix can hold hundreds of megabytes, so only its shape is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dimension", &self.dimension)
            .field("samples", &self.len())
            .field("people", &self.people())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::synthetic::{Gallery, Rng};

    /// The reference: score every sample, keep each person's best, sort everything, cut at `k`.
    /// Uses the same dot product as the index so that near-ties round identically.
    fn brute_force(
        samples: &[(SampleId, PersonId, Vec<f32>)],
        query: &[f32],
        k: usize,
        allowed: impl Fn(PersonId) -> bool,
    ) -> Vec<PersonMatch> {
        let mut best: BTreeMap<PersonId, PersonMatch> = BTreeMap::new();
        for (sample, person, vector) in samples.iter().filter(|(_, person, _)| allowed(*person)) {
            let candidate =
                PersonMatch { person: *person, similarity: kernel::dot(vector, query), sample: *sample };
            let entry = best.entry(*person).or_insert(candidate);
            if rank(&candidate, entry) == Ordering::Less {
                *entry = candidate;
            }
        }
        let mut persons: Vec<PersonMatch> = best.into_values().collect();
        persons.sort_by(rank);
        persons.truncate(k);
        persons
    }

    /// `persons` persons with 1–6 clustered samples each, under scattered sample ids.
    fn random_samples(persons: usize, dimension: usize, seed: u64) -> Vec<(SampleId, PersonId, Vec<f32>)> {
        let mut rng = Rng::new(seed);
        let mut samples = Vec::new();
        for person in 0..persons {
            let centre = rng.unit_vector(dimension);
            let person_id = (person as PersonId) * 7 - 100;
            for _ in 0..1 + rng.next_u64() % 6 {
                let sample_id = (rng.next_u64() >> 1) as SampleId;
                samples.push((sample_id, person_id, rng.near(&centre, 0.75)));
            }
        }
        samples
    }

    fn index_of(dimension: usize, samples: &[(SampleId, PersonId, Vec<f32>)]) -> SearchIndex {
        let mut index = SearchIndex::new(dimension);
        for (sample, person, vector) in samples {
            index.insert(*sample, *person, vector).unwrap();
        }
        index
    }

    fn check_against_brute_force(persons: usize, dimension: usize, seed: u64) {
        let samples = random_samples(persons, dimension, seed);
        let index = index_of(dimension, &samples);
        let mut rng = Rng::new(seed + 1);
        // Up to 64 through the shortlist, beyond it through the per-person array.
        for k in [1, 3, 5, 20, 64, 65, persons + 5] {
            let query = rng.unit_vector(dimension);
            let expected = brute_force(&samples, &query, k, |_| true);
            assert_eq!(index.search(&query, k).unwrap(), expected, "k {k}");
            assert_eq!(index.search_full_scan(&query, k).unwrap(), expected, "k {k}, full scan");
            let allowed = |person: PersonId| person.rem_euclid(3) == 1;
            assert_eq!(
                index.search_among(&query, k, &allowed).unwrap(),
                brute_force(&samples, &query, k, allowed),
                "k {k}, filtered"
            );
        }
    }

    #[test]
    fn small_index_matches_brute_force() {
        check_against_brute_force(60, 32, 1);
    }

    #[test]
    fn parallel_scan_matches_brute_force() {
        // Over TASK_ROWS samples, so the scan is split across tasks and the parts merged.
        check_against_brute_force(12_000, 8, 2);
    }

    #[test]
    fn a_person_scores_its_best_sample() {
        let mut index = SearchIndex::new(2);
        index.insert(10, 1, &[1.0, 0.0]).unwrap();
        index.insert(11, 1, &[0.6, 0.8]).unwrap();
        index.insert(20, 2, &[0.8, 0.6]).unwrap();
        index.insert(21, 2, &[0.0, 1.0]).unwrap();
        let hits = index.search(&[0.0, 1.0], 5).unwrap();
        assert_eq!(
            hits,
            vec![
                PersonMatch { person: 2, similarity: 1.0, sample: 21 },
                PersonMatch { person: 1, similarity: 0.8, sample: 11 },
            ]
        );
        assert_eq!(index.search(&[0.0, 1.0], 1).unwrap(), hits[..1]);
    }

    #[test]
    fn removed_samples_and_persons_are_never_returned() {
        let samples = random_samples(300, 16, 3);
        let mut index = index_of(16, &samples);
        let removed_persons: Vec<PersonId> = samples.iter().map(|s| s.1).filter(|p| p % 2 == 0).collect();
        for &person in &removed_persons {
            index.remove_person(person);
        }
        let removed_samples: Vec<SampleId> = samples.iter().step_by(5).map(|s| s.0).collect();
        for &sample in &removed_samples {
            index.remove_sample(sample);
        }
        let kept: Vec<_> = samples
            .into_iter()
            .filter(|(sample, person, _)| person % 2 != 0 && !removed_samples.contains(sample))
            .collect();
        assert_eq!(index.len(), kept.len());
        let kept_persons: std::collections::HashSet<PersonId> = kept.iter().map(|s| s.1).collect();
        assert_eq!(index.people(), kept_persons.len());

        let mut rng = Rng::new(4);
        for _ in 0..10 {
            let query = rng.unit_vector(16);
            let hits = index.search(&query, 1000).unwrap();
            assert_eq!(hits.len(), kept_persons.len());
            assert_eq!(hits, brute_force(&kept, &query, 1000, |_| true));
        }
    }

    #[test]
    fn removal_reports_what_it_removed() {
        let mut index = SearchIndex::new(2);
        index.insert(1, 7, &[1.0, 0.0]).unwrap();
        index.insert(2, 7, &[0.0, 1.0]).unwrap();
        index.insert(3, 8, &[0.0, 0.5]).unwrap();
        assert!(index.remove_sample(1));
        // Sample 3 moved into sample 1's row; lookups must follow it.
        assert_eq!((index.person_of(3), index.vector_of(3)), (Some(8), Some(&[0.0, 0.5][..])));
        assert_eq!(index.samples().map(|(sample, ..)| sample).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(index.person_of(1), None);
        assert!(!index.remove_sample(1));
        assert_eq!(index.remove_person(7), 1);
        assert_eq!(index.remove_person(7), 0);
        assert_eq!((index.len(), index.people()), (1, 1));
        assert!(!index.contains_sample(2) && index.contains_sample(3));
    }

    #[test]
    fn ids_can_be_enrolled_again_after_removal() {
        let mut index = SearchIndex::new(2);
        index.insert(1, 7, &[1.0, 0.0]).unwrap();
        index.remove_person(7);
        assert!(index.search(&[1.0, 0.0], 5).unwrap().is_empty());
        index.insert(1, 9, &[0.0, 1.0]).unwrap();
        index.insert(2, 7, &[1.0, 0.0]).unwrap();
        let hits = index.search(&[1.0, 0.0], 5).unwrap();
        assert_eq!(hits.iter().map(|h| (h.person, h.sample)).collect::<Vec<_>>(), vec![(7, 2), (9, 1)]);
        assert_eq!(index.people(), 2);
    }

    #[test]
    fn bad_vectors_are_errors() {
        let mut index = SearchIndex::new(3);
        assert!(matches!(
            index.insert(1, 1, &[1.0, 0.0]),
            Err(SearchError::DimensionMismatch { expected: 3, got: 2 })
        ));
        assert!(matches!(index.insert(1, 1, &[f32::NAN, 0.0, 0.0]), Err(SearchError::NotFinite)));
        assert!(matches!(index.insert(1, 1, &[f32::INFINITY, 0.0, 0.0]), Err(SearchError::NotFinite)));
        assert!(matches!(index.insert(1, 1, &[1e20, 0.0, 0.0]), Err(SearchError::NotFinite)));
        assert!(index.is_empty(), "a rejected vector must leave no trace");
        index.insert(1, 1, &[1.0, 0.0, 0.0]).unwrap();
        assert!(matches!(index.insert(1, 2, &[1.0, 0.0, 0.0]), Err(SearchError::DuplicateSample(1))));
        assert_eq!((index.len(), index.people()), (1, 1));
        assert!(matches!(index.search(&[1.0; 4], 1), Err(SearchError::DimensionMismatch { .. })));
        assert!(matches!(index.search(&[0.0, f32::NAN, 0.0], 1), Err(SearchError::NotFinite)));
        assert!(matches!(index.search_among(&[f32::NAN; 3], 1, &|_| true), Err(SearchError::NotFinite)));
    }

    #[test]
    fn empty_index_and_zero_k_give_nothing() {
        let mut index = SearchIndex::new(4);
        assert!(index.search(&[0.5; 4], 5).unwrap().is_empty());
        index.insert(1, 1, &[0.5; 4]).unwrap();
        assert!(index.search(&[0.5; 4], 0).unwrap().is_empty());
        assert!(index.search_among(&[0.5; 4], 5, &|_| false).unwrap().is_empty());
        let mut nothing = SearchIndex::new(0);
        nothing.insert(1, 1, &[]).unwrap();
        assert_eq!(nothing.search(&[], 1).unwrap().len(), 1);
    }

    #[test]
    fn results_do_not_depend_on_insertion_order_or_ties() {
        let gallery = Gallery::generate(50, 3, 16, 5);
        let mut samples: Vec<_> = gallery.samples().map(|(s, p, v)| (s, p, v.to_vec())).collect();
        let forward = index_of(16, &samples);
        samples.reverse();
        let backward = index_of(16, &samples);
        let query = gallery.probe(7, &mut Rng::new(6));
        assert_eq!(forward.search(&query, 10).unwrap(), backward.search(&query, 10).unwrap());

        // Identical vectors under several persons: ranked by person id, then sample id.
        let mut ties = SearchIndex::new(2);
        for (sample, person) in [(9, 3), (4, 1), (5, 2), (3, 1), (8, 2)] {
            ties.insert(sample, person, &[0.6, 0.8]).unwrap();
        }
        let hits = ties.search(&[0.6, 0.8], 2).unwrap();
        assert_eq!(hits.iter().map(|h| (h.person, h.sample)).collect::<Vec<_>>(), vec![(1, 3), (2, 5)]);
    }

    #[test]
    fn near_ties_below_the_int8_resolution_are_ranked_by_the_f32_scores() {
        // Persons whose vectors differ by far less than one int8 step share their codes, so only the
        // f32 re-scoring can order them; the shortlist must keep all of them.
        let mut rng = Rng::new(8);
        let base = rng.unit_vector(64);
        let mut samples = Vec::new();
        for person in 0..40 {
            let vector: Vec<f32> = base.iter().map(|&x| x + 1e-6 * rng.normal()).collect();
            samples.push((person * 3 + 1, person, vector));
        }
        let index = index_of(64, &samples);
        for k in [1, 5, 39] {
            let query: Vec<f32> = base.iter().map(|&x| x + 1e-3 * rng.normal()).collect();
            assert_eq!(index.search(&query, k).unwrap(), brute_force(&samples, &query, k, |_| true), "k {k}");
        }
    }
}
