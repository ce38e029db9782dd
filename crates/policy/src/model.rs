//! The decoder's weights (as `Var`s, with Hugging Face names) and its differentiable full-sequence
//! forward, used for log-probs and training.
//!
//! ```text
//! ids (b, t) -> embed (b, t, D)
//!   per layer: x += o_proj(attn(rope(q), rope(k), v) over rms_norm(x))   causal, GQA
//!              x += down_proj(silu(gate_proj(h)) * up_proj(h)),  h = rms_norm(x)
//! rms_norm -> hidden (b, t, D) -> lm_head (or embed^T when tied) -> logits (b, t, V)
//! ```

use candle_core::{DType, Device, Tensor, Var, D};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::causal_attention::Heads;
use crate::config::ModelConfig;
use crate::dense::dense;
use crate::error::Result;
use crate::kernels::{causal_attention, trainable_fused, Kernels};
use crate::lora::Adapter;
use crate::lora_linear::{lora_linear, stacked_lora_linear};

/// The seven projections of a layer, in Hugging Face/PEFT naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Proj {
    /// All projections in layer order.
    pub(crate) const ALL: [Proj; 7] = [
        Proj::Q,
        Proj::K,
        Proj::V,
        Proj::O,
        Proj::Gate,
        Proj::Up,
        Proj::Down,
    ];

    /// Module name, e.g. `q_proj`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Proj::Q => "q_proj",
            Proj::K => "k_proj",
            Proj::V => "v_proj",
            Proj::O => "o_proj",
            Proj::Gate => "gate_proj",
            Proj::Up => "up_proj",
            Proj::Down => "down_proj",
        }
    }

    /// Parses a module name (`q_proj`, also `q`).
    pub(crate) fn parse(name: &str) -> Option<Proj> {
        Proj::ALL
            .into_iter()
            .find(|p| p.name() == name || p.name().trim_end_matches("_proj") == name)
    }

    /// Path inside a layer, e.g. `self_attn.q_proj`.
    pub(crate) fn path(self) -> String {
        let block = match self {
            Proj::Q | Proj::K | Proj::V | Proj::O => "self_attn",
            _ => "mlp",
        };
        format!("{block}.{}", self.name())
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A dense projection `y = x w^T + b` with `w` of shape `(out, in)`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub(crate) weight: Var,
    pub(crate) bias: Option<Var>,
}

/// One decoder layer's weights.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) input_layernorm: Var,
    pub(crate) post_attention_layernorm: Var,
    /// Indexed by [`Proj::index`].
    pub(crate) proj: [Linear; 7],
}

/// Precomputed RoPE tables `(max_positions, head_dim/2)`.
#[derive(Debug, Clone)]
pub(crate) struct Rope {
    pub(crate) cos: Tensor,
    pub(crate) sin: Tensor,
}

impl Rope {
    fn new(config: &ModelConfig, device: &Device) -> Result<Self> {
        let d = config.head_dim();
        let n = config.max_position_embeddings;
        // transformers computes inv_freq in f32 from an int64 arange; angles in f32 too.
        let inv: Vec<f32> = (0..d / 2)
            .map(|i| 1.0 / (config.rope_theta as f32).powf((2 * i) as f32 / d as f32))
            .collect();
        let mut cos = Vec::with_capacity(n * d / 2);
        let mut sin = Vec::with_capacity(n * d / 2);
        for p in 0..n {
            for f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (n, d / 2), device)?,
            sin: Tensor::from_vec(sin, (n, d / 2), device)?,
        })
    }
}

/// All weights of the decoder.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) config: ModelConfig,
    pub(crate) embed_tokens: Var,
    pub(crate) layers: Vec<Layer>,
    pub(crate) norm: Var,
    /// `None` when tied to `embed_tokens`.
    pub(crate) lm_head: Option<Var>,
    pub(crate) rope: Rope,
    pub(crate) device: Device,
    /// dtype of the forwards' weights and activations; the `Var`s (master weights) stay f32.
    pub(crate) compute: DType,
}

