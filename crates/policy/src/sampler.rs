//! Batched sampling of G completions per prompt with a shared per-prompt prefill and a KV cache;
//! token choice (temperature, top-k, top-p, greedy) happens on the host with a seeded RNG.
//!
//! The prompts are split into shards (one per CPU thread) decoded side by side. Cache layout of a
//! shard: its prompts are prefilled once each, in one batch, left-padded so that every prompt
//! ends at slot `P - 1` (`P = max p_i`); their keys/values stay there, once per prompt, and the G
//! rows of prompt `i` read them (slots before `P - p_i` are never attended to) plus their own
//! generated tokens ([`DecodeCache`]). Every row then writes its `s`-th new token at slot `P + s`
//! but is rotated at its true position `p_i + s`, so each row computes what an unpadded run of
//! its prompt would.

use std::time::Instant;

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Sequence};
use crate::inference::{Cache, InferenceModel};
use crate::kv_cache::{DecodeCache, KvCache};
use crate::policy::AdapterMode;
use crate::Policy;

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleParams {
    /// Most tokens generated per row (EOS included).
    pub max_new_tokens: usize,
    /// Logits are divided by this before top-k/top-p and sampling.
    pub temperature: f32,
    /// Keep only the k most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of most likely tokens whose probability reaches p.
    pub top_p: Option<f32>,
    /// Always take the most likely token (the RNG is not used).
    pub greedy: bool,
    /// Stop a row at EOS; `false` only for benchmarks that need a fixed amount of work.
    pub stop_at_eos: bool,
}

impl Default for SampleParams {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            temperature: 1.0,
            top_k: None,
            top_p: None,
            greedy: false,
            stop_at_eos: true,
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It emitted one of the EOS ids (the last token).
    Eos,
    /// It reached `max_new_tokens`.
    Length,
}

/// Seconds spent in each phase of one `sample` call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SampleTimings {
    /// Building merged weights, the prompt prefills and copying their caches to the rows.
    pub prefill_s: f64,
    /// Decode forwards (one per generated token after the first).
    pub decode_s: f64,
    /// Host-side token choice, log-probs and logits transfer.
    pub sampling_s: f64,
}

/// The result of [`Policy::sample`]; rows are prompt-major (`row = prompt * group_size + g`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rollouts {
    /// Generated ids of each row, the EOS (any of the tokenizer's EOS ids) included when emitted.
    pub tokens: Vec<Vec<u32>>,
    /// Log-probability of each generated token under the tempered policy: `log_softmax` of the
    /// logits divided by the temperature (1 when greedy) over the whole vocabulary (no
    /// top-k/top-p, PAD/BOS not removed), as TRL computes it, i.e. the same quantity
    /// [`Policy::completion_logprobs_tempered`] computes at that temperature.
    pub logprobs: Vec<Vec<f32>>,
    /// Why each row stopped.
    pub stop: Vec<StopReason>,
    /// Time per phase.
    pub timings: SampleTimings,
}

/// `log_softmax(logits / temperature)[token]`.
fn logprob(logits: &[f32], token: usize, temperature: f32) -> f32 {
    let inv_t = 1.0 / temperature;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) * inv_t;
    let sum: f32 = logits.iter().map(|&l| (l * inv_t - max).exp()).sum();
    logits
        .get(token)
        .map_or(f32::NEG_INFINITY, |&l| l * inv_t - max - sum.ln())
}

impl SampleParams {
    /// The temperature the sampled tokens' log-probs are computed at: `temperature`, or 1 when
    /// greedy (where no temperature applies).
    pub fn logprob_temperature(&self) -> f32 {
        if self.greedy || self.temperature <= 0.0 {
            1.0
        } else {
            self.temperature
        }
    }
}

