//! LoRA adapters over a frozen base: `y = x W^T + (alpha / r) * (x A^T) B^T`, `A (r, in)`,
//! `B (out, r)`; several named adapters per policy; PEFT's file format
//! (`adapter_config.json` + `adapter_model.safetensors`, tensors named
//! `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{Tensor, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{proj_shape, Model, Proj};
use crate::Policy;

/// PEFT's adapter settings file.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// PEFT's adapter weights file.
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Hyper-parameters of one adapter (PEFT's `LoraConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank.
    pub r: usize,
    /// Scaling numerator: the update is multiplied by `alpha / r`.
    pub alpha: f64,
    /// Dropout on the adapter branch's input, applied by `completion_logprobs` only while
    /// [`Policy::set_lora_dropout`] has given it a seed (never in sampling).
    pub dropout: f64,
    /// Projections adapted: any of `q_proj k_proj v_proj o_proj gate_proj up_proj down_proj`.
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl LoraConfig {
    /// Every projection LoRA can adapt, in layer order: `q_proj` ... `down_proj`.
    pub fn all_modules() -> Vec<String> {
        Proj::ALL.iter().map(|p| p.name().to_string()).collect()
    }

    fn targets(&self) -> Result<Vec<Proj>> {
        if self.r == 0 {
            return Err(Error::LoraRank);
        }
        self.target_modules
            .iter()
            .map(|m| Proj::parse(m).ok_or_else(|| Error::LoraTarget { module: m.clone() }))
            .collect()
    }
}

/// The `base_model_name_or_path` of the PEFT adapter in `dir` (`None` when it names none).
pub fn adapter_base_model(dir: impl AsRef<Path>) -> Result<Option<String>> {
    let path = dir.as_ref().join(ADAPTER_CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::ConfigParse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(v.get("base_model_name_or_path")
        .and_then(|b| b.as_str())
        .map(String::from))
}

/// One low-rank pair.
#[derive(Debug, Clone)]
pub(crate) struct LoraPair {
    /// `(r, in)`.
    pub(crate) a: Var,
    /// `(out, r)`.
    pub(crate) b: Var,
}

/// One named adapter: its config and a pair per (layer, projection) it targets.
#[derive(Debug, Clone)]
pub(crate) struct Adapter {
    pub(crate) config: LoraConfig,
    pub(crate) scale: f64,
    /// `pairs[layer][proj.index()]`.
    pub(crate) pairs: Vec<[Option<LoraPair>; 7]>,
    /// Seeded RNG of the dropout masks; `None` = dropout off.
    pub(crate) dropout_rng: Arc<Mutex<Option<StdRng>>>,
}

/// The LoRA branch of one projection in one forward.
pub(crate) struct LoraBranch<'a> {
    pub(crate) pair: &'a LoraPair,
    pub(crate) scale: f64,
    pub(crate) adapter: &'a Adapter,
}

impl LoraBranch<'_> {
    /// Whether this forward drops inputs of the branch (dropout configured and switched on).
    pub(crate) fn dropout_on(&self) -> bool {
        self.adapter.dropout_on()
    }

    /// `x` with inverted dropout applied when it is on: `x * mask / (1 - p)`.
    pub(crate) fn dropout(&self, x: &Tensor) -> Result<Tensor> {
        let p = self.adapter.config.dropout;
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let mut guard = self
            .adapter
            .dropout_rng
            .lock()
            .map_err(|_| Error::Poisoned {
                what: "LoRA dropout RNG",
            })?;
        let Some(rng) = guard.as_mut() else {
            return Ok(x.clone());
        };
        let keep = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if rng.random::<f64>() < p { 0.0 } else { keep })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok(x.mul(&mask)?)
    }
}

impl Adapter {
    /// Whether this adapter's forwards drop inputs (dropout configured and switched on).
    pub(crate) fn dropout_on(&self) -> bool {
        self.config.dropout > 0.0 && self.dropout_rng.lock().map_or(true, |rng| rng.is_some())
    }

