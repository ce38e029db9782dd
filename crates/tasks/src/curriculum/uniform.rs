//! The two baselines: `fixed` (always the start level) and `uniform` (any cell in play).

use serde::{Deserialize, Serialize};

use super::{CellStats, FamilyCells, Strategy};
use crate::rng::TaskRng;

/// Always the start level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixed;

impl Strategy for Fixed {
    fn choose(&mut self, family: &FamilyCells, _cells: &[CellStats], _rng: &mut TaskRng) -> usize {
        family.levels[family.start]
    }

    fn update(&mut self, _family: &FamilyCells, _cell: usize, _cells: &[CellStats]) {}

    fn position(&self, family: &FamilyCells, _cells: &[CellStats]) -> usize {
        family.start
    }
}

/// Uniform over every cell of the family in play.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uniform;

impl Strategy for Uniform {
    fn choose(&mut self, family: &FamilyCells, _cells: &[CellStats], rng: &mut TaskRng) -> usize {
        let all: Vec<usize> = family.all().map(|(_, c)| c).collect();
        all[rng.below(all.len() as u64) as usize]
    }

    fn update(&mut self, _family: &FamilyCells, _cell: usize, _cells: &[CellStats]) {}

    fn position(&self, family: &FamilyCells, cells: &[CellStats]) -> usize {
        family.frontier(cells, 0.8, 1)
    }
}
