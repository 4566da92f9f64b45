//! `facecmp train DATA --out MODEL_DIR` and `facecmp synth OUT`: the
//! commands that link burn (the `train` feature; `untrained.rs` stands in
//! without it). What `--embedder MODEL_DIR` needs of a trained model is in
//! `trained_model.rs`.

use std::path::Path;

use facecmp_eval::crops::{self, Alignment, Prepared};
use facecmp_eval::dataset;
use facecmp_train::artifacts::{self, DataSummary};
use facecmp_train::augment::Augmentation;
use facecmp_train::training::{EpochMetrics, OptimizerKind, Schedule, TrainError};
use facecmp_train::{Architecture, TowerConfig, TrainConfig, synthetic};

use crate::args::{ArchitectureArg, GlobalArgs, OptimizerArg, SynthArgs, TrainArgs};
use crate::commands::skipped_photos::report_skipped;
use crate::outcome::{CliError, Outcome};
use crate::pipeline::load_models;

pub fn run(global: &GlobalArgs, args: &TrainArgs) -> Result<Outcome, CliError> {
    let config = train_config(args)?;
    let samples = dataset::list_samples(&args.data)?;
    let prepared = prepare(
        global,
        &samples,
        args.aligned,
        &args.cache.clone().unwrap_or_else(|| args.out.join("crops")),
    )?;
    report_skipped(&prepared.skipped, args.aligned);
    eprintln!(
        "facecmp: training {} on {} people ({} photos), {} held out for validation",
        config.tower.architecture.name(),
        prepared.people.len(),
        prepared.images(),
        dataset::split_by_identity(&prepared.names(), config.val_fraction, config.seed).val.len()
    );
    let trained = facecmp_train::train(&prepared, &config, &args.out, args.resume, &mut print_epoch)
        .map_err(|error| match error {
            TrainError::FewerEpochs { done, .. } => {
                CliError::hinted(error, format!("resume with --epochs {done} or more"))
            }
            error => error.into(),
        })?;
    let summary = DataSummary {
        source: args.data.display().to_string(),
        pre_aligned: args.aligned,
        people: prepared.people.len(),
        images: prepared.images(),
        skipped: prepared.skipped.len(),
    };
    let card = artifacts::write_model(&args.out, &trained, &config, summary)?;
    outln!("model: {}", args.out.display());
    if let Some(v) = &card.validation {
        outln!(
            "validation ({} people never trained on; {} genuine, {} impostor pairs): AUC {:.4}, best balanced accuracy {:.2} % at {:.4}",
            card.split.val.len(),
            v.pairs.genuine,
            v.pairs.impostor,
            v.auc,
            100.0 * v.best_balanced_accuracy.unwrap_or(0.0),
            v.best_balanced_threshold.unwrap_or(0.0)
        );
    }
    for point in card.calibration.iter().flat_map(|c| &c.points) {
        match (point.threshold, point.tar) {
            (Some(threshold), Some(tar)) => outln!(
                "calibrated: FAR {:.0e} → threshold {threshold:.4} (TAR {:.2} %)",
                point.far,
                100.0 * tar
            ),
            _ => outln!("calibrated: FAR {:.0e} → n/a (too few validation impostor pairs)", point.far),
        }
    }
    Ok(Outcome::Yes)
}

fn train_config(args: &TrainArgs) -> Result<TrainConfig, CliError> {
    if !(0.0..1.0).contains(&args.val_fraction) {
        return Err(CliError::invalid("--val-fraction", args.val_fraction, "a share in [0, 1)"));
    }
    if !(args.genuine_ratio > 0.0 && args.genuine_ratio.is_finite()) {
        return Err(CliError::invalid("--genuine-ratio", args.genuine_ratio, "a positive ratio"));
    }
    let optimizer = match args.optimizer {
        OptimizerArg::Sgd => OptimizerKind::Sgd,
        OptimizerArg::Adam => OptimizerKind::Adam,
    };
    let default_lr = if optimizer == OptimizerKind::Sgd { 0.05 } else { 1e-3 };
    Ok(TrainConfig {
        tower: TowerConfig {
            architecture: match args.arch {
                ArchitectureArg::Compact => Architecture::Compact,
                ArchitectureArg::Seed => Architecture::Seed,
            },
            input_size: args.input_size as usize,
            embedding_dim: args.embedding_dim as usize,
            width: args.width as usize,
        },
        epochs: args.epochs as usize,
        pairs_per_epoch: args.pairs_per_epoch as usize,
        batch_size: args.batch_size as usize,
        genuine_fraction: args.genuine_ratio / (1.0 + args.genuine_ratio),
        hard_negatives: args.hard_negatives,
        margin: args.margin,
        optimizer,
        learning_rate: args.lr.unwrap_or(default_lr),
        weight_decay: args.weight_decay,
        schedule: if args.constant_lr { Schedule::Constant } else { Schedule::Cosine },
        augmentation: (!args.no_augment).then_some(Augmentation::STANDARD),
        val_fraction: args.val_fraction,
        seed: args.seed,
        ..TrainConfig::default()
    })
}

/// Decodes and aligns the photos: as given (`--aligned`) or through YuNet,
/// with crops cached per detector setting.
fn prepare(
    global: &GlobalArgs,
    samples: &[dataset::Sample],
    aligned: bool,
    cache: &Path,
) -> Result<Prepared, CliError> {
    if aligned {
        return Ok(crops::prepare(samples, &Alignment::PreAligned)?);
    }
    let pipeline = load_models(global.config())?;
    Ok(crops::prepare(samples, &Alignment::detect(&pipeline, cache))?)
}

fn print_epoch(m: &EpochMetrics) {
    let opt = |v: Option<f64>, scale: f64| v.map_or("n/a".to_string(), |v| format!("{:.4}", v * scale));
    eprintln!(
        "epoch {:>3}: train loss {:.4}, val loss {}, val accuracy {} %, val AUC {}, {:.0} pairs/s, lr {:.2e}",
        m.epoch,
        m.train_loss,
        opt(m.val_loss, 1.0),
        opt(m.val_accuracy, 100.0),
        opt(m.val_auc, 1.0),
        m.pairs_per_second,
        m.learning_rate
    );
}

pub fn synth(args: &SynthArgs) -> Result<Outcome, CliError> {
    if args.identities < 2 {
        return Err(CliError::invalid("--identities", args.identities, "at least 2"));
    }
    write_synthetic(&args.out, args.identities, args.photos as usize, args.seed)?;
    outln!(
        "{}: {} synthetic identities × {} photos (seed {}); train/eval them with --aligned",
        args.out.display(),
        args.identities,
        args.photos,
        args.seed
    );
    Ok(Outcome::Yes)
}

fn write_synthetic(out: &Path, identities: usize, photos: usize, seed: u64) -> Result<(), CliError> {
    synthetic::write_dataset(out, identities, photos, seed).map(|_| ()).map_err(|e| CliError::write(out, e))
}
