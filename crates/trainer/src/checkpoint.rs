//! Checkpoints: everything a run needs to continue exactly, written atomically (a temporary
//! directory renamed into place, so a crash mid-write leaves the previous checkpoint intact).
//!
//! Layout of `RUN/checkpoint/`: `model/` (config.json, model.safetensors, tokenizer.json),
//! `adapter/` (PEFT files, LoRA runs only), `optimizer.safetensors`, `state.json`.
//! Random streams need no state: each step's generator derives from (seed, stream, step).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rollout::Group;

/// Counters and the curriculum: the non-tensor state of a run. Saved with serde; read back by
/// `load_state`, which restores the curriculum over the run's registry.
#[derive(Debug, Clone, Serialize)]
pub struct TrainState {
    /// Last completed RL step.
    pub step: u64,
    /// Optimizer updates taken.
    pub updates: u64,
    /// Training wall time so far (warm start included, evaluation excluded).
    pub train_seconds: f64,
    /// Completion tokens sampled so far.
    pub tokens_sampled: u64,
    /// Informative groups waiting for the next update.
    pub pending: Vec<Group>,
    /// The curriculum, statistics and generator state included.
    pub curriculum: tasks::Curriculum,
}

/// [`TrainState`] as `state.json` holds it: the curriculum without its registry.
#[derive(Deserialize)]
struct SavedState {
    step: u64,
    updates: u64,
    train_seconds: f64,
    tokens_sampled: u64,
    pending: Vec<Group>,
    curriculum: tasks::CurriculumState,
}

/// The checkpoint directory of a run.
pub fn dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// Writes a checkpoint: `write_tensors` fills the temporary directory with the model, adapter
/// and optimizer files; the state goes to `state.json`; then the directory replaces the old one.
pub fn save(
    run: &Path,
    state: &TrainState,
    write_tensors: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = run.join("checkpoint.tmp");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            path: path.clone(),
            error: source,
        }
    };
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    write_tensors(&tmp)?;
    let json = serde_json::to_vec(state)
        .map_err(|e| Error::Invalid(format!("serialising the train state: {e}")))?;
    let state_path = tmp.join("state.json");
    std::fs::write(&state_path, json).map_err(io(&state_path))?;
    let dest = dir(run);
    let old = run.join("checkpoint.old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if dest.exists() {
        std::fs::rename(&dest, &old).map_err(io(&dest))?;
    }
    std::fs::rename(&tmp, &dest).map_err(io(&tmp))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// Reads `state.json` of a run's checkpoint; the curriculum continues over `registry`.
pub fn load_state(run: &Path, registry: Arc<tasks::Registry>) -> Result<TrainState> {
    let path = dir(run).join("state.json");
    let text = std::fs::read(&path).map_err(|source| Error::Io {
        path: path.clone(),
        error: source,
    })?;
    let saved: SavedState = serde_json::from_slice(&text)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let curriculum = tasks::Curriculum::restore(saved.curriculum, registry)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    Ok(TrainState {
        step: saved.step,
        updates: saved.updates,
        train_seconds: saved.train_seconds,
        tokens_sampled: saved.tokens_sampled,
        pending: saved.pending,
        curriculum,
    })
}
