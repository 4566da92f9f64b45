//! Data: identity folders or a CSV become aligned crops per person (detected
//! and aligned once, cached by file hash), split by identity, and sampled
//! into pairs on the fly.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use facecmp::align::ALIGNED_SIZE;
use facecmp::{AlignedFace, Pipeline, RgbImage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::progress;
use crate::rng::Rng;

const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"];

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Pipeline(#[from] facecmp::Error),
}

impl DataError {
    fn input(path: &Path, reason: impl Into<String>) -> DataError {
        DataError::Input { path: path.display().to_string(), reason: reason.into() }
    }

    fn io(path: &Path, source: std::io::Error) -> DataError {
        DataError::Io { path: path.display().to_string(), source }
    }

    /// True when the fault lies with the data given, not with facecmp.
    pub fn is_input_error(&self) -> bool {
        match self {
            DataError::Input { .. } | DataError::Io { .. } => true,
            DataError::Pipeline(error) => error.is_input_error(),
        }
    }
}

/// One labelled photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub path: PathBuf,
    pub person: String,
}

/// Lists `DATA/<person>/<image>` (a folder) or the rows `path,person` of a
/// CSV file (paths relative to the CSV's folder; an optional header row
/// `path,person`). Sorted, so that everything downstream is reproducible.
pub fn list_samples(data: &Path) -> Result<Vec<Sample>, DataError> {
    let metadata = std::fs::metadata(data).map_err(|e| DataError::io(data, e))?;
    let mut samples = if metadata.is_dir() { list_folders(data)? } else { read_csv(data)? };
    samples.sort_by(|a, b| (&a.person, &a.path).cmp(&(&b.person, &b.path)));
    if samples.is_empty() {
        return Err(DataError::input(
            data,
            "no images found (expected DATA/<person>/<image> or a CSV of path,person)",
        ));
    }
    Ok(samples)
}

fn list_folders(root: &Path) -> Result<Vec<Sample>, DataError> {
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

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DataError::io(dir, e))?
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

fn read_csv(csv_path: &Path) -> Result<Vec<Sample>, DataError> {
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv_path)
        .map_err(|e| DataError::input(csv_path, e.to_string()))?;
    let mut samples = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| DataError::input(csv_path, e.to_string()))?;
        let fields: Vec<&str> = record.iter().map(str::trim).collect();
        match fields.as_slice() {
            ["path", "person"] if index == 0 => continue,
            [path, person] if !path.is_empty() && !person.is_empty() => {
                samples.push(Sample { path: base.join(path), person: person.to_string() })
            }
            _ => {
                return Err(DataError::input(
                    csv_path,
                    format!("line {}: expected `path,person`", index + 1),
                ));
            }
        }
    }
    Ok(samples)
}

/// How a photo becomes an aligned 112×112 crop.
pub enum Alignment<'a> {
    /// The images already are aligned crops (e.g. `facecmp synth` output).
    PreAligned,
    /// Detect with the pipeline, align its one face; results cached in the folder.
    Detect { pipeline: &'a Pipeline, cache: PathBuf },
}

/// An aligned crop of one photo.
#[derive(Debug, Clone)]
pub struct Crop {
    pub path: PathBuf,
    pub sha256: String,
    pub face: AlignedFace,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// The crops of every person, in name order; people left with no usable
/// photo are dropped (and their photos listed in `skipped`).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub people: Vec<(String, Vec<Crop>)>,
    pub skipped: Vec<Skipped>,
    /// Crops taken from the cache instead of running detection.
    pub from_cache: usize,
}

impl Prepared {
    pub fn images(&self) -> usize {
        self.people.iter().map(|(_, crops)| crops.len()).sum()
    }

    /// Keeps only these people (e.g. one side of a split).
    pub fn only(&self, names: &[String]) -> Prepared {
        let wanted: HashSet<&str> = names.iter().map(String::as_str).collect();
        let people = self.people.iter().filter(|(n, _)| wanted.contains(n.as_str())).cloned().collect();
        Prepared { people, skipped: Vec::new(), from_cache: 0 }
    }

