//! The training loop: balanced pairs drawn on the fly, one tower forward per
//! step over every image of the batch, contrastive loss, SGD (Nesterov) or
//! Adam, a learning-rate schedule, validation on people never trained on,
//! and a checkpoint after every epoch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use facecmp::RgbImage;
use facecmp_eval::crops::Prepared;
use facecmp_eval::dataset::{self, Identities, Pair, Split};
use facecmp_eval::metrics::{STANDARD_FARS, ScoredPair, Verification};
use facecmp_eval::progress;
use facecmp_eval::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::augment::{self, Augmentation};
use crate::checkpoint::{Checkpoint, CheckpointState};
use crate::data::{self, PairSampler};
use crate::loss;
use crate::model::{Tower, TowerConfig};
use crate::schedule::LearningRate;
pub use crate::schedule::Schedule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum (the original project's choice).
    Sgd,
    Adam,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub tower: TowerConfig,
    pub epochs: usize,
    /// Pairs drawn per epoch (fresh pairs every epoch).
    pub pairs_per_epoch: usize,
    /// Pairs per optimisation step.
    pub batch_size: usize,
    /// Share of genuine pairs in a batch (0.5 = 1:1).
    pub genuine_fraction: f32,
    /// Replace each batch's impostors by the hardest in-batch impostor of
    /// each anchor (1:1 genuine:impostor).
    pub hard_negatives: bool,
    pub margin: f32,
    pub optimizer: OptimizerKind,
    pub learning_rate: f64,
    /// SGD momentum (Nesterov).
    pub momentum: f64,
    pub weight_decay: f32,
    pub schedule: Schedule,
    /// Steps of linear warm-up before the schedule.
    pub warmup_steps: usize,
    pub augmentation: Option<Augmentation>,
    /// Share of people held out for validation.
    pub val_fraction: f32,
    /// Impostor pairs drawn among validation people (all genuine pairs are used).
    pub val_impostors: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            tower: TowerConfig {
                architecture: crate::model::Architecture::Compact,
                input_size: 64,
                embedding_dim: 128,
                width: 16,
            },
            epochs: 10,
            pairs_per_epoch: 8192,
            batch_size: 32,
            genuine_fraction: 0.5,
            hard_negatives: false,
            margin: 1.0,
            optimizer: OptimizerKind::Sgd,
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: Schedule::Cosine,
            warmup_steps: 50,
            augmentation: Some(Augmentation::STANDARD),
            val_fraction: 0.2,
            val_impostors: 20_000,
            seed: 42,
        }
    }
}

impl TrainConfig {
    pub fn steps_per_epoch(&self) -> usize {
        self.pairs_per_epoch.div_ceil(self.batch_size).max(1)
    }

    /// The learning-rate schedule over the whole run (re-planned when a
    /// resumed run grows `epochs`).
    pub fn learning_rate(&self) -> LearningRate {
        LearningRate {
            initial: self.learning_rate,
            schedule: self.schedule,
            warmup_steps: self.warmup_steps,
            total_steps: self.epochs * self.steps_per_epoch(),
        }
    }

    /// The learning rate of optimisation step `step` (0-based, over the run).
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        self.learning_rate().at(step)
    }
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    /// Best pair accuracy on balanced validation pairs (people never
    /// trained on; threshold chosen on them, reported beside it).
    pub val_accuracy: Option<f64>,
    pub val_threshold: Option<f32>,
    pub val_auc: Option<f64>,
    pub val_eer: Option<f64>,
    pub learning_rate: f64,
    pub pairs_per_second: f64,
    pub seconds: f64,
}

