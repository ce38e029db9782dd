//! Hugging Face model directories: `config.json` + `model.safetensors` + `tokenizer.json`
//! (+ `tokenizer_config.json`, and `generation_config.json` when its writer had one).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::tokenizer::Tokenizer;

/// File names inside a model directory.
pub const CONFIG_FILE: &str = "config.json";
/// Weights file name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Tokenizer file name.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// transformers' tokenizer settings (class, special token names).
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// transformers' generation defaults; its `eos_token_id` may list more end tokens than
/// `config.json` does.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// Writes `tensors` (safetensors, contiguous copies).
pub(crate) fn save_safetensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    candle_core::safetensors::save(tensors, path).map_err(|e| Error::Tensor {
        path: path.into(),
        name: "*".into(),
        message: e.to_string(),
    })
}

/// Reads every tensor of a safetensors file.
pub(crate) fn load_safetensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    candle_core::safetensors::load(path, device).map_err(|e| Error::Tensor {
        path: path.into(),
        name: "*".into(),
        message: e.to_string(),
    })
}

/// Removes tensor `name` from `tensors`, checks it has `shape` (`(1, n)` means a vector of `n`)
/// and returns it as f32.
pub(crate) fn take_tensor(
    tensors: &mut HashMap<String, Tensor>,
    path: &Path,
    name: &str,
    (r, c): (usize, usize),
) -> Result<Tensor> {
    let err = |message: String| Error::Tensor {
        path: path.into(),
        name: name.into(),
        message,
    };
    let t = tensors.remove(name).ok_or_else(|| err("missing".into()))?;
    let want: Vec<usize> = if r == 1 { vec![c] } else { vec![r, c] };
    if t.dims() != want.as_slice() {
        return Err(err(format!("shape {:?}, expected {:?}", t.dims(), want)));
    }
    Ok(if t.dtype() == DType::F32 {
        t
    } else {
        t.to_dtype(DType::F32)?
    })
}

/// Loads a model directory's weights for `config`.
pub(crate) fn load_model(dir: &Path, config: &ModelConfig, device: &Device) -> Result<Model> {
    let path = dir.join(WEIGHTS_FILE);
    let mut tensors = load_safetensors(&path, device)?;
    // transformers omits `lm_head.weight` from tied checkpoints; some writers keep it.
    if config.tie_word_embeddings {
        tensors.remove("lm_head.weight");
    }
    let model = Model::build(config, device, |name, shape| {
        take_tensor(&mut tensors, &path, name, shape)
    })?;
    // Rotary caches saved by old writers are harmless; anything else means a different model.
    tensors.retain(|k, _| !k.ends_with("rotary_emb.inv_freq"));
    if let Some(name) = tensors.keys().min() {
        return Err(Error::Tensor {
            path,
            name: name.clone(),
            message: "unexpected tensor (config and weights disagree)".into(),
        });
    }
    Ok(model)
}

/// Saves `model` weights (tied head omitted, as transformers does).
pub(crate) fn save_model(dir: &Path, model: &Model) -> Result<()> {
    let tensors: HashMap<String, Tensor> = model
        .named_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    save_safetensors(&tensors, &dir.join(WEIGHTS_FILE))
}

/// Loads `tokenizer.json` (and `tokenizer_config.json`, if any) from `dir`.
pub(crate) fn load_tokenizer(dir: &Path) -> Result<Tokenizer> {
    Tokenizer::from_dir(dir)
}

/// The `eos_token_id`s of `dir`'s `generation_config.json` (none when the file is absent).
pub(crate) fn generation_eos_ids(dir: &Path) -> Result<Vec<u32>> {
    let path = dir.join(GENERATION_CONFIG_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::ConfigParse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    crate::config::token_ids(value.get("eos_token_id"), &path, "eos_token_id")
}
