//! The evaluation report: what `facecmp eval` states, as Markdown
//! (`report.md`), JSON (`report.json`) and plots (`roc.png`, `histogram.png`),
//! and the steps that produce its scores (embed, score, label with groups).

use std::collections::HashMap;
use std::path::Path;

use facecmp::{EmbedderIdentity, Embedding, FaceInPhoto, Pipeline};
use serde::{Deserialize, Serialize};

use crate::crops::{Crop, Prepared, Skipped};
use crate::dataset::{Identities, Pair};
use crate::error::EvalError;
use crate::metrics::{
    GroupMetrics, GroupedPair, KFold, OperatingPoint, STANDARD_FARS, ScoredPair, Verification, per_group,
};

/// Embeds every crop of `prepared` (in order, person by person) in batches,
/// with the pipeline's embedder (SFace, dlib, both, or the one the caller
/// plugged in). An embedder with its own alignment cuts its faces from the
/// photos, as outside evaluation, where the landmarks are known.
pub fn embed_prepared(pipeline: &Pipeline, prepared: &Prepared) -> Result<Vec<Embedding>, facecmp::Error> {
    const BATCH: usize = 32;
    let crops: Vec<&Crop> = prepared.people.iter().flat_map(|(_, crops)| crops).collect();
    let bar = crate::progress::bar(crops.len() as u64, "embedding");
    let mut embeddings = Vec::with_capacity(crops.len());
    for chunk in crops.chunks(BATCH) {
        let input = chunk[0].path.display().to_string();
        if pipeline.aligns_itself() && chunk.iter().all(|c| c.landmarks.is_some()) {
            embeddings.extend(embed_in_photos(pipeline, chunk)?);
        } else {
            let faces: Vec<_> = chunk.iter().map(|c| &c.face).collect();
            embeddings.extend(pipeline.embed_aligned(&input, &faces)?);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(embeddings)
}

/// Decodes the crops' photos again (detection was cached, decoding is cheap)
/// and embeds each face where it is.
fn embed_in_photos(pipeline: &Pipeline, crops: &[&Crop]) -> Result<Vec<Embedding>, facecmp::Error> {
    let photos = crops
        .iter()
        .map(|crop| {
            facecmp::image::load(&crop.path, pipeline.config().decode)
                .map_err(|source| facecmp::Error::Image { input: crop.path.display().to_string(), source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let faces: Vec<FaceInPhoto> = crops
        .iter()
        .zip(&photos)
        .filter_map(|(crop, image)| Some(FaceInPhoto { image, landmarks: crop.landmarks.as_ref()? }))
        .collect();
    pipeline.embed_in_photos(&crops[0].path.display().to_string(), &faces)
}

/// The cosine similarity of each pair of photos (indices into `embeddings`).
pub fn score(pairs: &[Pair], embeddings: &[Embedding]) -> Vec<ScoredPair> {
    pairs
        .iter()
        .map(|p| ScoredPair::new(same_embedder_cosine(&embeddings[p.a], &embeddings[p.b]), p.genuine))
        .collect()
}

/// Every embedding of one evaluation comes from one embedder, so the
/// dimensions always agree.
pub(crate) fn same_embedder_cosine(a: &Embedding, b: &Embedding) -> f32 {
    a.cosine(b).expect("one embedder gives every embedding the same dimension")
}

/// Labels each pair with the groups of its two people ("(no group)" when
/// groups.csv does not list a person).
pub fn group_pairs(
    pairs: &[Pair],
    scores: &[ScoredPair],
    identities: &Identities,
    names: &[String],
    groups: &HashMap<String, String>,
) -> Vec<GroupedPair> {
    let group_of = |photo: usize| {
        let name = &names[identities.person_of[photo]];
        groups.get(name).cloned().unwrap_or_else(|| "(no group)".into())
    };
    pairs
        .iter()
        .zip(scores)
        .map(|(p, s)| GroupedPair { pair: *s, group_a: group_of(p.a), group_b: group_of(p.b) })
        .collect()
}

/// Everything `facecmp eval` states, as written to `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub embedder: EmbedderIdentity,
    pub data: String,
    pub protocol: String,
    pub people: usize,
    pub images: usize,
    pub skipped: Vec<Skipped>,
    /// For a trained model: evaluated people that were in its training side
    /// (should be 0 for an honest test).
    pub people_trained_on: Option<usize>,
    pub impostor_seed: Option<u64>,
    pub verification: Verification,
    /// The threshold the per-group rates are measured at.
    pub operating_threshold: f32,
    pub operating_threshold_source: String,
    pub lfw: Option<KFold>,
    pub groups: Option<Vec<GroupMetrics>>,
}

impl EvalReport {
    pub fn new(
        embedder: EmbedderIdentity,
        data: String,
        protocol: String,
        scores: &[ScoredPair],
    ) -> EvalReport {
        let verification = Verification::of(scores, &STANDARD_FARS);
        EvalReport {
            embedder,
            data,
            protocol,
            people: 0,
            images: 0,
            skipped: Vec::new(),
            people_trained_on: None,
            impostor_seed: None,
            // Not the best plain accuracy: over mostly impostor pairs its
            // threshold rejects nearly everyone and inflates every FNMR.
            operating_threshold: verification.best_balanced_threshold.unwrap_or(0.0),
            operating_threshold_source: "best balanced accuracy on these pairs".into(),
            verification,
            lfw: None,
            groups: None,
        }
    }

    pub fn with_groups(mut self, pairs: &[GroupedPair]) -> EvalReport {
        self.groups = Some(per_group(pairs, self.operating_threshold, &STANDARD_FARS));
        self
    }

    /// Writes `report.md`, `report.json` and the ROC and histogram PNGs.
    pub fn write(&self, dir: &Path, scores: &[ScoredPair]) -> Result<(), EvalError> {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
        let json = serde_json::to_string_pretty(self).expect("the report serialises") + "\n";
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| EvalError::io(&path, e))
        };
        write("report.json", &json)?;
        write("report.md", &self.markdown())?;
        crate::plots::evaluation_plots(dir, scores, &self.embedder.name)
    }

    pub fn markdown(&self) -> String {
        let v = &self.verification;
        let mut md = format!("# Verification report: {}\n\n", self.embedder.name);
        md += &format!("- data: `{}` ({})\n", self.data, self.protocol);
        md += &format!(
            "- {} people, {} images; {} photos skipped\n",
            self.people,
            self.images,
            self.skipped.len()
        );
        md += &format!(
            "- pairs: {} genuine, {} impostor{}\n",
            v.pairs.genuine,
            v.pairs.impostor,
            self.impostor_seed.map_or(String::new(), |s| format!(" (impostors sampled with seed {s})"))
        );
        if let Some(overlap) = self.people_trained_on {
            md += &format!("- people also in the model's training split: {overlap}\n");
        }
        md += &format!("- embedder sha256: `{}`\n\n", self.embedder.sha256);
        md += "| metric | value |\n|---|---|\n";
        md += &format!("| ROC AUC | {:.4} |\n", v.auc);
        md += &format!("| EER | {} (threshold {}) |\n", percent(v.eer), number(v.eer_threshold));
        md += &format!(
            "| best accuracy (threshold chosen on these pairs) | {} at {} |\n",
            percent(v.best_accuracy),
            number(v.best_threshold)
        );
        md += &format!(
            "| best balanced accuracy (mean of TAR and true-reject rate) | {} at {} |\n",
            percent(v.best_balanced_accuracy),
            number(v.best_balanced_threshold)
        );
        for (far, point) in &v.tar_at_far {
            md += &format!("| TAR @ FAR {far:.0e} | {} |\n", operating(point.as_ref()));
        }
        if let Some(lfw) = &self.lfw {
            md += &lfw_section(lfw, &self.embedder.name);
        }
        if let Some(groups) = &self.groups {
            md += &format!(
                "\n## Per group at threshold {:.4} ({})\n\n| group | genuine | impostor | FMR | FNMR | TAR@FAR 1e-2 | TAR@FAR 1e-3 |\n|---|---|---|---|---|---|---|\n",
                self.operating_threshold, self.operating_threshold_source
            );
            for g in groups {
                let tar = |far: f64| {
                    g.tar_at_far.iter().find(|t| t.0 == far).and_then(|t| t.1.as_ref()).map(|p| p.tar)
                };
                md += &format!(
                    "| {} | {} | {} | {} | {} | {} | {} |\n",
                    g.group,
                    g.pairs.genuine,
                    g.pairs.impostor,
                    percent(g.fmr),
                    percent(g.fnmr),
                    percent(tar(1e-2)),
                    percent(tar(1e-3))
                );
            }
        }
        if !self.skipped.is_empty() {
            md += "\n## Skipped photos\n\n";
            for s in &self.skipped {
                md += &format!("- `{}`: {}\n", s.path.display(), s.reason);
            }
        }
        md += "\nA TAR@FAR is given only where there are at least 1/FAR impostor pairs; n/a otherwise.\n";
        md
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{:.2} %", 100.0 * v))
}

fn number(value: Option<f32>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.4}"))
}

fn operating(point: Option<&OperatingPoint>) -> String {
    point.map_or("n/a (too few impostor pairs)".into(), |p| {
        format!("{:.2} % (threshold {:.4}, measured FAR {:.1e})", 100.0 * p.tar, p.threshold, p.far)
    })
}

/// Published LFW View-2 accuracies of the networks facecmp ships, shown
/// beside a measured one: (embedder name prefix, accuracy %, source).
const PUBLISHED_LFW: [(&str, f64, &str); 2] =
    [("sface", 99.40, "OpenCV zoo"), ("dlib", 99.38, "dlib's model card")];

/// The LFW section of `report.md`: accuracy over every pair of the
/// protocol (pairs that could not be scored count as errors), each fold,
/// and the published figure for the same network.
fn lfw_section(lfw: &KFold, embedder: &str) -> String {
    let folds = lfw.folds.len();
    let total = lfw.scored_pairs + lfw.error_pairs;
    let mut md = format!(
        "\n## LFW View 2, {folds}-fold\n\naccuracy {:.2} % ± {:.2} % (mean ± sample std over {folds} folds; threshold chosen on the other {}), over all {total} pairs: {} scored, {} counted as errors (no usable face in an image, or an image missing)\n",
        100.0 * lfw.mean_accuracy,
        100.0 * lfw.std_accuracy,
        folds.saturating_sub(1),
        lfw.scored_pairs,
        lfw.error_pairs,
    );
    md += "\n| fold | threshold | scored pairs | errors | accuracy |\n|---|---|---|---|---|\n";
    for fold in &lfw.folds {
        md += &format!(
            "| {} | {:.4} | {} | {} | {:.2} % |\n",
            fold.fold,
            fold.threshold,
            fold.pairs.genuine + fold.pairs.impostor,
            fold.errors,
            100.0 * fold.accuracy
        );
    }
    if let Some((_, published, source)) =
        PUBLISHED_LFW.iter().find(|(prefix, ..)| embedder.starts_with(prefix))
    {
        md += &format!("\npublished for this network: {published:.2} % ({source})\n");
    }
    md
}
