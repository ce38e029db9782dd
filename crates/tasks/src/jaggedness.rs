//! The jaggedness map: pass rate per family × difficulty, the table reports and plots use.
//! "Jagged" because a model's competence is rarely a smooth frontier: it can master level 5 of
//! one family while failing level 2 of another.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::curriculum::CellStats;

/// One family's row: difficulty labels in order with their pass rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaggednessRow {
    /// Family name.
    pub family: String,
    /// `(difficulty label, pass rate or None if never tried, attempts)`, easiest first.
    pub cells: Vec<(String, Option<f64>, u64)>,
}

/// The family × difficulty table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaggednessMap {
    /// One row per family, in name order.
    pub rows: Vec<JaggednessRow>,
}

/// Builds the map from per-cell statistics (curriculum stats or eval results): the pass rate of a
/// cell is `correct / attempts` (all observations, not the EMA). Ladder levels come in level order,
/// then intermediate cells by label.
pub fn jaggedness_map(cells: &[CellStats]) -> JaggednessMap {
    let mut by_family: BTreeMap<&str, Vec<&CellStats>> = BTreeMap::new();
    for c in cells {
        by_family.entry(&c.family).or_default().push(c);
    }
    let rows = by_family
        .into_iter()
        .map(|(family, mut cs)| {
            cs.sort_by(|a, b| {
                (a.level.is_none(), a.level, &a.label).cmp(&(b.level.is_none(), b.level, &b.label))
            });
            JaggednessRow {
                family: family.to_string(),
                cells: cs
                    .into_iter()
                    .map(|c| {
                        (
                            c.label.clone(),
                            (c.attempts > 0).then(|| c.correct as f64 / c.attempts as f64),
                            c.attempts,
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    JaggednessMap { rows }
}

/// How uneven a set of pass rates is: what the open-ended comparison reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Cells counted.
    pub cells: usize,
    /// Mean pass rate.
    pub mean: f64,
    /// Standard deviation across cells (population).
    pub std: f64,
    /// Mean of the worst quarter of cells (CVaR 25 %; at least one cell).
    pub cvar25: f64,
}

/// The spread of `rates` (NaNs ignored); `None` when there is no rate.
pub fn spread(rates: &[f64]) -> Option<Spread> {
    let mut v: Vec<f64> = rates.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    let worst = v.len().div_ceil(4);
    let cvar25 = v[..worst].iter().sum::<f64>() / worst as f64;
    Some(Spread {
        cells: v.len(),
        mean,
        std,
        cvar25,
    })
}

/// The share of `answers` that equal the most common one: what always giving that answer
/// scores on them (0 for none).
pub fn majority_share<S: AsRef<str>>(answers: &[S]) -> f64 {
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for a in answers {
        *counts.entry(a.as_ref()).or_default() += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    most as f64 / answers.len().max(1) as f64
}

/// A pass rate above a guessing baseline, as a share of the room above it:
/// `(pass − baseline) / (1 − baseline)`, at least 0 (0 when the baseline is 1).
pub fn above_chance(pass: f64, baseline: f64) -> f64 {
    if baseline >= 1.0 {
        return 0.0;
    }
    ((pass - baseline) / (1.0 - baseline)).max(0.0)
}

impl JaggednessMap {
    /// The spread of the tried cells' pass rates.
    pub fn spread(&self) -> Option<Spread> {
        let rates: Vec<f64> = self
            .rows
            .iter()
            .flat_map(|r| r.cells.iter().filter_map(|(_, p, _)| *p))
            .collect();
        spread(&rates)
    }

    /// A markdown table: one row per family, one column per difficulty label (`—` = not tried).
    pub fn to_markdown(&self) -> String {
        let mut labels: Vec<&str> = Vec::new();
        for r in &self.rows {
            for (l, _, _) in &r.cells {
                if !labels.contains(&l.as_str()) {
                    labels.push(l);
                }
            }
        }
        let mut s = format!(
            "| family | {} |\n|---|{}\n",
            labels.join(" | "),
            "---|".repeat(labels.len())
        );
        for r in &self.rows {
            let _ = write!(s, "| {} |", r.family);
            for l in &labels {
                match r.cells.iter().find(|(x, _, _)| x == l) {
                    Some((_, Some(p), _)) => {
                        let _ = write!(s, " {p:.2} |");
                    }
                    _ => s.push_str(" — |"),
                }
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn above_chance_is_the_share_of_the_room_above_guessing() {
        // 9 of 10 answers are "false": always answering it scores 0.9.
        let answers = ["false"; 9].into_iter().chain(["true"]).collect::<Vec<_>>();
        assert_eq!(super::majority_share(&answers), 0.9);
        assert_eq!(super::majority_share::<&str>(&[]), 0.0);
        // 0.89 is below guessing, 0.95 half-way from it to 1.
        assert_eq!(super::above_chance(0.89, 0.9), 0.0);
        assert!((super::above_chance(0.95, 0.9) - 0.5).abs() < 1e-12);
        assert_eq!(super::above_chance(0.3, 0.0), 0.3);
        assert_eq!(super::above_chance(1.0, 1.0), 0.0);
    }

    #[test]
    fn spread_is_mean_std_and_the_worst_quarter() {
        // Eight cells: the worst quarter is the two lowest, 0.0 and 0.2.
        let r = [1.0, 0.2, 0.8, 0.0, 0.6, 0.4, 1.0, 0.8];
        let s = super::spread(&r).unwrap();
        assert_eq!(s.cells, 8);
        assert!((s.mean - 0.6).abs() < 1e-12);
        // Deviations: .4 -.4 .2 -.6 0 -.2 .4 .2; squares sum 0.16+0.16+0.04+0.36+0+0.04+0.16+0.04 = 0.96.
        assert!((s.std - (0.96f64 / 8.0).sqrt()).abs() < 1e-12);
        assert!((s.cvar25 - 0.1).abs() < 1e-12);
        // Five cells: ceil(5/4) = 2 worst.
        let s = super::spread(&[0.5, 0.1, 0.9, 0.3, f64::NAN, 0.7]).unwrap();
        assert_eq!(s.cells, 5);
        assert!((s.cvar25 - 0.2).abs() < 1e-12);
        assert!(super::spread(&[]).is_none());
    }

    use super::*;
    use crate::knobs::Knobs;

    fn cell(
        family: &str,
        level: Option<u32>,
        label: &str,
        attempts: u64,
        correct: u64,
    ) -> CellStats {
        CellStats {
            family: family.into(),
            level,
            label: label.into(),
            knobs: Knobs::new(),
            chance: 0.0,
            attempts,
            correct,
            groups: 1,
            informative: 0,
            pass_ema: 0.0,
            fast: 0.0,
            slow: 0.0,
            last: 0.0,
        }
    }

    #[test]
    fn table_orders_levels_and_marks_untried_cells() {
        let cells = vec![
            CellStats::tally("sat", Some(2), "L2", 10, 5),
            cell("addition", Some(10), "L10", 4, 1),
            cell("addition", Some(2), "L2", 16, 4),
            cell("addition", None, "L2+x=1", 0, 0),
        ];
        let map = jaggedness_map(&cells);
        assert_eq!(map.rows[0].family, "addition");
        assert_eq!(map.rows[0].cells[0], ("L2".to_string(), Some(0.25), 16));
        assert_eq!(map.rows[0].cells[1].0, "L10");
        assert_eq!(map.rows[0].cells[2], ("L2+x=1".to_string(), None, 0));
        let md = map.to_markdown();
        assert!(md.starts_with("| family | L2 | L10 | L2+x=1 |"), "{md}");
        assert!(md.contains("| addition | 0.25 | 0.25 | — |"), "{md}");
        assert!(md.contains("| sat | 0.50 | — | — |"), "{md}");
    }
}
