//! A source's time bounds: the extremes of its appearances' times, from
//! which a search tells, without reading any appearance, whether a time
//! filter leaves the source out, takes it whole, or cuts it.

use crate::model::AppearanceFilter;

/// The extremes of a source's appearances' times, widened by every
/// appearance added and never narrowed: a removal leaves them wider than
/// the truth, which only makes a search test more appearances one by one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// Least and greatest start, least and greatest end.
    media: [i64; 4],
    wall: [i64; 4],
    any_wall: bool,
    all_wall: bool,
}

/// How much of a source a filter admits, judged by its [`Bounds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coverage {
    None,
    Some,
    All,
}

impl Bounds {
    pub(super) const EMPTY: Bounds = Bounds {
        media: [i64::MAX, i64::MIN, i64::MAX, i64::MIN],
        wall: [i64::MAX, i64::MIN, i64::MAX, i64::MIN],
        any_wall: false,
        all_wall: true,
    };

    /// Takes in an appearance's times: `media`, and `wall` where its source
    /// has a wall clock.
    pub(super) fn widen(&mut self, media: (i64, i64), wall: Option<(i64, i64)>) {
        let widen = |range: &mut [i64; 4], (start, end): (i64, i64)| {
            *range = [range[0].min(start), range[1].max(start), range[2].min(end), range[3].max(end)];
        };
        widen(&mut self.media, media);
        match wall {
            Some(wall) => {
                widen(&mut self.wall, wall);
                self.any_wall = true;
            }
            None => self.all_wall = false,
        }
    }

    pub(super) fn coverage(&self, filter: &AppearanceFilter) -> Coverage {
        // Every span overlaps [from, until) when from ≤ the least end and the
        // greatest start < until; none does when from > the greatest end or
        // until ≤ the least start.
        let judge = |[least_start, greatest_start, least_end, greatest_end]: [i64; 4],
                     from: Option<i64>,
                     until: Option<i64>| {
            if from.is_some_and(|from| from > greatest_end) || until.is_some_and(|until| until <= least_start)
            {
                Coverage::None
            } else if from.is_none_or(|from| from <= least_end)
                && until.is_none_or(|until| greatest_start < until)
            {
                Coverage::All
            } else {
                Coverage::Some
            }
        };
        let media = judge(self.media, filter.media_from_ms, filter.media_until_ms);
        let wall = match (filter.wall_from_ms, filter.wall_until_ms) {
            (None, None) => Coverage::All,
            _ if !self.any_wall => Coverage::None,
            (from, until) => match judge(self.wall, from, until) {
                Coverage::All if !self.all_wall => Coverage::Some,
                wall => wall,
            },
        };
        match (media, wall) {
            (Coverage::None, _) | (_, Coverage::None) => Coverage::None,
            (Coverage::All, Coverage::All) => Coverage::All,
            _ => Coverage::Some,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An appearance's times, as a filter sees them.
    struct Span {
        media: (i64, i64),
        wall: Option<(i64, i64)>,
    }

    fn span(media: (i64, i64), wall: Option<(i64, i64)>) -> Span {
        Span { media, wall }
    }

    impl Bounds {
        fn widen_by(&mut self, span: &Span) {
            self.widen(span.media, span.wall);
        }
    }

    #[test]
    fn bounds_say_when_a_source_is_wholly_in_or_out_of_a_filter() {
        let mut bounds = Bounds::EMPTY;
        bounds.widen_by(&span((1_000, 2_000), Some((10, 20))));
        bounds.widen_by(&span((5_000, 9_000), Some((50, 90))));
        let media = |from, until| AppearanceFilter {
            media_from_ms: from,
            media_until_ms: until,
            ..Default::default()
        };
        let wall =
            |from, until| AppearanceFilter { wall_from_ms: from, wall_until_ms: until, ..Default::default() };
        assert_eq!(bounds.coverage(&AppearanceFilter::default()), Coverage::All);
        assert_eq!(bounds.coverage(&media(Some(9_001), None)), Coverage::None);
        assert_eq!(bounds.coverage(&media(None, Some(1_000))), Coverage::None);
        assert_eq!(bounds.coverage(&media(Some(2_000), Some(5_001))), Coverage::All);
        assert_eq!(bounds.coverage(&media(Some(2_001), None)), Coverage::Some);
        assert_eq!(bounds.coverage(&wall(Some(0), Some(100))), Coverage::All);
        assert_eq!(bounds.coverage(&wall(Some(30), Some(40))), Coverage::Some);
        assert_eq!(bounds.coverage(&wall(Some(91), None)), Coverage::None);
        // An appearance without a wall clock is never wholly inside a wall-clock range.
        bounds.widen_by(&span((3_000, 3_500), None));
        assert_eq!(bounds.coverage(&wall(Some(0), Some(100))), Coverage::Some);
        let mut no_clock = Bounds::EMPTY;
        no_clock.widen_by(&span((0, 1), None));
        assert_eq!(no_clock.coverage(&wall(None, Some(100))), Coverage::None);
        // Every judgement agrees with the spans themselves.
        let spans = [
            span((1_000, 2_000), Some((10, 20))),
            span((5_000, 9_000), Some((50, 90))),
            span((3_000, 3_500), None),
        ];
        for filter in [media(Some(2_001), None), wall(Some(30), Some(40)), media(Some(1_500), Some(3_200))] {
            let admitted = spans.iter().filter(|s| filter.admits_span(1, s.media, s.wall)).count();
            match bounds.coverage(&filter) {
                Coverage::None => assert_eq!(admitted, 0, "{filter:?}"),
                Coverage::All => assert_eq!(admitted, spans.len(), "{filter:?}"),
                Coverage::Some => {}
            }
        }
    }
}
