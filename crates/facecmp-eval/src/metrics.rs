//! Verification metrics over scored pairs: ROC, AUC, EER, TAR at a fixed
//! FAR, best accuracy, LFW's 10-fold protocol, per-group error rates and
//! FAR → threshold calibration.
//!
//! Pure functions over `(score, genuine?)` pairs, with no network and no
//! files, so that the bundled SFace and a trained model are judged by the
//! same code. A pair is accepted ("same person") when `score >= threshold`.

use serde::{Deserialize, Serialize};

use facecmp::compare::{Calibration, OperatingPoint as CalibratedPoint};

/// The FARs that reports and calibration cover.
pub const STANDARD_FARS: [f64; 4] = [1e-1, 1e-2, 1e-3, 1e-4];

/// One compared pair: its similarity and whether both faces are one person.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    pub score: f32,
    pub genuine: bool,
}

impl ScoredPair {
    pub fn new(score: f32, genuine: bool) -> ScoredPair {
        ScoredPair { score, genuine }
    }
}

/// A point of the ROC curve: at `threshold`, the share of impostor pairs
/// accepted (FAR) and of genuine pairs accepted (TAR).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    pub threshold: f32,
    pub far: f64,
    pub tar: f64,
}

/// How many pairs of each kind were scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PairCounts {
    pub genuine: usize,
    pub impostor: usize,
}

impl PairCounts {
    pub fn of(pairs: &[ScoredPair]) -> PairCounts {
        let genuine = pairs.iter().filter(|p| p.genuine).count();
        PairCounts { genuine, impostor: pairs.len() - genuine }
    }
}

/// The ROC curve from "accept nothing" to "accept everything", one point per
/// distinct score, thresholds descending. Empty when either kind of pair is
/// missing, since then FAR or TAR is undefined.
pub fn roc(pairs: &[ScoredPair]) -> Vec<RocPoint> {
    let counts = PairCounts::of(pairs);
    if counts.genuine == 0 || counts.impostor == 0 {
        return Vec::new();
    }
    let sorted = sorted_descending(pairs);
    let mut points = vec![RocPoint { threshold: sorted[0].score.next_up(), far: 0.0, tar: 0.0 }];
    let (mut accepted_genuine, mut accepted_impostor) = (0usize, 0usize);
    for (i, pair) in sorted.iter().enumerate() {
        if pair.genuine {
            accepted_genuine += 1;
        } else {
            accepted_impostor += 1;
        }
        // Ties move together: a threshold cannot split equal scores.
        let last_of_tie = sorted.get(i + 1).is_none_or(|next| next.score < pair.score);
        if last_of_tie {
            points.push(RocPoint {
                threshold: pair.score,
                far: accepted_impostor as f64 / counts.impostor as f64,
                tar: accepted_genuine as f64 / counts.genuine as f64,
            });
        }
    }
    points
}

/// Area under the ROC curve (trapezoids): the chance that a random genuine
/// pair scores above a random impostor pair, ties counting half.
pub fn auc(roc: &[RocPoint]) -> f64 {
    roc.windows(2).map(|w| (w[1].far - w[0].far) * (w[1].tar + w[0].tar) / 2.0).sum()
}

/// The ROC point with the highest mean of TAR and true-reject rate, with its
/// threshold.
pub fn best_balanced_accuracy(roc: &[RocPoint]) -> Option<(f64, f32)> {
    roc.iter().map(|p| ((p.tar + 1.0 - p.far) / 2.0, p.threshold)).max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The equal error rate: where FAR equals FRR (= 1 − TAR), interpolated
/// linearly between the two ROC points that straddle it; with its threshold.
pub fn eer(roc: &[RocPoint]) -> Option<(f64, f32)> {
    let gap = |p: &RocPoint| p.far - (1.0 - p.tar);
    let crossing = roc.windows(2).find(|w| gap(&w[0]) <= 0.0 && gap(&w[1]) >= 0.0)?;
    let (a, b) = (&crossing[0], &crossing[1]);
    let (ga, gb) = (gap(a), gap(b));
    let t = if gb - ga > 0.0 { -ga / (gb - ga) } else { 0.0 };
    let rate = a.far + t * (b.far - a.far);
    let threshold = a.threshold + (t as f32) * (b.threshold - a.threshold);
    Some((rate, threshold))
}

/// A threshold chosen for a target FAR, and what it achieves on the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The FAR asked for.
    pub target_far: f64,
    pub threshold: f32,
    /// The FAR measured at `threshold` (≤ `target_far`).
    pub far: f64,
    pub tar: f64,
    /// Impostor pairs the FAR was measured on.
    pub impostor_pairs: usize,
}

