//! A preallocated key/value cache `(batch, kv_heads, capacity, head_dim)` per layer, written in
//! place (`slice_set`) and read through narrowed views: no per-step copy of the cache.

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

    /// Slots filled so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Writes `k`, `v` `(batch, kv_heads, t, head_dim)` of `layer` at slots `len..len+t` and
    /// returns views of slots `0..len+t`. Call [`KvCache::advance`] after the last layer.
    pub(crate) fn append(&self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let t = k.dim(2)?;
        if self.len + t > self.capacity {
            return Err(Error::Invalid(format!(
                "KV cache overflow: {} + {t} slots > capacity {}",
                self.len, self.capacity
            )));
        }
        let (kc, vc) = match (self.k.get(layer), self.v.get(layer)) {
            (Some(k), Some(v)) => (k, v),
            _ => return Err(Error::Invalid(format!("KV cache has no layer {layer}"))),
        };
        kc.slice_set(&k.contiguous()?, 2, self.len)?;
        vc.slice_set(&v.contiguous()?, 2, self.len)?;
        Ok((
            kc.narrow(2, 0, self.len + t)?,
            vc.narrow(2, 0, self.len + t)?,
        ))
    }

    /// The whole preallocated key and value tensors of `layer`, `(batch, kv_heads, capacity, d)`.
    pub(crate) fn full(&self, layer: usize) -> Result<(&Tensor, &Tensor)> {
        match (self.k.get(layer), self.v.get(layer)) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(Error::Invalid(format!("KV cache has no layer {layer}"))),
        }
    }

    /// Marks `t` more slots as filled.
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }

    /// Keys and values of `layer`, slots `0..len`.
    pub(crate) fn layer(&self, layer: usize) -> Result<(Tensor, Tensor)> {
        match (self.k.get(layer), self.v.get(layer)) {
            (Some(k), Some(v)) => Ok((k.narrow(2, 0, self.len)?, v.narrow(2, 0, self.len)?)),
            _ => Err(Error::Invalid(format!("KV cache has no layer {layer}"))),
        }
    }

    /// Writes whole-batch blocks `(batch, kv_heads, t, head_dim)` at slots `0..t` of every layer
    /// and sets the length to `t` (the per-prompt prefills, copied to their rows).
    pub(crate) fn set_prefix(&mut self, blocks: &[(Tensor, Tensor)]) -> Result<()> {
        let mut t = 0;
        for (layer, (k, v)) in blocks.iter().enumerate() {
            t = k.dim(2)?;
            if t > self.capacity {
                return Err(Error::Invalid(format!(
                    "prefix of {t} slots > capacity {}",
                    self.capacity
                )));
            }
            match (self.k.get(layer), self.v.get(layer)) {
                (Some(kc), Some(vc)) => {
                    kc.slice_set(&k.contiguous()?, 2, 0)?;
                    vc.slice_set(&v.contiguous()?, 2, 0)?;
                }
                _ => return Err(Error::Invalid(format!("KV cache has no layer {layer}"))),
            }
        }
        self.len = t;
        Ok(())
    }
}
