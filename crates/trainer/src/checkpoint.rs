//! Checkpoints: everything a run needs to continue exactly, written so that a crash at any
//! instant leaves a whole checkpoint to resume from.
//!
//! Layout of `RUN/checkpoint/`: `model/` (config.json, model.safetensors, tokenizer.json),
//! `adapter/` (PEFT files, LoRA runs only), `optimizer.safetensors`, `state.json`.
//! Random streams need no state: each step's generator derives from (seed, stream, step).
//!
//! A save fills `checkpoint.tmp/`, fsyncs every file and directory in it, then swaps it in:
//! `checkpoint/` → `checkpoint.old/`, `checkpoint.tmp/` → `checkpoint/`, fsync of the run
//! directory, `checkpoint.old/` removed. A crash leaves one of three states: the previous
//! `checkpoint/` (and a partial `checkpoint.tmp/`, ignored), only `checkpoint.old/` (between the two
//! renames: [`recover`] renames it back), or the new `checkpoint/` with a stale `checkpoint.old/`
//! (removed by the next save).
//!
//! The eval ids (the tasks training must never issue) are not copied into every checkpoint:
//! `state.json` holds their digest, and [`load_state`] refuses eval sets that changed.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rollout::Group;
use crate::temperature::AdaptiveTemperature;

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
    /// The curriculum, statistics and generator state included (its excluded ids are not
    /// serialised: [`load_state`] restores them).
    pub curriculum: tasks::Curriculum,
    /// [`eval_digest`] of the eval ids the run excludes (absent in checkpoints written before
    /// it existed: not checked then).
    #[serde(default)]
    pub eval_digest: Option<String>,
    /// The adaptive temperature's state (with `sampling.informative_target`; absent otherwise and
    /// in checkpoints written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<AdaptiveTemperature>,
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
    #[serde(default)]
    eval_digest: Option<String>,
    #[serde(default)]
    temperature: Option<AdaptiveTemperature>,
}

/// The checkpoint directory of a run.
pub fn dir(run: &Path) -> PathBuf {
    run.join("checkpoint")
}

/// Where an interrupted swap leaves the previous checkpoint.
fn old_dir(run: &Path) -> PathBuf {
    run.join("checkpoint.old")
}

const STATE: &str = "state.json";

/// A digest of a set of eval ids (BLAKE3 of the sorted ids, one per line), in hex.
pub fn eval_digest(ids: &HashSet<String>) -> String {
    let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut hasher = blake3::Hasher::new();
    for id in sorted {
        hasher.update(id.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        error: source,
    }
}

/// Writes a checkpoint: `write_tensors` fills the temporary directory with the model, adapter
/// and optimizer files; the state goes to `state.json`; everything is synced to disk; then the
/// directory replaces the old one.
pub fn save(
    run: &Path,
    state: &TrainState,
    write_tensors: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = run.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_error(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_error(&tmp))?;
    write_tensors(&tmp)?;
    let json = serde_json::to_vec(state).map_err(|e| Error::Serialise {
        what: "the train state",
        message: e.to_string(),
    })?;
    let state_path = tmp.join(STATE);
    File::create(&state_path)
        .and_then(|mut f| f.write_all(&json))
        .map_err(io_error(&state_path))?;
    sync_tree(&tmp)?;
    sync_dir(run)?;
    let (dest, old) = (dir(run), old_dir(run));
    if dest.exists() {
        if old.exists() {
            // Stale: left by a save interrupted after its second rename.
            std::fs::remove_dir_all(&old).map_err(io_error(&old))?;
        }
        std::fs::rename(&dest, &old).map_err(io_error(&dest))?;
    }
    // With no `checkpoint/` an `checkpoint.old/` left by a crash is the only whole checkpoint: it
    // stays until the new one is in place.
    std::fs::rename(&tmp, &dest).map_err(io_error(&tmp))?;
    sync_dir(run)?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io_error(&old))?;
    }
    Ok(())
}

