//! The sampling-only forward: weights frozen and merged once per `sample` call (LoRA folded in,
//! q|k|v and gate|up concatenated into one matmul each), candle's fused no-backward kernels, and
//! a [`KvCache`] written in place. Never used where gradients are needed.

use candle_core::Tensor;

use crate::decode_attention::decode_attention;
use crate::error::Result;
use crate::kernels::{attention, Kernels};
use crate::kv_cache::{DecodeCache, KvCache};
use crate::lora::Adapter;
use crate::model::{Model, Proj};
use crate::swiglu::swiglu;

const K: Kernels = Kernels::Fused;

/// Where keys/values go and which of them each query sees.
pub(crate) enum Cache<'a> {
    /// Prefill: a [`KvCache`] and an additive mask broadcastable to `(b, 1, 1, t, len + t)`.
    Prefill(&'a mut KvCache, &'a Tensor),
    /// One new token per row over shared prompt prefixes (fused kernel).
    Decode(&'a mut DecodeCache),
}

struct InferLayer {
    ln1: Tensor,
    ln2: Tensor,
    /// `(q + 2 kv, D)`: q|k|v stacked.
    wqkv: Tensor,
    bqkv: Option<Tensor>,
    wo: Tensor,
    bo: Option<Tensor>,
    /// `(2 ff, D)`: gate|up stacked.
    wgu: Tensor,
    wdown: Tensor,
}

/// Frozen, merged weights for cached decoding.
pub(crate) struct InferenceModel {
    embed: Tensor,
    layers: Vec<InferLayer>,
    norm: Tensor,
    head: Tensor,
    eps: f64,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    pub(crate) cos: Tensor,
    pub(crate) sin: Tensor,
}

impl InferenceModel {
    /// Detached copies of `model`'s weights with `adapter` merged in (in f32), in the model's
    /// forward dtype.
    pub(crate) fn new(model: &Model, adapter: Option<&Adapter>) -> Result<Self> {
        let c = &model.config;
        let dt = model.dtype();
        let cast = |t: Tensor| -> Result<Tensor> { Ok(t.to_dtype(dt)?) };
        let mut layers = Vec::with_capacity(model.layers.len());
        for (li, l) in model.layers.iter().enumerate() {
            let w = |p: Proj| -> Result<Tensor> {
                let base = l.proj[p.index()].weight.as_tensor().detach();
                Ok(
                    match adapter.and_then(|a| a.pair(li, p).map(|pair| (pair, a.scale))) {
                        Some((pair, s)) => {
                            (base + (pair.b.as_tensor().matmul(pair.a.as_tensor())? * s)?)?.detach()
                        }
                        None => base,
                    },
                )
            };
            let bias = |p: Proj| {
                l.proj[p.index()]
                    .bias
                    .as_ref()
                    .map(|b| b.as_tensor().detach())
            };
            let wqkv = Tensor::cat(&[w(Proj::Q)?, w(Proj::K)?, w(Proj::V)?], 0)?;
            let bqkv = match (bias(Proj::Q), bias(Proj::K), bias(Proj::V)) {
                (Some(q), Some(k), Some(v)) => Some(cast(Tensor::cat(&[q, k, v], 0)?)?),
                _ => None,
            };
            layers.push(InferLayer {
                ln1: cast(l.input_layernorm.as_tensor().detach())?,
                ln2: cast(l.post_attention_layernorm.as_tensor().detach())?,
                wqkv: cast(wqkv)?,
                bqkv,
                wo: cast(w(Proj::O)?)?,
                bo: bias(Proj::O).map(cast).transpose()?,
                wgu: cast(Tensor::cat(&[w(Proj::Gate)?, w(Proj::Up)?], 0)?)?,
                wdown: cast(w(Proj::Down)?)?,
            });
        }
        Ok(Self {
            embed: cast(model.embed_tokens.as_tensor().detach())?,
            layers,
            norm: cast(model.norm.as_tensor().detach())?,
            head: cast(model.head().as_tensor().detach())?,
            eps: c.rms_norm_eps,
            heads: c.num_attention_heads,
            kv_heads: c.num_kv_heads(),
            head_dim: c.head_dim(),
            cos: cast(model.rope.cos.clone())?,
            sin: cast(model.rope.sin.clone())?,
        })
    }