/// Everything training can fail with; each variant names the file or the
/// data it concerns, none a command-line flag.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Eval(#[from] facecmp_eval::EvalError),
    #[error(
        "the training side of the split has {people} people; at least two, one of them with two or more photos, are needed"
    )]
    TooFewTrainingPeople { people: usize },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{}: format `{found}` is not `{expected}`", path.display())]
    Format { path: PathBuf, found: String, expected: &'static str },
    /// burn could not write or read weights or optimizer state.
    #[error("{}: {source}", path.display())]
    Store { path: PathBuf, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("{}: does not fit the tower: missing {missing:?}, errors {errors:?}", path.display())]
    DoesNotFit { path: PathBuf, missing: Vec<String>, errors: Vec<String> },
    #[error("{}: sha256 {found} differs from model.json's {expected}", path.display())]
    WeightsChanged { path: PathBuf, found: String, expected: String },
    #[error("{}: cannot resume: {source}", path.display())]
    NoCheckpoint { path: PathBuf, source: std::io::Error },
    #[error("{}: has {done} epochs done already; a resumed run needs at least as many", path.display())]
    FewerEpochs { path: PathBuf, done: usize },
    #[error("{}: was made with other training settings; resume with the same ones", path.display())]
    OtherSettings { path: PathBuf },
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> TrainError {
        TrainError::Io { path: path.to_path_buf(), source }
    }

    pub(crate) fn store(path: &Path, source: impl std::error::Error + Send + Sync + 'static) -> TrainError {
        TrainError::Store { path: path.to_path_buf(), source: Box::new(source) }
    }
}

/// What a finished run hands to the artifact writer.
pub struct Trained {
    /// The inference view (batch norm uses running statistics).
    pub model: Tower,
    pub split: Split,
    pub history: Vec<EpochMetrics>,
    /// The final validation scores (for calibration, ROC and histogram).
    pub val_scores: Vec<ScoredPair>,
}

/// Crops at the network's input size, in person order (as `Identities` numbers them).
fn input_crops(prepared: &Prepared, size: usize) -> Vec<RgbImage> {
    prepared
        .people
        .iter()
        .flat_map(|(_, crops)| crops.iter().map(|c| data::downscale(c.face.image(), size as u32)))
        .collect()
}

/// The chosen crops as one `[N, 3, S, S]` tensor, augmented when asked.
pub(crate) fn input_tensor(
    crops: &[RgbImage],
    images: &[usize],
    mut augmentation: Option<(&Augmentation, &mut Rng)>,
    device: &Device,
) -> Tensor<4> {
    let side = crops.first().map_or(0, |c| c.width() as usize);
    let per_image = 3 * side * side;
    let mut values = vec![0.0f32; images.len() * per_image];
    for (&image, out) in images.iter().zip(values.chunks_exact_mut(per_image)) {
        let aug = augmentation.as_mut().map(|(a, rng)| (*a, &mut **rng));
        augment::to_input(&crops[image], out, aug);
    }
    Tensor::from_data(TensorData::new(values, [images.len(), 3, side, side]), device)
}

/// Embeds images with the inference view, in chunks, as plain vectors.
pub fn embed_all(model: &Tower, crops: &[RgbImage], device: &Device) -> Vec<Vec<f32>> {
    const CHUNK: usize = 128;
    let mut out = Vec::with_capacity(crops.len());
    for start in (0..crops.len()).step_by(CHUNK) {
        let images: Vec<usize> = (start..(start + CHUNK).min(crops.len())).collect();
        let embeddings = model.forward(input_tensor(crops, &images, None, device));
        let [_, dim] = embeddings.dims();
        let values = embeddings.into_data();
        let values = values.as_slice::<f32>().expect("embeddings are f32");
        out.extend(values.chunks_exact(dim).map(<[f32]>::to_vec));
    }
    out
}

/// The core's cosine; one tower gives every embedding the same dimension.
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    facecmp::compare::cosine(a, b).expect("one tower gives every embedding the same dimension")
}