/// The lowest threshold whose FAR on these pairs is at most `target_far`,
/// with the TAR it gives. `None` when there are fewer than `1/target_far`
/// impostor pairs (or no genuine pairs): such a FAR cannot be measured, and
/// a threshold that merely rejects every impostor seen would claim it falsely.
pub fn at_far(pairs: &[ScoredPair], target_far: f64) -> Option<OperatingPoint> {
    let counts = PairCounts::of(pairs);
    if counts.genuine == 0 || (counts.impostor as f64) * target_far < 1.0 - 1e-9 {
        return None;
    }
    let mut impostors: Vec<f32> = pairs.iter().filter(|p| !p.genuine).map(|p| p.score).collect();
    impostors.sort_by(|a, b| b.total_cmp(a));
    let allowed = ((counts.impostor as f64) * target_far + 1e-9).floor() as usize;
    // Accepting scores above the (allowed+1)-th highest impostor accepts at
    // most `allowed` impostors (fewer when scores tie).
    let threshold = impostors[allowed.min(impostors.len() - 1)].next_up();
    let (far, tar) = rates_at(pairs, threshold, counts);
    Some(OperatingPoint { target_far, threshold, far, tar, impostor_pairs: counts.impostor })
}

/// FAR and TAR when accepting `score >= threshold`.
fn rates_at(pairs: &[ScoredPair], threshold: f32, counts: PairCounts) -> (f64, f64) {
    let accepted =
        |genuine: bool| pairs.iter().filter(|p| p.genuine == genuine && p.score >= threshold).count();
    let rate = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    (rate(accepted(false), counts.impostor), rate(accepted(true), counts.genuine))
}

/// The share of pairs decided correctly at `threshold`.
pub fn accuracy_at(pairs: &[ScoredPair], threshold: f32) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let correct = pairs.iter().filter(|p| (p.score >= threshold) == p.genuine).count();
    correct as f64 / pairs.len() as f64
}

/// The threshold that decides the most pairs correctly, and that accuracy.
/// The threshold lies midway between the scores it separates, so that it
/// generalises to pairs not seen (the LFW convention of choosing it on
/// training folds).
pub fn best_accuracy(pairs: &[ScoredPair]) -> Option<(f64, f32)> {
    let sorted = sorted_descending(pairs);
    let first = sorted.first()?;
    let counts = PairCounts::of(pairs);
    // Start by accepting nothing: every impostor is right.
    let (mut correct, mut best) = (counts.impostor, (counts.impostor, first.score.next_up()));
    for (i, pair) in sorted.iter().enumerate() {
        if pair.genuine {
            correct += 1;
        } else {
            correct -= 1;
        }
        let next = sorted.get(i + 1).map(|p| p.score);
        if next.is_some_and(|s| s == pair.score) {
            continue;
        }
        if correct > best.0 {
            let threshold = next.map_or(pair.score, |s| midpoint(s, pair.score));
            best = (correct, threshold);
        }
    }
    Some((best.0 as f64 / pairs.len() as f64, best.1))
}

/// The midpoint of `low < high`, nudged so that `high` is still accepted.
fn midpoint(low: f32, high: f32) -> f32 {
    let mid = low + (high - low) / 2.0;
    if mid > low { mid } else { high }
}

fn sorted_descending(pairs: &[ScoredPair]) -> Vec<ScoredPair> {
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
    sorted
}

/// Everything a verification report states about one set of scored pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub pairs: PairCounts,
    pub auc: f64,
    pub eer: Option<f64>,
    pub eer_threshold: Option<f32>,
    pub best_accuracy: Option<f64>,
    pub best_threshold: Option<f32>,
    /// The best mean of TAR and true-reject rate: accuracy as if genuine and
    /// impostor pairs were equally many. With all genuine pairs and many more
    /// sampled impostors, plain accuracy mostly counts rejected impostors.
    pub best_balanced_accuracy: Option<f64>,
    pub best_balanced_threshold: Option<f32>,
    /// One entry per requested FAR; `None` where too few impostor pairs.
    pub tar_at_far: Vec<(f64, Option<OperatingPoint>)>,
}

