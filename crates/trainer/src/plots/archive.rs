//! Plot of an open-ended (`evolve`) run: the live archive over training time (families in play,
//! active cells, invented, mastered and retired so far) with the informative fraction of the
//! curriculum's window on a second axis.

use std::path::Path;

use plotters::prelude::*;

use super::{bold, color, draw_legend, render, Mark, TimeAxis, FONT, LEGEND_WIDTH, SIZE};
use tasks::OpenMetrics;

use crate::report::RunLog;

/// Writes the archive-growth plot to `path`.
pub(crate) fn archive(log: &RunLog, path: &Path) -> crate::Result<()> {
    let points: Vec<(f64, &OpenMetrics)> = log
        .metrics
        .iter()
        .filter_map(|m| Some((m.train_seconds, m.open.as_ref()?)))
        .collect();
    render(path, |root| {
        let (chart_area, legend_area) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        let max_t = points.iter().map(|p| p.0).fold(0.0, f64::max);
        let axis = TimeAxis::for_max_seconds(max_t);
        let x_end = axis.end(max_t);
        let y_end = points
            .iter()
            .map(|(_, o)| o.families.max(o.active) as f64)
            .fold(1.0, f64::max)
            * 1.05;
        let mut chart = ChartBuilder::on(&chart_area)
            .caption("Open-ended archive", bold(26.0))
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0.0..x_end, 0.0..y_end)?
            .set_secondary_coord(0.0..x_end, 0.0..1.02);
        chart
            .configure_mesh()
            .x_desc(axis.label)
            .y_desc("families / cells")
            .x_label_formatter(&|v| axis.tick(*v, x_end))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc("informative fraction (window)")
            .y_label_formatter(&|v| format!("{v:.1}"))
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .draw()?;
        type Field = fn(&OpenMetrics) -> f64;
        let series: [(&str, Field); 5] = [
            ("families in play", |o| o.families as f64),
            ("active cells", |o| o.active as f64),
            ("invented", |o| o.created as f64),
            ("mastered", |o| o.mastered as f64),
            ("retired (hopeless)", |o| o.retired as f64),
        ];
        let mut legend = Vec::new();
        for (i, (label, field)) in series.iter().enumerate() {
            chart.draw_series(LineSeries::new(
                points.iter().map(|(t, o)| (axis.of(*t), field(o))),
                color(i).stroke_width(3),
            ))?;
            legend.push((label.to_string(), color(i), Mark::Solid));
        }
        chart.draw_secondary_series(LineSeries::new(
            points
                .iter()
                .map(|(t, o)| (axis.of(*t), o.window_informative)),
            color(5).mix(0.35).stroke_width(2),
        ))?;
        legend.push(("informative (right)".to_string(), color(5), Mark::Faint));
        draw_legend(&legend_area, "Archive", &legend)?;
        Ok(())
    })
}
