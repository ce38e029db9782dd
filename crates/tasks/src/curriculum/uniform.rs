//! The two baselines: `fixed` (always the start level) and `uniform` (any cell in play).

use serde::{Deserialize, Serialize};

use super::{CellStats, FamilyCells, Strategy, StrategyConfig};
use crate::rng::TaskRng;

/// `[tasks.curriculum] type = "fixed"`: no parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedConfig {}

impl StrategyConfig for FixedConfig {
    type Strategy = Fixed;

    fn build(&self, _family: &FamilyCells) -> Fixed {
        Fixed {}
    }
}

/// Always the start level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixed {}

impl Strategy for Fixed {
    fn choose(&mut self, family: &FamilyCells, _cells: &[CellStats], _rng: &mut TaskRng) -> usize {
        family.levels[family.start]
    }

    fn position(&self, family: &FamilyCells, _cells: &[CellStats]) -> usize {
        family.start
    }

    fn exhausted(&self, family: &FamilyCells, cells: &[CellStats]) -> bool {
        cells[family.levels[family.start]].mastered(self.mastery(), super::EXHAUSTED_MIN_GROUPS)
    }

    fn moves(&self) -> bool {
        false
    }
}

/// `[tasks.curriculum] type = "uniform"`: no parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformConfig {}

impl StrategyConfig for UniformConfig {
    type Strategy = Uniform;

    fn build(&self, _family: &FamilyCells) -> Uniform {
        Uniform {}
    }
}

/// Uniform over every cell of the family in play.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uniform {}

impl Strategy for Uniform {
    fn choose(&mut self, family: &FamilyCells, _cells: &[CellStats], rng: &mut TaskRng) -> usize {
        let all: Vec<usize> = family.all().map(|(_, c)| c).collect();
        all[rng.below(all.len() as u64) as usize]
    }
}
