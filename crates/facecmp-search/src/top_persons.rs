//! The best `k` persons seen so far, each with its best sample.
//!
//! A person's score is its best sample's similarity, so a plain top-k over samples is not enough: one
//! person with five close samples would fill a top-5 on its own. This keeps at most one entry per person
//! and stays exact under any split of the rows (see [`TopPersons::merge`]), which is what lets the scan
//! run on several threads.

use std::cmp::Ordering;

use crate::PersonMatch;

/// Total order on matches, best first: higher similarity, then lower person id, then lower sample id.
/// Ordering by ids rather than by row keeps results independent of insertion and removal order.
pub(crate) fn rank(a: &PersonMatch, b: &PersonMatch) -> Ordering {
    b.similarity.total_cmp(&a.similarity).then(a.person.cmp(&b.person)).then(a.sample.cmp(&b.sample))
}

#[derive(Debug, Clone)]
pub(crate) struct TopPersons {
    k: usize,
    /// Sorted best first by [`rank`]; at most `k` entries, never two for the same person.
    entries: Vec<PersonMatch>,
}

impl TopPersons {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, entries: Vec::with_capacity(k.min(1024) + 1) }
    }

    /// Scores below this can never enter, so the scan skips them without looking up their owner.
    /// Equal scores may still enter on the id tie-break.
    #[inline]
    pub(crate) fn admission_threshold(&self) -> f32 {
        match self.entries.last() {
            Some(worst) if self.entries.len() == self.k => worst.similarity,
            _ if self.k == 0 => f32::INFINITY,
            _ => f32::NEG_INFINITY,
        }
    }

    /// Takes `candidate` into account. Correct for any order of offers: a person dropped earlier
    /// had a score at or below the current threshold, so if it comes back its new score is its best.
    pub(crate) fn offer(&mut self, candidate: PersonMatch) {
        if self.k == 0 {
            return;
        }
        if let Some(existing) = self.entries.iter().position(|entry| entry.person == candidate.person) {
            if rank(&candidate, &self.entries[existing]) != Ordering::Less {
                return;
            }
            self.entries.remove(existing);
        } else if self.entries.len() == self.k {
            let worst = &self.entries[self.k - 1];
            if rank(&candidate, worst) != Ordering::Less {
                return;
            }
            self.entries.pop();
        }
        let at = self.entries.partition_point(|entry| rank(entry, &candidate) == Ordering::Less);
        self.entries.insert(at, candidate);
    }

    /// Combines the results of two disjoint sets of rows. Exact: a person in the overall top `k` whose
    /// best sample lies in one part is in that part's top `k`, since anyone ranked above it there is
    /// ranked above it overall.
    pub(crate) fn merge(mut self, other: TopPersons) -> TopPersons {
        for entry in other.entries {
            self.offer(entry);
        }
        self
    }

    pub(crate) fn into_sorted_vec(self) -> Vec<PersonMatch> {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(person: i64, similarity: f32, sample: i64) -> PersonMatch {
        PersonMatch { person, similarity, sample }
    }

    #[test]
    fn keeps_one_entry_per_person_with_its_best_sample() {
        let mut top = TopPersons::new(3);
        for (person, similarity, sample) in [(1, 0.5, 10), (1, 0.9, 11), (2, 0.7, 20), (1, 0.8, 12)] {
            top.offer(hit(person, similarity, sample));
        }
        assert_eq!(top.into_sorted_vec(), vec![hit(1, 0.9, 11), hit(2, 0.7, 20)]);
    }

    #[test]
    fn evicts_the_worst_person_when_full() {
        let mut top = TopPersons::new(2);
        for (person, similarity) in [(1, 0.1), (2, 0.2), (3, 0.3), (1, 0.25)] {
            top.offer(hit(person, similarity, person * 10));
        }
        assert_eq!(top.into_sorted_vec(), vec![hit(3, 0.3, 30), hit(1, 0.25, 10)]);
    }

    #[test]
    fn ties_go_to_the_lower_person_then_the_lower_sample() {
        let mut top = TopPersons::new(2);
        for (person, sample) in [(5, 52), (3, 31), (5, 51), (4, 40)] {
            top.offer(hit(person, 0.5, sample));
        }
        assert_eq!(top.into_sorted_vec(), vec![hit(3, 0.5, 31), hit(4, 0.5, 40)]);
    }

    #[test]
    fn merge_of_parts_equals_one_pass() {
        let offers: Vec<PersonMatch> =
            (0..200).map(|i| hit(i % 17, ((i * 37) % 101) as f32 / 101.0, i)).collect();
        let mut whole = TopPersons::new(4);
        offers.iter().for_each(|&o| whole.offer(o));
        for split in [0, 1, 50, 199, 200] {
            let (mut left, mut right) = (TopPersons::new(4), TopPersons::new(4));
            offers[..split].iter().for_each(|&o| left.offer(o));
            offers[split..].iter().for_each(|&o| right.offer(o));
            assert_eq!(right.merge(left).into_sorted_vec(), whole.clone().into_sorted_vec(), "split {split}");
        }
    }

    #[test]
    fn k_zero_admits_nothing() {
        let mut top = TopPersons::new(0);
        top.offer(hit(1, 1.0, 1));
        assert!(top.into_sorted_vec().is_empty());
    }
}
