//! The crop cache: each photo decoded, its one face detected and aligned to
//! the 112×112 template once, and the crop with the face's landmarks in the
//! photo (or the reason it was skipped) kept under the file's sha256, so that
//! later runs skip detection. The landmarks let an embedder with its own
//! alignment (dlib's chip) cut its face from the photo, as it does outside
//! evaluation.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use facecmp::align::ALIGNED_SIZE;
use facecmp::{AlignedFace, Pipeline, Point, RgbImage};
use serde::{Deserialize, Serialize};

use crate::dataset::{Identities, Sample};
use crate::error::EvalError;
use crate::progress;

/// How a photo becomes an aligned 112×112 crop.
pub enum Alignment<'a> {
    /// The images already are aligned crops (e.g. `facecmp synth` output).
    PreAligned,
    /// Detect with the pipeline, align the face `rule` picks; results cached
    /// in the folder (see [`Alignment::detect`]).
    Detect { pipeline: &'a Pipeline, cache: PathBuf, rule: FaceRule },
}

/// Which face of a photo its label means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceRule {
    /// Exactly one usable face, else the photo is skipped: in identity
    /// folders nobody says which of two faces the folder's person is.
    ExactlyOne,
    /// The usable face nearest the image centre: LFW's images are centred
    /// on the named person (the rule of the published LFW evaluations),
    /// with other people often behind them.
    NearestCentre,
}

