//! When a run has nothing left to learn: every level the curriculum can draw from is mastered by
//! the curriculum's own rule (a chance-corrected pass-rate EMA at or above `promote` after at least
//! `min_groups` groups), so it has nowhere left to move and `train.stop_when_mastered` ends the run.

use tasks::{CellStats, Curriculum, CurriculumConfig};

/// Mastery threshold and groups for the strategies that have none of their own (`uniform`,
/// `fixed`): the `frontier` defaults.
const DEFAULT_RULE: (f64, u64) = (0.8, 24);

/// `(promote, min_groups)`: the strategy's own for `frontier` and `learnability`, the ladder's
/// `promote` over `window` groups for `ladder`, [`DEFAULT_RULE`] otherwise.
pub(crate) fn rule(config: &CurriculumConfig) -> (f64, u64) {
    match *config {
        CurriculumConfig::Frontier {
            promote,
            min_groups,
            ..
        }
        | CurriculumConfig::Learnability {
            promote,
            min_groups,
            ..
        } => (promote, min_groups),
        CurriculumConfig::Ladder {
            promote, window, ..
        } => (promote, window as u64),
        CurriculumConfig::Fixed | CurriculumConfig::Uniform => DEFAULT_RULE,
    }
}

/// Whether every level the curriculum can draw from (the start level for `fixed`, every ladder
/// level in play otherwise; intermediate cells aside) is mastered in every family.
pub(crate) fn nothing_left_to_learn(curriculum: &Curriculum, config: &CurriculumConfig) -> bool {
    let (promote, min_groups) = rule(config);
    let cells: &[CellStats] = curriculum.stats();
    curriculum.families().iter().all(|f| {
        let levels = match config {
            CurriculumConfig::Fixed => &f.levels[f.start..=f.start],
            _ => &f.levels[..],
        };
        levels.iter().all(|&c| {
            cells
                .get(c)
                .is_some_and(|s| s.mastered(promote, min_groups))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn curriculum(config: CurriculumConfig, levels: [u32; 2]) -> Curriculum {
        let tasks = tasks::TasksConfig {
            families: vec![tasks::FamilyConfig {
                name: "addition".into(),
                levels,
                start_level: levels[0],
                ..tasks::FamilyConfig::default()
            }],
            curriculum: config,
            ..tasks::TasksConfig::default()
        };
        Curriculum::new(&tasks, 0, HashSet::new()).unwrap()
    }

    /// Feeds `groups` groups of 16 with `correct` right at each level in turn, as the tasks come.
    fn feed(c: &mut Curriculum, groups: usize, correct: impl Fn(u32) -> usize) {
        for _ in 0..groups {
            for task in c.next_tasks(1) {
                let k = correct(task.level.unwrap_or(0));
                let verdicts: Vec<tasks::Verdict> = (0..16)
                    .map(|i| {
                        if i < k {
                            tasks::Verdict::correct("")
                        } else {
                            tasks::Verdict::unparseable("")
                        }
                    })
                    .collect();
                c.observe(&task, &verdicts);
            }
        }
    }

    fn frontier() -> CurriculumConfig {
        CurriculumConfig::Frontier {
            promote: 0.8,
            band: [0.05, 0.95],
            min_groups: 4,
            replay: 0.0,
            demote: 0.3,
        }
    }

    #[test]
    fn frontier_stops_once_every_level_is_mastered_not_before() {
        let mut c = curriculum(frontier(), [1, 3]);
        assert!(!nothing_left_to_learn(&c, &frontier()), "nothing seen yet");
        // Levels 1 and 2 perfect, level 3 half right: the frontier stays at 3.
        feed(&mut c, 40, |l| if l < 3 { 16 } else { 8 });
        assert_eq!(c.position()[0].level, 3);
        assert!(!nothing_left_to_learn(&c, &frontier()));
        feed(&mut c, 40, |_| 16);
        assert!(nothing_left_to_learn(&c, &frontier()));
    }

    #[test]
    fn fixed_needs_only_its_start_level_and_uniform_every_level() {
        let mut c = curriculum(CurriculumConfig::Fixed, [2, 4]);
        feed(&mut c, 30, |_| 16);
        assert!(nothing_left_to_learn(&c, &CurriculumConfig::Fixed));
        let mut c = curriculum(CurriculumConfig::Uniform, [1, 2]);
        feed(&mut c, 200, |l| if l == 1 { 16 } else { 15 });
        assert!(nothing_left_to_learn(&c, &CurriculumConfig::Uniform));
        let mut c = curriculum(CurriculumConfig::Uniform, [1, 2]);
        feed(&mut c, 200, |l| if l == 1 { 16 } else { 4 });
        assert!(!nothing_left_to_learn(&c, &CurriculumConfig::Uniform));
    }
}
