//! `ladder`: reasoning-gym's threshold ladder. The mean pass rate over the last `window` groups at
//! the current level moves it: above `promote` (0.7) up one level, below `demote` (0.3) down one.

use serde::{Deserialize, Serialize};

use super::{CellStats, FamilyCells, Strategy, StrategyConfig};
use crate::config::{bad, unit};
use crate::error::Result;
use crate::rng::TaskRng;

/// `[tasks.curriculum] type = "ladder"`: reasoning-gym's threshold ladder. Promote when the mean
/// pass rate over the last `window` groups at the current level is above `promote`, demote below
/// `demote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LadderConfig {
    /// Promotion threshold.
    pub promote: f64,
    /// Demotion threshold.
    pub demote: f64,
    /// Groups averaged before a move.
    pub window: usize,
}

impl Default for LadderConfig {
    fn default() -> Self {
        Self {
            promote: 0.7,
            demote: 0.3,
            window: 8,
        }
    }
}

impl StrategyConfig for LadderConfig {
    type Strategy = Ladder;

    fn validate(&self) -> Result<()> {
        unit("curriculum.promote", self.promote)?;
        unit("curriculum.demote", self.demote)?;
        if self.demote >= self.promote {
            return Err(bad(
                "curriculum.demote",
                self.demote,
                format!("must be below promote = {}", self.promote),
            ));
        }
        if self.window == 0 {
            return Err(bad("curriculum.window", self.window, "must be at least 1"));
        }
        Ok(())
    }

    fn build(&self, family: &FamilyCells) -> Ladder {
        Ladder::new(self.promote, self.demote, self.window, family.start)
    }
}

/// Threshold ladder state of one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    promote: f64,
    demote: f64,
    window: usize,
    pos: usize,
    recent: Vec<f64>,
}

impl Ladder {
    /// A ladder starting at position `start`.
    pub fn new(promote: f64, demote: f64, window: usize, start: usize) -> Self {
        Self {
            promote,
            demote,
            window: window.max(1),
            pos: start,
            recent: Vec::new(),
        }
    }
}

impl Strategy for Ladder {
    fn choose(&mut self, family: &FamilyCells, _cells: &[CellStats], _rng: &mut TaskRng) -> usize {
        family.levels[self.pos.min(family.levels.len() - 1)]
    }

    fn update(&mut self, family: &FamilyCells, cell: usize, cells: &[CellStats]) {
        if family.levels.get(self.pos) != Some(&cell) {
            return;
        }
        self.recent.push(cells[cell].last);
        if self.recent.len() < self.window {
            return;
        }
        let mean = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        if mean > self.promote && self.pos + 1 < family.levels.len() {
            self.pos += 1;
            self.recent.clear();
        } else if mean < self.demote && self.pos > 0 {
            self.pos -= 1;
            self.recent.clear();
        } else {
            self.recent.remove(0);
        }
    }

    fn position(&self, _family: &FamilyCells, _cells: &[CellStats]) -> usize {
        self.pos
    }

    fn exhausted(&self, family: &FamilyCells, cells: &[CellStats]) -> bool {
        family
            .levels
            .iter()
            .all(|&c| cells[c].mastered(self.promote, self.window as u64))
    }
}
