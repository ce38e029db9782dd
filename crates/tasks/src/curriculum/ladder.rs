//! `ladder`: reasoning-gym's threshold ladder. The mean pass rate over the last `window` groups at
//! the current level moves it: above `promote` (0.7) up one level, below `demote` (0.3) down one.

use serde::{Deserialize, Serialize};

use super::{CellStats, FamilyCells, Strategy};
use crate::rng::TaskRng;

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
}
