//! The trainer's error type: every variant says what went wrong and where (file, key, value).

use std::path::PathBuf;

/// Result alias for the trainer crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything the trainer's math, optimizer and reports can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// Rewards do not split into whole groups, or the group is too small to compare within.
    #[error("{num_rewards} rewards do not form groups of size {group_size} (need group_size >= 2 dividing the count)")]
    GroupSize {
        /// Number of rewards given.
        num_rewards: usize,
        /// Requested group size G.
        group_size: usize,
    },

    /// A reward was NaN or infinite.
    #[error("reward {index} is not finite: {value}")]
    NonFiniteReward {
        /// Position of the reward in the batch.
        index: usize,
        /// The offending value.
        value: f64,
    },

    /// A loss, gradient or parameter holds NaN or Inf; `name` says which tensor.
    #[error("{what} of {name:?} contains NaN or Inf")]
    NonFinite {
        /// What kind of value (e.g. "gradient", "loss").
        what: &'static str,
        /// The tensor's name (a parameter name, or "loss").
        name: String,
    },

    /// Two tensors that must agree in shape do not.
    #[error("shape mismatch for {what}: expected {expected:?}, got {got:?}")]
    Shape {
        /// Which argument.
        what: &'static str,
        /// The shape required.
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },

    /// A configuration value is out of its allowed range.
    #[error("invalid config value {key} = {value}: {reason}")]
    InvalidConfig {
        /// Dotted key of the value (e.g. "train.loss.epsilon_low").
        key: String,
        /// The value as written.
        value: String,
        /// Why it is rejected.
        reason: String,
    },

    /// Saved optimizer state does not match the optimizer's parameters.
    #[error("optimizer state {path}: key {key:?}: {reason}")]
    OptimizerState {
        /// File the state came from (`<memory>` when not from a file).
        path: PathBuf,
        /// The tensor name concerned.
        key: String,
        /// What does not match.
        reason: String,
    },

    /// Reading or writing a file failed.
    // The cause is printed in the message, not chained as a source: shown once under `{:#}`.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },

    /// A JSON line of a run's log could not be parsed.
    #[error("{path}:{line}: {error}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        error: serde_json::Error,
    },

    /// Drawing a plot failed.
    #[error("plot {path}: {message}")]
    Plot {
        /// The PNG being written.
        path: PathBuf,
        /// The drawing backend's message.
        message: String,
    },

    /// The policy (model, tokenizer, sampler) failed.
    #[error(transparent)]
    Policy(#[from] policy::Error),

    /// Task generation or the curriculum failed.
    #[error(transparent)]
    Tasks(#[from] tasks::TasksError),

    /// A run config is inconsistent; the message names the key and value.
    #[error("config: {0}")]
    Config(String),

    /// A task's prompt or answer cannot be encoded by the tokenizer.
    #[error("task {task} ({family}): {part} cannot be encoded: {cause}")]
    TaskEncoding {
        /// The task's id.
        task: String,
        /// The task's family.
        family: String,
        /// Which text (`prompt`, `answer`).
        part: &'static str,
        /// The tokenizer's error.
        cause: Box<policy::Error>,
    },

    /// A line of an eval set is not a task.
    #[error("{path}:{line}: not a task: {error}")]
    NotATask {
        /// The eval set file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        error: serde_json::Error,
    },

    /// A batch to train on holds nothing.
    #[error("a {batch} with no {parts}")]
    EmptyBatch {
        /// Which batch (`micro-batch`, `warm-start batch`).
        batch: &'static str,
        /// What it has none of (`sequences`, `slices`).
        parts: &'static str,
    },

    /// A value could not be serialised for writing.
    #[error("serialising {what}: {message}")]
    Serialise {
        /// What was being serialised.
        what: &'static str,
        /// The serialiser's message.
        message: String,
    },

    /// A checkpoint's state file does not parse or does not restore.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A comparison's `holdout.json` is not the output of `rlvr eval --programs`.
    #[error("{path}: not the output of `rlvr eval --programs`: {error}")]
    NotHoldout {
        /// The file.
        path: PathBuf,
        /// The parse error.
        error: serde_json::Error,
    },

    /// A comparison directory holds no runs.
    #[error("{dir}: no <arm>/<seed>/{file} found")]
    NoRuns {
        /// The comparison directory.
        dir: PathBuf,
        /// The file each run holds (`holdout.json`).
        file: &'static str,
    },

    /// A comparison has no runs of its baseline arm.
    #[error("no runs of the baseline arm {baseline:?} (arms: {})", .arms.join(", "))]
    NoBaseline {
        /// The baseline arm asked for.
        baseline: String,
        /// The arms that have runs.
        arms: Vec<String>,
    },

    /// A loss or gradient went NaN/Inf during training; the last checkpoint is intact.
    #[error("step {step}: {what} (the last checkpoint is intact)")]
    NonFiniteAtStep {
        /// The RL (or warm-start) step.
        step: u64,
        /// Which value and tensor.
        what: String,
    },

    /// Preflight found nothing for RL to learn from.
    #[error("{0}")]
    NoSignal(String),

    /// A run directory holds no checkpoint to resume from.
    #[error("{run}: no checkpoint to resume from (neither checkpoint/ nor checkpoint.old/ holds a state.json)")]
    NoCheckpoint {
        /// The run directory.
        run: PathBuf,
    },

    /// The eval sets differ from those the run started with.
    #[error(
        "the eval sets under {dir} changed since the run started (digest {saved} then, {now} now): \
         their ids are the tasks training never issues, so the run cannot continue with them; \
         restore the original eval sets or start a new run"
    )]
    EvalSetsChanged {
        /// The eval directory (`eval.dir`).
        dir: PathBuf,
        /// The digest stored in the checkpoint.
        saved: String,
        /// The digest of the eval sets found now.
        now: String,
    },

    /// A collective operation across the ranks of a run failed.
    #[error("{op} across ranks: {reason}")]
    Collective {
        /// The operation (`MPI_Allgatherv`, `all-gather of rollouts`, ...).
        op: &'static str,
        /// What went wrong.
        reason: String,
    },

    /// An MPI launcher started this process, but rlvr was built without MPI.
    #[error(
        "an MPI launcher started {size} processes ({variable} is set), but this rlvr was built \
         without the `mpi` feature: each would train alone into the same run directory; build \
         it with `cargo build --release --features mpi` (docs/distributed.md)"
    )]
    MpiNotBuilt {
        /// The launcher's variable that was found.
        variable: &'static str,
        /// How many processes it says it started.
        size: String,
    },

    /// The ranks' copies of the weights differ: the run cannot go on as one run.
    #[error(
        "step {step}: the weights of rank(s) {ranks:?} differ from rank 0's (of {size} ranks): \
         the replicas diverged (a rank ran other code, data or hardware); stopping. The last \
         checkpoint holds rank 0's weights"
    )]
    ReplicasDiverged {
        /// The step at which the digests were compared.
        step: u64,
        /// The ranks whose digest differs from rank 0's.
        ranks: Vec<usize>,
        /// Number of ranks.
        size: usize,
    },

    /// A resume asked to change a key that would change what the run computes.
    #[error(
        "--resume: `{key}` cannot change on resume ({old} → {new}): it changes what the run \
         computes; only {allowed} can (start a new run to change the rest)"
    )]
    ResumeChange {
        /// The dotted key.
        key: String,
        /// Its value in the run's config.
        old: String,
        /// The value asked for.
        new: String,
        /// The keys a resume may change, listed.
        allowed: String,
    },
}
