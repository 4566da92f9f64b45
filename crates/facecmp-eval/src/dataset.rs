//! Data sets: identity folders or a CSV listed as labelled photos, people
//! split (never photos) into training and validation, and the evaluation
//! pairs over a set of people.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::rng::Rng;

const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"];

/// One labelled photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub path: PathBuf,
    pub person: String,
}

/// Lists `DATA/<person>/<image>` (a folder) or the rows `path,person` of a
/// CSV file (paths relative to the CSV's folder; an optional header row
/// `path,person`). Sorted, so that everything downstream is reproducible.
pub fn list_samples(data: &Path) -> Result<Vec<Sample>, EvalError> {
    let metadata = std::fs::metadata(data).map_err(|e| EvalError::io(data, e))?;
    let mut samples = if metadata.is_dir() { list_folders(data)? } else { read_csv(data)? };
    samples.sort_by(|a, b| (&a.person, &a.path).cmp(&(&b.person, &b.path)));
    if samples.is_empty() {
        return Err(EvalError::NoImages { path: data.to_path_buf() });
    }
    Ok(samples)
}

fn list_folders(root: &Path) -> Result<Vec<Sample>, EvalError> {
    let mut samples = Vec::new();
    for person in read_dir_sorted(root)? {
        if !person.is_dir() {
            continue;
        }
        let name = person.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for path in read_dir_sorted(&person)? {
            if path.is_file() && is_image(&path) {
                samples.push(Sample { path, person: name.clone() });
            }
        }
    }
    Ok(samples)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let entries = std::fs::read_dir(dir).map_err(|e| EvalError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EvalError::io(dir, e))?
        .iter()
        .map(|e| e.path())
        .collect();
    paths.sort();
    Ok(paths)
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn read_csv(csv_path: &Path) -> Result<Vec<Sample>, EvalError> {
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv_path)
        .map_err(|source| EvalError::Csv { path: csv_path.to_path_buf(), source })?;
    let mut samples = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|source| EvalError::Csv { path: csv_path.to_path_buf(), source })?;
        let fields: Vec<&str> = record.iter().map(str::trim).collect();
        match fields.as_slice() {
            ["path", "person"] if index == 0 => continue,
            [path, person] if !path.is_empty() && !person.is_empty() => {
                samples.push(Sample { path: base.join(path), person: person.to_string() })
            }
            _ => {
                return Err(EvalError::BadRow {
                    path: csv_path.to_path_buf(),
                    line: index + 1,
                    expected: "path,person",
                });
            }
        }
    }
    Ok(samples)
}

/// Reads a `person,group` CSV (optional header row `person,group`).
pub fn read_groups(path: &Path) -> Result<HashMap<String, String>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let mut groups = HashMap::new();
    for (index, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match line.split(',').map(str::trim).collect::<Vec<_>>().as_slice() {
            ["person", "group"] if index == 0 => {}
            [person, group] if !person.is_empty() && !group.is_empty() => {
                groups.insert(person.to_string(), group.to_string());
            }
            _ => {
                return Err(EvalError::BadRow {
                    path: path.to_path_buf(),
                    line: index + 1,
                    expected: "person,group",
                });
            }
        }
    }
    Ok(groups)
}

/// A seeded split of people (never of photos) into training and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub seed: u64,
    pub val_fraction: f32,
    pub train: Vec<String>,
    pub val: Vec<String>,
}

/// One side of a [`Split`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitSide {
    Train,
    Val,
}

impl Split {
    pub fn side(&self, side: SplitSide) -> &[String] {
        match side {
            SplitSide::Train => &self.train,
            SplitSide::Val => &self.val,
        }
    }

    /// How many of `people` are on the training side.
    pub fn trained_on<'a>(&self, people: impl IntoIterator<Item = &'a str>) -> usize {
        let trained: HashSet<&str> = self.train.iter().map(String::as_str).collect();
        let people: HashSet<&str> = people.into_iter().collect();
        people.iter().filter(|p| trained.contains(*p)).count()
    }
}

/// Shuffles the people with `seed` and puts `val_fraction` of them (at least
/// one, and never all) on the validation side.
pub fn split_by_identity(names: &[String], val_fraction: f32, seed: u64) -> Split {
    let mut shuffled = names.to_vec();
    shuffled.sort();
    shuffled.dedup();
    Rng::derive(seed, 0x5eed_5917).shuffle(&mut shuffled);
    let n = shuffled.len();
    let wanted = (n as f32 * val_fraction).round() as usize;
    let val_count = if val_fraction > 0.0 && n >= 2 { wanted.clamp(1, n - 1) } else { 0 };
    let mut val = shuffled.split_off(n - val_count);
    let mut train = shuffled;
    train.sort();
    val.sort();
    Split { seed, val_fraction, train, val }
}

/// Which photos belong to which person, by index into a flat photo list.
#[derive(Debug, Clone)]
pub struct Identities {
    /// `members[p]`: the photo indices of person `p`.
    pub members: Vec<Vec<usize>>,
    /// `person_of[i]`: the person of photo `i`.
    pub person_of: Vec<usize>,
}

