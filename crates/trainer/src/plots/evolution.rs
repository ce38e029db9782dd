//! Plot of an evolver run: distinct task families (and valid proposals) against proposals made.

use std::path::Path;

use plotters::prelude::*;

use super::{bold, color, draw_legend, render, Mark, FONT, LEGEND_WIDTH, SIZE};

/// One sample of an evolver run's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvolvePoint {
    /// Proposals made so far.
    pub proposals: u64,
    /// Proposals that met the validity rules so far.
    pub valid: u64,
    /// Distinct families in the archive.
    pub distinct: u64,
}

/// Writes the distinct-families-against-proposals plot to `path`.
pub fn evolution(points: &[EvolvePoint], path: &Path) -> crate::Result<()> {
    render(path, |root| {
        let (chart_area, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let x_end = points.iter().map(|p| p.proposals).max().unwrap_or(1).max(1) as f64 * 1.02;
        let y_end = points
            .iter()
            .map(|p| p.valid.max(p.distinct))
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.05;
        let mut chart = ChartBuilder::on(&chart_area)
            .caption("Distinct task families found by the evolver", bold(26.0))
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..x_end, 0.0..y_end)?;
        chart
            .configure_mesh()
            .x_desc("proposals")
            .y_desc("programs")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let line = |y: fn(&EvolvePoint) -> u64| -> Vec<(f64, f64)> {
            points
                .iter()
                .map(|p| (p.proposals as f64, y(p) as f64))
                .collect()
        };
        chart.draw_series(LineSeries::new(
            line(|p| p.valid),
            color(1).mix(0.35).stroke_width(2),
        ))?;
        chart.draw_series(LineSeries::new(
            line(|p| p.distinct),
            color(0).stroke_width(3),
        ))?;
        let legend = [
            ("distinct families".to_string(), color(0), Mark::Solid),
            ("valid proposals".to_string(), color(1), Mark::Faint),
        ];
        draw_legend(&legend_area, "Counts", &legend)?;
        Ok(())
    })
}
