//! Warm start: supervised next-token training on generated tasks' gold answers (prompt → answer,
//! then EOS) for the chosen levels, with its own learning rate, before RL begins. A 1M-parameter
//! model learns little from RL alone (our prototype: it never learned 2-digit sums); a short warm
//! start on the easy levels gives RL a non-zero pass rate to climb from.
//!
//! With several ranks it runs data parallel like an RL update: every rank generates the same
//! batch, runs its share of the slices, and the gradients and loss are summed over the ranks, so
//! every rank ends with the same weights (and the warm start takes 1/N of the time).

use std::collections::HashSet;

use rand::Rng;
use serde_json::json;

use crate::collective::Collective;
use crate::config::RunConfig;
use crate::data_parallel::{all_reduce_grads, share};
use crate::error::{Error, Result};
use crate::metrics::JsonlWriter;
use crate::optim::{clip_grad_norm, AdamW};
use crate::rng::{stream_rng, stream_seed, Stream};
use crate::rollout::encode_prompt;
use crate::slices::{add_grads, side_by_side, with_lora_dropout};

/// The warm start's AdamW weight decay: none (a few hundred supervised steps from a random
/// init; decay only slows them).
const WEIGHT_DECAY: f64 = 0.0;
/// The warm start's gradient-norm clip (cross-entropy from a random init spikes early).
const MAX_GRAD_NORM: f64 = 1.0;

/// Runs `cfg.warm_start.steps` supervised steps on `policy`'s trainable weights, on tasks of
/// `registry`'s families, data parallel over `coll`'s ranks; `log` (rank 0's) gets a line per
/// step.
pub fn run(
    policy: &policy::Policy,
    registry: &tasks::Registry,
    cfg: &RunConfig,
    exclude: &HashSet<String>,
    mut log: Option<&mut JsonlWriter>,
    coll: &dyn Collective,
) -> Result<()> {
    let ws = &cfg.warm_start;
    let vars = policy.trainable_vars();
    let adamw = crate::optim::AdamWConfig {
        weight_decay: WEIGHT_DECAY,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars.clone(), adamw, ws.lr)?;
    let schedule = ws.schedule();
    schedule.validate()?;
    let cells = cells(cfg)?;
    let t0 = std::time::Instant::now();
    for step in 1..=ws.steps {
        let (prompts, answers) = batch(policy, registry, cfg, &cells, exclude, step)?;
        // Token mean over the batch, in `train.shards` slices side by side (as an RL update).
        let pairs: Vec<(&[u32], &[u32])> = prompts
            .iter()
            .zip(&answers)
            .map(|(p, a)| (p.as_slice(), a.as_slice()))
            .collect();
        let tokens = answers.iter().map(Vec::len).sum::<usize>() as f64;
        let dropout_seed = stream_seed(cfg.seed, Stream::WarmStartDropout, step);
        let mine = share(&pairs, coll, cfg.train.shards);
        let passes = if mine.is_empty() {
            Vec::new()
        } else {
            with_lora_dropout(policy, dropout_seed, || {
                side_by_side(policy, mine, cfg.train.shards, |slice| {
                    let (p, a): (Vec<&[u32]>, Vec<&[u32]>) = slice.iter().copied().unzip();
                    let lp = policy.completion_logprobs(&p, &a, policy::AdapterMode::Active)?;
                    let loss = ((lp.logp * &lp.mask)?.sum_all()?.neg()? / tokens)?;
                    Ok((loss.backward()?, loss.to_scalar::<f32>()?))
                })
            })?
        };
        let mut passes = passes.into_iter();
        let (mut grads, mut loss_value) = match passes.next() {
            Some(first) => first,
            None if coll.size() > 1 => (Default::default(), 0.0),
            None => {
                return Err(Error::EmptyBatch {
                    batch: "warm-start batch",
                    parts: "slices",
                })
            }
        };
        for (g, loss) in passes {
            add_grads(&mut grads, &g, &vars)?;
            loss_value += loss;
        }
        if coll.size() > 1 {
            all_reduce_grads(coll, &mut grads, &vars)?;
            let mut sum = [f64::from(loss_value)];
            coll.all_reduce_sum_f64(&mut sum)?;
            loss_value = sum[0] as f32;
        }
        if !loss_value.is_finite() {
            return Err(Error::NonFiniteAtStep {
                step,
                what: format!("warm-start loss = {loss_value}"),
            });
        }
        let grad_norm = clip_grad_norm(&mut grads, &vars, MAX_GRAD_NORM)?;
        let lr = schedule.lr_at(step - 1);
        opt.set_learning_rate(lr);
        opt.step(&grads)?;
        if let Some(log) = log.as_deref_mut() {
            log.write(&json!({
            "step": step,
            "train_seconds": t0.elapsed().as_secs_f64(),
            "loss": loss_value,
            "grad_norm": grad_norm,
            "learning_rate": lr,
            }))?;
        }
        if step % 50 == 0 || step == ws.steps {
            tracing::info!(step, loss = format!("{loss_value:.4}"), "warm start");
        }
    }
    Ok(())
}

