//! The crate's error type: every variant names the workload, file, flag or value concerned.

use std::path::PathBuf;

/// Result alias for the bench crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything a benchmark can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The workloads file could not be read.
    #[error("reading {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The workloads file did not parse.
    #[error("parsing {file}: {message}")]
    Parse {
        /// The file (or `built-in benches/workloads.toml`).
        file: String,
        /// The parser's message.
        message: String,
    },
    /// The workloads file has no such workload.
    #[error("no [workload.{name}] in the workloads file")]
    NoWorkload {
        /// The workload asked for.
        name: String,
    },
    /// The workloads file has no such model shape.
    #[error("no [model.{name}] in the workloads file")]
    NoModel {
        /// The model a workload names.
        name: String,
    },
    /// A workload's table does not fit its kind.
    #[error("[workload.{name}] in the workloads file: {message}")]
    Workload {
        /// The workload.
        name: String,
        /// What is wrong with it (names the key).
        message: String,
    },
    /// A workload name no bench runs.
    #[error(
        "unknown workload {name:?}: expected one of taskgen_add, taskgen_bool, taskgen_program, \
         rollout_tiny, rollout_small, step_tiny, step_small"
    )]
    UnknownWorkload {
        /// The name given.
        name: String,
    },
    /// A command-line option that does not apply, or is out of range.
    #[error("{flag}: {message}")]
    Option {
        /// The flag (`--shards`).
        flag: &'static str,
        /// Why it is rejected.
        message: String,
    },
    /// A model shape that cannot be built.
    #[error("[model.{model}]: {message}")]
    Shape {
        /// The model shape's name.
        model: String,
        /// What is wrong with it.
        message: String,
    },
    /// The verifier rejected generated gold answers.
    #[error("[workload.{workload}]: {rejected} gold answers were rejected by the verifier")]
    Rejected {
        /// The workload.
        workload: String,
        /// How many.
        rejected: usize,
    },
    /// A rollout row stopped before its token count.
    #[error("[workload.{workload}]: a row stopped before {tokens} tokens")]
    ShortRow {
        /// The workload.
        workload: String,
        /// The tokens each row must have.
        tokens: usize,
    },
    /// Task generation failed.
    #[error(transparent)]
    Tasks(#[from] tasks::TasksError),
    /// The policy failed.
    #[error(transparent)]
    Policy(#[from] policy::Error),
    /// The trainer's update failed.
    #[error(transparent)]
    Trainer(#[from] trainer::Error),
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
