//! Plot (a): greedy pass rate of every family × level cell over training wall time.

use std::path::Path;

use plotters::prelude::*;

use super::{bold, color, draw_legend, render, Mark, TimeAxis, FONT, LEGEND_WIDTH, SIZE};
use crate::report::{RunLog, THRESHOLDS};

/// Writes the pass-rate-over-time plot to `path`.
pub(crate) fn pass_rate(log: &RunLog, path: &Path) -> crate::Result<()> {
    render(path, |root| {
        let (chart_area, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let max_t = log
            .evals
            .iter()
            .map(|e| e.train_seconds)
            .fold(0.0, f64::max);
        let axis = TimeAxis::for_max_seconds(max_t);
        let x_end = axis.end(max_t);
        let cells = log.cells();
        let families: Vec<&str> = {
            let mut f: Vec<&str> = cells.iter().map(|c| c.family.as_str()).collect();
            f.dedup();
            f
        };

        let mut chart = ChartBuilder::on(&chart_area)
            .caption(
                "Greedy pass rate per difficulty level during training",
                bold(26.0),
            )
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_end, 0.0..1.02)?;
        chart
            .configure_mesh()
            .x_desc(axis.label)
            .x_label_formatter(&|v| axis.tick(*v, x_end))
            .y_desc("greedy pass@1 on the frozen eval set")
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .y_labels(11)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;

        // Thresholds the summary reports: faint dashed guides.
        for t in THRESHOLDS {
            let guide = RGBColor(150, 150, 150);
            chart.draw_series(DashedLineSeries::new(
                [(0.0, t), (x_end, t)],
                6,
                6,
                guide.stroke_width(1),
            ))?;
        }

        let mut legend = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            let colour = color(i);
            let points: Vec<(f64, f64)> = log
                .pass_series(cell)
                .into_iter()
                .map(|(t, p)| (axis.of(t), p))
                .collect();
            // A second family gets dashed lines so that its levels stay apart from the first's.
            let family_index = families.iter().position(|f| *f == cell.family).unwrap_or(0);
            let dashed = family_index % 2 == 1;
            if dashed {
                chart.draw_series(DashedLineSeries::new(
                    points.clone(),
                    10,
                    6,
                    colour.stroke_width(3),
                ))?;
            } else {
                chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(3)))?;
            }
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            let label = if families.len() == 1 {
                format!("level {}", cell.level)
            } else {
                format!("{} L{}", cell.family, cell.level)
            };
            legend.push((
                label,
                colour,
                if dashed { Mark::Dashed } else { Mark::Solid },
            ));
        }
        let heading = match families.as_slice() {
            [one] => format!("{one}:"),
            _ => "family, level:".to_string(),
        };
        draw_legend(&legend_area, &heading, &legend)?;
        Ok::<(), super::DrawError>(())
    })
}
