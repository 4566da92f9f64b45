//! The in-memory appearance index: every stored appearance vector in exact
//! [`SearchIndex`]es (the `i8` scan with `f32` re-scoring of
//! `facecmp-search`), one per source, grouped by appearance as samples are
//! grouped by person, so a search ranks appearances by their best vector.
//!
//! It follows the store the way the sample index does (`sync.rs`): it
//! records the revision it reflects, and before every search compares it
//! with the store's (one indexed read) and, if behind, replays what changed
//! since — so a process sees every other process's writes at its next
//! search, and there is no private copy that could go stale.
//!
//! Appearances have a log of their own (`appearance_changes`), not entries
//! in the samples' change log, though both move the one revision: the two
//! indexes replay different things, a sample index must not read through
//! every appearance written by a hundred cameras to find one enrolment,
//! and the samples' log keeps its released meaning (sample and person ops)
//! unchanged for older readers. Sharing the revision keeps one counter, one
//! notification and one cheap check for "anything changed"; both logs are
//! pruned below the same floor, and an index further behind than that
//! reloads everything, like the sample index.
//!
//! One index per source: a search within a source scans only its vectors,
//! a source whose times cannot meet a time filter is skipped whole (and one
//! that lies wholly inside it is scanned without a per-appearance test; in
//! one that it cuts, the few appearances of the range are scored one by one,
//! found in start order by `time_order.rs`),
//! and no single matrix of many gigabytes is ever regrown (each growth
//! copies one source's). Every source's top `k` together hold the top `k`
//! of all, so the merged answer is exact.
//!
//! Only what never changes after a write is kept beside the vectors (the
//! source and the times, for filters); whom an appearance was matched to
//! and its cluster change, so filters on them are read from the store at
//! each search, and every result is read back from the store, which drops
//! an appearance deleted or expired since and re-checks every filter.
//!
//! It is loaded on first use, not when the gallery opens: a process that
//! only decides access never holds the footage's vectors.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use facecmp_search::{PersonMatch, SearchIndex};

use super::MAX_VECTORS;
use super::bounds::{Bounds, Coverage};
use super::time_order::Starts;
use crate::error::{GalleryError, Result};
use crate::model::{AppearanceFilter, FoundAppearance};
use crate::store::{AppearanceChange, GalleryStore, IndexedAppearance};

/// Below this many results plus excluded appearances, a search leaves the
/// excluded ones out by asking for that many more and dropping them (the
/// index's fast path); above it, by testing every appearance.
const LARGEST_OVERFETCH: usize = 64;

/// A source whose time filter leaves at most one in this many of its
/// appearances has those scored one by one (≈ 0.7 µs each: a lookup, a
/// dot product); above it, the scan that tests every appearance (≈ 0.15 µs
/// each) is cheaper. Measured with `examples/find.rs` (BENCHMARKS.md).
const CANDIDATE_SHARE: usize = 4;

/// The appearance index of one gallery handle.
pub(crate) struct AppearanceIndex {
    dimension: usize,
    state: RwLock<Option<Loaded>>,
    /// One catch-up at a time: a second search waits for it rather than
    /// reading the same changes (or, the first time, every vector) again.
    catching_up: Mutex<()>,
}

/// The vectors and the store revision they reflect.
struct Loaded {
    /// Per source; in each, sample id = vector id, person id = appearance id.
    sources: HashMap<i64, Part>,
    spans: HashMap<i64, Span>,
    revision: i64,
}

/// One source's vectors, the range of its appearances' times, and their
/// starts in order on each clock.
struct Part {
    index: SearchIndex,
    bounds: Bounds,
    media_starts: Starts,
    wall_starts: Starts,
}

impl Part {
    fn new(dimension: usize) -> Part {
        Part {
            index: SearchIndex::new(dimension),
            bounds: Bounds::EMPTY,
            media_starts: Starts::default(),
            wall_starts: Starts::default(),
        }
    }

    /// The appearances a time filter may admit, when they are few enough
    /// to score one by one: the narrower of its two clocks' ranges.
    fn time_candidates(&self, filter: &AppearanceFilter) -> Option<&[(i64, i64)]> {
        let media = time_range(&self.media_starts, filter.media_from_ms, filter.media_until_ms);
        let wall = time_range(&self.wall_starts, filter.wall_from_ms, filter.wall_until_ms);
        let narrowest = [media, wall].into_iter().flatten().min_by_key(|range| range.len())?;
        (narrowest.len() * CANDIDATE_SHARE <= self.media_starts.len()).then_some(narrowest)
    }
}

