//! `ModelConfig`: the subset of Hugging Face's `LlamaConfig` / `Qwen2Config` (`config.json`) that
//! describes this model, read from `config.json` or TOML and written back as a `config.json` that
//! `transformers` loads as `LlamaForCausalLM`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Shape and constants of the decoder, with Hugging Face's key names.
///
/// Reading ignores keys this model does not use (a real `config.json` has dozens), so this struct
/// does not deny unknown fields; values it cannot honour (`hidden_act` other than `silu`,
/// `rope_scaling`) are rejected by [`ModelConfig::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// `llama` or `qwen2` (Qwen2 always has q/k/v biases).
    pub model_type: String,
    /// Number of token ids.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention); equals the query heads when absent.
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; `hidden_size / num_attention_heads` when absent.
    pub head_dim: Option<usize>,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Longest sequence (prompt + completion) the model is used for.
    pub max_position_embeddings: usize,
    /// LM head shares the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v/o projections (Llama's meaning; Qwen2 has q/k/v biases regardless).
    pub attention_bias: bool,
    /// MLP activation; only `silu` is supported.
    pub hidden_act: String,
    /// Beginning-of-sequence token id.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token ids: `config.json` holds one id or a list (e.g. Qwen2-Instruct's
    /// `<|im_end|>` and `<|endoftext|>`); generation stops at any of them. Empty when absent.
    pub eos_token_id: Vec<u32>,
    /// Padding token id.
    pub pad_token_id: Option<u32>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        // The `tiny` benchmark shape (~0.86 M parameters) over the built-in tokenizer.
        Self {
            model_type: "llama".into(),
            vocab_size: 99,
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 4,
            num_attention_heads: 4,
            num_key_value_heads: None,
            head_dim: None,
            rope_theta: 10000.0,
            rms_norm_eps: 1e-5,
            max_position_embeddings: 256,
            tie_word_embeddings: true,
            attention_bias: false,
            hidden_act: "silu".into(),
            bos_token_id: Some(1),
            eos_token_id: vec![2],
            pad_token_id: Some(0),
        }
    }
}

