//! The training run, top to bottom: setup → (warm start) → preflight → for each step: rollout →
//! score → update → log → evaluate → checkpoint; until `train.max_steps`, the time budget
//! (`train.max_seconds`), or, with `train.stop_when_mastered`, until every level the curriculum
//! can draw from is mastered ([`RunEnd`]). A resume may raise the first two
//! ([`crate::RESUMABLE_KEYS`]).
//!
//! With the defaults this is GRPO as TRL runs it with `num_iterations = 1`: G completions per
//! task, advantages (r − mean)/(std + 1e-4) within each group, token-mean aggregation, β = 0 (no
//! reference model), one on-policy AdamW step per batch, so the clipped ratio is ≡ 1 and the update
//! is REINFORCE with a group baseline. Two departures, both from our prototype's findings: groups
//! whose answers are all right or all wrong are dropped (DAPO's dynamic sampling, decided on
//! `correct`), and an update waits until `train.min_groups` informative groups are buffered.
//!
//! Launched as several processes (`mpirun -np N rlvr train`, [`TrainOptions::collective`]), the
//! same run is computed data parallel (`data_parallel.rs`): every rank holds the same state,
//! samples its share of each step's tasks and runs its share of each update; rank 0 alone
//! evaluates and writes the run directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::Var;
use serde_json::json;

use crate::checkpoint::{self, TrainState};
use crate::collective::{Collective, Single};
use crate::config::RunConfig;
use crate::data_parallel;
use crate::error::{Error, Result};
use crate::eval::{self, EvalSets};
use crate::metrics::{
    truncate_after_step, CellMetrics, EvalRecord, JsonlWriter, PassRates, StepMetrics,
};
use crate::optim::AdamW;
use crate::rng::{stream_rng, stream_seed, Stream};
use crate::rollout::Group;
use crate::slices::with_lora_dropout;
use crate::temperature::AdaptiveTemperature;
use crate::update::{update, UpdateStats};
use crate::warm_start;
use crate::warm_start_cache::WarmStartCache;

/// How `train` was asked to run (what to do, not what to compute: that is the config).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// The task families and curriculum strategies the config may name (default: the built-ins);
    /// register your own in it to train on them.
    pub registry: Arc<tasks::Registry>,
    /// The ranks this process trains with ([`Single`]: alone; `collective::from_launcher()`
    /// under `mpirun`). Every rank calls [`train`] or [`resume`] with the same config and run
    /// directory.
    pub collective: Arc<dyn Collective>,
    /// Take the warm start from this cache directory when an identical one was stored there, and
    /// store it there when not ([`WarmStartCache`]; one process only).
    pub warm_start_cache: Option<PathBuf>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            progress: false,
            registry: Arc::new(tasks::Registry::builtin()),
            collective: Arc::new(Single),
            warm_start_cache: None,
        }
    }
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// It reached `train.max_steps`.
    MaxSteps,
    /// Its training wall time reached `train.max_seconds`.
    TimeBudget,
    /// Every level the curriculum can draw from is mastered (`train.stop_when_mastered`).
    Mastered,
}

impl std::fmt::Display for RunEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunEnd::MaxSteps => "reached train.max_steps",
            RunEnd::TimeBudget => "spent its time budget, train.max_seconds",
            RunEnd::Mastered => "every level mastered, nothing left to learn",
        })
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// RL steps completed.
    pub steps: u64,
    /// Optimizer updates taken.
    pub updates: u64,
    /// Training wall time (eval excluded).
    pub train_seconds: f64,
    /// The last evaluation's greedy pass rates, family → level → rate.
    pub final_pass: PassRates,
    /// Why it stopped.
    pub stopped: RunEnd,
}

/// Everything a run holds while it trains.
struct Run {
    cfg: RunConfig,
    registry: Arc<tasks::Registry>,
    dir: PathBuf,
    policy: policy::Policy,
    reference: Option<policy::Policy>,
    vars: Vec<(String, Var)>,
    optimizer: AdamW,
    state: TrainState,
    eval_sets: EvalSets,
    /// The ranks (bound to the run's device).
    collective: Arc<dyn Collective>,
    /// The run's logs: rank 0's; `None` on the other ranks, which write nothing.
    metrics: Option<JsonlWriter>,
    samples: Option<JsonlWriter>,
    evals: Option<JsonlWriter>,
    /// Families created, mastered, retired and unlocked by an `evolve` curriculum (rank 0).
    families: Option<JsonlWriter>,
}