/// The run's checkpoint directory, after recovering from a crash between the two renames of a
/// save (only `checkpoint.old/` left: it is renamed back). Errors when there is no checkpoint.
pub fn recover(run: &Path) -> Result<PathBuf> {
    let (dest, old) = (dir(run), old_dir(run));
    if dest.join(STATE).is_file() {
        return Ok(dest);
    }
    if !dest.exists() && old.join(STATE).is_file() {
        std::fs::rename(&old, &dest).map_err(io_error(&old))?;
        sync_dir(run)?;
        tracing::warn!(
            run = %run.display(),
            "the last checkpoint save was interrupted: resuming from the previous checkpoint (checkpoint.old)"
        );
        return Ok(dest);
    }
    Err(Error::NoCheckpoint {
        run: run.to_path_buf(),
    })
}

/// Reads `state.json` of a run's checkpoint, checks that the run's eval sets are those it
/// started with, and restores the curriculum over `registry` with its excluded ids (`eval_ids`).
pub fn load_state(
    run: &Path,
    registry: Arc<tasks::Registry>,
    eval_ids: &HashSet<String>,
    eval_dir: &Path,
) -> Result<TrainState> {
    let path = recover(run)?.join(STATE);
    let text = std::fs::read(&path).map_err(io_error(&path))?;
    let saved: SavedState = serde_json::from_slice(&text).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let now = eval_digest(eval_ids);
    match &saved.eval_digest {
        Some(saved) if *saved != now => {
            return Err(Error::EvalSetsChanged {
                dir: eval_dir.to_path_buf(),
                saved: saved.clone(),
                now,
            })
        }
        Some(_) => {}
        None => tracing::warn!(
            "this checkpoint predates eval-set digests: the eval sets cannot be checked"
        ),
    }
    let mut curriculum =
        tasks::Curriculum::restore(saved.curriculum, registry).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            message: e.to_string(),
        })?;
    curriculum.set_exclude(eval_ids.clone());
    Ok(TrainState {
        step: saved.step,
        updates: saved.updates,
        train_seconds: saved.train_seconds,
        tokens_sampled: saved.tokens_sampled,
        pending: saved.pending,
        curriculum,
        eval_digest: Some(now),
        temperature: saved.temperature,
    })
}

/// fsyncs every file and directory under `dir`, `dir` included.
fn sync_tree(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_error(&path))?;
        }
    }
    sync_dir(dir)
}

