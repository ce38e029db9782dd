//! Key/value caches, preallocated and written in place (`slice_set`): no per-step copy.
//!
//! [`KvCache`] `(batch, kv_heads, capacity, head_dim)` per layer serves prefills (and tests).
//! [`DecodeCache`] serves batched decoding of G rows per prompt: the prompts' keys/values are
//! kept once per prompt (`(prompts, 2, kv_heads, P, d)`) and only the generated tokens per row
//! (`(rows, 2, kv_heads, capacity, d)`), so the G rows of a group read one shared prefix block
//! (cache-friendly) and nothing is copied G times.

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Keys and values of every layer for a batch of rows that share one slot axis.
#[derive(Debug)]
pub(crate) struct KvCache {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// Zeroed cache for `layers` layers of shape `(batch, kv_heads, capacity, head_dim)`.
    pub(crate) fn new(
        layers: usize,
        (batch, kv_heads, capacity, head_dim): (usize, usize, usize, usize),
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let zeros = || Tensor::zeros((batch, kv_heads, capacity, head_dim), dtype, device);
        let k = (0..layers)
            .map(|_| zeros())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = (0..layers)
            .map(|_| zeros())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            k,
            v,
            len: 0,
            capacity,
        })
    }

    /// Writes `k`, `v` `(batch, kv_heads, t, head_dim)` of `layer` at slots `len..len+t` and
    /// returns views of slots `0..len+t`. Call [`KvCache::advance`] after the last layer.
    pub(crate) fn append(&self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let t = k.dim(2)?;
        if self.len + t > self.capacity {
            return Err(Error::KvCacheOverflow {
                cache: "KV cache",
                len: self.len,
                add: t,
                capacity: self.capacity,
            });
        }
        let (kc, vc) = match (self.k.get(layer), self.v.get(layer)) {
            (Some(k), Some(v)) => (k, v),
            _ => {
                return Err(Error::KvCacheIndex {
                    cache: "KV cache",
                    what: "layer",
                    index: layer,
                })
            }
        };
        kc.slice_set(&k.contiguous()?, 2, self.len)?;
        vc.slice_set(&v.contiguous()?, 2, self.len)?;
        Ok((
            kc.narrow(2, 0, self.len + t)?,
            vc.narrow(2, 0, self.len + t)?,
        ))
    }

    /// Marks `t` more slots as filled.
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }

    /// Keys and values of `layer`, slots `0..len`.
    pub(crate) fn layer(&self, layer: usize) -> Result<(Tensor, Tensor)> {
        match (self.k.get(layer), self.v.get(layer)) {
            (Some(k), Some(v)) => Ok((k.narrow(2, 0, self.len)?, v.narrow(2, 0, self.len)?)),
            _ => Err(Error::KvCacheIndex {
                cache: "KV cache",
                what: "layer",
                index: layer,
            }),
        }
    }
}

/// Shared prompt prefixes plus per-row generated keys/values, per layer.
#[derive(Debug)]
pub(crate) struct DecodeCache {
    /// `(prompts, 2, kv_heads, P, d)`: keys then values of each prompt, right-aligned.
    pub(crate) prefix: Vec<Tensor>,
    /// `(rows, 2, kv_heads, capacity, d)`: keys then values of generated tokens.
    pub(crate) generated: Vec<Tensor>,
    /// First valid prefix slot of each prompt (`P - p_i`).
    pub(crate) starts: Vec<usize>,
    /// Prompt of each row now in the batch (rows leave when [`DecodeCache::retain`] drops them).
    pub(crate) row_prompt: Vec<usize>,
    len: usize,
    capacity: usize,
}

impl DecodeCache {
    /// Takes the prompts' prefill cache (`(prompts, kv_heads, P, d)` per layer, prompts
    /// right-aligned at `starts`) and allocates room for `capacity` generated tokens per row.
    pub(crate) fn new(
        prefill: &KvCache,
        starts: Vec<usize>,
        group: usize,
        capacity: usize,
    ) -> Result<Self> {
        let mut prefix = Vec::with_capacity(prefill.k.len());
        let mut generated = Vec::with_capacity(prefill.k.len());
        for layer in 0..prefill.k.len() {
            let (k, v) = prefill.layer(layer)?;
            let (n, kvh, _, d) = k.dims4()?;
            prefix.push(Tensor::stack(&[&k, &v], 1)?.contiguous()?);
            generated.push(Tensor::zeros(
                (n * group, 2, kvh, capacity.max(1), d),
                k.dtype(),
                k.device(),
            )?);
        }
        let row_prompt = (0..starts.len() * group)
            .map(|r| r / group.max(1))
            .collect();
        Ok(Self {
            prefix,
            generated,
            starts,
            row_prompt,
            len: 0,
            capacity,
        })
    }

    /// Keeps only the batch rows at positions `keep` (in that order), dropping finished rows so
    /// that later steps do not compute them: one copy of the generated caches.
    pub(crate) fn retain(&mut self, keep: &[usize]) -> Result<()> {
        if let Some(&bad) = keep.iter().find(|&&r| r >= self.row_prompt.len()) {
            return Err(Error::KvCacheIndex {
                cache: "decode cache",
                what: "row",
                index: bad,
            });
        }
        let Some(first) = self.generated.first() else {
            return Ok(());
        };
        let idx: Vec<u32> = keep.iter().map(|&r| r as u32).collect();
        let idx = Tensor::from_vec(idx, keep.len(), first.device())?;
        for g in self.generated.iter_mut() {
            *g = g.index_select(&idx, 0)?;
        }
        self.row_prompt = keep.iter().map(|&r| self.row_prompt[r]).collect();
        Ok(())
    }

    /// Generated slots filled so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Writes the new `k`, `v` `(rows, kv_heads, 1, d)` of `layer` at generated slot `len`.
    pub(crate) fn append(&self, layer: usize, k: &Tensor, v: &Tensor) -> Result<()> {
        if self.len + 1 > self.capacity {
            return Err(Error::KvCacheOverflow {
                cache: "decode cache",
                len: self.len,
                add: 1,
                capacity: self.capacity,
            });
        }
        let g = self.generated.get(layer).ok_or(Error::KvCacheIndex {
            cache: "decode cache",
            what: "layer",
            index: layer,
        })?;
        let kv = Tensor::stack(&[k, v], 1)?; // (rows, 2, kvh, 1, d)
        g.slice_set(&kv, 3, self.len)?;
        Ok(())
    }

    /// Marks one more generated slot as filled.
    pub(crate) fn advance(&mut self) {
        self.len += 1;
    }
}