/// A writer appending to `path` on rank 0, nothing on the other ranks.
fn rank0_writer(coll: &dyn Collective, path: &Path) -> Result<Option<JsonlWriter>> {
    match coll.rank() {
        0 => JsonlWriter::append(path).map(Some),
        _ => Ok(None),
    }
}

/// The base model a LoRA run's adapter belongs to, as `base_model_name_or_path` names it.
fn lora_base(cfg: &RunConfig) -> Option<String> {
    cfg.model.path.as_ref().map(|p| p.display().to_string())
}

/// Writes `policy`'s weights into `dir` as a checkpoint holds them: the model in `model/` and,
/// for a LoRA run of `cfg`, the adapter in `adapter/`.
fn write_weights(policy: &policy::Policy, cfg: &RunConfig, dir: &Path) -> Result<()> {
    policy.save(dir.join("model"))?;
    if cfg.lora.is_some() {
        policy.save_adapter("default", dir.join("adapter"), lora_base(cfg).as_deref())?;
    }
    Ok(())
}

/// The policy [`write_weights`] wrote into `dir`, in `cfg`'s dtype with its adapter active: the
/// weights that were written, exactly (what makes resume exact).
fn read_weights(
    dir: &Path,
    cfg: &RunConfig,
    device: &candle_core::Device,
) -> Result<policy::Policy> {
    let mut policy = policy::Policy::load(dir.join("model"), device)?;
    policy.set_dtype(cfg.dtype.dtype())?;
    if cfg.lora.is_some() {
        policy.load_adapter(dir.join("adapter"), "default")?;
        policy.set_active_adapter("default")?;
    }
    Ok(policy)
}

/// Fails when the config cannot be shared out over `size` ranks.
fn check_world(cfg: &RunConfig, size: usize) -> Result<()> {
    let n = cfg.sampling.tasks_per_step;
    if size > 1 && !n.is_multiple_of(size) {
        return Err(Error::InvalidConfig {
            key: "sampling.tasks_per_step".into(),
            value: n.to_string(),
            reason: format!(
                "must be a multiple of the number of ranks, {size}: each samples an equal share"
            ),
        });
    }
    Ok(())
}

/// The log of families an `evolve` curriculum created, mastered, retired and unlocked.
pub const FAMILIES_JSONL: &str = "families.jsonl";

/// `opts.registry` with the program families that `cfg` names registered, and `cfg`'s program
/// entries replaced by one entry per family (so the run's config.toml is self-contained; see
/// `tasks::Registry::register_programs`). Without program entries: the registry as it is.
fn with_programs(cfg: &mut RunConfig, opts: &TrainOptions) -> Result<Arc<tasks::Registry>> {
    if !cfg.tasks.families.iter().any(|f| f.is_program()) {
        return Ok(opts.registry.clone());
    }
    let mut registry = (*opts.registry).clone();
    cfg.tasks = registry
        .register_programs(&cfg.tasks)
        .map_err(|e| Error::Config(format!("[tasks]: {e}")))?;
    Ok(Arc::new(registry))
}