/// Trains a tower on `prepared` and writes a checkpoint to `out/checkpoint`
/// after every epoch; with `resume`, continues from that checkpoint.
/// `on_epoch` sees each epoch's metrics as they come.
pub fn train(
    prepared: &Prepared,
    config: &TrainConfig,
    out: &Path,
    resume: bool,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<Trained, TrainError> {
    let checkpoint = Checkpoint::of_run(out);
    let saved = if resume { Some(checkpoint.load_state(config)?) } else { None };
    let split = match &saved {
        Some(state) => state.split.clone(),
        None => dataset::split_by_identity(&prepared.names(), config.val_fraction, config.seed),
    };
    let validation = Validation::new(&prepared.only(&split.val), config);
    let mut trainer = Trainer::new(&prepared.only(&split.train), config)
        .ok_or(TrainError::TooFewTrainingPeople { people: split.train.len() })?;
    let mut model = config.tower.init(&trainer.device);
    let (mut history, first_epoch) = match saved {
        Some(state) => {
            (model, trainer.optimizer) = checkpoint.restore(&state, model, trainer.optimizer)?;
            trainer.rng = state.rng;
            (state.history, state.epochs_done)
        }
        None => (Vec::new(), 0),
    };
    checkpoint.create()?;

    let mut val_scores = Vec::new();
    for epoch in first_epoch..config.epochs {
        let started = Instant::now();
        let (next, train_loss) = trainer.epoch(model, epoch);
        model = next;
        let train_seconds = started.elapsed().as_secs_f64();
        let valid = model.valid();
        val_scores = validation.score(&valid, &trainer.inference_device());
        let metrics = epoch_metrics(epoch + 1, train_loss, &val_scores, config, train_seconds, started);
        on_epoch(&metrics);
        history.push(metrics);
        let state = CheckpointState {
            config: config.clone(),
            split: split.clone(),
            epochs_done: epoch + 1,
            rng: trainer.rng.clone(),
            history: history.clone(),
            weights: String::new(),
            optimizer: String::new(),
        };
        checkpoint.save(state, &valid, &trainer.optimizer)?;
    }
    if val_scores.is_empty() {
        // Resumed with every epoch already done: the model still needs its
        // validation scores (calibration, ROC, histogram).
        val_scores = validation.score(&model.valid(), &trainer.inference_device());
    }
    Ok(Trained { model: model.valid(), split, history, val_scores })
}

/// The optimisation side of a run: the training people's crops, the pair
/// sampler, the optimizer and the random stream, on the autodiff device.
struct Trainer<'a> {
    config: &'a TrainConfig,
    crops: Vec<RgbImage>,
    sampler: PairSampler,
    optimizer: ModuleOptimizer,
    rng: Rng,
    device: Device,
}

impl<'a> Trainer<'a> {
    /// `None` when the training people cannot form both kinds of pair.
    fn new(people: &Prepared, config: &'a TrainConfig) -> Option<Trainer<'a>> {
        let sampler = PairSampler::new(Identities::of(people), config.genuine_fraction)?;
        let device = Device::flex().autodiff();
        device.seed(config.seed);
        Some(Trainer {
            config,
            crops: input_crops(people, config.tower.input_size),
            sampler,
            optimizer: optimizer(config),
            rng: Rng::derive(config.seed, 0x7a1),
            device,
        })
    }

    /// The device without autodiff, for validation.
    fn inference_device(&self) -> Device {
        self.device.clone().inner()
    }

    /// One epoch of steps; returns the model and the epoch's mean loss.
    fn epoch(&mut self, mut model: Tower, epoch: usize) -> (Tower, f64) {
        let steps = self.config.steps_per_epoch();
        let bar = progress::bar(steps as u64, &format!("epoch {}/{}", epoch + 1, self.config.epochs));
        let mut loss_sum = 0.0;
        for step in 0..steps {
            let learning_rate = self.config.learning_rate_at(epoch * steps + step);
            let loss;
            (model, loss) = self.step(model, learning_rate);
            loss_sum += loss;
            bar.inc(1);
            bar.set_prefix(format!("loss {:.4}", loss_sum / (step + 1) as f64));
        }
        bar.finish_and_clear();
        (model, loss_sum / steps as f64)
    }

    /// One optimisation step; returns the updated model and the batch loss.
    fn step(&mut self, model: Tower, learning_rate: f64) -> (Tower, f64) {
        let config = self.config;
        let pairs = if config.hard_negatives {
            (0..config.batch_size).map(|_| self.sampler.genuine(&mut self.rng)).collect()
        } else {
            self.sampler.batch(&mut self.rng, config.batch_size)
        };
        // Every image of the batch goes through the one tower in one forward.
        let images: Vec<usize> = pairs.iter().flat_map(|p| [p.a, p.b]).collect();
        let mut aug_rng = Rng::new(self.rng.next_u64());
        let augmentation = config.augmentation.as_ref().map(|a| (a, &mut aug_rng));
        let embeddings = model.forward(input_tensor(&self.crops, &images, augmentation, &self.device)); // [2B, D]
        let mut positions: Vec<(usize, usize, bool)> =
            pairs.iter().enumerate().map(|(i, p)| (2 * i, 2 * i + 1, p.genuine)).collect();
        if config.hard_negatives {
            positions.extend(hardest_impostors(&embeddings, &images, self.sampler.identities()));
        }
        let device = &self.device;
        let index = |pick: fn(&(usize, usize, bool)) -> usize| {
            let values: Vec<i32> = positions.iter().map(|p| pick(p) as i32).collect();
            Tensor::<1, Int>::from_data(TensorData::new(values, [positions.len()]), device)
        };
        let a = embeddings.clone().select(0, index(|p| p.0));
        let b = embeddings.select(0, index(|p| p.1));
        let labels: Vec<f32> = positions.iter().map(|p| if p.2 { 1.0 } else { 0.0 }).collect();
        let genuine = Tensor::<1>::from_data(TensorData::new(labels, [positions.len()]), device);
        let loss = loss::contrastive(a, b, genuine, config.margin);
        let value = f64::from(loss.clone().into_data().as_slice::<f32>().expect("f32 loss")[0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (self.optimizer.step(learning_rate, model, grads), value)
    }
}

fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let decay = (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay));
    match config.optimizer {
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(MomentumConfig { momentum: config.momentum, dampening: 0.0, nesterov: true }))
            .with_weight_decay(decay)
            .init(),
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
    }
}

