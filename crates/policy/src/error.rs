//! The crate's error type: every variant says what went wrong and where (file, field, value).

use std::path::PathBuf;

/// Everything that can go wrong in `policy`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (not a `source`: the message already includes it).
        cause: std::io::Error,
    },
    /// A config file did not parse.
    #[error("{path}: {message}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the field).
        message: String,
    },
    /// A config value is invalid.
    #[error("{path}: field `{field}`: {message}")]
    ConfigValue {
        /// The file (or `<memory>` for a config built in code).
        path: PathBuf,
        /// The offending field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A weights file lacks a tensor the config requires, or has the wrong shape.
    #[error("{path}: tensor `{name}`: {message}")]
    Tensor {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The tokenizer could not be built, loaded, saved or used.
    #[error("tokenizer {context}: {message}")]
    Tokenizer {
        /// File or operation.
        context: String,
        /// The tokenizers crate's message.
        message: String,
    },
    /// A device string is unknown or the device is unavailable.
    #[error("device {spec:?}: {message}")]
    Device {
        /// The string given.
        spec: String,
        /// Why it cannot be used.
        message: String,
    },
    /// A forward dtype that is neither `f32` nor `bf16`.
    #[error("dtype {spec:?}: expected f32, or bf16 (CUDA only)")]
    Dtype {
        /// The string given.
        spec: String,
    },
    /// A call's arguments are inconsistent (empty prompt, too long a sequence, unknown adapter...).
    #[error("{0}")]
    Invalid(String),
    /// An adapter name is unknown.
    #[error("no LoRA adapter named {name:?} (have: {known:?})")]
    UnknownAdapter {
        /// The name asked for.
        name: String,
        /// The adapters that exist.
        known: Vec<String>,
    },
    /// A model was asked for in a directory that holds a LoRA adapter.
    #[error(
        "{dir}: a LoRA adapter (adapter_config.json), not a model: load its base model and apply \
         this adapter to it, or merge the two into one model first"
    )]
    AdapterNotModel {
        /// The adapter directory.
        dir: PathBuf,
    },
    /// A tensor operation failed inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }
}