/// Picks one token from `logits` with `banned` ids excluded.
pub(crate) fn choose(
    logits: &[f32],
    banned: &[u32],
    params: &SampleParams,
    rng: &mut StdRng,
) -> u32 {
    let allowed = |i: usize| !banned.contains(&(i as u32));
    if params.greedy || params.temperature <= 0.0 {
        let mut best: Option<(usize, f32)> = None;
        for (i, &l) in logits.iter().enumerate() {
            if allowed(i) && !l.is_nan() && best.is_none_or(|(_, b)| l > b) {
                best = Some((i, l));
            }
        }
        return best.map_or(0, |(i, _)| i as u32);
    }
    if params.top_k.is_none() && params.top_p.is_none() {
        // Plain temperature sampling: inverse CDF over the ids in order, no sort needed.
        let max = logits
            .iter()
            .enumerate()
            .filter(|&(i, l)| allowed(i) && !l.is_nan())
            .fold(f32::NEG_INFINITY, |m, (_, &l)| m.max(l));
        let inv_t = 1.0 / params.temperature;
        let weight = |i: usize, l: f32| -> f64 {
            if allowed(i) && !l.is_nan() {
                f64::from(((l - max) * inv_t).exp())
            } else {
                0.0
            }
        };
        let total: f64 = logits.iter().enumerate().map(|(i, &l)| weight(i, l)).sum();
        let mut u = rng.random::<f64>() * total;
        let mut last = 0;
        for (i, &l) in logits.iter().enumerate() {
            let w = weight(i, l);
            if w > 0.0 {
                last = i;
                if u < w {
                    return i as u32;
                }
                u -= w;
            }
        }
        return last as u32;
    }
    // Candidates sorted by logit, most likely first (ties by id, for determinism).
    let mut cand: Vec<(usize, f32)> = logits
        .iter()
        .enumerate()
        .filter(|&(i, l)| allowed(i) && !l.is_nan())
        .map(|(i, &l)| (i, l / params.temperature))
        .collect();
    if cand.is_empty() {
        return 0;
    }
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(k) = params.top_k {
        cand.truncate(k.max(1));
    }
    let max = cand[0].1;
    let mut probs: Vec<f64> = cand
        .iter()
        .map(|&(_, l)| f64::from(l - max).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(top_p) = params.top_p {
        let mut cum = 0.0;
        let mut keep = probs.len();
        for (i, p) in probs.iter().enumerate() {
            cum += p;
            if cum >= f64::from(top_p) {
                keep = i + 1;
                break;
            }
        }
        probs.truncate(keep);
        cand.truncate(keep);
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
    }
    let u: f64 = rng.random::<f64>();
    let mut cum = 0.0;
    for (&(id, _), p) in cand.iter().zip(&probs) {
        cum += p;
        if u < cum {
            return id as u32;
        }
    }
    cand.last().map_or(0, |c| c.0 as u32)
}

impl Policy {
    /// Samples `group_size` completions of every prompt (token ids as
    /// [`Tokenizer::encode_prompt`](crate::Tokenizer::encode_prompt) gives them) with the active
    /// adapter. Each prompt is prefilled once and its KV cache shared by its G rows; rows stop at
    /// any of the tokenizer's EOS ids (if `stop_at_eos`) or after `max_new_tokens`. PAD and BOS
    /// are never sampled (unless they are EOS ids).
    ///
    /// On the CPU the prompts are split into one shard per thread, decoded side by side (one
    /// batch each, so that a second core shortens even a tiny model's decode). Every prompt draws
    /// its tokens from its own RNG, seeded with the i-th `u64` drawn from `rng` for prompt i
    /// (and nothing else drawn; data-parallel training relies on it to sample a share of the
    /// prompts as the whole batch would): the same `rng` state gives the same
    /// rollouts, bit for bit at the same thread count, and at another thread count the same up
    /// to float rounding (a shard pads its prompts to its own longest one).
    pub fn sample(
        &self,
        prompts: &[Vec<u32>],
        group_size: usize,
        params: &SampleParams,
        rng: &mut StdRng,
    ) -> Result<Rollouts> {
        let shards = if self.device.is_cpu() {
            crate::num_threads()
        } else {
            1 // one device queue: shards would only take turns
        };
        self.sample_sharded(prompts, group_size, params, rng, shards)
    }

    /// [`Policy::sample`] with the prompts split into `shards` batches decoded in parallel.
    #[doc(hidden)]
    pub fn sample_sharded(
        &self,
        prompts: &[Vec<u32>],
        group_size: usize,
        params: &SampleParams,
        rng: &mut StdRng,
        shards: usize,
    ) -> Result<Rollouts> {
        self.validate_prompts(prompts, params)?;
        let mut rngs: Vec<StdRng> = (0..prompts.len())
            .map(|_| StdRng::seed_from_u64(rng.random()))
            .collect();
        if prompts.is_empty() || group_size == 0 || params.max_new_tokens == 0 {
            let n_rows = prompts.len() * group_size;
            return Ok(Rollouts {
                tokens: vec![vec![]; n_rows],
                logprobs: vec![vec![]; n_rows],
                stop: vec![StopReason::Length; n_rows],
                timings: SampleTimings::default(),
            });
        }
        crate::device::run_in_thread_pool(|| {
            let t0 = Instant::now();
            let model = InferenceModel::new(&self.model, self.resolve(&AdapterMode::Active)?)?;
            let merge_s = t0.elapsed().as_secs_f64();
            let per_shard = prompts.len().div_ceil(shards.clamp(1, prompts.len()));
            let parts: Vec<Result<Rollouts>> = prompts
                .par_chunks(per_shard)
                .zip(rngs.par_chunks_mut(per_shard))
                .map(|(p, r)| self.decode_shard(&model, p, r, group_size, params))
                .collect();
            let mut out = Rollouts {
                tokens: Vec::with_capacity(prompts.len() * group_size),
                logprobs: Vec::with_capacity(prompts.len() * group_size),
                stop: Vec::with_capacity(prompts.len() * group_size),
                timings: SampleTimings {
                    prefill_s: merge_s,
                    ..SampleTimings::default()
                },
            };
            for part in parts {
                let part = part?;
                out.tokens.extend(part.tokens);
                out.logprobs.extend(part.logprobs);
                out.stop.extend(part.stop);
                // Shards run side by side: a phase took as long as its slowest shard.
                let (t, p) = (&mut out.timings, part.timings);
                t.decode_s = t.decode_s.max(p.decode_s);
                t.sampling_s = t.sampling_s.max(p.sampling_s);
                t.prefill_s = t.prefill_s.max(merge_s + p.prefill_s);
            }
            Ok(out)
        })
    }

    /// Checks token ids and lengths against the model.
    fn validate_prompts(&self, prompts: &[Vec<u32>], params: &SampleParams) -> Result<()> {
        let c = self.config();
        let vocab = c.vocab_size as u32;
        for (i, p) in prompts.iter().enumerate() {
            if p.is_empty() {
                return Err(Error::EmptySequence {
                    seq: Sequence::Prompt(i),
                });
            }
            if let Some(&bad) = p.iter().find(|&&t| t >= vocab) {
                return Err(Error::TokenOutOfVocab {
                    seq: Sequence::Prompt(i),
                    token: bad,
                    vocab,
                });
            }
            if p.len() + params.max_new_tokens > c.max_position_embeddings {
                return Err(Error::PromptTooLong {
                    prompt: i,
                    len: p.len(),
                    max_new_tokens: params.max_new_tokens,
                    max: c.max_position_embeddings,
                });
            }
        }
        Ok(())
    }

    /// Prefills `prompts` (one batch) and decodes their G rows each; row `r` draws from
    /// `rngs[r / group_size]`.
    fn decode_shard(
        &self,
        model: &InferenceModel,
        prompts: &[Vec<u32>],
        rngs: &mut [StdRng],
        group_size: usize,
        params: &SampleParams,
    ) -> Result<Rollouts> {
        let mut timings = SampleTimings::default();
        let n_rows = prompts.len() * group_size;
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let tokenizer = &self.tokenizer;
        let eos = tokenizer.eos_id();
        let banned: Vec<u32> = std::iter::once(tokenizer.pad_id())
            .chain(tokenizer.bos_id())
            .filter(|&t| !tokenizer.is_eos(t))
            .collect();
        let dev = &self.device;

        // Prefill: all prompts once, in one batch, left-padded so that every prompt ends at
        // slot P - 1; its G rows then share that cache.
        let t0 = Instant::now();
        let n_layers = model.num_layers();
        let dtype = self.model.dtype();
        let n = prompts.len();
        let starts: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
        let mut ids = Vec::with_capacity(n * longest);
        let mut pos = Vec::with_capacity(n * longest);
        let mut mask = Vec::with_capacity(n * longest * longest);
        for (p, &start) in prompts.iter().zip(&starts) {
            ids.extend(
                std::iter::repeat_n(self.tokenizer.pad_id(), start).chain(p.iter().copied()),
            );
            pos.extend((0..longest).map(|s| s.saturating_sub(start) as u32));
            for i in 0..longest {
                // Causal within the prompt; a padding query sees itself only (never all -inf).
                mask.extend((0..longest).map(|j| {
                    if j == i || (j <= i && j >= start) {
                        0f32
                    } else {
                        f32::NEG_INFINITY
                    }
                }));
            }
        }
        let mut prompt_cache = KvCache::new(n_layers, model.cache_shape(n, longest), dtype, dev)?;
        let (cos, sin) = model.rope_at(&pos, longest)?;
        let mask = Tensor::from_vec(mask, (n, 1, 1, longest, longest), dev)?;
        let ids = Tensor::from_vec(ids, (n, longest), dev)?;
        let prefix_logits = model
            .forward(&ids, &cos, &sin, Cache::Prefill(&mut prompt_cache, &mask))?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?;
        // Generated slots: every sampled token but the last is fed back.
        let capacity = params.max_new_tokens - 1;
        let mut cache = DecodeCache::new(&prompt_cache, starts, group_size, capacity)?;
        drop(prompt_cache);
        timings.prefill_s = t0.elapsed().as_secs_f64();

        let logprob_t = params.logprob_temperature();
        let mut tokens: Vec<Vec<u32>> = vec![Vec::with_capacity(params.max_new_tokens); n_rows];
        let mut logprobs: Vec<Vec<f32>> = vec![Vec::with_capacity(params.max_new_tokens); n_rows];
        let mut stop: Vec<Option<StopReason>> = vec![None; n_rows];
        // `active[i]` = the row at batch position i; finished rows leave the batch once they
        // are at least half of it (their cache rows are dropped, one copy).
        let mut active: Vec<usize> = (0..n_rows).collect();
        let mut logits: Vec<Vec<f32>> = (0..n_rows)
            .map(|row| prefix_logits[row / group_size].clone())
            .collect();
        for step in 0..params.max_new_tokens {
            let t0 = Instant::now();
            for (&row, row_logits) in active.iter().zip(&logits) {
                if stop[row].is_some() {
                    continue;
                }
                let tok = choose(row_logits, &banned, params, &mut rngs[row / group_size]);
                tokens[row].push(tok);
                logprobs[row].push(logprob(row_logits, tok as usize, logprob_t));
                if params.stop_at_eos && tokenizer.is_eos(tok) {
                    stop[row] = Some(StopReason::Eos);
                } else if tokens[row].len() == params.max_new_tokens {
                    stop[row] = Some(StopReason::Length);
                }
            }
            timings.sampling_s += t0.elapsed().as_secs_f64();
            let running: Vec<usize> = (0..active.len())
                .filter(|&i| stop[active[i]].is_none())
                .collect();
            if running.is_empty() {
                break;
            }
            let t0 = Instant::now();
            if running.len() * 2 <= active.len() {
                cache.retain(&running)?;
                active = running.iter().map(|&i| active[i]).collect();
            }
            // Finished rows still in the batch ride along; their outputs are ignored.
            let ids: Vec<u32> = active
                .iter()
                .map(|&row| tokens[row].last().copied().unwrap_or(eos))
                .collect();
            let pos: Vec<u32> = active
                .iter()
                .map(|&row| (prompts[row / group_size].len() + step) as u32)
                .collect();
            let (cos, sin) = model.rope_at(&pos, 1)?;
            let ids = Tensor::from_vec(ids, (active.len(), 1), dev)?;
            let out = model.forward(&ids, &cos, &sin, Cache::Decode(&mut cache))?;
            timings.decode_s += t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            logits = out.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            timings.sampling_s += t0.elapsed().as_secs_f64();
        }
        let stop = stop
            .into_iter()
            .map(|s| s.unwrap_or(StopReason::Length))
            .collect();
        Ok(Rollouts {
            tokens,
            logprobs,
            stop,
            timings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_respects_greedy_ban_top_k_and_top_p() {
        let logits = [5.0f32, 1.0, 3.0, 2.9, -1.0];
        let mut rng = StdRng::seed_from_u64(0);
        let greedy = SampleParams {
            greedy: true,
            ..SampleParams::default()
        };
        assert_eq!(choose(&logits, &[], &greedy, &mut rng), 0);
        assert_eq!(choose(&logits, &[0], &greedy, &mut rng), 2);
        // top_k = 2 with 0 banned: only ids 2 and 3 can come out.
        let k2 = SampleParams {
            top_k: Some(2),
            ..SampleParams::default()
        };
        for _ in 0..200 {
            let t = choose(&logits, &[0], &k2, &mut rng);
            assert!(t == 2 || t == 3, "{t}");
        }
        // top_p = 0.5: p(0) = e^5 / sum ≈ 0.79 alone reaches it, so only id 0 is ever drawn.
        let p = SampleParams {
            top_p: Some(0.5),
            ..SampleParams::default()
        };
        assert!((0..200).all(|_| choose(&logits, &[], &p, &mut rng) == 0));
    }

    #[test]
    fn choose_frequencies_follow_softmax() {
        // p = softmax([ln 1, ln 3]) = (0.25, 0.75); 20000 draws, std of the mean ≈ 0.003, so a
        // 0.02 tolerance fails with odds below 1e-9.
        let logits = [0.0f32, 3f32.ln()];
        let mut rng = StdRng::seed_from_u64(7);
        let params = SampleParams::default();
        let ones = (0..20000)
            .filter(|_| choose(&logits, &[], &params, &mut rng) == 1)
            .count();
        assert!((ones as f64 / 20000.0 - 0.75).abs() < 0.02, "{ones}");
        // temperature 0.5 squares the odds: 9:1.
        let hot = SampleParams {
            temperature: 0.5,
            ..SampleParams::default()
        };
        let ones = (0..20000)
            .filter(|_| choose(&logits, &[], &hot, &mut rng) == 1)
            .count();
        assert!((ones as f64 / 20000.0 - 0.9).abs() < 0.02, "{ones}");
    }

    #[test]
    fn logprob_is_log_softmax_of_the_tempered_logits() {
        let l = [1.0f32, 2.0, 3.0];
        let z = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        assert!((logprob(&l, 1, 1.0) - (2.0 - z)).abs() < 1e-6);
        // T = 0.5: log_softmax([2, 4, 6])[1] = 4 - ln(e^2 + e^4 + e^6).
        let z = (2f32.exp() + 4f32.exp() + 6f32.exp()).ln();
        assert!((logprob(&l, 1, 0.5) - (4.0 - z)).abs() < 1e-6);
    }
}
