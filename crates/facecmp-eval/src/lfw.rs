//! LFW's View-2 protocol file (`pairs.txt`): which image pairs to compare,
//! in which fold, and whether they show one person.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use facecmp::Embedding;
use serde::{Deserialize, Serialize};

pub use crate::error::LfwError;
use crate::metrics::ScoredPair;

/// An LFW image, named by person and number (`Name/Name_0001.jpg`).
pub type LfwImage = (String, u32);

/// One pair of LFW's protocol file: two images, named by person and number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LfwPair {
    /// 1-based fold.
    pub fold: usize,
    pub a: LfwImage,
    pub b: LfwImage,
    pub genuine: bool,
}

impl LfwPair {
    /// The image's path inside an LFW folder: `Name/Name_0001.jpg`.
    pub fn relative_path((name, number): &LfwImage) -> PathBuf {
        Path::new(name).join(format!("{name}_{number:04}.jpg"))
    }
}

/// Parses LFW's `pairs.txt`: a header `folds<TAB>n`, then per fold `n`
/// matched lines `name i j` and `n` mismatched lines `name1 i name2 j`.
pub fn parse_lfw_pairs(text: &str) -> Result<Vec<LfwPair>, LfwError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, l)| (i + 1, l));
    let (header_line, header) = lines.next().ok_or(LfwError::Empty)?;
    let (folds, per_kind) = match header.split_whitespace().collect::<Vec<_>>().as_slice() {
        [f, n] => (number(f, header_line)?, number(n, header_line)?),
        _ => return Err(LfwError::Header),
    };
    // Not sized from the header: a corrupt one must not allocate terabytes.
    let mut pairs = Vec::new();
    for fold in 1..=folds as usize {
        for genuine in [true, false] {
            for _ in 0..per_kind {
                let (line, text) = lines.next().ok_or(LfwError::EndsEarly { fold })?;
                pairs.push(parse_pair_line(text, line, fold, genuine)?);
            }
        }
    }
    if let Some((line, _)) = lines.next() {
        return Err(LfwError::ExtraPairs { line });
    }
    Ok(pairs)
}

fn parse_pair_line(text: &str, line: usize, fold: usize, genuine: bool) -> Result<LfwPair, LfwError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    match (genuine, fields.as_slice()) {
        (true, [name, i, j]) => Ok(LfwPair {
            fold,
            a: (name.to_string(), number(i, line)?),
            b: (name.to_string(), number(j, line)?),
            genuine,
        }),
        (false, [a, i, b, j]) => Ok(LfwPair {
            fold,
            a: (a.to_string(), number(i, line)?),
            b: (b.to_string(), number(j, line)?),
            genuine,
        }),
        (true, _) => Err(LfwError::NotMatched { line }),
        (false, _) => Err(LfwError::NotMismatched { line }),
    }
}

fn number(text: &str, line: usize) -> Result<u32, LfwError> {
    text.parse::<u32>()
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| LfwError::NotANumber { line, text: text.into() })
}

/// The distinct images the pairs name, sorted.
pub fn images(pairs: &[LfwPair]) -> Vec<LfwImage> {
    let mut images: Vec<LfwImage> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    images.sort();
    images.dedup();
    images
}

