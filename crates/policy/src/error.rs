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
        /// The dtype given, as written (or candle's name for it).
        spec: String,
    },
    /// A forward dtype of bf16 on a device other than CUDA.
    #[error(
        "dtype bf16 needs a CUDA device (candle's CPU backend has no bf16 matmul); use f32 on the CPU"
    )]
    Bf16NeedsCuda,
    /// A LoRA config with rank zero.
    #[error("LoRA rank r must be positive")]
    LoraRank,
    /// A LoRA target module that is not a projection LoRA can adapt.
    #[error(
        "LoRA target module {module:?} is not one of q_proj k_proj v_proj o_proj gate_proj up_proj \
         down_proj"
    )]
    LoraTarget {
        /// The module name given.
        module: String,
    },
    /// A lock was poisoned by a thread that panicked while holding it.
    #[error("{what} poisoned (a thread panicked while holding its lock)")]
    Poisoned {
        /// What the lock guards.
        what: &'static str,
    },
    /// A value could not be serialised for writing.
    #[error("serialising {what}: {message}")]
    Serialise {
        /// What was being serialised.
        what: &'static str,
        /// The serialiser's message.
        message: String,
    },
    /// A token sequence given to the model is empty.
    #[error("{seq} is empty (the model needs at least one token to continue)")]
    EmptySequence {
        /// Which sequence.
        seq: Sequence,
    },
    /// A token id is not below the model's vocabulary size.
    #[error("{seq}: token {token} >= vocab_size {vocab}")]
    TokenOutOfVocab {
        /// The sequence holding it.
        seq: Sequence,
        /// The token id.
        token: u32,
        /// The model's `vocab_size`.
        vocab: u32,
    },
    /// A sequence has more positions than the model's context.
    #[error("{seq}: {len} positions > max_position_embeddings {max}")]
    SequenceTooLong {
        /// Which sequence.
        seq: Sequence,
        /// Its number of positions.
        len: usize,
        /// The model's `max_position_embeddings`.
        max: usize,
    },
    /// A prompt leaves no room in the model's context for the tokens to generate.
    #[error(
        "prompt {prompt}: {len} tokens + max_new_tokens {max_new_tokens} > \
         max_position_embeddings {max}"
    )]
    PromptTooLong {
        /// The prompt's index in the batch.
        prompt: usize,
        /// The prompt's number of tokens.
        len: usize,
        /// The number of tokens asked for.
        max_new_tokens: usize,
        /// The model's `max_position_embeddings`.
        max: usize,
    },
    /// A sampling temperature that is not positive and finite.
    #[error("temperature {value}: must be positive and finite")]
    Temperature {
        /// The temperature given.
        value: f32,
    },
    /// A batch with no rows, or with unequal numbers of prompts and completions.
    #[error("{prompts} prompts and {completions} completions: need the same positive number")]
    BatchSize {
        /// The number of prompts.
        prompts: usize,
        /// The number of completions.
        completions: usize,
    },
    /// Every completion of a batch is empty: there is no token to score.
    #[error("every completion is empty")]
    EmptyCompletions,
    /// A tensor operation was given a shape it cannot work on.
    #[error("{op} on shape {shape:?}: needs {need}")]
    OpShape {
        /// The operation.
        op: &'static str,
        /// The shape given.
        shape: Vec<usize>,
        /// What the operation needs.
        need: String,
    },
    /// A KV cache has no room for the slots to append.
    #[error("{cache} overflow: {len} + {add} slots > capacity {capacity}")]
    KvCacheOverflow {
        /// Which cache (`KV cache`, `decode cache`).
        cache: &'static str,
        /// The slots already filled.
        len: usize,
        /// The slots to append.
        add: usize,
        /// The slots it holds.
        capacity: usize,
    },
    /// A KV cache was asked for a layer or row it does not have.
    #[error("{cache} has no {what} {index}")]
    KvCacheIndex {
        /// Which cache (`KV cache`, `decode cache`).
        cache: &'static str,
        /// What was asked for (`layer`, `row`).
        what: &'static str,
        /// The index asked for.
        index: usize,
    },
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

/// Which token sequence of a call an [`Error`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    /// The one sequence of a single-sequence call.
    Input,
    /// Prompt `i` of a batch.
    Prompt(usize),
    /// Row `i` of a batch: its prompt and completion together.
    Row(usize),
}

impl std::fmt::Display for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sequence::Input => f.write_str("input"),
            Sequence::Prompt(i) => write!(f, "prompt {i}"),
            Sequence::Row(i) => write!(f, "row {i}"),
        }
    }
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
