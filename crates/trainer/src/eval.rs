//! Evaluation on the frozen eval sets: greedy pass@1 (and optionally sampled pass@k) per family
//! and level. Eval sets are the JSONL task files under `eval.dir`; every id found there is
//! excluded from training, whatever family it belongs to.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::json;

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::metrics::PassRates;
use crate::rng::{stream_rng, Stream};
use crate::rollout::{encode_prompt, sample_params};

/// The eval tasks of a run, by family and level, and every eval id (for exclusion).
#[derive(Debug, Default)]
pub struct EvalSets {
    /// family → level → tasks.
    pub sets: BTreeMap<String, BTreeMap<u32, Vec<tasks::Task>>>,
    /// Every task id under the eval directory.
    pub ids: HashSet<String>,
}

/// Most tasks per level of an eval set made at run start ([`EvalSets::fill_missing`]).
pub const MADE_PER_LEVEL: usize = 100;

/// Pass rates of one evaluation.
#[derive(Debug, Clone)]
pub struct EvalResult {
    /// Greedy pass@1, `{"family": {"level": rate}}`.
    pub pass: PassRates,
    /// Sampled pass@k (null when off).
    pub pass_at_k: serde_json::Value,
}

impl EvalSets {
    /// Reads every `*.jsonl` under `cfg.eval.dir` and keeps the tasks of the run's families, style,
    /// formats and levels. A missing directory gives empty sets (and a warning).
    pub fn load(cfg: &RunConfig) -> Result<Self> {
        let mut out = EvalSets::default();
        let dir = &cfg.eval.dir;
        if !dir.exists() {
            tracing::warn!(dir = %dir.display(), "no eval directory: evaluation is skipped");
            return Ok(out);
        }
        let mut files = Vec::new();
        collect_jsonl(dir, &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
                path: file.clone(),
                error: source,
            })?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let task: tasks::Task =
                    serde_json::from_str(line).map_err(|e| Error::NotATask {
                        path: file.clone(),
                        line: i + 1,
                        error: e,
                    })?;
                out.ids.insert(task.id.clone());
                let Some(level) = task.level else { continue };
                let wanted = cfg.tasks.style == task.style
                    && cfg.tasks.families.iter().any(|f| {
                        f.name == task.family
                            && f.format == task.format
                            && (f.levels[0]..=f.levels[1]).contains(&level)
                            && knobs_agree(&f.knobs, &task.knobs)
                            && same_expression(f.program.as_deref(), task.program.as_deref())
                    });
                if wanted {
                    let set = out
                        .sets
                        .entry(task.family.clone())
                        .or_default()
                        .entry(level)
                        .or_default();
                    if set.len() < cfg.eval.max_per_level && !set.iter().any(|t| t.id == task.id) {
                        set.push(task);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Makes an eval set for each family of the run that has none under `cfg.eval.dir` (e.g. a
    /// program family): up to `cfg.eval.max_per_level` tasks per level in play (at most
    /// [`MADE_PER_LEVEL`], and at most a quarter of the distinct tasks that 4x as many draws
    /// give, so that training keeps most of a small task space), from seeds that depend only on the family, level and index, so every
    /// run and every resume of a config makes the same set. A trained family is never a silent gap
    /// in the jaggedness map. Returns the families it made sets for.
    pub fn fill_missing(&mut self, cfg: &RunConfig, registry: &tasks::Registry) -> Vec<String> {
        let mut made = Vec::new();
        for f in &cfg.tasks.families {
            if self.sets.contains_key(&f.name) {
                continue;
            }
            let per_level = cfg.eval.max_per_level.min(MADE_PER_LEVEL);
            let mut levels = BTreeMap::new();
            for level in f.levels[0]..=f.levels[1] {
                let base = tasks::mix64(
                    f.name
                        .bytes()
                        .fold(0x6576_616c_u64, |h, b| tasks::mix64(h ^ u64::from(b)))
                        ^ u64::from(level),
                );
                // Draw 4x what is wanted; keep at most a quarter of the distinct tasks seen, so
                // that a small task space (`mod(a, 7)` over one digit: 10 tasks) is not all
                // taken from training.
                let mut set: Vec<tasks::Task> = Vec::with_capacity(per_level * 4);
                let mut ids = HashSet::new();
                for i in 0..per_level as u64 * 4 {
                    let Ok(task) = registry.generate_level(
                        &f.name,
                        level,
                        &f.knobs,
                        cfg.tasks.style,
                        f.format,
                        tasks::mix64(base ^ i),
                    ) else {
                        break;
                    };
                    if ids.insert(task.id.clone()) {
                        set.push(task);
                    }
                }
                set.truncate(per_level.min(set.len() / 4));
                if !set.is_empty() {
                    self.ids.extend(set.iter().map(|t| t.id.clone()));
                    levels.insert(level, set);
                }
            }
            if !levels.is_empty() {
                tracing::info!(family = %f.name, "no frozen eval set: made one for this run");
                self.sets.insert(f.name.clone(), levels);
                made.push(f.name.clone());
            }
        }
        made
    }

    /// Number of eval tasks in play.
    pub fn len(&self) -> usize {
        self.sets
            .values()
            .flat_map(|l| l.values())
            .map(Vec::len)
            .sum()
    }

    /// No eval task in play.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A program family's eval task shows the family's expression (the text before the first `;`;
/// the sizes differ by level): a program file changed under an old eval set is not mixed in.
fn same_expression(family: Option<&str>, task: Option<&str>) -> bool {
    let expr = |p: &str| p.split(';').next().unwrap_or_default().trim().to_string();
    match (family, task) {
        (None, None) => true,
        (Some(f), Some(t)) => expr(f) == expr(t),
        _ => false,
    }
}

/// Every knob the family config fixes has that value in the task.
fn knobs_agree(fixed: &impl serde::Serialize, task: &impl serde::Serialize) -> bool {
    let (Ok(fixed), Ok(task)) = (serde_json::to_value(fixed), serde_json::to_value(task)) else {
        return false;
    };
    match fixed.as_object() {
        None => true,
        Some(map) => map
            .iter()
            .all(|(k, v)| task.get(k).and_then(|t| t.as_f64()) == v.as_f64()),
    }
}

fn collect_jsonl(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        error: source,
    })?;
    for entry in entries {
        let path = entry
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                error: source,
            })?
            .path();
        if path.is_dir() {
            collect_jsonl(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
    Ok(())
}

/// Greedy pass@1 per family and level, plus sampled pass@k when `eval.pass_at_k > 0`; answers
/// are decided by `registry`'s families.
pub fn evaluate(
    policy: &policy::Policy,
    registry: &tasks::Registry,
    cfg: &RunConfig,
    sets: &EvalSets,
) -> Result<EvalResult> {
    let mut pass = PassRates::new();
    let mut pass_k = serde_json::Map::new();
    let k = cfg.eval.pass_at_k;
    for (family, levels) in &sets.sets {
        let mut fam = BTreeMap::new();
        let mut fam_k = serde_json::Map::new();
        for (level, tasks) in levels {
            let greedy = pass_rate(policy, registry, cfg, tasks, 1, true, *level as u64)?;
            fam.insert(level.to_string(), greedy);
            if k > 0 {
                let sampled = pass_rate(policy, registry, cfg, tasks, k, false, *level as u64)?;
                fam_k.insert(level.to_string(), json!(sampled));
            }
        }
        pass.insert(family.clone(), fam);
        if k > 0 {
            pass_k.insert(family.clone(), serde_json::Value::Object(fam_k));
        }
    }
    Ok(EvalResult {
        pass,
        pass_at_k: if k > 0 {
            json!({ "k": k, "pass": pass_k })
        } else {
            serde_json::Value::Null
        },
    })
}

/// Fraction of `tasks` with at least one correct completion among `k` samples (greedy: k = 1).
pub fn pass_rate(
    policy: &policy::Policy,
    registry: &tasks::Registry,
    cfg: &RunConfig,
    tasks: &[tasks::Task],
    k: usize,
    greedy: bool,
    salt: u64,
) -> Result<f64> {
    if tasks.is_empty() {
        return Ok(0.0);
    }
    let tokenizer = policy.tokenizer();
    let params = sample_params(&cfg.sampling, greedy);
    let mut rng = stream_rng(cfg.seed, Stream::Eval, salt);
    let per_batch = (cfg.eval.batch_size / k.max(1)).max(1);
    let mut solved = 0usize;
    for chunk in tasks.chunks(per_batch) {
        let prompts = chunk
            .iter()
            .map(|t| encode_prompt(tokenizer, t))
            .collect::<Result<Vec<_>>>()?;
        let out = policy.sample(&prompts, k, &params, &mut rng)?;
        for (i, task) in chunk.iter().enumerate() {
            let any = (0..k).any(|j| {
                let row = i * k + j;
                let truncated = matches!(out.stop[row], policy::StopReason::Length);
                if truncated {
                    return false;
                }
                let body: Vec<u32> = out.tokens[row]
                    .iter()
                    .copied()
                    .take_while(|&t| !tokenizer.is_eos(t))
                    .collect();
                registry.verify(task, &tokenizer.decode(&body)).correct
            });
            solved += any as usize;
        }
    }
    Ok(solved as f64 / tasks.len() as f64)
}
