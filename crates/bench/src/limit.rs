//! The physical limit of a model workload: its matmul FLOPs over the gemm's measured peak on this
//! machine at the same thread count. A time at the limit means every cycle went to useful
//! multiply-adds at the best rate the chip reaches through candle's gemm; the rest (elementwise
//! kernels, allocation, bookkeeping) is what a faster implementation could still remove.

use std::time::Instant;

use candle_core::{Device, Tensor};

use super::workloads::ModelShape;

/// Side of the square f32 matmul whose rate is taken as the peak.
const PEAK_SIDE: usize = 1024;

/// Best GFLOP/s of a `PEAK_SIDE`³ f32 matmul on `device` over a few repetitions (after one
/// warm-up), at the thread count already set.
pub fn gemm_peak_gflops(device: &Device) -> crate::Result<f64> {
    let n = PEAK_SIDE;
    let a = Tensor::randn(0f32, 1.0, (n, n), device)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), device)?;
    let flops = 2.0 * (n * n * n) as f64;
    let mut best = 0f64;
    for rep in 0..6 {
        device.synchronize()?;
        let t0 = Instant::now();
        policy::run_in_thread_pool(|| a.matmul(&b))?;
        device.synchronize()?; // a GPU matmul only queues work
        let s = t0.elapsed().as_secs_f64();
        if rep > 0 {
            best = best.max(flops / s / 1e9);
        }
    }
    Ok(best)
}

impl ModelShape {
    /// Matmul FLOPs of one token's forward through the decoder layers (projections and MLP), not
    /// counting attention over the context or the LM head.
    fn layer_flops_per_token(&self) -> f64 {
        let d = self.d_model as f64;
        let head_dim = d / self.n_heads as f64;
        let kv = self.n_kv_heads as f64 * head_dim;
        // q and o are d×d, k and v d×kv, gate/up/down d×ff; 2 FLOPs per multiply-add.
        let per_layer = d * (2.0 * d + 2.0 * kv) + 3.0 * d * self.ffn_hidden as f64;
        2.0 * self.n_layers as f64 * per_layer
    }

    /// FLOPs of attention for one query over `context` keys, all layers (scores and weighted sum).
    fn attention_flops(&self, context: usize) -> f64 {
        4.0 * self.n_layers as f64 * self.d_model as f64 * context as f64
    }

    /// FLOPs of the LM head for one position.
    fn head_flops(&self) -> f64 {
        2.0 * (self.d_model * self.vocab_size) as f64
    }

    /// Forward FLOPs of `rows` sequences of `len` tokens each with causal attention (each position
    /// attends to itself and those before it) and the head on `head_positions` positions per row.
    pub fn forward_flops(&self, rows: usize, len: usize, head_positions: usize) -> f64 {
        let attention: f64 = (1..=len).map(|c| self.attention_flops(c)).sum();
        rows as f64
            * (len as f64 * self.layer_flops_per_token()
                + attention
                + head_positions as f64 * self.head_flops())
    }

    /// FLOPs of sampling `rows_per_prompt` completions of `new_tokens` tokens for each of `prompts`
    /// prompts of `prompt_tokens` tokens: each prompt prefilled once (head on its last position),
    /// then one token per row per step over the growing cache.
    pub fn rollout_flops(
        &self,
        prompts: usize,
        rows_per_prompt: usize,
        prompt_tokens: usize,
        new_tokens: usize,
    ) -> f64 {
        let prefill = self.forward_flops(prompts, prompt_tokens, 1);
        // Step i feeds the token sampled at step i − 1 (the first comes from the prefill).
        let decode: f64 = (1..new_tokens)
            .map(|i| {
                self.layer_flops_per_token()
                    + self.attention_flops(prompt_tokens + i)
                    + self.head_flops()
            })
            .sum();
        prefill + (prompts * rows_per_prompt) as f64 * decode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(d: usize, layers: usize, ff: usize, vocab: usize) -> ModelShape {
        ModelShape {
            vocab_size: vocab,
            d_model: d,
            n_layers: layers,
            n_heads: 2,
            n_kv_heads: 2,
            ffn_hidden: ff,
            max_seq_len: 64,
            rope_theta: 1e4,
            norm_eps: 1e-5,
            tie_embeddings: true,
        }
    }

    #[test]
    fn forward_flops_counted_by_hand() {
        // d 4, 1 layer, ff 8, vocab 10, one row of 2 tokens, head on both.
        // projections: 2·(4·(8 + 8) + 3·4·8) = 2·160 = 320 per token -> 640;
        // attention: 4·4·(1 + 2) = 48; head: 2·4·10 = 80 per position -> 160.
        assert_eq!(
            shape(4, 1, 8, 10).forward_flops(1, 2, 2),
            640.0 + 48.0 + 160.0
        );
    }

    #[test]
    fn rollout_flops_counted_by_hand() {
        let s = shape(4, 1, 8, 10);
        // 1 prompt of 2 tokens (prefill: 640 + 48 + 80 = 768), 2 rows, 3 new tokens: two decode
        // steps per row at contexts 3 and 4: 2·320 + 16·(3 + 4) + 2·80 = 912 per row.
        assert_eq!(s.rollout_flops(1, 2, 2, 3), 768.0 + 2.0 * 912.0);
    }
}