    pub fn names(&self) -> Vec<String> {
        self.people.iter().map(|(n, _)| n.clone()).collect()
    }
}

/// Decodes, detects and aligns every sample. A photo with no face, with
/// several faces (which one would the label mean?) or that cannot be read is
/// skipped and listed, never guessed at.
pub fn prepare(samples: &[Sample], alignment: &Alignment<'_>) -> Result<Prepared, DataError> {
    if let Alignment::Detect { cache, .. } = alignment {
        std::fs::create_dir_all(cache).map_err(|e| DataError::io(cache, e))?;
    }
    let bar = progress::bar(samples.len() as u64, "preparing faces");
    let mut by_person: BTreeMap<String, Vec<Crop>> = BTreeMap::new();
    let mut prepared = Prepared::default();
    for sample in samples {
        bar.inc(1);
        let bytes = match std::fs::read(&sample.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                prepared.skipped.push(Skipped { path: sample.path.clone(), reason: e.to_string() });
                continue;
            }
        };
        let sha256 = hex(&Sha256::digest(&bytes));
        let outcome = match alignment {
            Alignment::PreAligned => pre_aligned(&bytes).map(|face| (face, false)),
            Alignment::Detect { pipeline, cache } => {
                detect_cached(pipeline, cache, &sample.path, &bytes, &sha256)
            }
        };
        match outcome {
            Ok((face, cached)) => {
                prepared.from_cache += usize::from(cached);
                by_person.entry(sample.person.clone()).or_default().push(Crop {
                    path: sample.path.clone(),
                    sha256,
                    face,
                });
            }
            Err(reason) => prepared.skipped.push(Skipped { path: sample.path.clone(), reason }),
        }
    }
    bar.finish_and_clear();
    prepared.people = by_person.into_iter().collect();
    Ok(prepared)
}

/// An image that already is an aligned crop; resized to 112×112 if it is
/// another square size.
fn pre_aligned(bytes: &[u8]) -> Result<AlignedFace, String> {
    let image = facecmp::image::decode(bytes, Default::default()).map_err(|e| e.to_string())?;
    let (w, h) = image.dimensions();
    if w != h {
        return Err(format!(
            "{w}×{h} is not square, so it cannot be an aligned crop (drop --aligned to detect faces)"
        ));
    }
    let image = if w == ALIGNED_SIZE {
        image
    } else {
        image::imageops::resize(&image, ALIGNED_SIZE, ALIGNED_SIZE, image::imageops::FilterType::Triangle)
    };
    AlignedFace::from_crop(image).map_err(|e| e.to_string())
}

/// Detects and aligns one photo, or reads the result of an earlier run from
/// `cache/<sha256>.png` (a crop) or `cache/<sha256>.skip` (why it was skipped).
fn detect_cached(
    pipeline: &Pipeline,
    cache: &Path,
    path: &Path,
    bytes: &[u8],
    sha256: &str,
) -> Result<(AlignedFace, bool), String> {
    let (crop_file, skip_file) = (cache.join(format!("{sha256}.png")), cache.join(format!("{sha256}.skip")));
    if let Ok(reason) = std::fs::read_to_string(&skip_file) {
        return Err(reason);
    }
    // A cached crop of the wrong size is no aligned face: detect again.
    if let Some(face) =
        image::open(&crop_file).ok().and_then(|image| AlignedFace::from_crop(image.to_rgb8()).ok())
    {
        return Ok((face, true));
    }
    let result = detect_one(pipeline, path, bytes);
    // The cache only saves time: failing to write it is not an error.
    let _ = match &result {
        Ok(face) => face.image().save(&crop_file).map_err(|e| e.to_string()),
        Err(reason) => std::fs::write(&skip_file, reason).map_err(|e| e.to_string()),
    };
    result.map(|face| (face, false))
}