impl Identities {
    pub fn new(counts: impl IntoIterator<Item = usize>) -> Identities {
        let (mut members, mut person_of) = (Vec::new(), Vec::new());
        for (person, count) in counts.into_iter().enumerate() {
            members.push((person_of.len()..person_of.len() + count).collect());
            person_of.extend(std::iter::repeat_n(person, count));
        }
        Identities { members, person_of }
    }
}

/// A pair of photos (indices) and whether they show one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pair {
    pub a: usize,
    pub b: usize,
    pub genuine: bool,
}

/// Evaluation pairs over a set of people: every genuine pair, plus
/// `impostors` distinct impostor pairs drawn with `seed` (all of them when
/// fewer exist).
pub fn evaluation_pairs(identities: &Identities, impostors: usize, seed: u64) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for photos in &identities.members {
        for (i, &a) in photos.iter().enumerate() {
            pairs.extend(photos[i + 1..].iter().map(|&b| Pair { a, b, genuine: true }));
        }
    }
    let total = identities.person_of.len();
    let same_person: usize = identities.members.iter().map(|m| m.len() * m.len().saturating_sub(1) / 2).sum();
    let possible = total * total.saturating_sub(1) / 2 - same_person;
    let mut rng = Rng::derive(seed, 0xe7a1);
    if impostors >= possible {
        let first_impostor = pairs.len();
        for a in 0..total {
            for b in a + 1..total {
                if identities.person_of[a] != identities.person_of[b] {
                    pairs.push(Pair { a, b, genuine: false });
                }
            }
        }
        // In random order, like sampled ones: any prefix is a fair sample.
        rng.shuffle(&mut pairs[first_impostor..]);
        return pairs;
    }
    let mut seen = HashSet::with_capacity(impostors);
    while seen.len() < impostors {
        let (a, b) = rng.two_distinct(total);
        if identities.person_of[a] != identities.person_of[b] && seen.insert((a.min(b), a.max(b))) {
            pairs.push(Pair { a: a.min(b), b: a.max(b), genuine: false });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_puts_no_person_on_both_sides_and_is_seeded() {
        let names: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
        let split = split_by_identity(&names, 0.2, 7);
        assert_eq!(split.val.len(), 10);
        assert_eq!(split.train.len(), 40);
        let train: HashSet<&String> = split.train.iter().collect();
        assert!(split.val.iter().all(|p| !train.contains(p)), "a person on both sides");
        let mut all: Vec<String> = split.train.iter().chain(&split.val).cloned().collect();
        all.sort();
        let mut expected = names.clone();
        expected.sort();
        assert_eq!(all, expected, "every person lands on exactly one side");
        assert_eq!(split, split_by_identity(&names, 0.2, 7));
        assert_ne!(split.val, split_by_identity(&names, 0.2, 8).val);
        assert_eq!(split_by_identity(&names[..3], 0.01, 1).val.len(), 1, "at least one validation person");
        assert_eq!(split_by_identity(&names[..2], 0.99, 1).train.len(), 1, "never all of them");
    }

    #[test]
    fn evaluation_pairs_hold_every_genuine_pair_and_distinct_impostors() {
        let identities = Identities::new([3, 2, 2]);
        let all = evaluation_pairs(&identities, usize::MAX, 1);
        assert_eq!(all.iter().filter(|p| p.genuine).count(), 3 + 1 + 1);
        assert_eq!(all.iter().filter(|p| !p.genuine).count(), 21 - 5);
        let some = evaluation_pairs(&identities, 7, 1);
        let impostors: HashSet<_> = some.iter().filter(|p| !p.genuine).collect();
        assert_eq!(impostors.len(), 7);
        assert!(impostors.iter().all(|p| identities.person_of[p.a] != identities.person_of[p.b]));
    }

    #[test]
    fn csv_rows_are_read_relative_to_the_file_and_bad_rows_named() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("list.csv");
        std::fs::write(&csv, "path,person\na/1.jpg,alice\nb.jpg, bob\n").unwrap();
        let samples = list_samples(&csv).unwrap();
        assert_eq!(samples[0], Sample { path: dir.path().join("a/1.jpg"), person: "alice".into() });
        assert_eq!(samples[1].person, "bob");
        std::fs::write(&csv, "a.jpg,alice\nonly-a-path\n").unwrap();
        let error = list_samples(&csv).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn groups_are_read_and_bad_rows_named() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("groups.csv");
        std::fs::write(&csv, "person,group\nalice, x\n\nbob,y\n").unwrap();
        let groups = read_groups(&csv).unwrap();
        assert_eq!((groups["alice"].as_str(), groups["bob"].as_str()), ("x", "y"));
        std::fs::write(&csv, "alice,x\nbob\n").unwrap();
        assert!(matches!(read_groups(&csv), Err(EvalError::BadRow { line: 2, .. })));
    }

    #[test]
    fn the_split_counts_the_people_trained_on() {
        let split =
            Split { seed: 1, val_fraction: 0.5, train: vec!["a".into(), "b".into()], val: vec!["c".into()] };
        assert_eq!(split.trained_on(["a", "c", "d", "a"]), 1);
        assert_eq!(split.side(SplitSide::Val), ["c".to_string()]);
    }
}
