//! `learnability` (ours): choose the cells the policy can learn most from right now.
//!
//! score(cell) = q(1 − q) + w · |fast EMA − slow EMA|, with q the chance-corrected pass rate
//! (q(1 − q) is the variance of a group's rewards, hence of GRPO's signal; the progress term
//! catches cells that are moving, up or down). A cell never tried scores as if q = `prior`.
//! Reachable cells are those up to one level above the highest level with any success; the choice
//! samples ∝ exp(score / temperature), and a fraction `replay` replays mastered cells. When the
//! frontier (lowest unmastered level) has had `min_groups` groups without a single success, RL has
//! no signal there: the strategy proposes intermediate knob settings between it and the level
//! below (one knob moved at a time, and integer midpoints), so that the next step is reachable.

use serde::{Deserialize, Serialize};

use super::{CellStats, FamilyCells, NewCell, Strategy, StrategyConfig};
use crate::config::{bad, unit};
use crate::error::Result;
use crate::knobs::fmt_number;
use crate::rng::TaskRng;

/// `[tasks.curriculum] type = "learnability"` (ours): score cells by q(1 − q) + `progress_weight`
/// · |learning progress| (q = chance-corrected pass rate), sample ∝ exp(score / `temperature`)
/// among reachable cells; when the frontier cell has had `min_groups` groups without one success,
/// add intermediate knob settings between it and the level below so that the next step is
/// reachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnabilityConfig {
    /// Weight of |fast − slow| EMA in the score.
    pub progress_weight: f64,
    /// Softmax temperature of the choice.
    pub temperature: f64,
    /// Assumed pass rate of a reachable cell never tried.
    pub prior: f64,
    /// Mastery threshold (chance-corrected EMA).
    pub promote: f64,
    /// Groups before mastery or a stall is decided.
    pub min_groups: u64,
    /// Fraction of choices that replay mastered cells.
    pub replay: f64,
    /// Whether stalled steps get intermediate cells.
    pub intermediates: bool,
}

impl Default for LearnabilityConfig {
    fn default() -> Self {
        Self {
            progress_weight: 1.0,
            temperature: 0.05,
            prior: 0.5,
            promote: 0.8,
            min_groups: 24,
            replay: 0.1,
            intermediates: true,
        }
    }
}

impl StrategyConfig for LearnabilityConfig {
    type Strategy = Learnability;

    fn validate(&self) -> Result<()> {
        unit("curriculum.prior", self.prior)?;
        unit("curriculum.promote", self.promote)?;
        unit("curriculum.replay", self.replay)?;
        if self.temperature.is_nan() || self.temperature <= 0.0 {
            return Err(bad(
                "curriculum.temperature",
                self.temperature,
                "must be positive",
            ));
        }
        if self.progress_weight.is_nan() || self.progress_weight < 0.0 {
            return Err(bad(
                "curriculum.progress_weight",
                self.progress_weight,
                "must be >= 0",
            ));
        }
        Ok(())
    }

    fn build(&self, _family: &FamilyCells) -> Learnability {
        Learnability::new(
            self.progress_weight,
            self.temperature,
            self.prior,
            self.promote,
            self.min_groups,
            self.replay,
            self.intermediates,
        )
    }
}

/// Learnability state of one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learnability {
    progress_weight: f64,
    temperature: f64,
    prior: f64,
    promote: f64,
    min_groups: u64,
    replay: f64,
    intermediates: bool,
    /// Ladder positions whose step already got intermediates.
    proposed: Vec<usize>,
}

impl Learnability {
    /// A learnability strategy with these parameters.
    pub fn new(
        progress_weight: f64,
        temperature: f64,
        prior: f64,
        promote: f64,
        min_groups: u64,
        replay: f64,
        intermediates: bool,
    ) -> Self {
        Self {
            progress_weight,
            temperature,
            prior,
            promote,
            min_groups,
            replay,
            intermediates,
            proposed: Vec::new(),
        }
    }

    fn score(&self, s: &CellStats) -> f64 {
        if s.groups == 0 {
            return self.prior * (1.0 - self.prior);
        }
        let q = s.skill();
        q * (1.0 - q) + self.progress_weight * s.learning_progress().abs()
    }

    /// Intermediate cells to add when the frontier step is stalled.
    fn intermediates(&mut self, family: &FamilyCells, cells: &[CellStats]) -> Vec<NewCell> {
        if !self.intermediates {
            return Vec::new();
        }
        let pos = family.frontier(cells, self.promote, self.min_groups);
        let s = &cells[family.levels[pos]];
        if pos == 0 || s.groups < self.min_groups || s.correct > 0 || self.proposed.contains(&pos) {
            return Vec::new();
        }
        self.proposed.push(pos);
        let (lo, hi) = (&cells[family.levels[pos - 1]], s);
        let mut out = Vec::new();
        for (name, a) in lo.knobs.iter() {
            let Some(b) = hi.knobs.get(name) else {
                continue;
            };
            if a == b {
                continue;
            }
            let differing = lo
                .knobs
                .iter()
                .filter(|(n, v)| hi.knobs.get(n) != Some(*v))
                .count();
            let mut steps = Vec::new();
            if differing > 1 {
                steps.push(b);
            }
            let mid = ((a + b) / 2.0).round();
            if mid != a && mid != b {
                steps.push(mid);
            }
            for v in steps {
                let mut k = lo.knobs.clone();
                k.set(name.to_string(), v);
                out.push(NewCell {
                    position: pos,
                    knobs: k,
                    label: format!("{}+{name}={}", lo.label, fmt_number(v)),
                });
            }
        }
        out
    }
}

