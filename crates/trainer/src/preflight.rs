//! Preflight: before step 1, sample a few groups at each family's current curriculum position and
//! say whether RL can get any signal there; stop with a clear message when it cannot.

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::rng::{stream_rng, Stream};
use crate::rollout::sample_groups;

/// Groups sampled per family and round.
const GROUPS_PER_FAMILY: usize = 8;
/// Rounds at most: a curriculum spread over many cells (`uniform` over 8 levels, most of them
/// still out of reach) can draw 8 uninformative groups by chance; it fails only if 64 are.
const MAX_ROUNDS: usize = 8;

/// Samples groups from a clone of the curriculum (the run's own is not advanced), round after
/// round until one is informative (at most `MAX_ROUNDS`), logs pass rate, informative fraction,
/// truncation rate and mean length, and fails when no group is informative or most completions
/// are truncated.
pub fn run(policy: &policy::Policy, cfg: &RunConfig, curriculum: &tasks::Curriculum) -> Result<()> {
    let mut probe = curriculum.clone();
    let n = GROUPS_PER_FAMILY * cfg.tasks.families.len().max(1);
    let mut rng = stream_rng(cfg.seed, Stream::Preflight, 0);
    let mut groups = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let tasks = probe.next_tasks(n);
        groups.extend(sample_groups(
            policy,
            curriculum.registry(),
            tasks,
            &cfg.sampling,
            cfg.train.overlong,
            &mut rng,
        )?);
        if groups.iter().any(|g| g.is_informative()) {
            break;
        }
    }
    let rows: Vec<_> = groups.iter().flat_map(|g| g.rows.iter()).collect();
    let total = rows.len().max(1) as f64;
    let pass = rows.iter().filter(|r| r.verdict.correct).count() as f64 / total;
    let truncated = rows.iter().filter(|r| r.truncated).count() as f64 / total;
    let mean_len = rows.iter().map(|r| r.tokens.len()).sum::<usize>() as f64 / total;
    let informative = groups.iter().filter(|g| g.is_informative()).count();
    tracing::info!(
        groups = groups.len(),
        pass = format!("{pass:.3}"),
        informative,
        truncated = format!("{truncated:.2}"),
        mean_length = format!("{mean_len:.1}/{}", cfg.sampling.max_new_tokens),
        "preflight"
    );
    if truncated > 0.5 {
        return Err(Error::NoSignal(format!(
            "preflight: {:.0} % of completions hit sampling.max_new_tokens = {} (mean length {mean_len:.1}); \
             raise the limit or warm-start the model so it learns to stop",
            truncated * 100.0,
            cfg.sampling.max_new_tokens
        )));
    }
    if informative == 0 {
        return Err(Error::NoSignal(format!(
            "preflight: none of {} groups at the curriculum's starting cells is informative (pass rate {pass:.3}); \
             every group is all right or all wrong, so GRPO has no signal. Start at an easier level, \
             add a warm start ([warm_start] steps), or raise sampling.group_size",
            groups.len()
        )));
    }
    Ok(())
}