impl Verification {
    pub fn of(pairs: &[ScoredPair], fars: &[f64]) -> Verification {
        let curve = roc(pairs);
        let eer = eer(&curve);
        let best = best_accuracy(pairs);
        let balanced = best_balanced_accuracy(&curve);
        Verification {
            pairs: PairCounts::of(pairs),
            auc: auc(&curve),
            eer: eer.map(|e| e.0),
            eer_threshold: eer.map(|e| e.1),
            best_accuracy: best.map(|b| b.0),
            best_threshold: best.map(|b| b.1),
            best_balanced_accuracy: balanced.map(|b| b.0),
            best_balanced_threshold: balanced.map(|b| b.1),
            tar_at_far: fars.iter().map(|&far| (far, at_far(pairs, far))).collect(),
        }
    }
}

/// One fold of a k-fold evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: usize,
    /// Chosen on the other folds.
    pub threshold: f32,
    /// Measured on this fold, over its scored pairs and its errors.
    pub accuracy: f64,
    /// The fold's scored pairs.
    pub pairs: PairCounts,
    /// The fold's pairs that could not be scored (a face not found),
    /// counted as wrong: a protocol's accuracy covers all of its pairs.
    #[serde(default)]
    pub errors: usize,
}

/// LFW's View-2 protocol: for each fold, the threshold of best accuracy on
/// the other folds is applied to it; the mean and the sample standard
/// deviation of the fold accuracies are reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KFold {
    pub folds: Vec<FoldResult>,
    pub mean_accuracy: f64,
    pub std_accuracy: f64,
    /// Pairs scored, over all folds.
    #[serde(default)]
    pub scored_pairs: usize,
    /// Pairs that could not be scored and count as errors, over all folds.
    #[serde(default)]
    pub error_pairs: usize,
}

/// Runs k-fold evaluation over pairs labelled with their fold (any
/// numbering); `unscored` holds the fold of each pair that could not be
/// scored, which counts as an error in its fold (and, being wrong at any
/// threshold, has no say in choosing one). `None` when there are fewer
/// than two folds or a fold has no pairs to choose a threshold on.
pub fn k_fold(pairs: &[(usize, ScoredPair)], unscored: &[usize]) -> Option<KFold> {
    let mut fold_ids: Vec<usize> = pairs.iter().map(|p| p.0).chain(unscored.iter().copied()).collect();
    fold_ids.sort_unstable();
    fold_ids.dedup();
    if fold_ids.len() < 2 {
        return None;
    }
    let mut folds = Vec::with_capacity(fold_ids.len());
    for &fold in &fold_ids {
        let (held_out, rest): (Vec<&(usize, ScoredPair)>, Vec<_>) = pairs.iter().partition(|p| p.0 == fold);
        let rest: Vec<ScoredPair> = rest.iter().map(|p| p.1).collect();
        let held_out: Vec<ScoredPair> = held_out.iter().map(|p| p.1).collect();
        let (_, threshold) = best_accuracy(&rest)?;
        let errors = unscored.iter().filter(|&&f| f == fold).count();
        // A fold of nothing but errors has no scored pair to be right on.
        let correct =
            if held_out.is_empty() { 0.0 } else { accuracy_at(&held_out, threshold) * held_out.len() as f64 };
        let total = held_out.len() + errors;
        folds.push(FoldResult {
            fold,
            threshold,
            accuracy: if total == 0 { 0.0 } else { correct / total as f64 },
            pairs: PairCounts::of(&held_out),
            errors,
        });
    }
    let accuracies: Vec<f64> = folds.iter().map(|f| f.accuracy).collect();
    let (mean_accuracy, std_accuracy) = mean_and_sample_std(&accuracies);
    Some(KFold { folds, mean_accuracy, std_accuracy, scored_pairs: pairs.len(), error_pairs: unscored.len() })
}

fn mean_and_sample_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, variance.sqrt())
}