    /// `ids (b, t)` at the cache's next `t` slots -> logits of the last position `(b, V)`.
    /// `cos`/`sin`: `(t, d/2)` (all rows at the same positions) or `(b, t, d/2)` (per row);
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mut cache: Cache<'_>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let (h, kvh, hd) = (self.heads, self.kv_heads, self.head_dim);
        let dm = self.embed.dim(1)?;
        let scale = 1.0 / (hd as f64).sqrt();
        // (b*t, D): every projection works on rows.
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?;
        for (i, l) in self.layers.iter().enumerate() {
            let hn = K.rms_norm(&x, &l.ln1, self.eps)?;
            let mut qkv = hn.matmul(&l.wqkv.t()?)?; // (b*t, (h + 2kvh) * d)
            if let Some(bias) = &l.bqkv {
                qkv = qkv.broadcast_add(bias)?;
            }
            // (b*t, n*d) -> (b, t, n, d) -> (b, n, t, d)
            let split = |start: usize, n: usize| -> Result<Tensor> {
                Ok(qkv
                    .narrow(1, start * hd, n * hd)?
                    .reshape((b, t, n, hd))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = (K.rope(&split(0, h)?, cos, sin)? * scale)?;
            let k = K.rope(&split(h, kvh)?, cos, sin)?;
            let v = split(h + kvh, kvh)?;
            let a = match &mut cache {
                Cache::Prefill(kv, mask) => {
                    let (kc, vc) = kv.append(i, &k, &v)?; // (b, kvh, len + t, d) views
                    attention(K, &q, &kc, &vc, Some(mask))?.reshape((b * t, h * hd))?
                }
                Cache::Decode(dc) => {
                    dc.append(i, &k, &v)?;
                    let (prefix, generated) = (&dc.prefix[i], &dc.generated[i]);
                    decode_attention(
                        &q,
                        prefix,
                        generated,
                        &dc.starts,
                        &dc.row_prompt,
                        dc.len() + 1,
                    )?
                }
            };
            let mut o = a.matmul(&l.wo.t()?)?;
            if let Some(bias) = &l.bo {
                o = o.broadcast_add(bias)?;
            }
            x = (x + o)?;
            let hn = K.rms_norm(&x, &l.ln2, self.eps)?;
            let gu = hn.matmul(&l.wgu.t()?)?; // (b*t, 2 ff)
            let act = swiglu(&gu)?; // silu(gate) * up, (b*t, ff)
            x = (x + act.matmul(&l.wdown.t()?)?)?;
        }
        match cache {
            Cache::Prefill(kv, _) => kv.advance(t),
            Cache::Decode(dc) => dc.advance(),
        }
        // last position of each row: (b, t, D) -> (b, D)
        let last = x.reshape((b, t, dm))?.narrow(1, t - 1, 1)?.squeeze(1)?;
        let hn = K.rms_norm(&last, &self.norm, self.eps)?;
        Ok(hn.matmul(&self.head.t()?)?)
    }

    /// Dimensions of a cache for `batch` rows and `capacity` slots.
    pub(crate) fn cache_shape(
        &self,
        batch: usize,
        capacity: usize,
    ) -> (usize, usize, usize, usize) {
        (batch, self.kv_heads, capacity, self.head_dim)
    }

    /// Number of layers.
    pub(crate) fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Per-row RoPE tables `(b, t, d/2)` for positions `pos` (`b * t` of them, row-major).
    pub(crate) fn rope_at(&self, pos: &[u32], t: usize) -> Result<(Tensor, Tensor)> {
        let idx = Tensor::from_slice(pos, pos.len(), self.cos.device())?;
        let half = self.head_dim / 2;
        let b = pos.len() / t.max(1);
        let cos = self.cos.index_select(&idx, 0)?.reshape((b, t, half))?;
        let sin = self.sin.index_select(&idx, 0)?.reshape((b, t, half))?;
        Ok((cos, sin))
    }

    /// The RoPE tables of positions `0..t`, `(t, d/2)`.
    #[cfg(test)]
    pub(crate) fn rope_prefix(&self, t: usize) -> Result<(Tensor, Tensor)> {
        Ok((self.cos.narrow(0, 0, t)?, self.sin.narrow(0, 0, t)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::kernels::causal_mask;
    use candle_core::{DType, Device};

    #[test]
    fn cached_decoding_matches_full_forward() {
        // GQA (4 query heads over 2 KV heads), q/k/v biases, untied head: every branch.
        let config = ModelConfig {
            model_type: "qwen2".into(),
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            tie_word_embeddings: false,
            vocab_size: 50,
            max_position_embeddings: 32,
            ..ModelConfig::default()
        };
        let dev = Device::Cpu;
        let model = Model::init(&config, 3, &dev).unwrap();
        // Biases at 0 would hide a bias bug: give them values.
        for l in &model.layers {
            for p in &l.proj {
                if let Some(b) = &p.bias {
                    b.set(&(b.as_tensor().ones_like().unwrap() * 0.1).unwrap())
                        .unwrap();
                }
            }
        }
        let ids: Vec<u32> = vec![1, 7, 9, 30, 2, 11, 45, 12, 8];
        let full = model
            .forward(
                &Tensor::from_slice(&ids, (1, ids.len()), &dev).unwrap(),
                None,
                false,
            )
            .unwrap()
            .squeeze(0)
            .unwrap(); // (t, V)
        let fast = InferenceModel::new(&model, None).unwrap();
        let prompt = 4;
        let mut cache = KvCache::new(2, fast.cache_shape(1, ids.len()), DType::F32, &dev).unwrap();
        let (cos, sin) = fast.rope_prefix(prompt).unwrap();
        let mask = causal_mask(prompt, &dev).unwrap();
        let x = Tensor::from_slice(&ids[..prompt], (1, prompt), &dev).unwrap();
        let mut got = vec![fast
            .forward(&x, &cos, &sin, Cache::Prefill(&mut cache, &mask))
            .unwrap()];
        let mut cache = DecodeCache::new(&cache, vec![0], 1, ids.len() - prompt).unwrap();
        for pos in prompt..ids.len() {
            let (cos, sin) = fast.rope_at(&[pos as u32], 1).unwrap();
            let x = Tensor::from_slice(&ids[pos..pos + 1], (1, 1), &dev).unwrap();
            got.push(
                fast.forward(&x, &cos, &sin, Cache::Decode(&mut cache))
                    .unwrap(),
            );
        }
        for (i, g) in got.iter().enumerate() {
            let want = full.get(prompt - 1 + i).unwrap();
            let d: f32 = (g.squeeze(0).unwrap() - want)
                .unwrap()
                .abs()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(d < 1e-5, "position {}: max |diff| {d}", prompt - 1 + i);
        }
    }
}
