//! Weights and checkpoints on disk, every file written atomically: into a
//! temporary file in the same folder, flushed to the disk, renamed over the
//! old one, and the folder flushed, so that a crash (or a full disk) leaves
//! the previous file intact, never a torn one.
//!
//! A checkpoint is three files: the weights and the optimizer state of one
//! epoch (`model-NNNN.bpk`, `optimizer-NNNN.bpk`), then `state.json`, which
//! names them and is written last: it is the commit. Until it is renamed
//! into place, the previous epoch's `state.json` still names the previous
//! epoch's files, which are removed only afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::optim::{ModuleOptimizer, OptimizerRecord};
use burn::store::{BurnpackStore, ModuleSnapshot, ModuleStore, SafetensorsStore};
use burn::tensor::Bytes;
use facecmp_eval::dataset::Split;
use facecmp_eval::rng::Rng;
use serde::{Deserialize, Serialize};

use crate::model::Tower;
use crate::training::{EpochMetrics, TrainConfig, TrainError};

/// Where `train` keeps its per-epoch checkpoint.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoint")
}

const STATE_FILE: &str = "state.json";

/// Everything a resumed run needs besides weights and optimizer state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub config: TrainConfig,
    pub split: Split,
    pub epochs_done: usize,
    pub rng: Rng,
    pub history: Vec<EpochMetrics>,
    /// The weights file of this epoch, in the checkpoint folder (burnpack,
    /// not safetensors: burnpack keeps each parameter's id, which keys the
    /// optimizer's momentum or moments; loaded from safetensors, the tower
    /// would get fresh ids, and a resumed run would silently restart its
    /// optimizer from zero).
    #[serde(default = "unnumbered_weights")]
    pub weights: String,
    /// The optimizer state file of this epoch.
    #[serde(default = "unnumbered_optimizer")]
    pub optimizer: String,
}

/// The file names of checkpoints written before they were numbered by epoch.
fn unnumbered_weights() -> String {
    "model.bpk".into()
}

fn unnumbered_optimizer() -> String {
    "optimizer.bpk".into()
}

/// The checkpoint folder of a run.
pub struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    pub fn of_run(out: &Path) -> Checkpoint {
        Checkpoint { dir: checkpoint_dir(out) }
    }

    pub fn create(&self) -> Result<(), TrainError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| TrainError::io(&self.dir, e))
    }

    /// Saves one epoch: its weights and optimizer state, then the state that
    /// names them; then removes the previous epoch's files.
    pub fn save(
        &self,
        state: CheckpointState,
        model: &Tower,
        optimizer: &ModuleOptimizer,
    ) -> Result<(), TrainError> {
        let epoch = state.epochs_done;
        let state = CheckpointState {
            weights: format!("model-{epoch:04}.bpk"),
            optimizer: format!("optimizer-{epoch:04}.bpk"),
            ..state
        };
        let weights = self.dir.join(&state.weights);
        write_atomically(&weights, &burnpack_bytes(model, &weights)?)?;
        let optimizer_file = self.dir.join(&state.optimizer);
        let record = optimizer.to_record().into_bytes().map_err(|e| TrainError::store(&optimizer_file, e))?;
        write_atomically(&optimizer_file, &record)?;
        let json = serde_json::to_string_pretty(&state).expect("the state serialises");
        write_atomically(&self.dir.join(STATE_FILE), json.as_bytes())?;
        self.remove_all_but(&[&state.weights, &state.optimizer]);
        Ok(())
    }

    /// Reads the state of the last saved epoch; refuses one made with
    /// another configuration (apart from the number of epochs, which a
    /// resumed run may extend).
    pub fn load_state(&self, config: &TrainConfig) -> Result<CheckpointState, TrainError> {
        let file = self.dir.join(STATE_FILE);
        let text = std::fs::read_to_string(&file)
            .map_err(|source| TrainError::NoCheckpoint { path: file.clone(), source })?;
        let state: CheckpointState =
            serde_json::from_str(&text).map_err(|source| TrainError::Json { path: file.clone(), source })?;
        if config.epochs < state.epochs_done {
            return Err(TrainError::FewerEpochs { path: file, done: state.epochs_done });
        }
        let comparable = TrainConfig { epochs: state.config.epochs, ..config.clone() };
        if comparable != state.config {
            return Err(TrainError::OtherSettings { path: file });
        }
        Ok(state)
    }

    /// The weights and optimizer state `state` names, loaded into `model`
    /// and `optimizer`.
    pub fn restore(
        &self,
        state: &CheckpointState,
        model: Tower,
        optimizer: ModuleOptimizer,
    ) -> Result<(Tower, ModuleOptimizer), TrainError> {
        let weights = self.dir.join(&state.weights);
        let model =
            load_from(model, &mut BurnpackStore::from_file(&weights).auto_extension(false), &weights)?;
        let optimizer_file = self.dir.join(&state.optimizer);
        let record =
            OptimizerRecord::load(&optimizer_file).map_err(|e| TrainError::store(&optimizer_file, e))?;
        Ok((model, optimizer.load_record(record)))
    }

    /// Removes the weights and optimizer files of other epochs. Best effort:
    /// a file left behind costs disk space, not correctness.
    fn remove_all_but(&self, keep: &[&str]) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".bpk") && !keep.contains(&name.as_str()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn burnpack_bytes(model: &Tower, path: &Path) -> Result<Bytes, TrainError> {
    let mut store = BurnpackStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| TrainError::store(path, e))?;
    store.get_bytes().map_err(|e| TrainError::store(path, e))
}

/// Saves the weights of a finished model as safetensors (the format other
/// tools read), atomically.
pub fn save_weights(model: &Tower, path: &Path) -> Result<(), TrainError> {
    let mut store = SafetensorsStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| TrainError::store(path, e))?;
    let bytes = store.get_bytes().map_err(|e| TrainError::store(path, e))?;
    write_atomically(path, &bytes)
}

pub fn load_weights(model: Tower, path: &Path) -> Result<Tower, TrainError> {
    load_from(model, &mut SafetensorsStore::from_file(path), path)
}

fn load_from<S>(mut model: Tower, store: &mut S, path: &Path) -> Result<Tower, TrainError>
where
    S: ModuleStore,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let result = model.load_from(store).map_err(|e| TrainError::store(path, e))?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(TrainError::DoesNotFit {
            path: path.to_path_buf(),
            missing: result.missing.into_iter().map(|(tensor, _)| tensor).collect(),
            errors: result.errors.iter().map(|e| format!("{e:?}")).collect(),
        });
    }
    Ok(model)
}

/// Replaces `path` with `bytes` so that, whatever happens, `path` holds
/// either its old content or all of the new: write a temporary file in the
/// same folder (a rename across file systems is not atomic), flush it to
/// the disk, rename it over `path`, and flush the folder (which records the
/// rename).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |e: std::io::Error| TrainError::io(path, e);
    let mut temporary = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    temporary.write_all(bytes).map_err(io)?;
    temporary.as_file().sync_all().map_err(io)?;
    temporary.persist(path).map_err(|e| io(e.error))?;
    sync_dir(dir).map_err(|e| TrainError::io(dir, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Only Unix lets a folder be opened and flushed; elsewhere the rename is
/// left to the file system.
#[cfg(not(unix))]
fn sync_dir(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_failed_atomic_write_leaves_what_was_there_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A folder with content in the way: the rename over it must fail.
        let target = dir.path().join("target");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        assert!(write_atomically(&target, b"new").is_err());
        assert!(target.join("inside").is_dir());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["target"]);
    }
}
