//! Each source's appearances in the order they start, on each clock (media
//! time, and the wall clock of cameras): the appearances a time filter may
//! admit are then one range of it, found by two binary searches, instead of
//! a test of every appearance of the source. "Where was this person
//! yesterday between 9 and 11" asks this of every camera at once.

/// One clock's starts, sorted, and the longest appearance seen on it.
#[derive(Debug, Default)]
pub(super) struct Starts {
    /// (start, appearance), sorted. A removed appearance stays until the
    /// next compaction, so that a removal (a purge deletes thousands) costs
    /// nothing here; whoever reads a range checks that its appearances live.
    entries: Vec<(i64, i64)>,
    /// Never lowered: an appearance overlapping a range starts at most this
    /// long before it.
    longest: i64,
    removed: usize,
}

impl Starts {
    pub(super) fn add(&mut self, (start, end): (i64, i64), appearance: i64) {
        self.longest = self.longest.max(end.saturating_sub(start));
        let entry = (start, appearance);
        // Footage is indexed in the order it happened: nearly always an append.
        if self.entries.last().is_none_or(|last| *last <= entry) {
            self.entries.push(entry);
        } else {
            let at = self.entries.partition_point(|e| *e < entry);
            self.entries.insert(at, entry);
        }
    }

    /// Counts a removal, and compacts once half the entries are removed ones.
    pub(super) fn remove(&mut self, is_live: impl Fn(i64) -> bool) {
        self.removed += 1;
        if self.removed * 2 > self.entries.len() {
            self.entries.retain(|&(_, appearance)| is_live(appearance));
            self.removed = 0;
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every appearance that may overlap `[from, until)`: those starting
    /// before `until`, and no earlier than `from` less the longest
    /// appearance. A superset: each must still be tested.
    pub(super) fn overlapping(&self, from: Option<i64>, until: Option<i64>) -> &[(i64, i64)] {
        let earliest = from.map(|from| from.saturating_sub(self.longest));
        let first =
            earliest.map_or(0, |earliest| self.entries.partition_point(|&(start, _)| start < earliest));
        let end = until
            .map_or(self.entries.len(), |until| self.entries.partition_point(|&(start, _)| start < until));
        &self.entries[first..end.max(first)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_holds_every_appearance_that_may_overlap_it_in_start_order() {
        let mut starts = Starts::default();
        for (id, start) in [(1, 0), (2, 10), (4, 30), (3, 20), (5, 40)] {
            starts.add((start, start + 5), id);
        }
        let ids = |slice: &[(i64, i64)]| slice.iter().map(|&(_, id)| id).collect::<Vec<_>>();
        assert_eq!(
            ids(starts.overlapping(Some(12), Some(31))),
            [2, 3, 4],
            "10–15 overlaps 12 and 30–35 starts before 31"
        );
        assert_eq!(ids(starts.overlapping(None, Some(10))), [1]);
        assert_eq!(ids(starts.overlapping(Some(41), None)), [5]);
        assert_eq!(ids(starts.overlapping(Some(50), Some(40))), Vec::<i64>::new());
        assert_eq!(starts.len(), 5);
    }

    #[test]
    fn removed_appearances_are_compacted_away_once_they_are_half() {
        let mut starts = Starts::default();
        for id in 0..4 {
            starts.add((id * 10, id * 10 + 1), id);
        }
        let live = |id: i64| id >= 2;
        starts.remove(live);
        starts.remove(live);
        assert_eq!(starts.len(), 4, "two of four: not yet more than half");
        starts.remove(|id| id >= 3);
        assert_eq!(starts.len(), 1);
    }
}
