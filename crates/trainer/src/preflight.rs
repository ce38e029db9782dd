//! Preflight: before step 1, sample a few groups at the curriculum's starting cells and say what
//! RL will find there. It informs (one line: pass rate, informative groups, truncation, mean
//! length, and what that means) and refuses only a start that cannot train at all, saying what
//! to change:
//!
//! - **hopeless**: not one completion is right, so GRPO has no signal and the curriculum no
//!   success to build on (often the model never stops: then the truncation is named);
//! - **mastered and stuck**: every group is all right and the curriculum is `fixed`, which never
//!   moves to a harder level.
//!
//! A mastered start under any other strategy is not an error: the curriculum moves up. Many
//! truncated completions are reported but stop nothing while some completions are right.

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::rng::{stream_rng, Stream};
use crate::rollout::{sample_groups, Group};

/// Groups sampled per family and round.
const GROUPS_PER_FAMILY: usize = 8;
/// Rounds at most: a curriculum spread over many cells (`uniform` over 8 levels, most of them
/// still out of reach) can draw 8 uninformative groups by chance.
const MAX_ROUNDS: usize = 8;

/// What the probe's groups held, in counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Probe {
    groups: usize,
    informative: usize,
    all_correct: usize,
    completions: usize,
    correct: usize,
    truncated: usize,
    tokens: usize,
}

impl Probe {
    fn of(groups: &[Group]) -> Self {
        let mut p = Probe {
            groups: groups.len(),
            ..Probe::default()
        };
        for g in groups {
            p.informative += usize::from(g.is_informative());
            p.all_correct += usize::from(g.num_correct() == g.rows.len());
            for r in &g.rows {
                p.completions += 1;
                p.correct += usize::from(r.verdict.correct);
                p.truncated += usize::from(r.truncated);
                p.tokens += r.tokens.len();
            }
        }
        p
    }

    fn pass(&self) -> f64 {
        self.correct as f64 / self.completions.max(1) as f64
    }

    fn truncated_fraction(&self) -> f64 {
        self.truncated as f64 / self.completions.max(1) as f64
    }
}

/// What the start means for RL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outlook {
    /// Some groups are informative: GRPO learns from step 1.
    Signal,
    /// Every group is all right: the curriculum moves up once the cells count as mastered.
    Mastered,
    /// No group is informative, but some are all right: those cells are mastered, the others
    /// not yet within reach (signal comes with the first right answers there).
    Split,
    /// Every group is all right and the curriculum never moves (`fixed`).
    MasteredStuck,
    /// Not one completion is right.
    Hopeless,
}

fn assess(p: &Probe, curriculum_moves: bool) -> Outlook {
    if p.informative > 0 {
        Outlook::Signal
    } else if p.correct == 0 {
        Outlook::Hopeless
    } else if p.all_correct == p.groups {
        if curriculum_moves {
            Outlook::Mastered
        } else {
            Outlook::MasteredStuck
        }
    } else {
        Outlook::Split
    }
}

/// Samples groups from a clone of the curriculum (the run's own is not advanced), round after
/// round until one is informative (at most `MAX_ROUNDS`), logs what it saw, and fails only when
/// the start cannot train at all (see the module doc).
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
    let p = Probe::of(&groups);
    let outlook = assess(&p, curriculum.moves());
    let (pass, truncated) = (p.pass(), p.truncated_fraction());
    let mean_len = p.tokens as f64 / p.completions.max(1) as f64;
    let max_new = cfg.sampling.max_new_tokens;
    let meaning = match outlook {
        Outlook::Signal => "informative groups: GRPO has signal from step 1",
        Outlook::Mastered => {
            "already mastered (every group all right): the curriculum moves up once the starting \
             cells count as mastered"
        }
        Outlook::Split => {
            "no informative group yet: the cells drawn are either mastered or not yet within \
             reach; GRPO learns once some answers at the harder cells are right"
        }
        Outlook::MasteredStuck | Outlook::Hopeless => "cannot train",
    };
    tracing::info!(
        groups = p.groups,
        pass = format!("{pass:.3}"),
        informative = p.informative,
        truncated = format!("{truncated:.2}"),
        mean_length = format!("{mean_len:.1}/{max_new}"),
        "preflight: {meaning}"
    );
    match outlook {
        Outlook::Hopeless if truncated > 0.5 => Err(Error::NoSignal(format!(
            "preflight: not one of {} completions at the curriculum's starting cells is right, \
             and {:.0} % hit sampling.max_new_tokens = {max_new} (mean length {mean_len:.1}): the \
             model does not stop. Warm-start it so that it learns the answer format ([warm_start] \
             steps), or raise sampling.max_new_tokens",
            p.completions,
            truncated * 100.0,
        ))),
        Outlook::Hopeless => Err(Error::NoSignal(format!(
            "preflight: not one of {} completions in {} groups at the curriculum's starting cells \
             is right, so GRPO has no signal. Start at an easier level \
             (tasks.families[..].start_level), add a warm start ([warm_start] steps), or raise \
             sampling.group_size",
            p.completions, p.groups
        ))),
        Outlook::MasteredStuck => Err(Error::NoSignal(format!(
            "preflight: every one of {} groups at the start level is all right (pass {pass:.3}) \
             and tasks.curriculum.type = \"fixed\" never moves, so GRPO would get no signal. \
             Start at a harder level (tasks.families[..].start_level) or let the curriculum move \
             (e.g. type = \"frontier\")",
            p.groups
        ))),
        Outlook::Signal | Outlook::Mastered | Outlook::Split => {
            if truncated > 0.5 {
                tracing::warn!(
                    "preflight: {:.0} % of completions hit sampling.max_new_tokens = {max_new} \
                     (mean length {mean_len:.1}); they score 0, and RL teaches the model to stop \
                     only where some answers are right",
                    truncated * 100.0
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(groups: usize, informative: usize, all_correct: usize, pass: f64) -> Probe {
        let completions = groups * 16;
        Probe {
            groups,
            informative,
            all_correct,
            completions,
            correct: (pass * completions as f64).round() as usize,
            truncated: 0,
            tokens: completions * 4,
        }
    }

    /// Issue 21: `configs/boolean.toml`'s warm start masters its start level (pass 1.000, no
    /// informative group); that is not an error: the frontier moves up.
    #[test]
    fn a_mastered_start_is_not_an_error_unless_the_curriculum_is_fixed() {
        let p = probe(64, 0, 64, 1.0);
        assert_eq!(assess(&p, true), Outlook::Mastered);
        assert_eq!(assess(&p, false), Outlook::MasteredStuck);
    }

    #[test]
    fn no_right_answer_is_hopeless_and_any_informative_group_is_signal() {
        assert_eq!(assess(&probe(64, 0, 0, 0.0), true), Outlook::Hopeless);
        assert_eq!(assess(&probe(64, 0, 0, 0.0), false), Outlook::Hopeless);
        assert_eq!(assess(&probe(8, 1, 7, 0.95), false), Outlook::Signal);
        assert_eq!(assess(&probe(8, 3, 0, 0.2), true), Outlook::Signal);
    }

    /// Issue 21: `uniform` over levels 1-8 after a warm start on 1-2 draws mastered low levels
    /// and out-of-reach high ones (where most completions are truncated): not an error.
    #[test]
    fn mastered_and_unreachable_cells_without_signal_are_not_an_error() {
        let mut p = probe(64, 0, 16, 0.25);
        p.truncated = p.completions * 3 / 4;
        assert_eq!(assess(&p, true), Outlook::Split);
    }
}
