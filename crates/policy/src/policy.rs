//! `Policy`: model weights + tokenizer + named LoRA adapters + device, and its directory format.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Var};

use crate::config::ModelConfig;
use crate::error::{Error, Result};
use crate::hf;
use crate::lora::Adapter;
use crate::model::Model;
use crate::tokenizer::Tokenizer;

/// Which weights a forward uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterMode {
    /// The active adapter if there is one, else the base.
    Active,
    /// The base model alone: the reference for the KL term under LoRA.
    Off,
    /// The adapter of this name.
    Named(String),
}

/// A language model ready to sample from and to train.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) model: Model,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) adapters: BTreeMap<String, Adapter>,
    pub(crate) active: Option<String>,
    pub(crate) device: Device,
    /// A reference snapshot: nothing is trainable, no graph is recorded.
    pub(crate) frozen: bool,
}

impl Policy {
    /// A randomly initialised model (normal 0.02; o_proj and down_proj scaled by
    /// `1/sqrt(2 * layers)`; seeded). Its config's special ids (`bos_token_id`, `eos_token_id`,
    /// `pad_token_id`) are taken from `tokenizer`.
    pub fn init(
        config: &ModelConfig,
        tokenizer: Tokenizer,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::ConfigValue {
                path: "<config>".into(),
                field: "vocab_size".into(),
                message: format!(
                    "{} is smaller than the tokenizer's {} ids",
                    config.vocab_size,
                    tokenizer.vocab_size()
                ),
            });
        }
        let config = ModelConfig {
            bos_token_id: tokenizer.bos_id(),
            eos_token_id: tokenizer.eos_ids().to_vec(),
            pad_token_id: Some(tokenizer.pad_id()),
            ..config.clone()
        };
        config.validate()?;
        let model = Model::init(&config, seed, device)?;
        Ok(Self::from_parts(model, tokenizer, device))
    }

    fn from_parts(model: Model, tokenizer: Tokenizer, device: &Device) -> Self {
        Self {
            model,
            tokenizer,
            adapters: BTreeMap::new(),
            active: None,
            device: device.clone(),
            frozen: false,
        }
    }

    /// Loads a directory with `config.json`, `model.safetensors` and `tokenizer.json` (as written by
    /// [`Policy::save`] or by `transformers`' `save_pretrained` for Llama/Qwen2).
    ///
    /// Prompts are then encoded as that tokenizer does ([`Tokenizer::encode_prompt`]), and
    /// completions end at any `eos_token_id` of `config.json` or `generation_config.json` (the
    /// tokenizer's `<eos>`, `</s>`, ... when neither names one).
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let config_path = dir.join(hf::CONFIG_FILE);
        if !config_path.exists() && dir.join(crate::lora::ADAPTER_CONFIG_FILE).exists() {
            return Err(Error::AdapterNotModel { dir: dir.into() });
        }
        let mut config = ModelConfig::from_file(&config_path)?;
        for id in hf::generation_eos_ids(dir)? {
            if !config.eos_token_id.contains(&id) {
                config.eos_token_id.push(id);
            }
        }
        let mut tokenizer = hf::load_tokenizer(dir)?;
        if !config.eos_token_id.is_empty() {
            tokenizer =
                tokenizer
                    .with_eos_ids(&config.eos_token_id)
                    .map_err(|e| Error::ConfigValue {
                        path: config_path.clone(),
                        field: "eos_token_id".into(),
                        message: e.to_string(),
                    })?;
        }
        config.eos_token_id = tokenizer.eos_ids().to_vec();
        let model = hf::load_model(dir, &config, device)?;
        Ok(Self::from_parts(model, tokenizer, device))
    }

    /// Writes `config.json`, `model.safetensors`, `tokenizer.json` and `tokenizer_config.json`
    /// into `dir` (created): a directory `transformers` loads with `from_pretrained`, whose
    /// `tokenizer(prompt)` gives the ids rlvr feeds the model. Adapters are not included: see
    /// [`Policy::save_adapter`] / [`Policy::merge_adapter`].
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.model.config.save(dir.join(hf::CONFIG_FILE))?;
        hf::save_model(dir, &self.model)?;
        self.tokenizer.save_to_dir(dir)
    }

    /// The model's config.
    pub fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype of the forwards: weights as they are read, activations, KV cache. The weights
    /// themselves (master weights, what the optimizer updates and checkpoints hold) stay f32.
    pub fn dtype(&self) -> DType {
        self.model.compute
    }

    /// Runs the forwards in `dtype`: f32 anywhere, bf16 on CUDA (candle's CPU matmul has no
    /// bf16). Log-probs and logits come back in f32 either way; RMSNorm and softmax statistics
    /// are computed in f32.
    pub fn set_dtype(&mut self, dtype: DType) -> Result<()> {
        match dtype {
            DType::F32 => {}
            DType::BF16 if self.device.is_cuda() => {}
            DType::BF16 => return Err(Error::Bf16NeedsCuda),
            other => {
                return Err(Error::Dtype {
                    spec: other.as_str().to_string(),
                })
            }
        }
        self.model.compute = dtype;
        Ok(())
    }

    /// Number of base-model parameters (tied head counted once; adapters excluded).
    pub fn num_parameters(&self) -> usize {
        self.model.num_parameters()
    }

    /// Whether the base weights are frozen: under LoRA (any adapter present) or in a reference
    /// snapshot.
    pub fn base_frozen(&self) -> bool {
        self.frozen || !self.adapters.is_empty()
    }

    /// The tensors an optimizer should update, with their names: every base weight (Hugging Face
    /// names) in full fine-tuning; under LoRA only the active adapter's A/B (PEFT names); nothing
    /// for a reference snapshot.
    pub fn trainable_vars(&self) -> Vec<(String, Var)> {
        if self.frozen {
            return Vec::new();
        }
        if self.adapters.is_empty() {
            return self
                .model
                .named_vars()
                .into_iter()
                .map(|(n, v)| (n, v.clone()))
                .collect();
        }
        match self.active.as_ref().and_then(|a| self.adapters.get(a)) {
            Some(a) => a
                .named_vars()
                .into_iter()
                .map(|(n, v)| (n, v.clone()))
                .collect(),
            None => Vec::new(),
        }
    }

    /// A frozen deep copy of the current weights (active adapter merged in), for reference
    /// log-probs in full fine-tuning: `.copy()`-ed tensors that later optimizer steps on `self`
    /// do not touch, and whose forwards record no graph. Under LoRA prefer
    /// [`AdapterMode::Off`], which needs no second copy.
    pub fn snapshot_reference(&self) -> Result<Policy> {
        let mut p = Self::from_parts(
            self.model.deep_copy()?,
            self.tokenizer.clone(),
            &self.device,
        );
        if let Some(name) = &self.active {
            p.adapters.insert(name.clone(), self.adapter(name)?.clone());
            p.merge_adapter(name)?;
        }
        p.frozen = true;
        Ok(p)
    }

    /// Resolves `mode` to the adapter to apply (if any).
    pub(crate) fn resolve(&self, mode: &AdapterMode) -> Result<Option<&Adapter>> {
        match mode {
            AdapterMode::Off => Ok(None),
            AdapterMode::Active => match &self.active {
                Some(name) => self.adapter(name).map(Some),
                None => Ok(None),
            },
            AdapterMode::Named(name) => self.adapter(name).map(Some),
        }
    }
}