/// For each anchor (even position), the in-batch image of another person
/// whose embedding is closest: the impostor the model finds hardest now.
fn hardest_impostors(
    embeddings: &Tensor<2>,
    images: &[usize],
    identities: &Identities,
) -> Vec<(usize, usize, bool)> {
    let [n, dim] = embeddings.dims();
    let data = embeddings.clone().detach().into_data();
    let values = data.as_slice::<f32>().expect("f32 embeddings");
    let row = |i: usize| &values[i * dim..(i + 1) * dim];
    (0..n)
        .step_by(2)
        .filter_map(|anchor| {
            let person = identities.person_of[images[anchor]];
            (0..n)
                .filter(|&j| identities.person_of[images[j]] != person)
                .max_by(|&x, &y| cosine(row(anchor), row(x)).total_cmp(&cosine(row(anchor), row(y))))
                .map(|j| (anchor, j, false))
        })
        .collect()
}

/// The validation people (never trained on): their crops and the pairs
/// scored after every epoch.
struct Validation {
    crops: Vec<RgbImage>,
    pairs: Vec<Pair>,
}

impl Validation {
    fn new(people: &Prepared, config: &TrainConfig) -> Validation {
        let pairs = dataset::evaluation_pairs(&Identities::of(people), config.val_impostors, config.seed);
        Validation { crops: input_crops(people, config.tower.input_size), pairs }
    }

    /// Cosine scores of the validation pairs under the inference view.
    fn score(&self, model: &Tower, device: &Device) -> Vec<ScoredPair> {
        if self.pairs.is_empty() {
            return Vec::new();
        }
        score_embedded(&self.pairs, &embed_all(model, &self.crops, device))
    }
}

/// Cosine scores of pairs of rows of `embeddings` (as [`embed_all`] gives them).
pub fn score_embedded(pairs: &[Pair], embeddings: &[Vec<f32>]) -> Vec<ScoredPair> {
    pairs.iter().map(|p| ScoredPair::new(cosine(&embeddings[p.a], &embeddings[p.b]), p.genuine)).collect()
}