/// Starts a new run in `out` (created; must not hold a run already), with the families and
/// strategies of `opts.registry`.
pub fn train(mut cfg: RunConfig, out: &Path, opts: &TrainOptions) -> Result<TrainSummary> {
    let registry = with_programs(&mut cfg, opts)?;
    let root = opts.collective.rank() == 0;
    cfg.validate_with(&registry)?;
    check_world(&cfg, opts.collective.size())?;
    // Every curriculum parameter written out, defaults included.
    cfg.tasks = cfg
        .tasks
        .resolved(&registry)
        .map_err(|e| Error::Config(format!("[tasks]: {e}")))?;
    // Absolute, so that the run's config.toml and a LoRA adapter's base_model_name_or_path lead
    // to the base from any directory.
    if let Some(path) = &cfg.model.path {
        let abs = std::fs::canonicalize(path).map_err(|e| {
            let hint = match cfg.lora {
                Some(_) => format!(
                    "; LoRA trains an adapter on this base: make it first, e.g. `{}`",
                    crate::config::LORA_BASE_COMMAND
                ),
                None => String::new(),
            };
            Error::Config(format!(
                "model.path = {:?}: {e}{hint}",
                path.display().to_string()
            ))
        })?;
        cfg.model.path = Some(abs);
    }
    if root {
        if out.join("config.toml").exists() {
            return Err(Error::Config(format!(
                "{} already holds a run: resume it with `rlvr train --resume {}` or choose another --out",
                out.display(),
                out.display()
            )));
        }
        std::fs::create_dir_all(out).map_err(|source| Error::Io {
            path: out.to_path_buf(),
            error: source,
        })?;
        let resolved = toml::to_string(&cfg).map_err(|e| Error::Serialise {
            what: "the resolved config",
            message: e.to_string(),
        })?;
        write_file(&out.join("config.toml"), resolved.as_bytes())?;
    }
    let (device, collective) = setup_device(&cfg, &opts.collective)?;
    let mut eval_sets = EvalSets::load(&cfg)?;
    eval_sets.fill_missing(&cfg, &registry);

    let mut policy = match &cfg.model.path {
        Some(path) => policy::Policy::load(path, &device)?,
        None => {
            let tokenizer = match &cfg.model.tokenizer {
                Some(path) => policy::Tokenizer::from_file(path)?,
                None => policy::Tokenizer::builtin(),
            };
            let mc = cfg.model.model_config(tokenizer.vocab_size())?;
            policy::Policy::init(
                &mc,
                tokenizer,
                stream_seed(cfg.seed, Stream::Init, 0),
                &device,
            )?
        }
    };
    policy.set_dtype(cfg.dtype.dtype())?;
    if let Some(lora) = &cfg.lora {
        policy.add_adapter("default", lora, stream_seed(cfg.seed, Stream::Adapter, 0))?;
        policy.set_active_adapter("default")?;
    }
    tracing::info!(
        parameters = policy.num_parameters(),
        run = %out.display(),
        "model ready"
    );
    let mut evals = rank0_writer(&*collective, &out.join("eval.jsonl"))?;
    let mut train_seconds = 0.0;
    if cfg.warm_start.steps > 0 {
        let cache = match &opts.warm_start_cache {
            Some(_) if collective.size() > 1 => {
                return Err(Error::Config(
                    "the warm-start cache runs with one process only (not under mpirun)".into(),
                ))
            }
            Some(dir) => {
                let key = WarmStartCache::key(&policy, &registry, &cfg, &eval_sets.ids, 1)?;
                Some((WarmStartCache::new(dir), key))
            }
            None => None,
        };
        let hit = match &cache {
            Some((cache, key)) => cache.find(key)?,
            None => None,
        };
        let log_path = out.join("warm_start.jsonl");
        match hit {
            Some(hit) => {
                policy = read_weights(&hit.dir, &cfg, &device)?;
                WarmStartCache::copy_log(&hit, &log_path)?;
                train_seconds += hit.seconds;
                tracing::info!(
                    entry = %hit.dir.display(),
                    steps = cfg.warm_start.steps,
                    seconds = format!("{:.1}", hit.seconds),
                    "warm start: taken from the cache"
                );
            }
            None => {
                let t = Instant::now();
                let mut log = rank0_writer(&*collective, &log_path)?;
                policy::run_in_thread_pool(|| {
                    warm_start::run(
                        &policy,
                        &registry,
                        &cfg,
                        &eval_sets.ids,
                        log.as_mut(),
                        &*collective,
                    )
                })?;
                drop(log);
                let seconds = t.elapsed().as_secs_f64();
                train_seconds += seconds;
                if let Some((cache, key)) = &cache {
                    cache.store(key, seconds, &log_path, |dir| {
                        write_weights(&policy, &cfg, dir)
                    })?;
                }
            }
        }
    }
    let reference = if cfg.train.loss.beta != 0.0 && cfg.lora.is_none() {
        Some(policy.snapshot_reference()?)
    } else {
        None
    };
    let curriculum = tasks::Curriculum::new(
        &cfg.tasks,
        registry.clone(),
        stream_seed(cfg.seed, Stream::Curriculum, 0),
        eval_sets.ids.clone(),
    )?;
    if let Some(evals) = evals.as_mut() {
        let first = eval::evaluate(&policy, &registry, &cfg, &eval_sets)?;
        evals.write(&EvalRecord {
            eval_seconds: None,
            pass: first.pass,
            pass_at_k: first.pass_at_k,
            step: 0,
            train_seconds,
        })?;
    }
    crate::preflight::run(&policy, &cfg, &curriculum)?;
    let vars = policy.trainable_vars();
    let optimizer = new_optimizer(&cfg, &vars)?;
    let state = TrainState {
        step: 0,
        updates: 0,
        train_seconds,
        tokens_sampled: 0,
        pending: Vec::new(),
        curriculum,
        eval_digest: Some(checkpoint::eval_digest(&eval_sets.ids)),
        temperature: cfg
            .sampling
            .informative_target
            .map(|target| AdaptiveTemperature::new(cfg.sampling.temperature, target)),
    };
    let mut run = Run {
        metrics: rank0_writer(&*collective, &out.join("metrics.jsonl"))?,
        samples: rank0_writer(&*collective, &out.join("samples.jsonl"))?,
        families: rank0_writer(&*collective, &out.join(FAMILIES_JSONL))?,
        evals,
        collective,
        cfg,
        registry,
        dir: out.to_path_buf(),
        policy,
        reference,
        vars,
        optimizer,
        state,
        eval_sets,
    };
    run.save_checkpoint()?;
    run.train_loop(opts)
}