impl ModelConfig {
    /// Reads `config.json` (any `.json`) or a TOML file with the same keys; errors name the file
    /// and the field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let value: Value = if is_toml {
            let t: toml::Value = toml::from_str(&text).map_err(|e| Error::ConfigParse {
                path: path.into(),
                message: e.to_string(),
            })?;
            serde_json::to_value(t).map_err(|e| Error::ConfigParse {
                path: path.into(),
                message: e.to_string(),
            })?
        } else {
            serde_json::from_str(&text).map_err(|e| Error::ConfigParse {
                path: path.into(),
                message: e.to_string(),
            })?
        };
        Self::from_value(&value, path)
    }

    /// Builds a config from a parsed JSON object, field by field so that errors name the field.
    pub fn from_value(value: &Value, path: &Path) -> Result<Self> {
        let map = value.as_object().ok_or_else(|| Error::ConfigParse {
            path: path.into(),
            message: "expected a table/object at the top level".into(),
        })?;
        let d = Self::default();
        let model_type: String = field(map, path, "model_type", d.model_type)?;
        if map.get("use_sliding_window").and_then(Value::as_bool) == Some(true) {
            let msg = "sliding-window attention is not supported".to_string();
            return Err(value_error(path, "use_sliding_window", msg));
        }
        if let Some(scaling) = map.get("rope_scaling").filter(|v| !v.is_null()) {
            return Err(value_error(
                path,
                "rope_scaling",
                format!("{scaling} is not supported"),
            ));
        }
        // transformers >= 5 writes `rope_parameters: {rope_theta, rope_type}`; older files a
        // top-level `rope_theta`.
        let mut rope_theta: f64 = field(map, path, "rope_theta", d.rope_theta)?;
        if let Some(rp) = map.get("rope_parameters").filter(|v| !v.is_null()) {
            let kind = rp
                .get("rope_type")
                .and_then(Value::as_str)
                .unwrap_or("default");
            if kind != "default" {
                let msg = format!("rope_type {kind:?} is not supported (default)");
                return Err(value_error(path, "rope_parameters", msg));
            }
            if let Some(theta) = rp.get("rope_theta") {
                rope_theta = parse(theta, path, "rope_parameters.rope_theta")?;
            }
        }
        let config = Self {
            // Optional: `rlvr init` takes it from the tokenizer; the default is the built-in one's.
            vocab_size: field(map, path, "vocab_size", d.vocab_size)?,
            hidden_size: required(map, path, "hidden_size")?,
            intermediate_size: required(map, path, "intermediate_size")?,
            num_hidden_layers: required(map, path, "num_hidden_layers")?,
            num_attention_heads: required(map, path, "num_attention_heads")?,
            num_key_value_heads: field(map, path, "num_key_value_heads", None)?,
            head_dim: field(map, path, "head_dim", None)?,
            rope_theta,
            rms_norm_eps: field(map, path, "rms_norm_eps", d.rms_norm_eps)?,
            max_position_embeddings: field(
                map,
                path,
                "max_position_embeddings",
                d.max_position_embeddings,
            )?,
            // transformers' default for both Llama and Qwen2 configs.
            tie_word_embeddings: field(map, path, "tie_word_embeddings", false)?,
            attention_bias: field(map, path, "attention_bias", false)?,
            hidden_act: field(map, path, "hidden_act", d.hidden_act)?,
            bos_token_id: field(map, path, "bos_token_id", None)?,
            eos_token_id: token_ids(map.get("eos_token_id"), path, "eos_token_id")?,
            pad_token_id: field(map, path, "pad_token_id", None)?,
            model_type,
        };
        config.validate_at(path)?;
        Ok(config)
    }

    /// Checks the values are consistent (heads divide widths, known activation, ...).
    pub fn validate(&self) -> Result<()> {
        self.validate_at(Path::new("<config>"))
    }

    fn validate_at(&self, path: &Path) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(value_error(path, name, "must be positive".into()));
            }
        }
        if !matches!(self.model_type.as_str(), "llama" | "qwen2") {
            let msg = format!("{:?} is not supported (llama, qwen2)", self.model_type);
            return Err(value_error(path, "model_type", msg));
        }
        if self.hidden_act != "silu" {
            let msg = format!("{:?} is not supported (silu)", self.hidden_act);
            return Err(value_error(path, "hidden_act", msg));
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            let msg = format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            );
            return Err(value_error(path, "num_attention_heads", msg));
        }
        if !self.head_dim().is_multiple_of(2) || self.head_dim() == 0 {
            let msg = format!(
                "head dimension {} must be even and positive",
                self.head_dim()
            );
            return Err(value_error(path, "head_dim", msg));
        }
        let kv = self.num_kv_heads();
        if kv == 0 || !self.num_attention_heads.is_multiple_of(kv) {
            let msg = format!(
                "{kv} does not divide num_attention_heads {}",
                self.num_attention_heads
            );
            return Err(value_error(path, "num_key_value_heads", msg));
        }
        let ids = [
            ("bos_token_id", self.bos_token_id),
            ("pad_token_id", self.pad_token_id),
        ]
        .into_iter()
        .chain(
            self.eos_token_id
                .iter()
                .map(|&id| ("eos_token_id", Some(id))),
        );
        for (name, id) in ids {
            if let Some(id) = id.filter(|&id| id as usize >= self.vocab_size) {
                let msg = format!("{id} is outside the vocabulary (size {})", self.vocab_size);
                return Err(value_error(path, name, msg));
            }
        }
        // NaN fails too.
        if self.rms_norm_eps.is_nan()
            || self.rms_norm_eps <= 0.0
            || self.rope_theta.is_nan()
            || self.rope_theta <= 0.0
        {
            return Err(value_error(
                path,
                "rms_norm_eps/rope_theta",
                "must be positive".into(),
            ));
        }
        Ok(())
    }

    /// Number of key/value heads.
    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q/k/v projections carry a bias.
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias || self.model_type == "qwen2"
    }

    /// Whether the output projection carries a bias (Llama's `attention_bias`; never in Qwen2).
    pub fn o_bias(&self) -> bool {
        self.attention_bias && self.model_type != "qwen2"
    }

    /// The `config.json` that `transformers` loads (`LlamaForCausalLM` or `Qwen2ForCausalLM`).
    pub fn to_hf_json(&self) -> Value {
        let arch = if self.model_type == "qwen2" {
            "Qwen2ForCausalLM"
        } else {
            "LlamaForCausalLM"
        };
        let mut v = serde_json::json!({
            "architectures": [arch],
            "model_type": self.model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_kv_heads(),
            "head_dim": self.head_dim(),
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_norm_eps,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "mlp_bias": false,
            "attention_dropout": 0.0,
            "hidden_act": self.hidden_act,
            "initializer_range": 0.02,
            "rope_scaling": null,
            "rope_parameters": { "rope_theta": self.rope_theta, "rope_type": "default" },
            "use_cache": true,
            "torch_dtype": "float32",
            "bos_token_id": self.bos_token_id,
            "eos_token_id": match self.eos_token_id.as_slice() {
                [] => Value::Null,
                [one] => Value::from(*one),
                many => Value::from(many.to_vec()),
            },
            "pad_token_id": self.pad_token_id,
        });
        if self.model_type == "qwen2" {
            if let Some(map) = v.as_object_mut() {
                map.remove("attention_bias");
                map.remove("head_dim");
            }
        }
        v
    }

    /// Writes [`ModelConfig::to_hf_json`] to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text =
            serde_json::to_string_pretty(&self.to_hf_json()).map_err(|e| Error::Serialise {
                what: "config",
                message: e.to_string(),
            })?;
        std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
    }
}

