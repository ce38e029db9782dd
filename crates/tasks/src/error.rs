//! The crate's one error type: every variant names what went wrong and where.

use std::path::PathBuf;

/// Errors of the tasks crate (model text never produces one: it gets an incorrect `Verdict`).
#[derive(Debug, thiserror::Error)]
pub enum TasksError {
    /// A family name that the registry does not know.
    #[error("unknown family {name:?}; known families: {known}")]
    UnknownFamily {
        /// The name asked for.
        name: String,
        /// The registered names, comma separated.
        known: String,
    },
    /// A knob name that the family does not have.
    #[error("family {family}: unknown knob {name:?}; its knobs: {known}")]
    UnknownKnob {
        /// The family.
        family: String,
        /// The knob asked for.
        name: String,
        /// The family's knob names, comma separated.
        known: String,
    },
    /// A knob value outside the knob's range or of the wrong kind.
    #[error("family {family}: knob {name} = {value}: {why}")]
    BadKnob {
        /// The family.
        family: String,
        /// The knob.
        name: String,
        /// The value given.
        value: f64,
        /// What is wrong with it.
        why: String,
    },
    /// A ladder level that the family does not have.
    #[error("family {family}: level {level} is outside its ladder 1..={max}")]
    BadLevel {
        /// The family.
        family: String,
        /// The level asked for.
        level: u32,
        /// The top of the ladder.
        max: u32,
    },
    /// A knob combination the family cannot generate (e.g. digits wider than the width).
    #[error("family {family}: {detail}")]
    InvalidKnobs {
        /// The family.
        family: String,
        /// What is inconsistent.
        detail: String,
    },
    /// A number format the family does not offer.
    #[error("family {family} does not support number format {format}; it supports {supported}")]
    UnsupportedFormat {
        /// The family.
        family: String,
        /// The format asked for.
        format: String,
        /// The formats it offers.
        supported: String,
    },
    /// An invalid `[tasks]` configuration value.
    #[error("config key tasks.{key} = {value}: {why}")]
    Config {
        /// The dotted key below `tasks`.
        key: String,
        /// The offending value, as written.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// A `[tasks.curriculum] type` that no registered strategy has.
    #[error(
        "config key tasks.curriculum.type = {name:?}: unknown strategy; known strategies: {known}"
    )]
    UnknownStrategy {
        /// The name asked for.
        name: String,
        /// The registered names, comma separated.
        known: String,
    },
    /// A `[tasks.curriculum]` parameter its strategy does not have, or of the wrong type.
    #[error("config key tasks.{key} (strategy {strategy}): {detail}")]
    StrategyParams {
        /// The strategy (`type`).
        strategy: String,
        /// The dotted key below `tasks`.
        key: String,
        /// What is wrong (serde's message: the unknown field and the known ones, or the type).
        detail: String,
    },
    /// A saved curriculum strategy (in a checkpoint) that cannot be restored.
    #[error("saved curriculum strategy: {detail}")]
    StrategyState {
        /// What could not be read.
        detail: String,
    },
    /// A malformed line in a JSONL file.
    #[error("{path}:{line}: {detail}")]
    Jsonl {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What could not be read.
        detail: String,
    },
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A program family that cannot be made: an invalid program, name, mode or ladder.
    #[error("program family {family}: {why}")]
    ProgramFamily {
        /// The family's name.
        family: String,
        /// What is wrong.
        why: String,
    },
    /// A bad value in a program file (or a file that does not parse).
    #[error("{path}: {key} = {value}: {why}")]
    ProgramFile {
        /// The file.
        path: PathBuf,
        /// Where in it (`program[2].ladder`), or `file`.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// No input of a program family runs at these knobs (after every redraw and every probe).
    #[error("program family {family}: no instance runs at {knobs}: {error}")]
    NoInstance {
        /// The family.
        family: String,
        /// The knobs, as `a_digits=3,...`.
        knobs: String,
        /// The last execution error.
        error: crate::program::ExecError,
    },
    /// An unknown verifier name for imported tasks.
    #[error("unknown verifier {name:?}; known verifiers: exact_string, exact_number, countdown")]
    UnknownVerifier {
        /// The name asked for.
        name: String,
    },
}

/// Result with [`TasksError`].
pub type Result<T> = std::result::Result<T, TasksError>;