/// Continues the run in `dir` from its checkpoint, exactly as if it had not stopped. `cfg` is
/// the run's `config.toml` with the changes asked for (`--max-steps`, `--set`): only
/// [`crate::RESUMABLE_KEYS`] (budgets, cadences, the stopping rule) may differ from the run's, so a
/// finished run can be extended; the changes are written back to `config.toml`. A checkpoint
/// swap cut short by a crash is recovered from `checkpoint.old/`; eval sets that changed since
/// the run started are refused. `opts.registry` must hold the families and strategies the run
/// used.
pub fn resume(dir: &Path, mut cfg: RunConfig, opts: &TrainOptions) -> Result<TrainSummary> {
    let registry = with_programs(&mut cfg, opts)?;
    let root = opts.collective.rank() == 0;
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        error: source,
    })?;
    let mut saved: RunConfig =
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    if saved.train.lr_schedule == crate::config::ScheduleKind::Cosine
        && saved.train.decay_steps.is_none()
    {
        // A run from before `train.decay_steps`: its cosine ran over its `max_steps`.
        saved.train.decay_steps = Some(saved.train.max_steps);
        cfg.train.decay_steps = saved.train.decay_steps;
    }
    let changed = cfg.changes_from(&saved)?;
    cfg.validate_with(&registry)?;
    check_world(&cfg, opts.collective.size())?;
    let (device, collective) = setup_device(&cfg, &opts.collective)?;
    let mut eval_sets = EvalSets::load(&cfg)?;
    eval_sets.fill_missing(&cfg, &registry);
    // Rank 0 first: loading may recover a checkpoint swap cut short, which renames directories.
    let load = || checkpoint::load_state(dir, registry.clone(), &eval_sets.ids, &cfg.eval.dir);
    let state = if root { Some(load()?) } else { None };
    collective.barrier()?;
    let state = match state {
        Some(state) => state,
        None => load()?,
    };
    if root && !changed.is_empty() {
        let resolved = toml::to_string(&cfg).map_err(|e| Error::Serialise {
            what: "the resolved config",
            message: e.to_string(),
        })?;
        write_atomically(&path, resolved.as_bytes())?;
        tracing::info!(changed = %changed.join(", "), "resume: config.toml updated");
    }
    let ck = checkpoint::dir(dir);
    let dtype = cfg.dtype.dtype();
    let policy = read_weights(&ck, &cfg, &device)?;
    let reference = if cfg.train.loss.beta != 0.0 && cfg.lora.is_none() {
        let mut r = policy::Policy::load(dir.join("reference"), &device)?;
        r.set_dtype(dtype)?;
        Some(r)
    } else {
        None
    };
    let vars = policy.trainable_vars();
    let mut optimizer = new_optimizer(&cfg, &vars)?;
    optimizer.load(&ck.join("optimizer.safetensors"))?;
    if root {
        for name in [
            "metrics.jsonl",
            "samples.jsonl",
            "eval.jsonl",
            FAMILIES_JSONL,
        ] {
            truncate_after_step(&dir.join(name), state.step)?;
        }
    }
    tracing::info!(step = state.step, run = %dir.display(), "resuming");
    let mut run = Run {
        metrics: rank0_writer(&*collective, &dir.join("metrics.jsonl"))?,
        samples: rank0_writer(&*collective, &dir.join("samples.jsonl"))?,
        evals: rank0_writer(&*collective, &dir.join("eval.jsonl"))?,
        families: rank0_writer(&*collective, &dir.join(FAMILIES_JSONL))?,
        collective,
        cfg,
        registry,
        dir: dir.to_path_buf(),
        policy,
        reference,
        vars,
        optimizer,
        state,
        eval_sets,
    };
    run.train_loop(opts)
}

/// The run's device and the collective bound to it. With several ranks, `device = "cuda"` means
/// the GPU of this rank's index on its machine (one rank per GPU).
fn setup_device(
    cfg: &RunConfig,
    coll: &Arc<dyn Collective>,
) -> Result<(candle_core::Device, Arc<dyn Collective>)> {
    policy::set_num_threads(cfg.threads);
    let spec = match cfg.device {
        policy::DeviceSpec::Cuda(0) if coll.size() > 1 => {
            policy::DeviceSpec::Cuda(coll.local_rank())
        }
        other => other,
    };
    let device = spec.open()?;
    let collective = coll.on_device(&device)?.unwrap_or_else(|| coll.clone());
    if collective.size() > 1 {
        tracing::info!(
            rank = collective.rank(),
            ranks = collective.size(),
            collective = collective.name(),
            device = %spec,
            threads = cfg.threads,
            "data parallel"
        );
    }
    Ok((device, collective))
}

