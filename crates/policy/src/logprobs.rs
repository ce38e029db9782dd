//! Teacher-forced per-token log-probs and entropies of completions, differentiable with respect
//! to the trainable weights (composite ops only: candle's fused kernels drop gradients).
//!
//! Row `b` is `prompt_b ++ completion_b[..c_b - 1]`, right-padded to the longest; the hidden state
//! at position `p_b - 1 + j` predicts completion token `j`. Only those `(B, L)` positions go
//! through the LM head and the log-softmax.

use candle_core::{DType, Tensor};

use crate::error::{Error, Result, Sequence};
use crate::kernels::Kernels;
use crate::policy::AdapterMode;
use crate::Policy;

/// Per-token results, all `(B, L)` with `L` the longest completion.
#[derive(Debug, Clone)]
pub struct TokenLogProbs {
    /// `log π(token | prefix)` of each completion token (0-masked positions hold junk).
    pub logp: Tensor,
    /// Entropy of the next-token distribution at each completion position.
    pub entropy: Tensor,
    /// f32, 1 on real completion tokens, 0 on padding.
    pub mask: Tensor,
}

impl Policy {
    /// Logits `(t, V)` of every position of one sequence `ids` with the active adapter, without
    /// a graph (evaluation and cross-checks against other implementations).
    pub fn logits(&self, ids: &[u32]) -> Result<Tensor> {
        let vocab = self.config().vocab_size as u32;
        if ids.is_empty() {
            return Err(Error::EmptySequence {
                seq: Sequence::Input,
            });
        }
        if ids.len() > self.config().max_position_embeddings {
            return Err(Error::SequenceTooLong {
                seq: Sequence::Input,
                len: ids.len(),
                max: self.config().max_position_embeddings,
            });
        }
        if let Some(&bad) = ids.iter().find(|&&t| t >= vocab) {
            return Err(Error::TokenOutOfVocab {
                seq: Sequence::Input,
                token: bad,
                vocab,
            });
        }
        let x = Tensor::from_slice(ids, (1, ids.len()), &self.device)?;
        let adapter = self.resolve(&AdapterMode::Active)?;
        let h = self.model.hidden(&x, adapter, false)?;
        Ok(self
            .model
            .logits(Kernels::Trained, &h, false)?
            .squeeze(0)?
            .detach())
    }

    /// Log-probs of `completions[b]` after `prompts[b]` (teacher forcing) with the weights chosen
    /// by `adapter`. Differentiable with respect to [`Policy::trainable_vars`] (except for a
    /// frozen snapshot or `AdapterMode::Off` under LoRA, which record no graph). Memory grows with
    /// the batch: the trainer calls this on micro-batches.
    pub fn completion_logprobs(
        &self,
        prompts: &[&[u32]],
        completions: &[&[u32]],
        adapter: AdapterMode,
    ) -> Result<TokenLogProbs> {
        self.completion_logprobs_tempered(prompts, completions, adapter, 1.0)
    }

    /// [`Policy::completion_logprobs`] of the tempered policy: the logits are divided by
    /// `temperature` before the log-softmax (as TRL does), so the log-probs and entropies are
    /// those of the distribution [`Policy::sample`] draws from at that temperature (top-k/top-p
    /// aside). The gradient flows through the division.
    pub fn completion_logprobs_tempered(
        &self,
        prompts: &[&[u32]],
        completions: &[&[u32]],
        adapter: AdapterMode,
        temperature: f32,
    ) -> Result<TokenLogProbs> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::Temperature { value: temperature });
        }
        crate::device::run_in_thread_pool(|| {
            self.logprobs_in_pool(prompts, completions, adapter, temperature)
        })
    }

    fn logprobs_in_pool(
        &self,
        prompts: &[&[u32]],
        completions: &[&[u32]],
        adapter: AdapterMode,
        temperature: f32,
    ) -> Result<TokenLogProbs> {
        let n = prompts.len();
        if n != completions.len() || n == 0 {
            return Err(Error::BatchSize {
                prompts: n,
                completions: completions.len(),
            });
        }
        let c = self.config();
        let vocab = c.vocab_size as u32;
        let l_max = completions.iter().map(|c| c.len()).max().unwrap_or(0);
        if l_max == 0 {
            return Err(Error::EmptyCompletions);
        }
        let mut t_max = 0;
        for (b, (p, comp)) in prompts.iter().zip(completions).enumerate() {
            if p.is_empty() {
                return Err(Error::EmptySequence {
                    seq: Sequence::Prompt(b),
                });
            }
            if let Some(&bad) = p.iter().chain(comp.iter()).find(|&&t| t >= vocab) {
                return Err(Error::TokenOutOfVocab {
                    seq: Sequence::Row(b),
                    token: bad,
                    vocab,
                });
            }
            let t = p.len() + comp.len().saturating_sub(1);
            if t > c.max_position_embeddings {
                return Err(Error::SequenceTooLong {
                    seq: Sequence::Row(b),
                    len: t,
                    max: c.max_position_embeddings,
                });
            }
            t_max = t_max.max(t);
        }
        let pad = self.tokenizer.pad_id();
        let mut ids = vec![pad; n * t_max];
        let mut rows_idx = Vec::with_capacity(n * l_max);
        let mut targets = Vec::with_capacity(n * l_max);
        let mut mask = Vec::with_capacity(n * l_max);
        for (b, (p, comp)) in prompts.iter().zip(completions).enumerate() {
            let row = &mut ids[b * t_max..(b + 1) * t_max];
            for (dst, &src) in row.iter_mut().zip(p.iter().chain(comp.iter())) {
                *dst = src;
            }
            for j in 0..l_max {
                // Padding positions read a real position (any will do: they are masked out).
                let pos = (p.len() - 1 + j).min(t_max - 1);
                rows_idx.push((b * t_max + pos) as u32);
                targets.push(comp.get(j).copied().unwrap_or(0));
                mask.push(if j < comp.len() { 1f32 } else { 0f32 });
            }
        }
        let dev = &self.device;
        let ids = Tensor::from_vec(ids, (n, t_max), dev)?;
        let adapter = self.resolve(&adapter)?;
        let base_grad = !self.base_frozen();
        let rows_idx = Tensor::from_vec(rows_idx, n * l_max, dev)?;
        let h = self.model.hidden_at(&ids, &rows_idx, adapter, base_grad)?; // (n*L, D)
        let logits = self.model.logits(Kernels::Trained, &h, base_grad)?; // (n*L, V)
                                                                          // An affine op (with its backward), skipped at T = 1 so that results stay bit for bit.
        let logits = if temperature == 1.0 {
            logits
        } else {
            logits.affine(1.0 / f64::from(temperature), 0.0)?
        };
        let targets = Tensor::from_vec(targets, n * l_max, dev)?;
        let both = Kernels::Trained.token_logprob(&logits, &targets)?; // (n*L, 2)
        let logp = both.narrow(1, 0, 1)?.reshape((n, l_max))?;
        let entropy = both.narrow(1, 1, 1)?.reshape((n, l_max))?;
        let mask = Tensor::from_vec(mask, (n, l_max), dev)?.to_dtype(DType::F32)?;
        Ok(TokenLogProbs {
            logp,
            entropy,
            mask,
        })
    }
}