fn detect_one(pipeline: &Pipeline, path: &Path, bytes: &[u8]) -> Result<AlignedFace, String> {
    let photo = pipeline.open_bytes(&path.display().to_string(), bytes).map_err(|e| strip_input(&e, path))?;
    let policy = facecmp::FacePolicy::exactly_one(pipeline.config().min_face_size);
    policy.the_face(&photo).map(|index| photo.align(index)).map_err(|why| why.to_string())
}

/// The reason of a pipeline error without the path (the skip list names it).
fn strip_input(error: &facecmp::Error, path: &Path) -> String {
    let text = error.to_string();
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).map(str::to_string).unwrap_or(text)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A seeded split of people (never of photos) into training and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub seed: u64,
    pub val_fraction: f32,
    pub train: Vec<String>,
    pub val: Vec<String>,
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

    pub fn of(prepared: &Prepared) -> Identities {
        Identities::new(prepared.people.iter().map(|(_, crops)| crops.len()))
    }
}

/// A pair of photos (indices) and whether they show one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pair {
    pub a: usize,
    pub b: usize,
    pub genuine: bool,
}

/// Draws pairs on the fly: never are all O(n²) pairs materialised.
pub struct PairSampler<'a> {
    identities: &'a Identities,
    /// People with at least two photos: the only source of genuine pairs.
    with_pairs: Vec<usize>,
    genuine_fraction: f32,
}

impl<'a> PairSampler<'a> {
    /// `None` when no genuine pair or no impostor pair can be drawn.
    pub fn new(identities: &'a Identities, genuine_fraction: f32) -> Option<PairSampler<'a>> {
        let with_pairs: Vec<usize> =
            (0..identities.members.len()).filter(|&p| identities.members[p].len() >= 2).collect();
        (!with_pairs.is_empty() && identities.members.len() >= 2).then_some(PairSampler {
            identities,
            with_pairs,
            genuine_fraction,
        })
    }

    /// Two photos of one person, chosen uniformly among people with two or more.
    pub fn genuine(&self, rng: &mut Rng) -> Pair {
        let person = &self.identities.members[self.with_pairs[rng.below(self.with_pairs.len())]];
        let (i, j) = rng.two_distinct(person.len());
        Pair { a: person[i], b: person[j], genuine: true }
    }

    /// Photos of two different people, the people chosen uniformly.
    pub fn impostor(&self, rng: &mut Rng) -> Pair {
        let members = &self.identities.members;
        let (p, q) = rng.two_distinct(members.len());
        let pick = |rng: &mut Rng, photos: &Vec<usize>| photos[rng.below(photos.len())];
        Pair { a: pick(rng, &members[p]), b: pick(rng, &members[q]), genuine: false }
    }

    /// `count` pairs, `genuine_fraction` of them genuine (rounded), in random order.
    pub fn batch(&self, rng: &mut Rng, count: usize) -> Vec<Pair> {
        let genuine = ((count as f32) * self.genuine_fraction).round() as usize;
        let mut pairs: Vec<Pair> =
            (0..count).map(|i| if i < genuine { self.genuine(rng) } else { self.impostor(rng) }).collect();
        rng.shuffle(&mut pairs);
        pairs
    }
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

/// Converts an aligned crop to the network's input size once (area
/// averaging, so downscaling does not alias).
pub fn downscale(face: &RgbImage, size: u32) -> RgbImage {
    if face.width() == size {
        return face.clone();
    }
    image::imageops::resize(face, size, size, image::imageops::FilterType::Triangle)
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
    fn sampled_pairs_are_labelled_truthfully_and_balanced() {
        let identities = Identities::new([3, 1, 4, 2]);
        let sampler = PairSampler::new(&identities, 0.5).unwrap();
        let mut rng = Rng::new(1);
        let pairs = sampler.batch(&mut rng, 1000);
        assert_eq!(pairs.iter().filter(|p| p.genuine).count(), 500);
        for p in &pairs {
            assert_ne!(p.a, p.b);
            assert_eq!(identities.person_of[p.a] == identities.person_of[p.b], p.genuine);
        }
        assert!(PairSampler::new(&Identities::new([1, 1]), 0.5).is_none(), "no genuine pair possible");
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
}