fn new_optimizer(cfg: &RunConfig, vars: &[(String, Var)]) -> Result<AdamW> {
    let t = &cfg.train;
    AdamW::new(vars.to_vec(), t.adamw(), t.lr)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        error: source,
    })
}

/// Replaces `path` with `bytes` so that a crash leaves the old file or the new one, whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            error: source,
        })
}

impl Run {
    fn train_loop(&mut self, opts: &TrainOptions) -> Result<TrainSummary> {
        let root = self.collective.rank() == 0;
        if root
            && self.cfg.train.loss.beta != 0.0
            && self.cfg.lora.is_none()
            && !self.dir.join("reference").exists()
        {
            if let Some(r) = &self.reference {
                r.save(self.dir.join("reference"))?;
            }
        }
        // Every rank stops on rank 0's clock.
        self.state.train_seconds = self.collective.broadcast_f64(self.state.train_seconds)?;
        let bar = progress_bar(
            opts.progress && root,
            self.state.step,
            self.cfg.train.max_steps,
        );
        let stopped = loop {
            if let Some(end) = self.should_stop() {
                break end;
            }
            self.state.step += 1;
            let record = self.step()?;
            bar.set_position(self.state.step);
            bar.set_message(format!(
                "reward {:.2} informative {:.2} {:?}",
                record.reward, record.informative_fraction, record.position
            ));
            let step = self.state.step;
            let every = self.cfg.train.eval_every;
            if every > 0 && step.is_multiple_of(every) {
                self.evaluate()?;
            }
            let every = self.cfg.train.replica_check_every;
            if every > 0 && step.is_multiple_of(every) {
                data_parallel::check_replicas(&*self.collective, &self.vars, step)?;
            }
            let every = self.cfg.train.checkpoint_every;
            if every > 0 && step.is_multiple_of(every) {
                self.save_checkpoint()?;
            }
        };
        bar.finish_and_clear();
        data_parallel::check_replicas(&*self.collective, &self.vars, self.state.step)?;
        self.log_stop(stopped);
        let final_pass = match root.then(|| last_eval(&self.dir)).transpose()? {
            Some(Some((step, pass))) if step == self.state.step => pass,
            _ => self.evaluate()?,
        };
        self.save_checkpoint()?;
        self.save_model()?;
        Ok(TrainSummary {
            run_dir: self.dir.clone(),
            steps: self.state.step,
            updates: self.state.updates,
            train_seconds: self.state.train_seconds,
            final_pass,
            stopped,
        })
    }

    /// Why the run should stop before its next step, if it should.
    fn should_stop(&self) -> Option<RunEnd> {
        let t = &self.cfg.train;
        if self.state.step >= t.max_steps {
            return Some(RunEnd::MaxSteps);
        }
        if t.max_seconds
            .is_some_and(|limit| self.state.train_seconds >= limit)
        {
            return Some(RunEnd::TimeBudget);
        }
        if t.stop_when_mastered && self.state.curriculum.exhausted() {
            return Some(RunEnd::Mastered);
        }
        None
    }

    /// Says why the run stopped and how to go on (rank 0).
    fn log_stop(&self, stopped: RunEnd) {
        if self.collective.rank() != 0 {
            return;
        }
        let (step, run) = (self.state.step, self.dir.display());
        match stopped {
            RunEnd::MaxSteps => tracing::info!(
                step,
                "reached train.max_steps = {}; `rlvr train --resume {run} --max-steps N` goes on",
                self.cfg.train.max_steps
            ),
            RunEnd::TimeBudget => tracing::info!(
                step,
                "time budget spent: {:.0} s of training, train.max_seconds = {}; \
                 `rlvr train --resume {run} --set train.max_seconds=S` goes on",
                self.state.train_seconds,
                self.cfg.train.max_seconds.unwrap_or(0.0)
            ),
            RunEnd::Mastered => tracing::info!(
                step,
                "every level of every family is mastered (chance-corrected pass rate at or above \
                 promote after min_groups groups): nothing left to learn, stopping \
                 (train.stop_when_mastered = false keeps training)"
            ),
        }
    }

