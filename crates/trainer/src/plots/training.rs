//! Plot (b): reward and informative-group fraction over training time, with the curriculum's
//! level per family on a second axis.

use std::path::Path;

use plotters::prelude::*;

use super::{bold, color, draw_legend, render, Mark, TimeAxis, FONT, LEGEND_WIDTH, SIZE};
use crate::metrics::StepMetrics;
use crate::report::RunLog;

/// Reads one plotted value off a metrics line.
type Field = fn(&StepMetrics) -> f64;

/// Trailing moving average over `window` points (shorter at the start).
fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    let mut out = Vec::with_capacity(points.len());
    for (i, &(x, y)) in points.iter().enumerate() {
        sum += y;
        if i >= window {
            sum -= points[i - window].1;
        }
        out.push((x, sum / (i + 1).min(window) as f64));
    }
    out
}

/// Writes the training-signal plot to `path`.
pub(crate) fn training(log: &RunLog, path: &Path) -> crate::Result<()> {
    render(path, |root| {
        let (chart_area, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let max_t = log
            .metrics
            .iter()
            .map(|m| m.train_seconds)
            .fold(0.0, f64::max);
        let axis = TimeAxis::for_max_seconds(max_t);
        let x_end = axis.end(max_t);
        let mut families: Vec<&String> =
            log.metrics.iter().flat_map(|m| m.position.keys()).collect();
        families.sort();
        families.dedup();
        let max_level = log
            .metrics
            .iter()
            .flat_map(|m| m.position.values().map(|&l| f64::from(l)))
            .fold(1.0, f64::max);

        let mut chart = ChartBuilder::on(&chart_area)
            .caption("Training signal and curriculum position", bold(26.0))
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0.0..x_end, 0.0..1.02)?
            .set_secondary_coord(0.0..x_end, 0.0..(max_level + 0.5).ceil());
        chart
            .configure_mesh()
            .x_desc(axis.label)
            .x_label_formatter(&|v| axis.tick(*v, x_end))
            .y_desc("mean reward / fraction of groups")
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .y_labels(11)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("curriculum level")
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .y_labels((max_level + 0.5).ceil() as usize + 1)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;

        let window = (log.metrics.len() / 40).max(5);
        let mut legend = Vec::new();
        let series: [(&str, Field); 2] = [
            ("reward", |m| m.reward),
            ("informative", |m| m.informative_fraction),
        ];
        for (i, (name, get)) in series.iter().enumerate() {
            let points: Vec<(f64, f64)> = log
                .metrics
                .iter()
                .map(|m| (axis.of(m.train_seconds), get(m)))
                .collect();
            if points.is_empty() {
                continue;
            }
            let colour = color(i);
            // Per-step values are noisy: faint raw line, bold moving average on top.
            chart.draw_series(LineSeries::new(
                points.clone(),
                colour.mix(0.3).stroke_width(1),
            ))?;
            chart.draw_series(LineSeries::new(
                moving_average(&points, window),
                colour.stroke_width(3),
            ))?;
            legend.push((format!("{name}, each step"), colour, Mark::Faint));
            legend.push((format!("{name}, {window}-step mean"), colour, Mark::Solid));
        }
        for (j, family) in families.iter().enumerate() {
            let colour = color(2 + j);
            let points: Vec<(f64, f64)> = log
                .metrics
                .iter()
                .filter_map(|m| {
                    let level = *m.position.get(*family)?;
                    Some((axis.of(m.train_seconds), f64::from(level)))
                })
                .collect();
            // The level changes in jumps: draw it as a staircase.
            let mut steps = Vec::with_capacity(2 * points.len());
            for (k, &(x, y)) in points.iter().enumerate() {
                if let Some(&(_, prev)) = k.checked_sub(1).and_then(|p| points.get(p)) {
                    steps.push((x, prev));
                }
                steps.push((x, y));
            }
            chart.draw_secondary_series(DashedLineSeries::new(
                steps,
                10,
                5,
                colour.stroke_width(3),
            ))?;
            legend.push((format!("{family} level (right axis)"), colour, Mark::Dashed));
        }
        draw_legend(&legend_area, "series:", &legend)?;
        // What "informative" means, under the legend.
        let note_y = 104 + 24 * legend.len() as i32 + 16;
        for (k, line) in [
            "informative = fraction of",
            "groups neither all right",
            "nor all wrong (they alone",
            "carry a GRPO signal)",
        ]
        .iter()
        .enumerate()
        {
            legend_area.draw(&Text::new(
                line.to_string(),
                (12, note_y + 20 * k as i32),
                (FONT, 14).into_font().color(&RGBColor(90, 90, 90)),
            ))?;
        }
        Ok::<(), super::DrawError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::moving_average;

    #[test]
    fn moving_average_is_trailing_and_short_at_the_start() {
        let p = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)];
        assert_eq!(
            moving_average(&p, 2),
            vec![(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]
        );
    }
}