/// One sequence's token ids.
type Tokens = Vec<u32>;

/// The (family index, level) cells the warm start draws from: `warm_start.levels` within each
/// family's levels.
fn cells(cfg: &RunConfig) -> Result<Vec<(usize, u32)>> {
    let ws = &cfg.warm_start;
    let cells: Vec<(usize, u32)> = cfg
        .tasks
        .families
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            let lo = ws.levels[0].max(f.levels[0]);
            let hi = ws.levels[1].min(f.levels[1]);
            (lo..=hi).map(move |l| (i, l))
        })
        .collect();
    if cells.is_empty() {
        return Err(Error::Config(format!(
            "warm_start.levels = {:?} overlaps no family's levels in [tasks]",
            ws.levels
        )));
    }
    Ok(cells)
}

/// Step `step`'s examples (from its own seeded stream): each prompt's token ids and its answer's,
/// EOS appended; tasks in `exclude` (the eval sets) are skipped.
fn batch(
    policy: &policy::Policy,
    registry: &tasks::Registry,
    cfg: &RunConfig,
    cells: &[(usize, u32)],
    exclude: &HashSet<String>,
    step: u64,
) -> Result<(Vec<Tokens>, Vec<Tokens>)> {
    let ws = &cfg.warm_start;
    let eos = policy.tokenizer().eos_id();
    let mut rng = stream_rng(cfg.seed, Stream::WarmStart, step);
    let mut prompts = Vec::with_capacity(ws.batch_size);
    let mut answers = Vec::with_capacity(ws.batch_size);
    while prompts.len() < ws.batch_size {
        let (fi, level) = cells[rng.random_range(0..cells.len())];
        let fam = &cfg.tasks.families[fi];
        let task = registry.generate_level(
            &fam.name,
            level,
            &fam.knobs,
            cfg.tasks.style,
            fam.format,
            rng.random(),
        )?;
        if exclude.contains(&task.id) {
            continue;
        }
        prompts.push(encode_prompt(policy.tokenizer(), &task)?);
        let mut answer =
            policy
                .tokenizer()
                .encode(&task.answer)
                .map_err(|e| Error::TaskEncoding {
                    task: task.id.clone(),
                    family: task.family.clone(),
                    part: "answer",
                    cause: Box::new(e),
                })?;
        answer.push(eos);
        answers.push(answer);
    }
    Ok((prompts, answers))
}

/// Feeds every token the warm start of `cfg` would train on, step by step, into `hasher`: what
/// the warm-start cache keys its data by (generating is cheap next to training on it).
pub fn hash_data(
    policy: &policy::Policy,
    registry: &tasks::Registry,
    cfg: &RunConfig,
    exclude: &HashSet<String>,
    hasher: &mut blake3::Hasher,
) -> Result<()> {
    let cells = cells(cfg)?;
    for step in 1..=cfg.warm_start.steps {
        let (prompts, answers) = batch(policy, registry, cfg, &cells, exclude, step)?;
        let mut bytes = Vec::new();
        for seq in prompts.iter().chain(&answers) {
            bytes.extend_from_slice(&(seq.len() as u64).to_le_bytes());
            bytes.extend(seq.iter().flat_map(|id| id.to_le_bytes()));
        }
        hasher.update(&bytes);
    }
    Ok(())
}