    /// One RL step: sampling rounds until enough informative groups are buffered (or the round
    /// cap), an update when they are, and one metrics line.
    fn step(&mut self) -> Result<StepMetrics> {
        let mut cfg = self.cfg.clone();
        let step = self.state.step;
        // The adaptive temperature samples this step and scores its update.
        cfg.sampling.temperature = self.sampling_temperature();
        // Spans for the step's phases: `-v` (or RUST_LOG=debug) prints each one's time on close.
        let _step_span = tracing::debug_span!("step", step).entered();
        let t0 = Instant::now();
        let sample_span = tracing::debug_span!("sample").entered();
        let mut rng = stream_rng(cfg.seed, Stream::Sampling, step);
        let mut sampled: Vec<Group> = Vec::new();
        let mut all_gather_seconds = 0.0;
        let mut curriculum_seconds = 0.0;
        for _round in 0..cfg.train.max_rounds {
            let tc = Instant::now();
            let tasks = self
                .state
                .curriculum
                .next_tasks(cfg.sampling.tasks_per_step);
            curriculum_seconds += tc.elapsed().as_secs_f64();
            let tasks = fitting(&self.policy, tasks, cfg.sampling.max_new_tokens);
            let (groups, gather) = data_parallel::sample_groups(
                &*self.collective,
                &self.policy,
                &self.registry,
                tasks,
                &cfg.sampling,
                cfg.train.overlong,
                &mut rng,
            )?;
            all_gather_seconds += gather;
            let tc = Instant::now();
            for g in &groups {
                let verdicts: Vec<tasks::Verdict> =
                    g.rows.iter().map(|r| r.verdict.clone()).collect();
                self.state.curriculum.observe(&g.task, &verdicts);
            }
            curriculum_seconds += tc.elapsed().as_secs_f64();
            for g in &groups {
                if !cfg.train.dynamic_sampling || g.is_informative() {
                    self.state.pending.push(g.clone());
                }
            }
            sampled.extend(groups);
            if self.state.pending.len() >= cfg.train.min_groups.max(1) {
                break;
            }
        }
        let sampling_seconds = t0.elapsed().as_secs_f64();
        drop(sample_span);

        let t1 = Instant::now();
        let update_span = tracing::debug_span!("update").entered();
        let mut stats = UpdateStats::default();
        let mut updated = false;
        let lr = cfg.train.schedule().lr_at(self.state.updates);
        if !self.state.pending.is_empty() && self.state.pending.len() >= cfg.train.min_groups.max(1)
        {
            let take = self.state.pending.len().min(cfg.train.max_groups);
            let batch: Vec<Group> = self.state.pending.drain(..take).collect();
            self.optimizer.set_learning_rate(lr);
            // On a pool worker candle's parallel ops run inline instead of handing off per op.
            let (policy, reference, vars, optimizer, coll) = (
                &self.policy,
                self.reference.as_ref(),
                &self.vars,
                &mut self.optimizer,
                &*self.collective,
            );
            let dropout_seed = stream_seed(cfg.seed, Stream::Dropout, step);
            stats = policy::run_in_thread_pool(|| {
                let temperature = cfg.sampling.temperature as f32;
                with_lora_dropout(policy, dropout_seed, || {
                    update(
                        policy,
                        reference,
                        vars,
                        optimizer,
                        &batch,
                        &cfg.train,
                        temperature,
                        step,
                        coll,
                    )
                })
            })?;
            self.state.updates += 1;
            updated = true;
        }
        let update_seconds = t1.elapsed().as_secs_f64();
        drop(update_span);
        self.state.train_seconds = self
            .collective
            .broadcast_f64(self.state.train_seconds + sampling_seconds + update_seconds)?;

        let mut record = self.step_record(
            &sampled,
            &stats,
            updated,
            lr,
            sampling_seconds,
            update_seconds,
        );
        if let (Some(t), Some(target), false) = (
            self.state.temperature.as_mut(),
            cfg.sampling.informative_target,
            sampled.is_empty(),
        ) {
            t.observe(
                record.informative_fraction,
                target,
                self.cfg.sampling.temperature,
                cfg.sampling.max_temperature,
                self.state.pending.is_empty(),
            );
        }
        // The collectives' part of the phases above (0 for one process).
        record.all_gather_seconds = all_gather_seconds;
        // Inside time/sampling: choosing tasks and taking in their verdicts.
        record.curriculum_seconds = curriculum_seconds;
        // Every rank takes the events (its curriculum is a replica); rank 0 writes them.
        let events = self.state.curriculum.take_events();
        if let Some(families) = self.families.as_mut() {
            for event in events {
                let mut line = json!({ "step": step });
                if let (Some(l), serde_json::Value::Object(e)) =
                    (line.as_object_mut(), json!(event))
                {
                    l.extend(e);
                }
                families.write(&line)?;
            }
        }
        let Some(metrics) = self.metrics.as_mut() else {
            return Ok(record);
        };
        metrics.write(&record)?;
        let Some(samples) = self.samples.as_mut() else {
            return Ok(record);
        };
        for g in sampled.iter().take(cfg.train.samples_per_step) {
            if let Some(row) = g.rows.first() {
                samples.write(&json!({
                    "step": step,
                    "task": g.task.id,
                    "family": g.task.family,
                    "level": g.task.level,
                    "prompt": g.task.prompt,
                    "answer": g.task.answer,
                    "completion": row.text,
                    "verdict": row.verdict,
                    "group_correct": g.num_correct(),
                }))?;
            }
        }
        tracing::debug!(step, reward = record.reward, "step");
        Ok(record)
    }