/// LFW pairs whose two images could both be embedded, as fold-labelled
/// scores, and the pairs that could not be scored.
pub fn score_lfw(
    lfw: &[LfwPair],
    embedding_of: &BTreeMap<LfwImage, Embedding>,
) -> (Vec<(usize, ScoredPair)>, Vec<LfwPair>) {
    let mut scored = Vec::with_capacity(lfw.len());
    let mut missing = Vec::new();
    for pair in lfw {
        match (embedding_of.get(&pair.a), embedding_of.get(&pair.b)) {
            (Some(a), Some(b)) => scored
                .push((pair.fold, ScoredPair::new(crate::report::same_embedder_cosine(a, b), pair.genuine))),
            _ => missing.push(pair.clone()),
        }
    }
    (scored, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::k_fold;

    /// A crafted pairs file, with scores chosen so that each fold's
    /// threshold, chosen on the other folds, misclassifies a known pair.
    #[test]
    fn ten_fold_on_a_crafted_pairs_file_gives_the_expected_accuracy() {
        let text = "2\t2\nA\t1\t2\nB\t1\t2\nA\t1\tB\t1\nC\t1\tD\t2\n\
                    E\t1\t2\nF\t1\t3\nE\t1\tF\t1\nG\t2\tH\t1\n";
        let lfw = parse_lfw_pairs(text).unwrap();
        assert_eq!(lfw.len(), 8);
        assert_eq!(lfw[2], LfwPair { fold: 1, a: ("A".into(), 1), b: ("B".into(), 1), genuine: false });
        assert_eq!(LfwPair::relative_path(&lfw[7].a), Path::new("G/G_0002.jpg"));
        // Fold 2's best threshold is midway between 0.35 and 0.6 (0.475): on
        // fold 1 it rejects genuine B (0.45), so 3 of 4. Fold 1's best is midway
        // between 0.3 and 0.45 (0.375): it decides all of fold 2 correctly.
        let scores = [0.9, 0.45, 0.3, 0.1, 0.8, 0.6, 0.35, 0.2];
        let scored: Vec<(usize, ScoredPair)> =
            lfw.iter().zip(scores).map(|(p, s)| (p.fold, ScoredPair::new(s, p.genuine))).collect();
        let result = k_fold(&scored, &[]).unwrap();
        assert_eq!(result.folds.len(), 2);
        assert_eq!(result.folds[0].accuracy, 0.75);
        assert_eq!(result.folds[1].accuracy, 1.0);
        assert!((result.mean_accuracy - 0.875).abs() < 1e-12);
        assert!((result.std_accuracy - (0.125f64 * 0.125 * 2.0).sqrt()).abs() < 1e-12);
    }

    /// A pair that could not be scored is wrong in its fold, and the
    /// report covers every pair: the same crafted file with two pairs lost.
    #[test]
    fn unscored_pairs_count_as_errors_in_their_fold() {
        let scored: Vec<(usize, ScoredPair)> =
            [(1, 0.9, true), (1, 0.1, false), (2, 0.8, true), (2, 0.2, false)]
                .into_iter()
                .map(|(fold, score, genuine)| (fold, ScoredPair::new(score, genuine)))
                .collect();
        let result = k_fold(&scored, &[1, 2, 2]).unwrap();
        // Fold 1: 2 right of 3; fold 2: 2 right of 4.
        assert_eq!((result.folds[0].errors, result.folds[1].errors), (1, 2));
        assert!((result.folds[0].accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(result.folds[1].accuracy, 0.5);
        assert_eq!((result.scored_pairs, result.error_pairs), (4, 3));
        // A fold whose every pair is lost is 0 %, not left out.
        let all_lost = k_fold(&scored, &[3, 3]).unwrap();
        assert_eq!(all_lost.folds.len(), 3);
        assert_eq!((all_lost.folds[2].accuracy, all_lost.folds[2].errors), (0.0, 2));
    }

    #[test]
    fn malformed_pairs_files_name_the_line() {
        assert_eq!(parse_lfw_pairs("1\t1\nA\t1\n"), Err(LfwError::NotMatched { line: 2 }));
        assert!(parse_lfw_pairs("1\t1\nA\t1\n").unwrap_err().to_string().starts_with("line 2"));
        assert_eq!(parse_lfw_pairs("1\t1\nA\t1\t2\n"), Err(LfwError::EndsEarly { fold: 1 }));
        assert_eq!(
            parse_lfw_pairs("1\t1\nA\t1\t2\nA\t1\tB\t1\nX\t1\t2\n"),
            Err(LfwError::ExtraPairs { line: 4 })
        );
        assert!(parse_lfw_pairs("1\t1\nA\tone\t2\n").unwrap_err().to_string().contains("`one`"));
        assert_eq!(parse_lfw_pairs("x\t1\n"), Err(LfwError::NotANumber { line: 1, text: "x".into() }));
    }

    #[test]
    fn images_are_listed_once() {
        let lfw = parse_lfw_pairs("1\t1\nA\t1\t2\nA\t1\tB\t1\n").unwrap();
        assert_eq!(images(&lfw), [("A".into(), 1), ("A".into(), 2), ("B".into(), 1)]);
    }
}
