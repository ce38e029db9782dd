//! A run directory's JSON lines: the typed records of `metrics.jsonl` ([`StepMetrics`]) and
//! `eval.jsonl` ([`EvalRecord`]), which the trainer writes and `rlvr report` reads through the
//! same structs (a renamed key changes both, so it cannot blank a plot), and the writer.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Greedy pass rate per family, then per level (levels as strings: JSON object keys).
pub type PassRates = BTreeMap<String, BTreeMap<String, f64>>;

/// One line of `metrics.jsonl`: one RL step, with TRL's names where TRL has one.
///
/// Fields are declared in the order of their keys, sorted, so that the line reads as before this
/// record was typed (serde_json wrote sorted maps); the update's `f32` statistics are widened to
/// `f64`, as `json!` widened them, so the numbers print as before too. Reading requires every key
/// but the three `time/*` ones added later (read as 0 when absent): a line without one is an
/// error naming the file, the line and the key, never a plot left blank. Keys it does not know
/// are ignored, so a newer writer's extra keys still read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// The step's groups per cell (`family/level`, or `family/task-id` off the ladder).
    pub cells: BTreeMap<String, CellMetrics>,
    /// Fraction of tokens clipped above 1 + ε_high.
    #[serde(rename = "clip_ratio/high_mean")]
    pub clip_high: f64,
    /// Fraction of tokens clipped below 1 − ε_low.
    #[serde(rename = "clip_ratio/low_mean")]
    pub clip_low: f64,
    /// Fraction of tokens clipped either way.
    #[serde(rename = "clip_ratio/region_mean")]
    pub clip_region: f64,
    /// Fraction of completions cut off at `sampling.max_new_tokens`.
    #[serde(rename = "completions/clipped_ratio")]
    pub clipped_ratio: f64,
    /// Mean completion length in tokens.
    #[serde(rename = "completions/mean_length")]
    pub mean_length: f64,
    /// Mean token entropy of the policy (0 without an update).
    pub entropy: f64,
    /// Fraction of groups whose rewards are all equal.
    pub frac_reward_zero_std: f64,
    /// Global gradient norm before clipping (0 without an update).
    pub grad_norm: f64,
    /// Fraction of the step's groups that were neither all correct nor all wrong.
    pub informative_fraction: f64,
    /// Mean k3 KL to the reference (0 when β = 0).
    pub kl: f64,
    /// The learning rate of the step's update.
    pub learning_rate: f64,
    /// The update's loss (0 without an update).
    pub loss: f64,
    /// An `evolve` curriculum's counts (absent for the other strategies).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "sorted_keys"
    )]
    pub open: Option<tasks::OpenMetrics>,
    /// Groups buffered for a later update.
    pub pending_groups: usize,
    /// The curriculum's current level per family.
    pub position: BTreeMap<String, u32>,
    /// Mean reward of the step's completions.
    pub reward: f64,
    /// Mean over groups of the rewards' standard deviation.
    pub reward_std: f64,
    /// RL step number.
    pub step: u64,
    /// The sampling temperature of the step (absent in runs written before it was recorded,
    /// read as 0).
    #[serde(default)]
    pub temperature: f64,
    /// Seconds of the step's phases spent gathering groups across ranks (0 for one process;
    /// absent in runs written before the collectives, read as 0).
    #[serde(rename = "time/all_gather", default)]
    pub all_gather_seconds: f64,
    /// Seconds of the update spent summing gradients across ranks (0 for one process; absent
    /// in runs written before the collectives, read as 0).
    #[serde(rename = "time/all_reduce", default)]
    pub all_reduce_seconds: f64,
    /// Seconds of `time/sampling` the curriculum took, choosing tasks and taking in verdicts
    /// (absent in runs written before it was measured, read as 0).
    #[serde(rename = "time/curriculum", default)]
    pub curriculum_seconds: f64,
    /// Seconds spent sampling (and verifying) this step.
    #[serde(rename = "time/sampling")]
    pub sampling_seconds: f64,
    /// Seconds spent in the update this step.
    #[serde(rename = "time/update")]
    pub update_seconds: f64,
    /// Completion tokens sampled in this step.
    pub tokens_sampled: u64,
    /// Completion tokens sampled since the run began.
    pub tokens_total: u64,
    /// Training wall-clock seconds so far (evaluation excluded).
    pub train_seconds: f64,
    /// Sequences in the step's update.
    pub update_sequences: usize,
    /// Whether the step took an optimizer update.
    pub updated: bool,
}