    /// The temperature this step samples at: the adaptive one's, else the config's.
    fn sampling_temperature(&self) -> f64 {
        self.state
            .temperature
            .map_or(self.cfg.sampling.temperature, |t| t.temperature)
    }

    fn step_record(
        &mut self,
        groups: &[Group],
        stats: &UpdateStats,
        updated: bool,
        lr: f64,
        sampling_seconds: f64,
        update_seconds: f64,
    ) -> StepMetrics {
        let rows: Vec<&crate::rollout::Row> = groups.iter().flat_map(|g| g.rows.iter()).collect();
        let n = rows.len().max(1) as f64;
        let reward = rows.iter().map(|r| r.reward as f64).sum::<f64>() / n;
        let mut stds = Vec::new();
        let mut zero_std = 0usize;
        let mut cells: std::collections::BTreeMap<String, (f64, f64, usize)> = Default::default();
        for g in groups {
            let r = g.rewards();
            let m = r.iter().map(|&x| x as f64).sum::<f64>() / r.len().max(1) as f64;
            let var = r.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>()
                / (r.len().max(2) - 1) as f64;
            stds.push(var.sqrt());
            if var == 0.0 {
                zero_std += 1;
            }
            let key = match g.task.level {
                Some(l) => format!("{}/{}", g.task.family, l),
                None => format!("{}/{}", g.task.family, g.task.id),
            };
            let e = cells.entry(key).or_insert((0.0, 0.0, 0));
            e.0 += g.num_correct() as f64 / g.rows.len().max(1) as f64;
            e.1 += g.is_informative() as u8 as f64;
            e.2 += 1;
        }
        let tokens: usize = rows.iter().map(|r| r.tokens.len()).sum();
        self.state.tokens_sampled += tokens as u64;
        let num_groups = groups.len().max(1) as f64;
        let informative = groups.iter().filter(|g| g.is_informative()).count() as f64 / num_groups;
        let cells = cells
            .into_iter()
            .map(|(k, (pass, inf, n))| {
                let cell = CellMetrics {
                    groups: n,
                    informative: inf / n as f64,
                    pass: pass / n as f64,
                };
                (k, cell)
            })
            .collect();
        StepMetrics {
            step: self.state.step,
            temperature: self.sampling_temperature(),
            train_seconds: self.state.train_seconds,
            reward,
            reward_std: stds.iter().sum::<f64>() / num_groups,
            frac_reward_zero_std: zero_std as f64 / num_groups,
            mean_length: tokens as f64 / n,
            clipped_ratio: rows.iter().filter(|r| r.truncated).count() as f64 / n,
            clip_low: f64::from(stats.clip_low),
            clip_high: f64::from(stats.clip_high),
            clip_region: f64::from(stats.clip_region),
            kl: f64::from(stats.kl),
            entropy: f64::from(stats.entropy),
            grad_norm: f64::from(stats.grad_norm),
            learning_rate: lr,
            loss: f64::from(stats.loss),
            updated,
            update_sequences: stats.sequences,
            pending_groups: self.state.pending.len(),
            informative_fraction: informative,
            tokens_sampled: tokens as u64,
            tokens_total: self.state.tokens_sampled,
            sampling_seconds,
            update_seconds,
            all_reduce_seconds: stats.all_reduce_seconds,
            // Measured by the caller around the sampling: the gather and the curriculum.
            all_gather_seconds: 0.0,
            curriculum_seconds: 0.0,
            open: self.state.curriculum.open_metrics(),
            cells,
            position: self
                .state
                .curriculum
                .position()
                .into_iter()
                .map(|p| (p.family, p.level))
                .collect(),
        }
    }