/// Shapes `(out, in)` of each projection.
pub(crate) fn proj_shape(config: &ModelConfig, p: Proj) -> (usize, usize) {
    let (dm, hd) = (config.hidden_size, config.head_dim());
    let (q, kv, ff) = (
        config.num_attention_heads * hd,
        config.num_kv_heads() * hd,
        config.intermediate_size,
    );
    match p {
        Proj::Q => (q, dm),
        Proj::K | Proj::V => (kv, dm),
        Proj::O => (dm, q),
        Proj::Gate | Proj::Up => (ff, dm),
        Proj::Down => (dm, ff),
    }
}

/// Whether projection `p` has a bias under `config`.
pub(crate) fn has_bias(config: &ModelConfig, p: Proj) -> bool {
    match p {
        Proj::Q | Proj::K | Proj::V => config.qkv_bias(),
        Proj::O => config.o_bias(),
        _ => false,
    }
}

/// Standard normal samples from a seeded RNG (Box–Muller).
pub(crate) fn normal(rng: &mut StdRng, n: usize, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
        })
        .collect()
}

impl Model {
    /// Builds a model from a lookup `name, shape -> tensor`; names are Hugging Face's.
    pub(crate) fn build(
        config: &ModelConfig,
        device: &Device,
        mut get: impl FnMut(&str, (usize, usize)) -> Result<Tensor>,
    ) -> Result<Self> {
        config.validate()?;
        let (v, dm) = (config.vocab_size, config.hidden_size);
        let var = |t: Tensor| -> Result<Var> { Ok(Var::from_tensor(&t)?) };
        let vec1 = |t: Tensor| -> Result<Var> { Ok(Var::from_tensor(&t.flatten_all()?)?) };
        let embed_tokens = var(get("model.embed_tokens.weight", (v, dm))?)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let pre = format!("model.layers.{i}");
            let input_layernorm = vec1(get(&format!("{pre}.input_layernorm.weight"), (1, dm))?)?;
            let post_attention_layernorm = vec1(get(
                &format!("{pre}.post_attention_layernorm.weight"),
                (1, dm),
            )?)?;
            let mut projs = Vec::with_capacity(7);
            for p in Proj::ALL {
                let (o, n) = proj_shape(config, p);
                let weight = var(get(&format!("{pre}.{}.weight", p.path()), (o, n))?)?;
                let bias = if has_bias(config, p) {
                    Some(vec1(get(&format!("{pre}.{}.bias", p.path()), (1, o))?)?)
                } else {
                    None
                };
                projs.push(Linear { weight, bias });
            }
            let proj: [Linear; 7] = match projs.try_into() {
                Ok(a) => a,
                Err(_) => unreachable!("seven projections were pushed"),
            };
            layers.push(Layer {
                input_layernorm,
                post_attention_layernorm,
                proj,
            });
        }
        let norm = vec1(get("model.norm.weight", (1, dm))?)?;
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(var(get("lm_head.weight", (v, dm))?)?)
        };
        Ok(Self {
            config: config.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            rope: Rope::new(config, device)?,
            device: device.clone(),
            compute: DType::F32,
        })
    }

    /// Random initialisation: normal(0, 0.02) matrices, o_proj/down_proj scaled by
    /// `1/sqrt(2 * layers)` (GPT-2), norms at 1, biases at 0; one seeded RNG in name order.
    pub(crate) fn init(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let scaled = 0.02 / (2.0 * config.num_hidden_layers as f64).sqrt();
        Self::build(config, device, |name, (r, c)| {
            let n = r * c;
            let data = if name.ends_with("layernorm.weight") || name == "model.norm.weight" {
                vec![1f32; n]
            } else if name.ends_with(".bias") {
                vec![0f32; n]
            } else if name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight") {
                normal(&mut rng, n, scaled)
            } else {
                normal(&mut rng, n, 0.02)
            };
            let shape: Vec<usize> = if r == 1 { vec![c] } else { vec![r, c] };
            Ok(Tensor::from_vec(data, shape, device)?)
        })
    }

    /// Every weight with its Hugging Face name, in a fixed order (tied head omitted).
    pub(crate) fn named_vars(&self) -> Vec<(String, &Var)> {
        let mut out = vec![("model.embed_tokens.weight".to_string(), &self.embed_tokens)];
        for (i, l) in self.layers.iter().enumerate() {
            let pre = format!("model.layers.{i}");
            out.push((format!("{pre}.input_layernorm.weight"), &l.input_layernorm));
            for p in Proj::ALL {
                let lin = &l.proj[p.index()];
                out.push((format!("{pre}.{}.weight", p.path()), &lin.weight));
                if let Some(b) = &lin.bias {
                    out.push((format!("{pre}.{}.bias", p.path()), b));
                }
            }
            out.push((
                format!("{pre}.post_attention_layernorm.weight"),
                &l.post_attention_layernorm,
            ));
        }
        out.push(("model.norm.weight".to_string(), &self.norm));
        if let Some(h) = &self.lm_head {
            out.push(("lm_head.weight".to_string(), h));
        }
        out
    }

    /// The LM head matrix `(V, D)`.
    pub(crate) fn head(&self) -> &Var {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// Differentiable forward over whole sequences with the fused training kernels: `ids (b, t)`
    /// -> final-normed hidden states `(b, t, D)`. Positions are `0..t` in every row (right padding
    /// is harmless: causal attention never looks ahead). Gradients flow to the base weights when
    /// `base_grad`, and always to the adapter's A/B.
    pub(crate) fn hidden(
        &self,
        ids: &Tensor,
        adapter: Option<&Adapter>,
        base_grad: bool,
    ) -> Result<Tensor> {
        self.hidden_with(Kernels::Trained, ids, adapter, base_grad)
    }

    /// [`Model::hidden`] at the flat positions `rows` (indices into `b * t`) only: `(rows, D)`.
    /// The last layer's attention output, `o_proj`, MLP and the final norm run on those rows
    /// alone (every layer's keys and values still come from every position): a loss over a
    /// completion needs no hidden state at its prompt's positions.
    pub(crate) fn hidden_at(
        &self,
        ids: &Tensor,
        rows: &Tensor,
        adapter: Option<&Adapter>,
        base_grad: bool,
    ) -> Result<Tensor> {
        self.forward_rows(Kernels::Trained, ids, Some(rows), adapter, base_grad)
    }

    /// [`Model::hidden`] with the chosen kernels (`Composite`: the test oracle).
    pub(crate) fn hidden_with(
        &self,
        k: Kernels,
        ids: &Tensor,
        adapter: Option<&Adapter>,
        base_grad: bool,
    ) -> Result<Tensor> {
        self.forward_rows(k, ids, None, adapter, base_grad)
    }

    /// The forward of [`Model::hidden_with`], at `rows` only when given ([`Model::hidden_at`]).
    fn forward_rows(
        &self,
        k: Kernels,
        ids: &Tensor,
        rows: Option<&Tensor>,
        adapter: Option<&Adapter>,
        base_grad: bool,
    ) -> Result<Tensor> {
        let c = &self.config;
        // Master weights are f32; a bf16 forward reads casts of them (the cast's backward
        // hands f32 gradients back to the master weights).
        let w = |v: &Var| self.read(v, base_grad);
        let (b, t) = ids.dims2()?;
        let hd = c.head_dim();
        let mut x = w(&self.embed_tokens)?
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, c.hidden_size))?;
        let cos = self.rope.cos.narrow(0, 0, t)?;
        let sin = self.rope.sin.narrow(0, 0, t)?;
        let scale = 1.0 / (hd as f64).sqrt();
        let heads = Heads {
            h: c.num_attention_heads,
            kvh: c.num_kv_heads(),
            d: hd,
        };
        for (li, layer) in self.layers.iter().enumerate() {
            let lin = |p: Proj, x: &Tensor| -> Result<Tensor> {
                let l = &layer.proj[p.index()];
                let lora = adapter.and_then(|a| a.branch(li, p));
                let bias = l.bias.as_ref().map(&w).transpose()?;
                match lora {
                    // The fused LoRA projection (no dropout: its mask would need the composite).
                    Some(br) if k == Kernels::Trained && trainable_fused(x) && !br.dropout_on() => {
                        let (a, b) = (br.pair.a.as_tensor(), br.pair.b.as_tensor());
                        let y = lora_linear(x, &w(&l.weight)?, a, b, br.scale)?;
                        Ok(match &bias {
                            Some(bias) => y.broadcast_add(bias)?,
                            None => y,
                        })
                    }
                    _ => linear(k, x, &w(&l.weight)?, bias.as_ref(), lora.as_ref()),
                }
            };
            let stacked = |ps: &[Proj], x: &Tensor| -> Result<Tensor> {
                self.stacked_projection(k, li, ps, x, adapter, base_grad)
            };
            let hn = k.rms_norm(&x, &w(&layer.input_layernorm)?, c.rms_norm_eps)?;
            // RoPE (and q's 1/sqrt(d)) folded into the attention; out (b, t, h d)
            let qkv = stacked(&[Proj::Q, Proj::K, Proj::V], &hn)?;
            let mut a = causal_attention(k, &qkv, (&cos, &sin), heads, scale)?;
            if let Some(rows) = rows.filter(|_| li + 1 == self.layers.len()) {
                let flat = |y: &Tensor| -> Result<Tensor> {
                    let n = y.dim(D::Minus1)?;
                    Ok(y.reshape((b * t, n))?.index_select(rows, 0)?)
                };
                (x, a) = (flat(&x)?, flat(&a)?);
            }
            x = (x + lin(Proj::O, &a)?)?;
            let hn = k.rms_norm(&x, &w(&layer.post_attention_layernorm)?, c.rms_norm_eps)?;
            let swiglu = k.silu_mul_cat(&stacked(&[Proj::Gate, Proj::Up], &hn)?)?;
            x = (x + lin(Proj::Down, &swiglu)?)?;
        }
        k.rms_norm(&x, &w(&self.norm)?, c.rms_norm_eps)
    }

    /// Master weight `v` as a forward reads it: in the forward's dtype, and detached unless
    /// `base_grad` (the cast's backward hands f32 gradients back to the master weight).
    fn read(&self, v: &Var, base_grad: bool) -> Result<Tensor> {
        let t = match base_grad {
            true => v.as_tensor().clone(),
            false => v.as_tensor().detach(),
        };
        Ok(t.to_dtype(self.compute)?)
    }

    /// `x` through layer `li`'s projections `ps` as one matmul of their stacked weights: rows
    /// `[y_p0 | y_p1 | ...]`. Adapters on some of them join as one low-rank branch
    /// ([`stacked_lora_linear`]), so an adapter with `B = 0` leaves the output exactly the base's.
    fn stacked_projection(
        &self,
        k: Kernels,
        li: usize,
        ps: &[Proj],
        x: &Tensor,
        adapter: Option<&Adapter>,
        base_grad: bool,
    ) -> Result<Tensor> {
        let w = |v: &Var| self.read(v, base_grad);
        let lins: Vec<&Linear> = ps
            .iter()
            .map(|p| &self.layers[li].proj[p.index()])
            .collect();
        let outs: Vec<usize> = ps.iter().map(|&p| proj_shape(&self.config, p).0).collect();
        let weight = Tensor::cat(
            &lins
                .iter()
                .map(|l| w(&l.weight))
                .collect::<Result<Vec<_>>>()?,
            0,
        )?;
        let bias = match lins.iter().any(|l| l.bias.is_some()) {
            true => {
                let parts = lins.iter().zip(&outs).map(|(l, &o)| match &l.bias {
                    Some(b) => w(b),
                    None => Ok(Tensor::zeros(o, self.compute, &self.device)?),
                });
                Some(Tensor::cat(&parts.collect::<Result<Vec<_>>>()?, 0)?)
            }
            false => None,
        };
        let branches: Vec<_> = ps
            .iter()
            .map(|&p| adapter.and_then(|a| a.branch(li, p)))
            .collect();
        let live: Vec<_> = branches.iter().flatten().collect();
        let Some(first) = live.first() else {
            return linear(k, x, &weight, bias.as_ref(), None);
        };
        let with_bias = |y: Tensor| -> Result<Tensor> {
            Ok(match &bias {
                Some(b) => y.broadcast_add(b)?,
                None => y,
            })
        };
        if k == Kernels::Trained && trainable_fused(x) && live.iter().all(|b| !b.dropout_on()) {
            let y = stacked_lora_linear(x, &weight, &branches, &outs, first.scale)?;
            return with_bias(y);
        }
        // The composite: the base, plus each branch's low-rank term (0 where none).
        let base = linear(k, x, &weight, bias.as_ref(), None)?;
        let mut lead = x.dims().to_vec();
        lead.pop();
        let mut terms = Vec::with_capacity(ps.len());
        for (br, &o) in branches.iter().zip(&outs) {
            terms.push(match br {
                Some(br) => low_rank(x, br)?,
                None => {
                    let mut shape = lead.clone();
                    shape.push(o);
                    Tensor::zeros(shape, x.dtype(), x.device())?
                }
            });
        }
        Ok((base + Tensor::cat(&terms, D::Minus1)?)?)
    }

    /// `hidden (..., D)` -> f32 logits `(..., V)` through the (possibly tied) head.
    pub(crate) fn logits(&self, k: Kernels, hidden: &Tensor, base_grad: bool) -> Result<Tensor> {
        let head = if base_grad {
            self.head().as_tensor().clone()
        } else {
            self.head().as_tensor().detach()
        };
        // log-softmax over the vocabulary wants f32 whatever the forward's dtype
        let head = head.to_dtype(hidden.dtype())?;
        Ok(linear(k, hidden, &head, None, None)?.to_dtype(DType::F32)?)
    }

    /// Logits of every position of `ids (b, t)`: `(b, t, V)`, differentiable (the test oracle).
    #[cfg(test)]
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        adapter: Option<&Adapter>,
        base_grad: bool,
    ) -> Result<Tensor> {
        let h = self.hidden(ids, adapter, base_grad)?;
        self.logits(Kernels::Trained, &h, base_grad)
    }

    /// Number of scalar parameters (the tied head counted once).
    pub(crate) fn num_parameters(&self) -> usize {
        self.named_vars().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// A frozen deep copy (`.copy()`: shares no storage with this model's `Var`s).
    pub(crate) fn deep_copy(&self) -> Result<Self> {
        let cp = |v: &Var| -> Result<Var> { Ok(Var::from_tensor(&v.as_tensor().copy()?)?) };
        let mut layers = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let mut projs = Vec::with_capacity(7);
            for p in &l.proj {
                projs.push(Linear {
                    weight: cp(&p.weight)?,
                    bias: p.bias.as_ref().map(cp).transpose()?,
                });
            }
            let proj: [Linear; 7] = match projs.try_into() {
                Ok(a) => a,
                Err(_) => unreachable!("seven projections were pushed"),
            };
            layers.push(Layer {
                input_layernorm: cp(&l.input_layernorm)?,
                post_attention_layernorm: cp(&l.post_attention_layernorm)?,
                proj,
            });
        }
        Ok(Self {
            config: self.config.clone(),
            embed_tokens: cp(&self.embed_tokens)?,
            layers,
            norm: cp(&self.norm)?,
            lm_head: self.lm_head.as_ref().map(cp).transpose()?,
            rope: self.rope.clone(),
            device: self.device.clone(),
            compute: self.compute,
        })
    }

    /// dtype of the forwards (weights as they are read, activations, KV cache).
    pub(crate) fn dtype(&self) -> DType {
        self.compute
    }
}