impl Strategy for Learnability {
    fn choose(&mut self, family: &FamilyCells, cells: &[CellStats], rng: &mut TaskRng) -> usize {
        let mastered: Vec<usize> = family
            .all()
            .map(|(_, c)| c)
            .filter(|&c| cells[c].mastered(self.promote, self.min_groups))
            .collect();
        if !mastered.is_empty() && rng.chance(self.replay) {
            return mastered[rng.below(mastered.len() as u64) as usize];
        }
        let reached = family
            .levels
            .iter()
            .rposition(|&c| cells[c].correct > 0)
            .unwrap_or(0);
        let reach = (reached + 1).min(family.levels.len() - 1);
        let eligible: Vec<usize> = family
            .all()
            .filter(|&(p, c)| {
                p <= reach && !(mastered.contains(&c) && mastered.len() < family.levels.len())
            })
            .map(|(_, c)| c)
            .collect();
        if eligible.is_empty() {
            return family.levels[reach];
        }
        let scores: Vec<f64> = eligible.iter().map(|&c| self.score(&cells[c])).collect();
        eligible[softmax_pick(&scores, self.temperature, rng)]
    }

    fn propose(&mut self, family: &FamilyCells, cells: &[CellStats]) -> Vec<NewCell> {
        self.intermediates(family, cells)
    }

    fn position(&self, family: &FamilyCells, cells: &[CellStats]) -> usize {
        family.frontier(cells, self.promote, self.min_groups)
    }

    fn mastery(&self) -> f64 {
        self.promote
    }

    fn exhausted(&self, family: &FamilyCells, cells: &[CellStats]) -> bool {
        family
            .levels
            .iter()
            .all(|&c| cells[c].mastered(self.promote, self.min_groups))
    }
}

/// Samples an index with probability ∝ exp(score / temperature) (max-subtracted for stability).
pub(super) fn softmax_pick(scores: &[f64], temperature: f64, rng: &mut TaskRng) -> usize {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scores
        .iter()
        .map(|s| ((s - max) / temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut x = rng.unit() * total;
    for (i, w) in weights.iter().enumerate() {
        x -= w;
        if x < 0.0 {
            return i;
        }
    }
    scores.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CurriculumConfig, FamilyConfig, TasksConfig};
    use crate::curriculum::Curriculum;
    use crate::family::Registry;
    use crate::knobs::Knobs;
    use crate::task::{NumberFormat, Verdict};

    #[test]
    fn stalled_step_gets_one_knob_intermediates() {
        // Multiplication 2x2 -> 3x2 -> 3x3: levels 3..=5. Level 3 mastered, level 4 never solved.
        let config = TasksConfig {
            families: vec![FamilyConfig {
                name: "multiplication".into(),
                format: NumberFormat::Natural,
                knobs: Knobs::new(),
                levels: [5, 7],
                start_level: 5,
                weight: 1.0,
                ..FamilyConfig::default()
            }],
            curriculum: CurriculumConfig::new(
                "learnability",
                &LearnabilityConfig {
                    min_groups: 4,
                    replay: 0.0,
                    ..LearnabilityConfig::default()
                },
            )
            .unwrap(),
            ..TasksConfig::default()
        };
        let registry = std::sync::Arc::new(Registry::builtin());
        let mut c = Curriculum::new(&config, registry.clone(), 0, Default::default()).unwrap();
        let right: Vec<Verdict> = (0..16).map(|_| Verdict::correct("1")).collect();
        let wrong: Vec<Verdict> = (0..16).map(|_| Verdict::unparseable("")).collect();
        for _ in 0..200 {
            for t in c.next_tasks(1) {
                let v = if t.level == Some(5) { &right } else { &wrong };
                c.observe(&t, v);
            }
            if c.stats().len() > 3 {
                break;
            }
        }
        // Level 5 = 3x3, level 6 = 4x3: only a_digits differs, by one: no intermediate exists.
        // So the stall is at level 6 with nothing to add, and the family keeps 3 cells.
        assert_eq!(c.stats().len(), 3);
        let mut cfg2 = config.clone();
        cfg2.families[0].levels = [7, 8]; // 4x4 -> 5x5: both knobs differ.
        cfg2.families[0].start_level = 7;
        let mut c = Curriculum::new(&cfg2, registry, 0, Default::default()).unwrap();
        for _ in 0..200 {
            for t in c.next_tasks(1) {
                let v = if t.level == Some(7) { &right } else { &wrong };
                c.observe(&t, v);
            }
        }
        let labels: Vec<&str> = c.stats().iter().map(|s| s.label.as_str()).collect();
        assert!(
            labels.contains(&"L7+a_digits=5") && labels.contains(&"L7+b_digits=5"),
            "{labels:?}"
        );
        // The intermediates get chosen once they exist.
        assert!(
            c.stats()
                .iter()
                .filter(|s| s.level.is_none())
                .all(|s| s.groups > 0),
            "{:?}",
            c.stats()
        );
    }
}
