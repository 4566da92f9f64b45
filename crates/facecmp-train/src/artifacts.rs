//! What `train` leaves in MODEL_DIR: `model.safetensors` (the weights),
//! `model.json` (everything needed to rebuild, trust and calibrate the
//! model), `metrics.csv` (one row per epoch) and the plots.

use std::path::Path;

use facecmp::compare::Calibration;
use facecmp_eval::dataset::Split;
use facecmp_eval::metrics::{STANDARD_FARS, ScoredPair, Verification, calibrate};
use facecmp_eval::plots;
use serde::{Deserialize, Serialize};

use crate::augment::PREPROCESSING;
use crate::checkpoint::{save_weights, write_atomically};
use crate::model::TowerConfig;
use crate::training::{EpochMetrics, TrainConfig, TrainError, Trained};

pub const MODEL_JSON: &str = "model.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const METRICS_CSV: &str = "metrics.csv";
/// Identifies the layout of `model.json`.
pub const FORMAT: &str = "facecmp-siamese-tower/1";

/// The data a model was trained on, in numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub source: String,
    pub pre_aligned: bool,
    pub people: usize,
    pub images: usize,
    pub skipped: usize,
}

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub format: String,
    pub tower: TowerConfig,
    /// Side of the aligned crop the model expects before resizing.
    pub aligned_size: u32,
    pub preprocessing: String,
    pub weights: String,
    pub weights_sha256: String,
    pub training: TrainConfig,
    pub data: DataSummary,
    /// The people trained on and those held out: evaluation can prove its
    /// people were never trained on.
    pub split: Split,
    pub epochs: Vec<EpochMetrics>,
    /// Final metrics on the validation people.
    pub validation: Option<Verification>,
    /// Cosine threshold per target FAR (`compare --far`, `access --far`),
    /// with what it was measured on.
    pub calibration: Option<Calibration>,
}

impl ModelCard {
    pub fn read(dir: &Path) -> Result<ModelCard, TrainError> {
        let path = dir.join(MODEL_JSON);
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        let card: ModelCard =
            serde_json::from_str(&text).map_err(|source| TrainError::Json { path: path.clone(), source })?;
        if card.format != FORMAT {
            return Err(TrainError::Format { path, found: card.format, expected: FORMAT });
        }
        Ok(card)
    }

    pub fn write(&self, dir: &Path) -> Result<(), TrainError> {
        let path = dir.join(MODEL_JSON);
        let json = serde_json::to_string_pretty(self).expect("the model card serialises");
        write_atomically(&path, (json + "\n").as_bytes())
    }

    /// Replaces the calibration (e.g. with `facecmp_eval::Evaluation::calibration`
    /// measured on more people).
    pub fn recalibrate(&mut self, calibration: Calibration) {
        self.calibration = Some(calibration);
    }
}

pub fn sha256_file(path: &Path) -> Result<String, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    Ok(facecmp::digest::sha256_hex(&bytes))
}

/// Writes weights, model card, metrics and plots of a finished run.
pub fn write_model(
    dir: &Path,
    trained: &Trained,
    config: &TrainConfig,
    data: DataSummary,
) -> Result<ModelCard, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let weights = dir.join(WEIGHTS);
    save_weights(&trained.model, &weights)?;
    let card = ModelCard {
        format: FORMAT.into(),
        tower: config.tower,
        aligned_size: facecmp::align::ALIGNED_SIZE,
        preprocessing: PREPROCESSING.into(),
        weights: WEIGHTS.into(),
        weights_sha256: sha256_file(&weights)?,
        training: config.clone(),
        data,
        split: trained.split.clone(),
        epochs: trained.history.clone(),
        validation: (!trained.val_scores.is_empty())
            .then(|| Verification::of(&trained.val_scores, &STANDARD_FARS)),
        calibration: (!trained.val_scores.is_empty()).then(|| {
            calibrate(&trained.val_scores, &STANDARD_FARS, "the validation people of the split".into())
        }),
    };
    card.write(dir)?;
    write_metrics_csv(&dir.join(METRICS_CSV), &trained.history)?;
    training_plots(dir, &trained.history, &trained.val_scores)?;
    Ok(card)
}

/// `loss.png`, `accuracy.png`, and the validation people's `roc.png` and `histogram.png`.
fn training_plots(dir: &Path, history: &[EpochMetrics], val_scores: &[ScoredPair]) -> Result<(), TrainError> {
    let series = |value: fn(&EpochMetrics) -> Option<f64>| -> Vec<(f64, f64)> {
        history.iter().filter_map(|m| value(m).map(|v| (m.epoch as f64, v))).collect()
    };
    plots::loss_plot(&dir.join(plots::LOSS_PNG), &series(|m| Some(m.train_loss)), &series(|m| m.val_loss))?;
    plots::accuracy_plot(
        &dir.join(plots::ACCURACY_PNG),
        &series(|m| m.val_accuracy),
        &series(|m| m.val_auc),
    )?;
    plots::evaluation_plots(dir, val_scores, "validation people")?;
    Ok(())
}

pub fn write_metrics_csv(path: &Path, history: &[EpochMetrics]) -> Result<(), TrainError> {
    let mut text = String::from(
        "epoch,train_loss,val_loss,val_accuracy,val_threshold,val_auc,val_eer,learning_rate,pairs_per_second,seconds\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    for m in history {
        text += &format!(
            "{},{:.6},{},{},{},{},{},{:.6e},{:.1},{:.1}\n",
            m.epoch,
            m.train_loss,
            opt(m.val_loss),
            opt(m.val_accuracy),
            opt(m.val_threshold.map(f64::from)),
            opt(m.val_auc),
            opt(m.val_eer),
            m.learning_rate,
            m.pairs_per_second,
            m.seconds
        );
    }
    write_atomically(path, text.as_bytes())
}
