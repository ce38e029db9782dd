//! Plot of the open-ended comparison: each arm's held-out pass rates, sorted worst first and
//! averaged over seeds rank by rank. A flat, high curve is an even (less jagged) skill profile.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::{bold, color, draw_legend, render, Mark, FONT, LEGEND_WIDTH, SIZE};
use crate::compare::ArmRun;

/// Writes the sorted-pass-rate plot of `runs` to `path` (`above_chance`: the runs' rates are
/// taken above each program's guessing baseline, see [`ArmRun::above_chance`]).
pub fn comparison(runs: &[ArmRun], above_chance: bool, path: &Path) -> crate::Result<()> {
    let (caption, y_desc) = if above_chance {
        (
            "Held-out pass rate above chance per program, sorted (seed mean)",
            "greedy pass rate above chance",
        )
    } else {
        (
            "Held-out pass rate per program, sorted (seed mean)",
            "greedy pass rate",
        )
    };
    let mut by_arm: BTreeMap<&str, Vec<Vec<f64>>> = BTreeMap::new();
    for r in runs {
        let mut v: Vec<f64> = r.pass.values().copied().collect();
        v.sort_by(f64::total_cmp);
        by_arm.entry(&r.arm).or_default().push(v);
    }
    let curves: Vec<(&str, Vec<f64>)> = by_arm
        .into_iter()
        .map(|(arm, seeds)| {
            let n = seeds.iter().map(Vec::len).min().unwrap_or(0);
            let mean = (0..n)
                .map(|i| seeds.iter().map(|s| s[i]).sum::<f64>() / seeds.len() as f64)
                .collect();
            (arm, mean)
        })
        .collect();
    let cells = curves.iter().map(|c| c.1.len()).max().unwrap_or(1).max(1);
    render(path, |root| {
        let (chart_area, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(caption, bold(26.0))
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..cells as f64, 0.0..1.02)?;
        chart
            .configure_mesh()
            .x_desc("held-out programs, worst first")
            .y_desc(y_desc)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let mut legend = Vec::new();
        for (i, (arm, curve)) in curves.iter().enumerate() {
            chart.draw_series(LineSeries::new(
                curve.iter().enumerate().map(|(k, &p)| (k as f64 + 0.5, p)),
                color(i).stroke_width(3),
            ))?;
            legend.push((arm.to_string(), color(i), Mark::Solid));
        }
        draw_legend(&legend_area, "Arm", &legend)?;
        Ok(())
    })
}