/// A pair labelled with the demographic (or any other) group of each person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupedPair {
    pub pair: ScoredPair,
    pub group_a: String,
    pub group_b: String,
}

/// Label of impostor pairs whose two people belong to different groups.
pub const MIXED_GROUPS: &str = "(mixed groups)";

/// Error rates of one group at a shared operating threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    pub group: String,
    pub pairs: PairCounts,
    /// False match rate: impostor pairs of this group accepted at the threshold.
    pub fmr: Option<f64>,
    /// False non-match rate: genuine pairs of this group rejected at the threshold.
    pub fnmr: Option<f64>,
    /// TAR at each FAR with a threshold calibrated on this group alone.
    pub tar_at_far: Vec<(f64, Option<OperatingPoint>)>,
}

/// Per-group FMR/FNMR at `threshold` and per-group TAR@FAR. Genuine pairs
/// belong to their person's group; impostor pairs to the group both people
/// share, or to [`MIXED_GROUPS`]. Groups are listed in name order.
pub fn per_group(pairs: &[GroupedPair], threshold: f32, fars: &[f64]) -> Vec<GroupMetrics> {
    let mut groups: std::collections::BTreeMap<&str, Vec<ScoredPair>> = Default::default();
    for p in pairs {
        let group = if p.group_a == p.group_b { p.group_a.as_str() } else { MIXED_GROUPS };
        groups.entry(group).or_default().push(p.pair);
    }
    groups
        .into_iter()
        .map(|(group, scored)| {
            let counts = PairCounts::of(&scored);
            let (far, tar) = rates_at(&scored, threshold, counts);
            GroupMetrics {
                group: group.to_string(),
                pairs: counts,
                fmr: (counts.impostor > 0).then_some(far),
                fnmr: (counts.genuine > 0).then_some(1.0 - tar),
                tar_at_far: fars.iter().map(|&f| (f, at_far(&scored, f))).collect(),
            }
        })
        .collect()
}

