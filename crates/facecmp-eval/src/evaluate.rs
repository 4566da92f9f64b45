//! An evaluation from start to finish: photos → aligned crops (cached) →
//! embeddings with the pipeline's embedder → scored pairs → [`EvalReport`].
//!
//! The embedder under test is whatever the caller's [`Pipeline`] embeds
//! with: the bundled SFace, or a trained model plugged in as a
//! `Box<dyn facecmp::Embedder>` (`Pipeline::with_embedder`). Nothing here
//! knows how a model was trained, only which people it was trained on.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use facecmp::compare::{Calibration, DEFAULT_FAR};
use facecmp::{Embedding, Pipeline};

use crate::crops::{Alignment, FaceRule, Prepared, prepare};
use crate::dataset::{Identities, Sample, Split, SplitSide, evaluation_pairs, list_samples, read_groups};
use crate::error::EvalError;
use crate::lfw::{LfwImage, LfwPair, images, parse_lfw_pairs, score_lfw};
use crate::metrics::{STANDARD_FARS, ScoredPair, calibrate, k_fold};
use crate::report::{self, EvalReport};

/// What every evaluation needs.
pub struct Setup<'a> {
    /// Detects, aligns and embeds; its embedder is the one evaluated.
    pub pipeline: &'a Pipeline,
    /// The photos already are aligned 112×112 crops: skip detection.
    pub aligned: bool,
    /// Where aligned crops are cached (a folder per detector setting inside).
    pub cache: PathBuf,
    /// For a trained model, its split of people: the report counts the
    /// evaluated people it was trained on, and calibration refuses them.
    pub split: Option<&'a Split>,
}

impl Setup<'_> {
    fn alignment(&self) -> Alignment<'_> {
        self.alignment_by(FaceRule::ExactlyOne)
    }

    fn alignment_by(&self, rule: FaceRule) -> Alignment<'_> {
        if self.aligned {
            Alignment::PreAligned
        } else {
            Alignment::detect_by(self.pipeline, &self.cache, rule)
        }
    }
}

/// Options of an evaluation on identity folders (or a `path,person` CSV).
#[derive(Debug, Clone, Default)]
pub struct FolderOptions {
    /// Impostor pairs to sample (all genuine pairs are always used).
    pub impostors: usize,
    /// Seed of the impostor sampling.
    pub seed: u64,
    /// Only the people of this side of the model's split.
    pub only: Option<SplitSide>,
    /// `person,group` CSV: per-group FMR/FNMR and TAR@FAR.
    pub groups: Option<PathBuf>,
}

/// A finished evaluation: the report and the scores it was computed from.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub report: EvalReport,
    pub scores: Vec<ScoredPair>,
}

impl Evaluation {
    /// The FAR → threshold calibration these scores vouch for. Refused when
    /// any evaluated person was trained on: thresholds measured on people the
    /// model learned would promise a false-accept rate it reaches only on them.
    pub fn calibration(&self) -> Result<Calibration, EvalError> {
        if let Some(people @ 1..) = self.report.people_trained_on {
            return Err(EvalError::CalibrationOnTrainedPeople { data: self.report.data.clone(), people });
        }
        Ok(calibrate(&self.scores, &STANDARD_FARS, format!("facecmp eval on {}", self.report.data)))
    }

    /// Writes `report.md`, `report.json`, `roc.png` and `histogram.png` to `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        self.report.write(dir, &self.scores)
    }
}