impl<'a> Alignment<'a> {
    /// Detection with `pipeline`, exactly one face per photo.
    pub fn detect(pipeline: &'a Pipeline, cache_root: &Path) -> Alignment<'a> {
        Alignment::detect_by(pipeline, cache_root, FaceRule::ExactlyOne)
    }

    /// Detection with `pipeline`, caching under `cache_root` in a folder per
    /// detector setting and rule: other settings find other faces, so they
    /// get other crops.
    pub fn detect_by(pipeline: &'a Pipeline, cache_root: &Path, rule: FaceRule) -> Alignment<'a> {
        let config = pipeline.config();
        let rule_suffix = match rule {
            FaceRule::ExactlyOne => "",
            FaceRule::NearestCentre => "-centre",
        };
        let settings = format!(
            "yunet-{}px-{}-min{}{rule_suffix}",
            config.detector.max_input_side, config.detector.score_threshold, config.min_face_size
        );
        Alignment::Detect { pipeline, cache: cache_root.join(settings), rule }
    }
}

/// Where evaluation keeps aligned crops across runs (keyed by file hash):
/// `$XDG_CACHE_HOME/facecmp/crops`, else `~/.cache/facecmp/crops`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("facecmp").join("crops")
}

/// An aligned crop of one photo.
#[derive(Debug, Clone)]
pub struct Crop {
    pub path: PathBuf,
    pub sha256: String,
    pub face: AlignedFace,
    /// Where the face's five landmarks are in the photo at `path`; `None`
    /// for images that already were crops.
    pub landmarks: Option<[Point; 5]>,
}

/// A detected face as the cache keeps it.
type Detected = (AlignedFace, Option<[Point; 5]>);

/// A photo left out, and why (no face, several faces, unreadable…).
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

// Here rather than in `dataset`, next to `Identities::new`: the data set
// comes first and knows nothing of crops.
impl Identities {
    /// Who is who among the crops of `prepared`, in its order.
    pub fn of(prepared: &Prepared) -> Identities {
        Identities::new(prepared.people.iter().map(|(_, crops)| crops.len()))
    }
}

/// Decodes, detects and aligns every sample. A photo with no face, with
/// several faces (which one would the label mean?) or that cannot be read is
/// skipped and listed, never guessed at.
pub fn prepare(samples: &[Sample], alignment: &Alignment<'_>) -> Result<Prepared, EvalError> {
    if let Alignment::Detect { cache, .. } = alignment {
        std::fs::create_dir_all(cache).map_err(|e| EvalError::io(cache, e))?;
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
        let sha256 = facecmp::digest::sha256_hex(&bytes);
        let outcome = match alignment {
            Alignment::PreAligned => pre_aligned(&bytes).map(|face| ((face, None), false)),
            Alignment::Detect { pipeline, cache, rule } => {
                detect_cached(pipeline, cache, *rule, &sample.path, &bytes, &sha256)
            }
        };
        match outcome {
            Ok(((face, landmarks), cached)) => {
                prepared.from_cache += usize::from(cached);
                by_person.entry(sample.person.clone()).or_default().push(Crop {
                    path: sample.path.clone(),
                    sha256,
                    face,
                    landmarks,
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
        return Err(format!("{w}×{h} is not square, so it cannot be an aligned crop"));
    }
    let image = if w == ALIGNED_SIZE {
        image
    } else {
        image::imageops::resize(&image, ALIGNED_SIZE, ALIGNED_SIZE, image::imageops::FilterType::Triangle)
    };
    Ok(aligned_crop(image))
}

/// Detects and aligns one photo, or reads the result of an earlier run from
/// `cache/<sha256>.png` (a crop) with `cache/<sha256>.landmarks.json`, or
/// `cache/<sha256>.skip` (why it was skipped).
fn detect_cached(
    pipeline: &Pipeline,
    cache: &Path,
    rule: FaceRule,
    path: &Path,
    bytes: &[u8],
    sha256: &str,
) -> Result<(Detected, bool), String> {
    let skip_file = cache.join(format!("{sha256}.skip"));
    let (crop_file, landmarks_file) =
        (cache.join(format!("{sha256}.png")), cache.join(format!("{sha256}.landmarks.json")));
    if let Ok(reason) = std::fs::read_to_string(&skip_file) {
        return Err(reason);
    }
    // A cached file that is not a 112×112 image or not five points (damaged,
    // or written by an older facecmp) is a miss: detect again, overwrite it.
    let cached_crop =
        image::open(&crop_file).ok().and_then(|image| AlignedFace::from_crop(image.to_rgb8()).ok());
    let cached_landmarks =
        std::fs::read(&landmarks_file).ok().and_then(|json| serde_json::from_slice::<[Point; 5]>(&json).ok());
    if let (Some(face), Some(landmarks)) = (cached_crop, cached_landmarks) {
        return Ok(((face, Some(landmarks)), true));
    }
    let result = detect_one(pipeline, rule, path, bytes);
    // The cache only saves time: failing to write it is not an error.
    let _ = match &result {
        Ok((face, landmarks)) => face.image().save(&crop_file).map_err(|e| e.to_string()).and_then(|()| {
            let json = serde_json::to_vec(landmarks).map_err(|e| e.to_string())?;
            std::fs::write(&landmarks_file, json).map_err(|e| e.to_string())
        }),
        Err(reason) => std::fs::write(&skip_file, reason).map_err(|e| e.to_string()),
    };
    result.map(|(face, landmarks)| ((face, Some(landmarks)), false))
}

fn detect_one(
    pipeline: &Pipeline,
    rule: FaceRule,
    path: &Path,
    bytes: &[u8],
) -> Result<(AlignedFace, [Point; 5]), String> {
    let photo = pipeline.open_bytes(&path.display().to_string(), bytes).map_err(|e| strip_input(&e, path))?;
    let min_face_size = pipeline.config().min_face_size;
    let chosen = match rule {
        FaceRule::ExactlyOne => {
            facecmp::FacePolicy::exactly_one(min_face_size).the_face(&photo).map_err(|why| why.to_string())
        }
        FaceRule::NearestCentre => nearest_centre(&photo, min_face_size),
    };
    chosen.map(|index| (photo.align(index), photo.faces[index].landmarks))
}

/// The face large enough to use whose box centre is nearest the image's.
fn nearest_centre(photo: &facecmp::Photo, min_face_size: f32) -> Result<usize, String> {
    let (width, height) = photo.image.dimensions();
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let distance = |index: usize| {
        let b = &photo.faces[index].bbox;
        (b.x + b.width / 2.0 - cx).hypot(b.y + b.height / 2.0 - cy)
    };
    let usable = (0..photo.faces.len()).filter(|&i| photo.faces[i].size() >= min_face_size);
    match usable.min_by(|&a, &b| distance(a).total_cmp(&distance(b))) {
        Some(index) => Ok(index),
        None if photo.faces.is_empty() => Err("no face found".into()),
        None => Err(format!("no face of at least {min_face_size:.0} px")),
    }
}

/// The reason of a pipeline error without the path (the skip list names it).
fn strip_input(error: &facecmp::Error, path: &Path) -> String {
    let text = error.to_string();
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).map(str::to_string).unwrap_or(text)
}

/// A 112×112 crop already aligned to the template (its transform from the
/// photo is not known, nor needed to embed it).
fn aligned_crop(image: RgbImage) -> AlignedFace {
    AlignedFace::from_crop(image).expect("callers resize to the aligned size first")
}

#[cfg(test)]
mod tests {
    use facecmp::{BoundingBox, Face, Photo, Point};

    use super::*;

    fn face_at(x: f32, y: f32, side: f32) -> Face {
        Face {
            bbox: BoundingBox { x, y, width: side, height: side },
            score: 0.9,
            landmarks: [Point { x, y }; 5],
        }
    }

    fn photo(faces: Vec<Face>) -> Photo {
        Photo { input: "lfw.jpg".into(), image: RgbImage::new(250, 250), faces }
    }

    /// LFW's subject is in the middle; a stronger face at the edge (listed
    /// first) is someone behind them, and a central face too small to use
    /// does not count.
    #[test]
    fn nearest_centre_takes_the_usable_face_in_the_middle() {
        let faces = vec![face_at(0.0, 0.0, 80.0), face_at(100.0, 100.0, 10.0), face_at(80.0, 70.0, 90.0)];
        assert_eq!(nearest_centre(&photo(faces), 20.0), Ok(2));
        assert_eq!(nearest_centre(&photo(vec![]), 20.0), Err("no face found".into()));
        assert_eq!(
            nearest_centre(&photo(vec![face_at(120.0, 120.0, 10.0)]), 20.0),
            Err("no face of at least 20 px".into())
        );
    }
}
