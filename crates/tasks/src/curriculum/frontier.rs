//! `frontier`: train where the model is learning. The frontier is the lowest level not yet
//! mastered (≥ `min_groups` groups and a chance-corrected pass-rate EMA ≥ `promote`); tasks come
//! from it and from any cell above it whose pass rate is inside `band`, and a fraction `replay`
//! from mastered cells (so that they are not forgotten). A mastered cell whose EMA falls below
//! `demote` becomes the frontier again. Promotion is measured against chance, so a True/False
//! family is not promoted for guessing.

use serde::{Deserialize, Serialize};

use super::{CellStats, FamilyCells, Strategy};
use crate::rng::TaskRng;

/// Frontier state of one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    promote: f64,
    band: [f64; 2],
    min_groups: u64,
    replay: f64,
    demote: f64,
    pos: usize,
}

impl Frontier {
    /// A frontier starting at position `start`.
    pub fn new(
        promote: f64,
        band: [f64; 2],
        min_groups: u64,
        replay: f64,
        demote: f64,
        start: usize,
    ) -> Self {
        Self {
            promote,
            band,
            min_groups,
            replay,
            demote,
            pos: start,
        }
    }
}

impl Strategy for Frontier {
    fn choose(&mut self, family: &FamilyCells, cells: &[CellStats], rng: &mut TaskRng) -> usize {
        let pos = self.pos.min(family.levels.len() - 1);
        if pos > 0 && rng.chance(self.replay) {
            return family.levels[rng.below(pos as u64) as usize];
        }
        let mut candidates = vec![family.levels[pos]];
        for &c in &family.levels[pos + 1..] {
            let s = &cells[c];
            if s.groups > 0 && s.skill() >= self.band[0] && s.skill() <= self.band[1] {
                candidates.push(c);
            }
        }
        candidates[rng.below(candidates.len() as u64) as usize]
    }

    fn update(&mut self, family: &FamilyCells, cell: usize, cells: &[CellStats]) {
        // Forgetting: a replayed level below the frontier that fell under `demote`.
        if let Some(p) = family.levels[..self.pos.min(family.levels.len())]
            .iter()
            .position(|&c| c == cell)
        {
            if cells[cell].skill() < self.demote {
                self.pos = p;
                return;
            }
        }
        while self.pos + 1 < family.levels.len()
            && cells[family.levels[self.pos]].mastered(self.promote, self.min_groups)
        {
            self.pos += 1;
        }
    }

    fn position(&self, _family: &FamilyCells, _cells: &[CellStats]) -> usize {
        self.pos
    }
}