/// Evaluates on `DATA/<person>/<image>` folders or a `path,person` CSV: all
/// genuine pairs and `impostors` seeded impostor pairs.
pub fn identity_folders(
    setup: &Setup<'_>,
    data: &Path,
    options: &FolderOptions,
) -> Result<Evaluation, EvalError> {
    let mut samples = list_samples(data)?;
    if let Some(side) = options.only {
        let people: HashSet<&String> = setup.split.ok_or(EvalError::NoSplit)?.side(side).iter().collect();
        samples.retain(|s| people.contains(&s.person));
    }
    let prepared = prepare(&samples, &setup.alignment())?;
    let identities = Identities::of(&prepared);
    let pairs = evaluation_pairs(&identities, options.impostors, options.seed);
    if pairs.iter().all(|p| !p.genuine) || pairs.iter().all(|p| p.genuine) {
        return Err(EvalError::TooFewPairs { data: data.display().to_string() });
    }
    let embeddings = report::embed_prepared(setup.pipeline, &prepared)?;
    let scores = report::score(&pairs, &embeddings);
    let mut report = new_report(
        setup,
        &prepared,
        data.display().to_string(),
        "identity folders: all genuine pairs + sampled impostor pairs".into(),
        &scores,
    );
    report.impostor_seed = Some(options.seed);
    // Per-group error rates mean most at the threshold a site deploys: the
    // embedder's calibrated one for the service's default FAR.
    if let Some(threshold) = setup.pipeline.calibration().and_then(|c| c.threshold_for(DEFAULT_FAR).ok()) {
        report.operating_threshold = threshold;
        report.operating_threshold_source = format!("the embedder's calibration for FAR {DEFAULT_FAR:.0e}");
    }
    if let Some(groups_file) = &options.groups {
        let groups = read_groups(groups_file)?;
        let grouped = report::group_pairs(&pairs, &scores, &identities, &prepared.names(), &groups);
        report = report.with_groups(&grouped);
    }
    Ok(Evaluation { report, scores })
}

/// Evaluates on LFW's View-2 protocol: the pairs of `pairs_file`, images
/// under `images` as `<Name>/<Name>_0001.jpg`, 10-fold.
pub fn lfw(setup: &Setup<'_>, pairs_file: &Path, images_dir: &Path) -> Result<Evaluation, EvalError> {
    let text = std::fs::read_to_string(pairs_file).map_err(|e| EvalError::io(pairs_file, e))?;
    let lfw = parse_lfw_pairs(&text)
        .map_err(|source| EvalError::LfwPairs { path: pairs_file.to_path_buf(), source })?;
    let keys = images(&lfw);
    let samples: Vec<Sample> = keys
        .iter()
        .map(|key| Sample { path: images_dir.join(LfwPair::relative_path(key)), person: key.0.clone() })
        .collect();
    let prepared = prepare(&samples, &setup.alignment_by(FaceRule::NearestCentre))?;
    let embeddings = report::embed_prepared(setup.pipeline, &prepared)?;
    let embedding_of = embeddings_by_image(&keys, &samples, &prepared, embeddings);
    let (scored, missing) = score_lfw(&lfw, &embedding_of);
    let unscored: Vec<usize> = missing.iter().map(|pair| pair.fold).collect();
    let folds = k_fold(&scored, &unscored)
        .ok_or_else(|| EvalError::TooFewFolds { path: pairs_file.to_path_buf() })?;
    let scores: Vec<ScoredPair> = scored.iter().map(|s| s.1).collect();
    let mut report = new_report(
        setup,
        &prepared,
        images_dir.display().to_string(),
        format!("LFW View 2 ({}), 10-fold", pairs_file.display()),
        &scores,
    );
    report.lfw = Some(folds);
    Ok(Evaluation { report, scores })
}

/// The embedding of each LFW image that could be prepared (prepared crops
/// are ordered by person, then path; the embeddings follow them).
fn embeddings_by_image(
    keys: &[LfwImage],
    samples: &[Sample],
    prepared: &Prepared,
    embeddings: Vec<Embedding>,
) -> BTreeMap<LfwImage, Embedding> {
    let by_path: BTreeMap<&Path, usize> = prepared
        .people
        .iter()
        .flat_map(|(_, crops)| crops)
        .enumerate()
        .map(|(i, crop)| (crop.path.as_path(), i))
        .collect();
    keys.iter()
        .zip(samples)
        .filter_map(|(key, sample)| {
            by_path.get(sample.path.as_path()).map(|&i| (key.clone(), embeddings[i].clone()))
        })
        .collect()
}

fn new_report(
    setup: &Setup<'_>,
    prepared: &Prepared,
    data: String,
    protocol: String,
    scores: &[ScoredPair],
) -> EvalReport {
    let mut report = EvalReport::new(setup.pipeline.embedder().clone(), data, protocol, scores);
    report.people = prepared.people.len();
    report.images = prepared.images();
    report.skipped = prepared.skipped.clone();
    report.people_trained_on =
        setup.split.map(|split| split.trained_on(prepared.people.iter().map(|(name, _)| name.as_str())));
    report
}