fn epoch_metrics(
    epoch: usize,
    train_loss: f64,
    val: &[ScoredPair],
    config: &TrainConfig,
    train_seconds: f64,
    started: Instant,
) -> EpochMetrics {
    let steps = config.steps_per_epoch();
    let verification = (!val.is_empty()).then(|| Verification::of(val, &STANDARD_FARS));
    let accuracy = facecmp_eval::metrics::best_accuracy(&balanced(val));
    EpochMetrics {
        epoch,
        train_loss,
        val_loss: balanced_loss(val, config.margin),
        val_accuracy: accuracy.map(|a| a.0),
        val_threshold: accuracy.map(|a| a.1),
        val_auc: verification.as_ref().map(|v| v.auc),
        val_eer: verification.as_ref().and_then(|v| v.eer),
        learning_rate: config.learning_rate_at(epoch * steps - 1),
        pairs_per_second: (steps * config.batch_size) as f64 / train_seconds.max(1e-9),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Every genuine pair and as many impostor pairs (the first ones, which
/// were drawn at random): accuracy on these means something, where on all
/// validation pairs (mostly impostors) "reject everything" would score high.
pub fn balanced(pairs: &[ScoredPair]) -> Vec<ScoredPair> {
    let genuine = pairs.iter().filter(|p| p.genuine).count();
    let impostors = pairs.iter().filter(|p| !p.genuine).take(genuine);
    pairs.iter().filter(|p| p.genuine).chain(impostors).copied().collect()
}

/// Validation loss with genuine and impostor pairs weighted equally, like
/// the default 1:1 training batches (validation has far more impostors).
fn balanced_loss(pairs: &[ScoredPair], margin: f32) -> Option<f64> {
    let mean = |genuine: bool| {
        let losses: Vec<f64> = pairs
            .iter()
            .filter(|p| p.genuine == genuine)
            .map(|p| {
                f64::from(loss::contrastive_value((2.0 - 2.0 * p.score).max(0.0).sqrt(), genuine, margin))
            })
            .collect();
        (!losses.is_empty()).then(|| losses.iter().sum::<f64>() / losses.len() as f64)
    };
    Some((mean(true)? + mean(false)?) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::checkpoint_dir;
    use crate::model::Architecture;
    use crate::synthetic;

    fn tiny_config() -> TrainConfig {
        TrainConfig {
            tower: TowerConfig {
                architecture: Architecture::Compact,
                input_size: 16,
                embedding_dim: 8,
                width: 4,
            },
            epochs: 2,
            pairs_per_epoch: 64,
            batch_size: 16,
            warmup_steps: 2,
            val_impostors: 50,
            ..TrainConfig::default()
        }
    }

    fn embeddings(trained: &Trained, people: &Prepared) -> Vec<Vec<f32>> {
        let crops: Vec<RgbImage> = people
            .people
            .iter()
            .flat_map(|(_, c)| c.iter().map(|c| data::downscale(c.face.image(), 16)))
            .collect();
        embed_all(&trained.model, &crops, &Device::flex())
    }

    /// Stopping after epoch 1 and resuming gives the model that training
    /// straight through gives: weights, optimizer state (momentum) and RNG
    /// all come back. With the momentum lost, the second epoch would differ.
    #[test]
    fn a_resumed_run_continues_exactly_where_it_stopped() {
        let people = synthetic::people(7, 12, 3);
        let (straight, resumed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // on_epoch runs before the epoch's checkpoint is written: at epoch 2
        // the checkpoint on disk is epoch 1's, as if the run had died there.
        let mut copy_epoch_one = |m: &EpochMetrics| {
            if m.epoch == 2 {
                let (from, to) = (checkpoint_dir(straight.path()), checkpoint_dir(resumed.path()));
                std::fs::create_dir_all(&to).unwrap();
                for file in std::fs::read_dir(&from).unwrap() {
                    let file = file.unwrap().path();
                    std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
                }
            }
        };
        let config = tiny_config();
        let whole = train(&people, &config, straight.path(), false, &mut copy_epoch_one).unwrap();
        let continued = train(&people, &config, resumed.path(), true, &mut |_| {}).unwrap();
        assert_eq!(continued.history.len(), 2);
        // From state.json: serde_json may read a float back one ulp off.
        let (straight_one, resumed_one) = (&whole.history[0], &continued.history[0]);
        assert_eq!(straight_one.epoch, resumed_one.epoch);
        assert!(
            (straight_one.train_loss - resumed_one.train_loss).abs() < 1e-12,
            "epoch 1 came from the checkpoint"
        );
        let (a, b) = (embeddings(&whole, &people), embeddings(&continued, &people));
        let largest_difference =
            a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(largest_difference < 1e-4, "resumed embeddings differ by {largest_difference}");
    }

    #[test]
    fn resuming_refuses_fewer_epochs_and_rescores_when_nothing_is_left() {
        let people = synthetic::people(7, 12, 3);
        let out = tempfile::tempdir().unwrap();
        let config = tiny_config();
        train(&people, &config, out.path(), false, &mut |_| {}).unwrap();
        let fewer = TrainConfig { epochs: 1, ..config.clone() };
        let error = train(&people, &fewer, out.path(), true, &mut |_| {}).err().expect("refused");
        assert!(matches!(error, TrainError::FewerEpochs { done: 2, .. }), "{error}");
        let again = train(&people, &config, out.path(), true, &mut |_| {}).unwrap();
        assert_eq!(again.history.len(), 2);
        assert!(!again.val_scores.is_empty(), "the finished model is validated for its calibration");
    }
}