    /// The LoRA branch on `layer`'s projection `p`, if adapted.
    pub(crate) fn branch(&self, layer: usize, p: Proj) -> Option<LoraBranch<'_>> {
        self.pair(layer, p).map(|pair| LoraBranch {
            pair,
            scale: self.scale,
            adapter: self,
        })
    }

    /// The pair on `layer`'s projection `p`, if adapted.
    pub(crate) fn pair(&self, layer: usize, p: Proj) -> Option<&LoraPair> {
        self.pairs.get(layer).and_then(|l| l[p.index()].as_ref())
    }

    /// Builds an adapter, getting each tensor by PEFT name and shape.
    fn build(
        model: &Model,
        config: &LoraConfig,
        mut get: impl FnMut(&str, (usize, usize)) -> Result<Tensor>,
    ) -> Result<Self> {
        let targets = config.targets()?;
        let mut pairs = Vec::with_capacity(model.layers.len());
        for i in 0..model.layers.len() {
            let mut layer: [Option<LoraPair>; 7] = Default::default();
            for &p in &targets {
                let (out, inp) = proj_shape(&model.config, p);
                let a = Var::from_tensor(&get(&peft_name(i, p, "A"), (config.r, inp))?)?;
                let b = Var::from_tensor(&get(&peft_name(i, p, "B"), (out, config.r))?)?;
                layer[p.index()] = Some(LoraPair { a, b });
            }
            pairs.push(layer);
        }
        Ok(Self {
            config: config.clone(),
            scale: config.alpha / config.r as f64,
            pairs,
            dropout_rng: Arc::new(Mutex::new(None)),
        })
    }

    /// An adapter with every pair random (B too, so that A gets a gradient), for tests.
    #[cfg(test)]
    pub(crate) fn random(model: &Model, config: &LoraConfig, seed: u64) -> Result<Self> {
        let mut k = seed;
        Self::build(model, config, |_, (r, c)| {
            k += 1;
            let mut rng = StdRng::seed_from_u64(k);
            let data: Vec<f32> = (0..r * c).map(|_| rng.random_range(-0.5..0.5)).collect();
            Ok(Tensor::from_vec(data, (r, c), &candle_core::Device::Cpu)?)
        })
    }

    /// Every tensor with its PEFT name.
    pub(crate) fn named_vars(&self) -> Vec<(String, &Var)> {
        let mut out = Vec::new();
        for (i, layer) in self.pairs.iter().enumerate() {
            for p in Proj::ALL {
                if let Some(pair) = &layer[p.index()] {
                    out.push((peft_name(i, p, "A"), &pair.a));
                    out.push((peft_name(i, p, "B"), &pair.b));
                }
            }
        }
        out
    }
}

/// PEFT's tensor name, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`.
fn peft_name(layer: usize, p: Proj, which: &str) -> String {
    format!(
        "base_model.model.model.layers.{layer}.{}.lora_{which}.weight",
        p.path()
    )
}

impl Policy {
    /// Adds adapter `name` (A: PEFT's Kaiming-uniform init from a seeded RNG, B: zeros, so the
    /// model is unchanged) and makes it the active one. The base weights are frozen from now on.
    pub fn add_adapter(&mut self, name: &str, config: &LoraConfig, seed: u64) -> Result<()> {
        let mut rng = StdRng::seed_from_u64(seed);
        let device = self.device.clone();
        let adapter = Adapter::build(&self.model, config, |n, (r, c)| {
            let data: Vec<f32> = if n.contains("lora_A") {
                // kaiming_uniform_(a = sqrt(5)): bound = 1 / sqrt(fan_in)
                let bound = 1.0 / (c as f64).sqrt();
                (0..r * c)
                    .map(|_| rng.random_range(-bound..bound) as f32)
                    .collect()
            } else {
                vec![0f32; r * c]
            };
            Ok(Tensor::from_vec(data, (r, c), &device)?)
        })?;
        self.adapters.insert(name.to_string(), adapter);
        self.active = Some(name.to_string());
        Ok(())
    }

    /// Turns LoRA dropout on (seeded, one RNG stream per adapter, in call order) or off (`None`)
    /// for the forwards of [`Policy::completion_logprobs`]; adapters with `dropout = 0` are
    /// unaffected. Turn it off for old/reference log-probs: masks differ on every call.
    pub fn set_lora_dropout(&self, seed: Option<u64>) -> Result<()> {
        for (i, adapter) in self.adapters.values().enumerate() {
            let mut guard = adapter.dropout_rng.lock().map_err(|_| Error::Poisoned {
                what: "LoRA dropout RNG",
            })?;
            *guard = seed.map(|s| StdRng::seed_from_u64(s.wrapping_add(i as u64)));
        }
        Ok(())
    }

    /// Whether some adapter's dropout is switched on ([`Policy::set_lora_dropout`]); its masks
    /// are drawn in call order, so forwards that must reproduce run one after another.
    pub fn lora_dropout_on(&self) -> bool {
        self.adapters.values().any(Adapter::dropout_on)
    }

    /// Makes `name` the adapter used by [`AdapterMode::Active`](crate::AdapterMode) and by
    /// sampling.
    pub fn set_active_adapter(&mut self, name: &str) -> Result<()> {
        self.adapter(name)?;
        self.active = Some(name.to_string());
        Ok(())
    }

    /// Name of the active adapter.
    pub fn active_adapter(&self) -> Option<&str> {
        self.active.as_deref()
    }

    /// Names of all adapters.
    pub fn adapter_names(&self) -> Vec<String> {
        self.adapters.keys().cloned().collect()
    }