/// `x (..., in)` -> `(..., out)`: `x w^T + b`, plus `scale * (x A^T) B^T` for a LoRA pair.
/// `Trained` runs the product without a pair through the fused op of `dense.rs` (CPU, f32).
pub(crate) fn linear(
    k: Kernels,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    lora: Option<&crate::lora::LoraBranch<'_>>,
) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (n_in, lead) = match dims.split_last() {
        Some((n, lead)) => (*n, lead.to_vec()),
        None => {
            return Err(crate::Error::OpShape {
                op: "linear",
                shape: dims,
                need: "at least one axis".into(),
            })
        }
    };
    let rows: usize = lead.iter().product();
    let x2 = x.reshape((rows, n_in))?;
    let mut y = match k == Kernels::Trained && lora.is_none() && trainable_fused(x) {
        true => dense(&x2, w)?,
        false => x2.matmul(&w.t()?)?,
    };
    if let Some(b) = b {
        y = y.broadcast_add(b)?;
    }
    if let Some(branch) = lora {
        y = (y + low_rank(&x2, branch)?)?;
    }
    let mut out = lead;
    out.push(y.dim(D::Minus1)?);
    Ok(y.reshape(out)?)
}

/// A LoRA branch's term `scale * (dropout(x) A^T) B^T` for `x (..., in)`: `(..., out)`.
fn low_rank(x: &Tensor, branch: &crate::lora::LoraBranch<'_>) -> Result<Tensor> {
    let xd = branch.dropout(x)?;
    let (a, b) = (
        branch.pair.a.as_tensor().to_dtype(x.dtype())?,
        branch.pair.b.as_tensor().to_dtype(x.dtype())?,
    );
    Ok((xd.broadcast_matmul(&a.t()?)?.broadcast_matmul(&b.t()?)? * branch.scale)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::Model;
    use crate::config::ModelConfig;
    use crate::kernels::tests::{max_abs, max_diff, randn};

    /// The forward at chosen rows gives those rows of the whole forward, and the same weight
    /// gradients for a loss over them (repeated rows included, as padding repeats them).
    #[test]
    fn hidden_at_rows_matches_the_whole_forward() {
        let config = ModelConfig {
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            vocab_size: 40,
            max_position_embeddings: 16,
            ..ModelConfig::default()
        };
        let model = Model::init(&config, 1, &Device::Cpu).unwrap();
        let ids =
            Tensor::new(&[[1u32, 7, 9, 30, 2, 11], [3, 4, 5, 6, 7, 8]], &Device::Cpu).unwrap();
        let rows = Tensor::new(&[2u32, 3, 4, 5, 5, 8, 9, 10, 11], &Device::Cpu).unwrap();
        let mix = randn(&[9, 32], 3, 1.0);
        let run = |at_rows: bool| {
            let h = match at_rows {
                true => model.hidden_at(&ids, &rows, None, true).unwrap(),
                false => model
                    .hidden(&ids, None, true)
                    .unwrap()
                    .reshape((12, 32))
                    .unwrap()
                    .index_select(&rows, 0)
                    .unwrap(),
            };
            let grads = (&h * &mix).unwrap().sum_all().unwrap().backward().unwrap();
            let g: Vec<Tensor> = model
                .named_vars()
                .iter()
                .map(|(n, v)| {
                    grads
                        .get(v)
                        .unwrap_or_else(|| panic!("{n}: no gradient"))
                        .clone()
                })
                .collect();
            (h, g)
        };
        let ((h, g), (h0, g0)) = (run(true), run(false));
        assert!(max_diff(&h, &h0) <= 1e-5 * max_abs(&h0), "hidden");
        for (a, b) in g.iter().zip(&g0) {
            assert!(max_diff(a, b) <= 1e-5 * max_abs(b).max(1e-6), "gradient");
        }
    }
}