    /// Greedy pass rates on the eval sets, on their own clock, appended to `eval.jsonl` (rank 0;
    /// the other ranks return no rates).
    fn evaluate(&mut self) -> Result<PassRates> {
        let Some(evals) = self.evals.as_mut() else {
            return Ok(PassRates::new());
        };
        let _span = tracing::debug_span!("eval", step = self.state.step).entered();
        let t = Instant::now();
        let result = eval::evaluate(&self.policy, &self.registry, &self.cfg, &self.eval_sets)?;
        let record = EvalRecord {
            eval_seconds: Some(t.elapsed().as_secs_f64()),
            pass: result.pass,
            pass_at_k: result.pass_at_k,
            step: self.state.step,
            train_seconds: self.state.train_seconds,
        };
        evals.write(&record)?;
        let pass = serde_json::to_string(&record.pass).unwrap_or_default();
        tracing::info!(step = self.state.step, train_seconds = format!("{:.0}", self.state.train_seconds), %pass, "eval");
        Ok(record.pass)
    }

    /// Writes the run's result to `model/` (rank 0): the trained model, or under LoRA the PEFT
    /// adapter directory (`adapter_config.json` naming the base, `adapter_model.safetensors`).
    fn save_model(&self) -> Result<()> {
        if self.collective.rank() != 0 {
            return Ok(());
        }
        let dir = self.dir.join("model");
        if self.cfg.lora.is_some() {
            let base = lora_base(&self.cfg);
            self.policy.save_adapter("default", &dir, base.as_deref())?;
        } else {
            self.policy.save(&dir)?;
        }
        Ok(())
    }

    /// Writes the checkpoint (rank 0).
    fn save_checkpoint(&mut self) -> Result<()> {
        if self.collective.rank() != 0 {
            return Ok(());
        }
        let _span = tracing::debug_span!("checkpoint", step = self.state.step).entered();
        let (policy, optimizer, cfg) = (&self.policy, &self.optimizer, &self.cfg);
        checkpoint::save(&self.dir, &self.state, |tmp| {
            write_weights(policy, cfg, tmp)?;
            optimizer.save(&tmp.join("optimizer.safetensors"))?;
            Ok(())
        })
    }
}

/// The step and pass rates of the last line of `eval.jsonl`, if there is one.
fn last_eval(dir: &Path) -> Result<Option<(u64, PassRates)>> {
    let path = dir.join("eval.jsonl");
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        error: source,
    })?;
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<EvalRecord>(l).ok())
        .map(|e| (e.step, e.pass)))
}

fn progress_bar(enabled: bool, pos: u64, len: u64) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_position(pos);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] step {pos}/{len} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The tasks whose prompt leaves room in the model's context for `max_new_tokens`; the others
/// are dropped with a warning (a family at too large a size), not the run: the sampler would
/// refuse the whole batch.
fn fitting(
    policy: &policy::Policy,
    tasks: Vec<tasks::Task>,
    max_new_tokens: usize,
) -> Vec<tasks::Task> {
    let max = policy.config().max_position_embeddings;
    tasks
        .into_iter()
        .filter(|t| {
            let len = policy
                .tokenizer()
                .encode_prompt(&t.prompt)
                .map_or(0, |ids| ids.len());
            let fits = len + max_new_tokens <= max;
            if !fits {
                tracing::warn!(
                    family = %t.family,
                    knobs = %t.knobs,
                    "a prompt of {len} tokens + max_new_tokens {max_new_tokens} > \
                     max_position_embeddings {max}: task skipped"
                );
            }
            fits
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_whose_prompt_leaves_no_room_are_skipped_not_fatal() {
        let config = policy::ModelConfig {
            hidden_size: 16,
            intermediate_size: 32,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            num_key_value_heads: Some(2),
            max_position_embeddings: 24,
            ..policy::ModelConfig::default()
        };
        let p = policy::Policy::init(
            &config,
            policy::Tokenizer::builtin(),
            0,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let task = |prompt: &str| {
            tasks::Task::new(
                "f",
                &tasks::Knobs::new(),
                0,
                tasks::PromptStyle::Bare,
                tasks::NumberFormat::Natural,
                prompt.into(),
                "1".into(),
                String::new(),
            )
        };
        // BOS + 15 characters + 8 new tokens = 24 fits; one character more does not.
        let short = "x".repeat(15);
        let long = "x".repeat(16);
        let kept = fitting(&p, vec![task(&short), task(&long), task("1+1=")], 8);
        let prompts: Vec<&str> = kept.iter().map(|t| t.prompt.as_str()).collect();
        assert_eq!(prompts, [short.as_str(), "1+1="]);
    }
}