/// The thresholds these pairs vouch for at each FAR of `fars`, measured on
/// `dataset`. A FAR that the pairs are too few to measure keeps no threshold,
/// so that [`Calibration::threshold_for`] refuses it instead of extrapolating.
pub fn calibrate(pairs: &[ScoredPair], fars: &[f64], dataset: String) -> Calibration {
    let counts = PairCounts::of(pairs);
    let points = fars
        .iter()
        .map(|&far| {
            let measured = at_far(pairs, far);
            CalibratedPoint { far, threshold: measured.map(|p| p.threshold), tar: measured.map(|p| p.tar) }
        })
        .collect();
    Calibration { dataset, genuine_pairs: counts.genuine, impostor_pairs: counts.impostor, points }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(genuine: &[f32], impostor: &[f32]) -> Vec<ScoredPair> {
        let g = genuine.iter().map(|&s| ScoredPair::new(s, true));
        g.chain(impostor.iter().map(|&s| ScoredPair::new(s, false))).collect()
    }

    #[test]
    fn perfectly_separated_scores_give_auc_one_and_no_error() {
        let p = pairs(&[0.9, 0.8, 0.7], &[0.1, 0.2, 0.3]);
        let curve = roc(&p);
        assert_eq!(auc(&curve), 1.0);
        let (rate, threshold) = eer(&curve).unwrap();
        assert_eq!(rate, 0.0);
        assert!((0.3..=0.7).contains(&threshold));
        let (accuracy, threshold) = best_accuracy(&p).unwrap();
        assert_eq!(accuracy, 1.0);
        assert!((threshold - 0.5).abs() < 1e-6, "midway between 0.3 and 0.7: {threshold}");
    }

    #[test]
    fn auc_counts_ordered_pairs_and_ties_half() {
        // Genuine {0.6, 0.4}, impostor {0.5, 0.4}: of 4 (g, i) orderings, g>i
        // holds for (0.6,0.5), (0.6,0.4); (0.4,0.4) is a tie; (0.4,0.5) fails.
        let p = pairs(&[0.6, 0.4], &[0.5, 0.4]);
        assert!((auc(&roc(&p)) - 2.5 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn eer_interpolates_between_straddling_points() {
        // Accept ≥ 0.5: FAR 1/2, FRR 1/2 exactly.
        let p = pairs(&[0.9, 0.4], &[0.5, 0.1]);
        let (rate, _) = eer(&roc(&p)).unwrap();
        assert!((rate - 0.5).abs() < 1e-12, "{rate}");
    }

    #[test]
    fn tar_at_far_needs_enough_impostors_and_never_exceeds_the_far() {
        let impostors: Vec<f32> = (0..100).map(|i| i as f32 / 100.0).collect();
        let p = pairs(&[0.995, 0.985, 0.975, 0.5], &impostors);
        let point = at_far(&p, 0.01).unwrap();
        // One impostor (0.99) may be accepted: the threshold sits just above 0.98.
        assert!(point.far <= 0.01);
        assert_eq!(point.far, 0.01);
        assert_eq!(point.tar, 0.5);
        assert!(point.threshold > 0.98 && point.threshold < 0.985);
        assert!(at_far(&p, 0.001).is_none(), "100 impostors cannot measure a FAR of 1e-3");
    }

    #[test]
    fn balanced_accuracy_weighs_both_kinds_of_pair_equally() {
        let genuine = [0.9, 0.8].map(|s| ScoredPair::new(s, true));
        let impostor = [0.85, 0.3, 0.2, 0.1].map(|s| ScoredPair::new(s, false));
        let pairs: Vec<ScoredPair> = genuine.into_iter().chain(impostor).collect();
        // At 0.8 both genuine pairs and 3 of 4 impostors are right: (1 + 0.75) / 2.
        assert_eq!(best_balanced_accuracy(&roc(&pairs)), Some((0.875, 0.8)));
        // Plain accuracy prefers the same threshold here, but counts pairs: 5 of 6.
        assert_eq!(best_accuracy(&pairs).map(|b| b.0), Some(5.0 / 6.0));
    }

    #[test]
    fn calibration_keeps_only_the_rates_its_pairs_can_measure() {
        // 200 impostors at 0.000, 0.005, …, 0.995, and genuine pairs from 0.5 up.
        let mut p: Vec<ScoredPair> = (0..200).map(|i| ScoredPair::new(i as f32 / 200.0, false)).collect();
        p.extend((0..10).map(|i| ScoredPair::new(0.5 + i as f32 / 20.0, true)));
        let c = calibrate(&p, &STANDARD_FARS, "crafted".into());
        assert_eq!((c.genuine_pairs, c.impostor_pairs), (10, 200));
        // FAR 0.1 allows 20 of 200 impostors: the threshold sits just above the 21st highest.
        let at_tenth = c.threshold_for(0.1).unwrap();
        assert!(at_tenth > 0.895 && at_tenth < 0.9, "{at_tenth}");
        let at_hundredth = c.threshold_for(0.01).unwrap();
        assert!(at_hundredth > 0.985 && at_hundredth < 0.99, "{at_hundredth}");
        // 200 impostors cannot measure 1e-3: refused, not extrapolated.
        assert_eq!(c.points[2].threshold, None);
        assert!(c.threshold_for(1e-3).is_err());
        // A rate between measured points takes the stricter one.
        assert_eq!(c.threshold_for(0.05), c.threshold_for(0.01));
    }

    #[test]
    fn groups_split_error_rates_and_mixed_impostors() {
        let g = |score: f32, genuine: bool, a: &str, b: &str| GroupedPair {
            pair: ScoredPair::new(score, genuine),
            group_a: a.into(),
            group_b: b.into(),
        };
        let p = [
            g(0.9, true, "x", "x"),
            g(0.3, true, "x", "x"),
            g(0.6, false, "y", "y"),
            g(0.1, false, "y", "y"),
            g(0.7, false, "x", "y"),
        ];
        let metrics = per_group(&p, 0.5, &[0.5]);
        let names: Vec<&str> = metrics.iter().map(|m| m.group.as_str()).collect();
        assert_eq!(names, [MIXED_GROUPS, "x", "y"]);
        assert_eq!(metrics[0].fmr, Some(1.0));
        assert_eq!(metrics[1].fnmr, Some(0.5));
        assert_eq!(metrics[1].fmr, None);
        assert_eq!(metrics[2].fmr, Some(0.5));
    }
}
