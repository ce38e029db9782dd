//! `frontier`: train where the model is learning. The frontier is the lowest level not yet
//! mastered (≥ `min_groups` groups and a chance-corrected pass-rate EMA ≥ `promote`); tasks come
//! from it and from any cell above it whose pass rate is inside `band`, and a fraction `replay`
//! from mastered cells (so that they are not forgotten). A mastered cell whose EMA falls below
//! `demote` becomes the frontier again. Promotion is measured against chance, so a True/False
//! family is not promoted for guessing.

use serde::{Deserialize, Serialize};

use super::{CellStats, FamilyCells, Strategy, StrategyConfig};
use crate::config::{bad, unit};
use crate::error::Result;
use crate::rng::TaskRng;

/// `[tasks.curriculum] type = "frontier"`: train at the frontier, the lowest level not mastered
/// (plus cells above it whose pass rate is inside `band`), replaying mastered cells a fraction
/// `replay` of the time. Mastered = at least `min_groups` groups and a chance-corrected pass-rate
/// EMA at or above `promote`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontierConfig {
    /// Mastery threshold (chance-corrected EMA).
    pub promote: f64,
    /// Pass-rate band `[low, high]` of trainable cells above the frontier.
    pub band: [f64; 2],
    /// Groups at a cell before it can count as mastered.
    pub min_groups: u64,
    /// Fraction of choices that replay mastered cells.
    pub replay: f64,
    /// A mastered cell whose EMA falls below this is the frontier again (forgetting).
    pub demote: f64,
}

impl Default for FrontierConfig {
    fn default() -> Self {
        Self {
            promote: 0.8,
            band: [0.05, 0.95],
            min_groups: 24,
            replay: 0.1,
            demote: 0.3,
        }
    }
}

impl StrategyConfig for FrontierConfig {
    type Strategy = Frontier;

    fn validate(&self) -> Result<()> {
        unit("curriculum.promote", self.promote)?;
        unit("curriculum.replay", self.replay)?;
        unit("curriculum.demote", self.demote)?;
        let band = self.band;
        if !(0.0..=1.0).contains(&band[0]) || band[1] < band[0] || band[1] > 1.0 {
            return Err(bad(
                "curriculum.band",
                format!("{band:?}"),
                "must be [low, high] with 0 <= low <= high <= 1",
            ));
        }
        Ok(())
    }

    fn build(&self, family: &FamilyCells) -> Frontier {
        Frontier::new(
            self.promote,
            self.band,
            self.min_groups,
            self.replay,
            self.demote,
            family.start,
        )
    }
}

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