/// Writes `open` with its keys sorted, as the untyped line did (serde_json's maps are sorted).
fn sorted_keys<S: serde::Serializer>(
    open: &Option<tasks::OpenMetrics>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    serde_json::to_value(open)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// One cell's groups within a step (an entry of [`StepMetrics::cells`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellMetrics {
    /// Groups drawn from the cell.
    pub groups: usize,
    /// Fraction of them that were informative.
    pub informative: f64,
    /// Mean pass rate of their completions.
    pub pass: f64,
}

/// One line of `eval.jsonl`: greedy pass rates on the eval sets at one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Seconds the evaluation took (absent at step 0, which runs before training starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_seconds: Option<f64>,
    /// Greedy pass@1 per family and level.
    pub pass: PassRates,
    /// Sampled pass@k, `{"k": k, "pass": {...}}`, or null when off.
    #[serde(default)]
    pub pass_at_k: serde_json::Value,
    /// RL step at which the evaluation ran.
    pub step: u64,
    /// Training wall-clock seconds at that point.
    pub train_seconds: f64,
}

/// Appends one JSON object per line to a file, flushing each line so a crash loses nothing.
#[derive(Debug)]
pub struct JsonlWriter {
    path: PathBuf,
    file: File,
}

impl JsonlWriter {
    /// Opens `path` for appending, creating it if needed.
    pub fn append(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.to_path_buf(),
                error: source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one record as a line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_string(record).map_err(|e| Error::Serialise {
            what: "a record",
            message: e.to_string(),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                error: source,
            })
    }
}

/// Drops every line whose `"step"` is greater than `max_step` (used on resume, so that steps run
/// after the last checkpoint are not counted twice). A missing file is left missing.
pub fn truncate_after_step(path: &Path, max_step: u64) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        error: source,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let mut kept = String::new();
    for line in reader.lines() {
        let line = line.map_err(io)?;
        let step = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("step").and_then(|s| s.as_u64()));
        if step.is_none_or(|s| s <= max_step) {
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    std::fs::write(path, kept).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_steps_up_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        let mut w = JsonlWriter::append(&path).unwrap();
        for step in 1..=5u64 {
            w.write(&serde_json::json!({ "step": step })).unwrap();
        }
        truncate_after_step(&path, 3).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.lines().last().unwrap().contains("\"step\":3"));
    }

    #[test]
    fn step_metrics_keys_are_the_trl_names_in_sorted_order() {
        let mut m = StepMetrics::default();
        m.cells.insert("addition/1".into(), CellMetrics::default());
        let line = serde_json::to_string(&m).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let want = [
            "cells",
            "clip_ratio/high_mean",
            "clip_ratio/low_mean",
            "clip_ratio/region_mean",
            "completions/clipped_ratio",
            "completions/mean_length",
            "entropy",
            "frac_reward_zero_std",
            "grad_norm",
            "informative_fraction",
            "kl",
            "learning_rate",
            "loss",
            "pending_groups",
            "position",
            "reward",
            "reward_std",
            "step",
            "temperature",
            "time/all_gather",
            "time/all_reduce",
            "time/curriculum",
            "time/sampling",
            "time/update",
            "tokens_sampled",
            "tokens_total",
            "train_seconds",
            "update_sequences",
            "updated",
        ];
        assert_eq!(keys, want);
        // The line is written in that order too (as serde_json's sorted maps wrote it before).
        let positions: Vec<usize> = want
            .iter()
            .map(|k| line.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
        assert_eq!(serde_json::from_str::<StepMetrics>(&line).unwrap(), m);
    }

    #[test]
    fn a_metrics_line_without_a_key_is_an_error_naming_it() {
        let mut value = serde_json::to_value(StepMetrics::default()).unwrap();
        value.as_object_mut().unwrap().remove("reward");
        let err = serde_json::from_value::<StepMetrics>(value)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `reward`"), "{err}");
    }

    #[test]
    fn the_first_eval_line_has_no_eval_seconds() {
        let first = EvalRecord::default();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            r#"{"pass":{},"pass_at_k":null,"step":0,"train_seconds":0.0}"#
        );
    }
}