/// fsyncs a directory, so that the entries created or renamed in it are on disk.
fn sync_dir(dir: &Path) -> Result<()> {
    // Directories cannot be opened for syncing on every platform; where they can, this matters.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_error(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> Arc<tasks::Registry> {
        Arc::new(tasks::Registry::builtin())
    }

    fn state(step: u64, eval_ids: &HashSet<String>) -> TrainState {
        let curriculum = tasks::Curriculum::new(
            &tasks::TasksConfig::default(),
            builtin(),
            0,
            eval_ids.clone(),
        )
        .unwrap();
        TrainState {
            step,
            updates: step,
            train_seconds: 0.0,
            tokens_sampled: 0,
            pending: Vec::new(),
            curriculum,
            eval_digest: Some(eval_digest(eval_ids)),
            temperature: None,
        }
    }

    fn ids(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A checkpoint at `step` whose "weights" file holds `step`.
    fn save_step(run: &Path, step: u64, eval_ids: &HashSet<String>) {
        save(run, &state(step, eval_ids), |tmp| {
            std::fs::write(tmp.join("weights"), step.to_string()).unwrap();
            Ok(())
        })
        .unwrap();
    }

    fn weights(checkpoint: &Path) -> String {
        std::fs::read_to_string(checkpoint.join("weights")).unwrap()
    }

    #[test]
    fn a_save_replaces_the_checkpoint_and_leaves_nothing_else() {
        let run = tempfile::tempdir().unwrap();
        let eval = ids(&["a"]);
        save_step(run.path(), 1, &eval);
        save_step(run.path(), 2, &eval);
        let mut names: Vec<String> = std::fs::read_dir(run.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["checkpoint"]);
        assert_eq!(weights(&dir(run.path())), "2");
        assert_eq!(
            load_state(run.path(), builtin(), &eval, Path::new("eval"))
                .unwrap()
                .step,
            2
        );
    }

    /// Issue 21: a crash between the two renames leaves only `checkpoint.old/` (and a whole
    /// `checkpoint.tmp/`); resuming recovers the previous checkpoint from it.
    #[test]
    fn a_crash_between_the_renames_resumes_from_checkpoint_old() {
        let run = tempfile::tempdir().unwrap();
        let eval = ids(&["a", "b"]);
        save_step(run.path(), 3, &eval);
        // The crash state by hand: step 6 written to tmp, checkpoint/ renamed away, no more.
        let tmp = run.path().join("checkpoint.tmp");
        std::fs::create_dir(&tmp).unwrap();
        std::fs::write(tmp.join("weights"), "6").unwrap();
        std::fs::rename(dir(run.path()), old_dir(run.path())).unwrap();

        let state = load_state(run.path(), builtin(), &eval, Path::new("eval")).unwrap();
        assert_eq!(state.step, 3);
        assert_eq!(weights(&dir(run.path())), "3");
        assert!(
            !old_dir(run.path()).exists(),
            "checkpoint.old was renamed back"
        );
        // The next save goes through (and clears the leftover tmp).
        save_step(run.path(), 4, &eval);
        assert_eq!(weights(&dir(run.path())), "4");
        assert!(!tmp.exists());
    }

    /// The other crash states: a partial tmp beside the old checkpoint (ignored), and a stale
    /// `checkpoint.old/` beside the new one (the new one is used; the next save removes it).
    #[test]
    fn the_other_crash_states_resume_from_the_newest_whole_checkpoint() {
        let run = tempfile::tempdir().unwrap();
        let eval = ids(&["a"]);
        save_step(run.path(), 3, &eval);
        let tmp = run.path().join("checkpoint.tmp");
        std::fs::create_dir(&tmp).unwrap();
        std::fs::write(tmp.join("weights"), "half").unwrap();
        assert_eq!(
            load_state(run.path(), builtin(), &eval, Path::new("eval"))
                .unwrap()
                .step,
            3
        );

        let old = old_dir(run.path());
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("weights"), "2").unwrap();
        std::fs::write(old.join(STATE), "{}").unwrap();
        assert_eq!(
            load_state(run.path(), builtin(), &eval, Path::new("eval"))
                .unwrap()
                .step,
            3
        );
        save_step(run.path(), 4, &eval);
        assert!(!old.exists() && !tmp.exists());
        assert_eq!(weights(&dir(run.path())), "4");
    }

    #[test]
    fn no_checkpoint_is_an_error_naming_the_run() {
        let run = tempfile::tempdir().unwrap();
        let err = load_state(run.path(), builtin(), &ids(&[]), Path::new("eval"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&run.path().display().to_string()), "{err}");
        assert!(err.contains("no checkpoint"), "{err}");
    }

    /// Issue 21: the eval ids are not copied into the checkpoint; their digest is, and a resume
    /// with other eval sets is refused with a message that says so.
    #[test]
    fn eval_ids_are_stored_as_a_digest_and_a_change_is_refused() {
        let run = tempfile::tempdir().unwrap();
        let eval = ids(&["addition-L1-0001", "addition-L1-0002"]);
        save_step(run.path(), 2, &eval);
        let saved = std::fs::read_to_string(dir(run.path()).join(STATE)).unwrap();
        assert!(!saved.contains("addition-L1-0001"), "ids copied: {saved}");
        assert!(saved.contains(&eval_digest(&eval)));

        let state = load_state(run.path(), builtin(), &eval, Path::new("tasks/eval")).unwrap();
        let mut restored = state.curriculum;
        let mut original =
            tasks::Curriculum::new(&tasks::TasksConfig::default(), builtin(), 0, eval.clone())
                .unwrap();
        assert_eq!(restored, original, "the excluded ids come back");
        assert_eq!(restored.next_tasks(5), original.next_tasks(5));

        let changed = ids(&["addition-L1-0001", "addition-L1-0003"]);
        let err = load_state(run.path(), builtin(), &changed, Path::new("tasks/eval"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("eval sets under tasks/eval changed"),
            "the message says what changed: {err}"
        );
        assert_ne!(eval_digest(&eval), eval_digest(&changed));
    }
}