/// What a filter may ask of an appearance without the store, and its vector ids.
#[derive(Debug, Clone, Copy)]
struct Span {
    source: i64,
    media: (i64, i64),
    wall: Option<(i64, i64)>,
    vectors: [i64; MAX_VECTORS],
    count: u8,
}

impl AppearanceIndex {
    pub(crate) fn new(dimension: usize) -> AppearanceIndex {
        AppearanceIndex { dimension, state: RwLock::new(None), catching_up: Mutex::new(()) }
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Loaded>> {
        // Changed one appearance at a time or replaced whole: a panic cannot leave it torn.
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Loaded>> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The vectors of `appearance`, brought up to the store's revision first.
    pub(crate) fn vectors_of(&self, store: &dyn GalleryStore, appearance: i64) -> Result<Vec<Vec<f32>>> {
        self.refresh(store)?;
        let state = self.read();
        let Some(loaded) = state.as_ref() else { return Ok(Vec::new()) };
        let Some(span) = loaded.spans.get(&appearance) else { return Ok(Vec::new()) };
        let Some(part) = loaded.sources.get(&span.source) else { return Ok(Vec::new()) };
        Ok(span.vectors[..span.count as usize]
            .iter()
            .filter_map(|&vector| part.index.vector_of(vector).map(<[f32]>::to_vec))
            .collect())
    }

    /// Appearances held, as of the last search (touches no database).
    pub(crate) fn len(&self) -> usize {
        self.read().as_ref().map_or(0, |loaded| loaded.spans.len())
    }

    /// Brings the index up to the store's revision, loading it the first time.
    ///
    /// The store is never called while the index's lock is held, so searches
    /// go on over the previous state while a catch-up reads.
    pub(crate) fn refresh(&self, store: &dyn GalleryStore) -> Result<()> {
        let target = store.revision()?;
        let _turn = self.catching_up.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for _ in 0..8 {
            let have = self.read().as_ref().map(|loaded| loaded.revision);
            if have.is_some_and(|have| have >= target) {
                return Ok(());
            }
            let mut fresh: Option<Loaded> = None;
            let mut log = Vec::new();
            let location = store.location();
            let revision = store.appearance_vectors(have, &mut |change| {
                match (change, &mut fresh) {
                    (AppearanceChange::Everything { appearances, .. }, fresh) => {
                        *fresh = Some(Loaded::with_capacity(appearances));
                    }
                    (change, Some(loaded)) => loaded.apply(change, location, self.dimension)?,
                    (change, None) => log.push(change),
                }
                Ok(())
            })?;
            let mut state = self.write();
            match (fresh, state.as_mut()) {
                (Some(mut fresh), _) => {
                    fresh.revision = revision;
                    *state = Some(fresh);
                }
                (None, Some(loaded)) => {
                    for change in log {
                        loaded.apply(change, location, self.dimension)?;
                    }
                    loaded.revision = revision;
                }
                (None, None) => {
                    return Err(GalleryError::Damaged {
                        path: location.to_string(),
                        detail: "the appearance feed did not start over for a first load".into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The `top` appearances most like any of `queries` (best cosine over
    /// their vectors, best first; ties to the lower id) among those
    /// `filter` admits, read back from the store as they are at `now`.
    ///
    /// Exact: each query's top `top` in each source holds every appearance
    /// of the combined top `top` that is best for that query there.
    pub(crate) fn find(
        &self,
        store: &dyn GalleryStore,
        queries: &[&[f32]],
        filter: &AppearanceFilter,
        top: usize,
        threshold: f32,
        now: i64,
    ) -> Result<Vec<FoundAppearance>> {
        if top == 0 || queries.is_empty() {
            return Ok(Vec::new());
        }
        self.refresh(store)?;
        let only: Option<HashSet<i64>> = match filter.is_span_only() {
            true => None,
            false => Some(store.appearance_ids(filter.person, filter.cluster)?),
        };
        let excluded =
            if filter.include_not_a_face { HashSet::new() } else { store.not_a_face_appearances()? };
        let mut best: HashMap<i64, f32> = HashMap::new();
        {
            let state = self.read();
            let Some(loaded) = state.as_ref() else { return Ok(Vec::new()) };
            let parts = loaded
                .sources
                .iter()
                .filter(|&(&source, _)| filter.source.is_none_or(|only| only == source))
                .map(|(_, part)| (part, part.bounds.coverage(filter)))
                .filter(|&(_, coverage)| coverage != Coverage::None);
            for (part, coverage) in parts {
                let admitted = |appearance: i64| {
                    !excluded.contains(&appearance)
                        && only.as_ref().is_none_or(|only| only.contains(&appearance))
                        && (coverage == Coverage::All
                            || loaded
                                .spans
                                .get(&appearance)
                                .is_some_and(|span| filter.admits_span(span.source, span.media, span.wall)))
                };
                if coverage == Coverage::Some
                    && let Some(candidates) = part.time_candidates(filter)
                {
                    let admitted_span = |appearance: i64, span: &Span| {
                        !excluded.contains(&appearance)
                            && only.as_ref().is_none_or(|only| only.contains(&appearance))
                            && filter.admits_span(span.source, span.media, span.wall)
                    };
                    score_each(loaded, part, candidates, queries, &admitted_span, &mut best);
                    continue;
                }
                for query in queries {
                    let found: Vec<PersonMatch> = if coverage == Coverage::Some || only.is_some() {
                        part.index.search_among(query, top, &admitted)?
                    } else if top + excluded.len() <= LARGEST_OVERFETCH {
                        part.index.search(query, top + excluded.len())?
                    } else {
                        part.index.search_among(query, top, &admitted)?
                    };
                    for found in found.into_iter().filter(|found| !excluded.contains(&found.person)) {
                        let similarity = best.entry(found.person).or_insert(found.similarity);
                        *similarity = similarity.max(found.similarity);
                    }
                }
            }
        }
        let mut ranked: Vec<(i64, f32)> = best.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(top);
        let ids: Vec<i64> = ranked.iter().map(|&(id, _)| id).collect();
        let mut rows: HashMap<i64, _> =
            store.appearances_by_id(&ids, now)?.into_iter().map(|row| (row.id, row)).collect();
        // Deleted or expired since the index caught up, or moved out of the filter: no answer.
        Ok(ranked
            .into_iter()
            .filter_map(|(id, similarity)| {
                let appearance = rows.remove(&id).filter(|row| filter.admits(row))?;
                Some(FoundAppearance { appearance, similarity, matched: similarity >= threshold })
            })
            .collect())
    }
}

/// A clock's candidates for `[from, until)`; `None` when the filter puts no
/// bound on that clock.
fn time_range(starts: &Starts, from: Option<i64>, until: Option<i64>) -> Option<&[(i64, i64)]> {
    (from.is_some() || until.is_some()).then(|| starts.overlapping(from, until))
}

/// The best cosine of each admitted candidate to any query, over its vectors,
/// into `best`: exact, like the scan, for the few a time range leaves.
fn score_each(
    loaded: &Loaded,
    part: &Part,
    candidates: &[(i64, i64)],
    queries: &[&[f32]],
    admitted: &dyn Fn(i64, &Span) -> bool,
    best: &mut HashMap<i64, f32>,
) {
    for &(_, appearance) in candidates {
        let Some(span) = loaded.spans.get(&appearance).filter(|span| admitted(appearance, span)) else {
            continue;
        };
        for vector in span.vectors[..span.count as usize].iter().filter_map(|&v| part.index.vector_of(v)) {
            for query in queries {
                let similarity = query.iter().zip(vector).map(|(a, b)| a * b).sum::<f32>();
                let kept = best.entry(appearance).or_insert(similarity);
                *kept = kept.max(similarity);
            }
        }
    }
}

impl Loaded {
    fn with_capacity(appearances: usize) -> Loaded {
        Loaded { sources: HashMap::new(), spans: HashMap::with_capacity(appearances), revision: 0 }
    }

    fn apply(&mut self, change: AppearanceChange, location: &str, dimension: usize) -> Result<()> {
        match change {
            AppearanceChange::Added { appearance, indexed: Some(indexed) } => {
                // Ids are never reused, but the newest row wins if one were.
                self.remove(appearance);
                self.insert(indexed, location, dimension)
            }
            // Deleted again since; its removal follows.
            AppearanceChange::Added { indexed: None, .. } => Ok(()),
            AppearanceChange::Removed { appearance } => {
                self.remove(appearance);
                Ok(())
            }
            // Only ever first in a feed, where it starts a fresh index.
            AppearanceChange::Everything { .. } => Ok(()),
        }
    }

    fn insert(&mut self, indexed: IndexedAppearance, location: &str, dimension: usize) -> Result<()> {
        let damaged = |detail: String| GalleryError::Damaged { path: location.to_string(), detail };
        if indexed.vectors.len() > MAX_VECTORS {
            let count = indexed.vectors.len();
            return Err(damaged(format!("appearance {} has {count} vectors", indexed.appearance)));
        }
        if indexed.vectors.is_empty() {
            return Ok(());
        }
        let mut span = Span {
            source: indexed.source,
            media: indexed.media,
            wall: indexed.wall,
            vectors: [0; MAX_VECTORS],
            count: 0,
        };
        let part = self.sources.entry(indexed.source).or_insert_with(|| Part::new(dimension));
        for (id, vector) in &indexed.vectors {
            let inserted =
                vector.len() == dimension && part.index.insert(*id, indexed.appearance, vector).is_ok();
            if !inserted {
                // None of its vectors stays without the others.
                for &done in &span.vectors[..span.count as usize] {
                    part.index.remove_sample(done);
                }
                return Err(damaged(format!(
                    "vector {id} of appearance {} ({} values)",
                    indexed.appearance,
                    vector.len()
                )));
            }
            span.vectors[span.count as usize] = *id;
            span.count += 1;
        }
        part.bounds.widen(span.media, span.wall);
        part.media_starts.add(span.media, indexed.appearance);
        if let Some(wall) = span.wall {
            part.wall_starts.add(wall, indexed.appearance);
        }
        self.spans.insert(indexed.appearance, span);
        Ok(())
    }

    /// O(its vectors): the index removes one vector at a time in constant
    /// time. A source left with none goes, bounds and all.
    fn remove(&mut self, appearance: i64) {
        let Some(span) = self.spans.remove(&appearance) else { return };
        let Some(part) = self.sources.get_mut(&span.source) else { return };
        for &vector in &span.vectors[..span.count as usize] {
            part.index.remove_sample(vector);
        }
        if part.index.is_empty() {
            self.sources.remove(&span.source);
            return;
        }
        let spans = &self.spans;
        part.media_starts.remove(|a| spans.contains_key(&a));
        if span.wall.is_some() {
            part.wall_starts.remove(|a| spans.contains_key(&a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A camera's day: 400 appearances of one second, one every 10 s, a
    /// unit vector each, one of them removed.
    fn camera_day() -> Loaded {
        let mut rng = facecmp_search::synthetic::Rng::new(7);
        let mut loaded = Loaded::with_capacity(400);
        for a in 0..400 {
            let (start, end) = (a * 10_000, a * 10_000 + 1_000);
            let indexed = IndexedAppearance {
                appearance: a,
                source: 1,
                media: (start, end),
                wall: Some((start, end)),
                vectors: vec![(a * 10, rng.unit_vector(16))],
            };
            loaded.insert(indexed, "test", 16).unwrap();
        }
        loaded.remove(105);
        loaded
    }

    #[test]
    fn a_time_range_scored_one_by_one_ranks_as_testing_every_appearance_does() {
        let loaded = camera_day();
        let part = &loaded.sources[&1];
        let query = facecmp_search::synthetic::Rng::new(8).unit_vector(16);
        let filter = AppearanceFilter {
            wall_from_ms: Some(1_000_500),
            wall_until_ms: Some(1_200_000),
            ..AppearanceFilter::default()
        };
        let candidates = part.time_candidates(&filter).expect("20 of 400: scored one by one");
        let admitted = |a: i64| {
            loaded.spans.get(&a).is_some_and(|span| filter.admits_span(span.source, span.media, span.wall))
        };
        let admitted_span = |_: i64, span: &Span| filter.admits_span(span.source, span.media, span.wall);
        let mut scored = HashMap::new();
        score_each(&loaded, part, candidates, &[&query], &admitted_span, &mut scored);
        let mut by_scan: Vec<(i64, f32)> = part
            .index
            .search_among(&query, 400, &admitted)
            .unwrap()
            .into_iter()
            .map(|found| (found.person, found.similarity))
            .collect();
        by_scan.sort_by_key(|&(a, _)| a);
        let mut one_by_one: Vec<(i64, f32)> = scored.into_iter().collect();
        one_by_one.sort_by_key(|&(a, _)| a);
        // 100 (ends at 1 001 000, inside) to 119, without the removed 105.
        assert_eq!(one_by_one.len(), 19, "{one_by_one:?}");
        assert_eq!(
            one_by_one.iter().map(|&(a, _)| a).collect::<Vec<_>>(),
            by_scan.iter().map(|&(a, _)| a).collect::<Vec<_>>()
        );
        for ((_, a), (_, b)) in one_by_one.iter().zip(&by_scan) {
            assert!((a - b).abs() < 1e-5, "{a} against {b}");
        }
        // A range that keeps most of the day is scanned instead.
        let wide = AppearanceFilter {
            wall_from_ms: Some(0),
            wall_until_ms: Some(3_000_000),
            ..AppearanceFilter::default()
        };
        assert!(part.time_candidates(&wide).is_none());
        assert!(part.time_candidates(&AppearanceFilter::default()).is_none(), "no time bound");
    }
}