fn value_error(path: &Path, field: &str, message: String) -> Error {
    Error::ConfigValue {
        path: PathBuf::from(path),
        field: field.into(),
        message,
    }
}

/// Token ids under `key`: absent or null (none), one id, or a list of ids (Hugging Face writes
/// `eos_token_id` either way).
pub(crate) fn token_ids(v: Option<&Value>, path: &Path, key: &str) -> Result<Vec<u32>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|x| parse(x, path, key)).collect(),
        Some(x) => Ok(vec![parse(x, path, key)?]),
    }
}

fn required<T: serde::de::DeserializeOwned>(
    map: &Map<String, Value>,
    path: &Path,
    key: &str,
) -> Result<T> {
    match map.get(key) {
        None | Some(Value::Null) => Err(value_error(path, key, "missing".into())),
        Some(v) => parse(v, path, key),
    }
}

fn field<T: serde::de::DeserializeOwned>(
    map: &Map<String, Value>,
    path: &Path,
    key: &str,
    default: T,
) -> Result<T> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => parse(v, path, key),
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, path: &Path, key: &str) -> Result<T> {
    serde_json::from_value(v.clone()).map_err(|e| value_error(path, key, format!("{v}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_json_round_trips_and_ignores_unknown_keys() {
        let c = ModelConfig {
            num_key_value_heads: Some(2),
            ..ModelConfig::default()
        };
        let mut v = c.to_hf_json();
        v["some_future_key"] = serde_json::json!([1, 2]);
        let back = ModelConfig::from_value(&v, Path::new("config.json")).unwrap();
        assert_eq!(
            back,
            ModelConfig {
                head_dim: Some(32),
                ..c
            }
        );
    }

    #[test]
    fn toml_reads_and_errors_name_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.toml");
        std::fs::write(
            &p,
            "vocab_size = 10\nhidden_size = 8\nintermediate_size = 16\nnum_hidden_layers = 1\nnum_attention_heads = 2\n",
        )
        .unwrap();
        let c = ModelConfig::from_file(&p).unwrap();
        assert_eq!((c.vocab_size, c.head_dim(), c.num_kv_heads()), (10, 4, 2));

        std::fs::write(&p, "vocab_size = \"ten\"\n").unwrap();
        let msg = ModelConfig::from_file(&p).unwrap_err().to_string();
        assert!(
            msg.contains("m.toml") && msg.contains("vocab_size"),
            "{msg}"
        );

        let j = dir.path().join("config.json");
        std::fs::write(&j, r#"{"vocab_size": 10, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1}"#).unwrap();
        let msg = ModelConfig::from_file(&j).unwrap_err().to_string();
        assert!(
            msg.contains("config.json")
                && msg.contains("num_attention_heads")
                && msg.contains("missing"),
            "{msg}"
        );
    }

    #[test]
    fn eos_token_id_is_one_id_or_a_list_and_written_back_alike() {
        let mut v = ModelConfig::default().to_hf_json();
        assert_eq!(v["eos_token_id"], serde_json::json!(2));
        let p = Path::new("config.json");
        assert_eq!(ModelConfig::from_value(&v, p).unwrap().eos_token_id, [2]);
        v["eos_token_id"] = serde_json::json!([7, 2]);
        let c = ModelConfig::from_value(&v, p).unwrap();
        assert_eq!(c.eos_token_id, [7, 2]);
        assert_eq!(c.to_hf_json()["eos_token_id"], serde_json::json!([7, 2]));
        v["eos_token_id"] = serde_json::Value::Null;
        assert!(ModelConfig::from_value(&v, p)
            .unwrap()
            .eos_token_id
            .is_empty());
        v["eos_token_id"] = serde_json::json!([2, 99]);
        let msg = ModelConfig::from_value(&v, p).unwrap_err().to_string();
        assert!(msg.contains("eos_token_id") && msg.contains("99"), "{msg}");
        v["eos_token_id"] = serde_json::json!(["</s>"]);
        let msg = ModelConfig::from_value(&v, p).unwrap_err().to_string();
        assert!(
            msg.contains("eos_token_id") && msg.contains("</s>"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_inconsistent_heads_and_activation() {
        let c = ModelConfig {
            num_key_value_heads: Some(3),
            ..ModelConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("num_key_value_heads"));
        let c = ModelConfig {
            hidden_act: "gelu".into(),
            ..ModelConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("hidden_act"));
    }
}