    pub(crate) fn adapter(&self, name: &str) -> Result<&Adapter> {
        self.adapters
            .get(name)
            .ok_or_else(|| Error::UnknownAdapter {
                name: name.into(),
                known: self.adapters.keys().cloned().collect(),
            })
    }

    /// Writes adapter `name` to `dir` as PEFT's `save_pretrained` does (`adapter_config.json`,
    /// `adapter_model.safetensors`), with `base` (the base model's directory or Hub name) as
    /// `base_model_name_or_path`: what `PeftModel.from_pretrained(base_model, dir)` and
    /// `AutoPeftModelForCausalLM.from_pretrained(dir)` load.
    pub fn save_adapter(
        &self,
        name: &str,
        dir: impl AsRef<Path>,
        base: Option<&str>,
    ) -> Result<()> {
        let dir = dir.as_ref();
        let adapter = self.adapter(name)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let c = &adapter.config;
        let json = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "r": c.r,
            "lora_alpha": c.alpha,
            "lora_dropout": c.dropout,
            "target_modules": c.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "use_rslora": false,
            "use_dora": false,
            "modules_to_save": null,
            "layers_to_transform": null,
            "base_model_name_or_path": base,
            "revision": null,
        });
        let path = dir.join(ADAPTER_CONFIG_FILE);
        let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Serialise {
            what: "the adapter config",
            message: e.to_string(),
        })?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))?;
        let tensors: HashMap<String, Tensor> = adapter
            .named_vars()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        crate::hf::save_safetensors(&tensors, &dir.join(ADAPTER_WEIGHTS_FILE))
    }

    /// Reads a PEFT adapter directory as adapter `name` (made active).
    pub fn load_adapter(&mut self, dir: impl AsRef<Path>, name: &str) -> Result<()> {
        let dir = dir.as_ref();
        let config_path = dir.join(ADAPTER_CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::ConfigParse {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        let field_err = |field: &str, message: &str| Error::ConfigValue {
            path: config_path.clone(),
            field: field.into(),
            message: message.into(),
        };
        if v.get("peft_type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t != "LORA")
        {
            return Err(field_err("peft_type", "only LORA adapters are supported"));
        }
        if v.get("use_dora").and_then(|t| t.as_bool()) == Some(true) {
            return Err(field_err("use_dora", "DoRA is not supported"));
        }
        if v.get("use_rslora").and_then(|t| t.as_bool()) == Some(true) {
            return Err(field_err("use_rslora", "rsLoRA scaling is not supported"));
        }
        let r = v
            .get("r")
            .and_then(|x| x.as_u64())
            .ok_or_else(|| field_err("r", "missing or not an integer"))?;
        let alpha = v
            .get("lora_alpha")
            .and_then(|x| x.as_f64())
            .ok_or_else(|| field_err("lora_alpha", "missing or not a number"))?;
        let dropout = v
            .get("lora_dropout")
            .and_then(|x| x.as_f64())
            .unwrap_or(0.0);
        let target_modules: Vec<String> = match v.get("target_modules") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
            Some(serde_json::Value::String(s)) => {
                return Err(field_err(
                    "target_modules",
                    &format!("regex {s:?} is not supported; list the modules"),
                ))
            }
            _ => return Err(field_err("target_modules", "missing")),
        };
        let config = LoraConfig {
            r: r as usize,
            alpha,
            dropout,
            target_modules,
        };
        config
            .targets()
            .map_err(|e| field_err("target_modules", &e.to_string()))?;
        let st_path = dir.join(ADAPTER_WEIGHTS_FILE);
        let mut tensors = crate::hf::load_safetensors(&st_path, &self.device)?;
        let adapter = Adapter::build(&self.model, &config, |n, shape| {
            crate::hf::take_tensor(&mut tensors, &st_path, n, shape)
        })?;
        self.adapters.insert(name.to_string(), adapter);
        self.active = Some(name.to_string());
        Ok(())
    }

    /// Folds adapter `name` into the base weights (`W += (alpha/r) B A`) and removes it.
    pub fn merge_adapter(&mut self, name: &str) -> Result<()> {
        let adapter = self.adapter(name)?.clone();
        for (li, layer) in self.model.layers.iter().enumerate() {
            for p in Proj::ALL {
                if let Some(pair) = adapter.pair(li, p) {
                    let w = &layer.proj[p.index()].weight;
                    let delta = (pair.b.as_tensor().matmul(pair.a.as_tensor())? * adapter.scale)?;
                    w.set(&(w.as_tensor() + delta)?.detach())?;
                }
            }
        }
        self.adapters.remove(name);
        if self.active.as_deref() == Some(name) {
            self.active = None;
        }
        Ok(())
    }
}
