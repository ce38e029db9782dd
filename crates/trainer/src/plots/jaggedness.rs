//! Plot (c): the jaggedness map, a family × level heat map of the last evaluation's greedy pass
//! rates with each value printed in its cell.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{bold, render, FONT, SIZE};
use crate::report::{format_seconds, level_cmp, RunLog};

/// White (0) to dark blue (1): sequential, readable in grey scale and by colour-blind readers.
fn shade(p: f64) -> RGBColor {
    let p = p.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * p).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// Writes the heat map of the last evaluation to `path`.
pub(crate) fn jaggedness(log: &RunLog, path: &Path) -> crate::Result<()> {
    render(path, |root| {
        let Some(last) = log.evals.last() else {
            return Ok(());
        };
        let families: Vec<&String> = last.pass.keys().collect();
        let mut levels: Vec<&String> = last.pass.values().flat_map(|l| l.keys()).collect();
        levels.sort_by(|a, b| level_cmp(a, b));
        levels.dedup();
        let (n_rows, n_cols) = (families.len().max(1), levels.len().max(1));

        let (main, bar_area) = root.split_horizontally(SIZE.0 - 150);
        let title = format!(
            "Greedy pass rate by family and level (step {}, {} of training)",
            last.step,
            format_seconds(last.train_seconds)
        );
        let mut chart = ChartBuilder::on(&main)
            .caption(title, bold(24.0))
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..n_cols as f64, 0.0..n_rows as f64)?;
        let level_names: Vec<String> = levels.iter().map(|l| l.to_string()).collect();
        let family_names: Vec<String> = families.iter().rev().map(|f| f.to_string()).collect();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("difficulty level")
            .y_desc("task family")
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 16))
            .x_labels(n_cols * 2 + 1)
            .y_labels(n_rows * 2 + 1)
            // Labels at cell centres (k + 0.5); other ticks stay blank.
            .x_label_formatter(&|v| centre_label(*v, &level_names))
            .y_label_formatter(&|v| centre_label(*v, &family_names))
            .draw()?;

        let centred = Pos::new(HPos::Center, VPos::Center);
        for (row, family) in families.iter().enumerate() {
            for (col, level) in levels.iter().enumerate() {
                // First family on top: rows count down from the top edge.
                let (x, y) = (col as f64, (n_rows - 1 - row) as f64);
                let pass = last.pass.get(*family).and_then(|l| l.get(*level)).copied();
                let (fill, text, ink) = match pass {
                    Some(p) => (
                        shade(p),
                        format!("{p:.2}"),
                        if p > 0.55 { WHITE } else { BLACK },
                    ),
                    // A cell the eval set does not cover: grey with a dash.
                    None => (
                        RGBColor(225, 225, 225),
                        "–".to_string(),
                        RGBColor(90, 90, 90),
                    ),
                };
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    fill.filled(),
                )))?;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    WHITE.stroke_width(2),
                )))?;
                let style = (FONT, 22).into_font().color(&ink).pos(centred);
                chart.draw_series(std::iter::once(Text::new(text, (x + 0.5, y + 0.5), style)))?;
            }
        }

        // Colour bar: 0 at the bottom, 1 at the top; below it the key for missing cells.
        let (bar_top, bar_left) = (110, 30);
        let bar = bar_area.margin(bar_top, 200, bar_left, 60);
        let (w, h) = bar.dim_in_pixel();
        let (half, h) = (w as i32 / 2, h as i32);
        for k in 0..h {
            let p = 1.0 - f64::from(k) / f64::from(h.max(1));
            bar.draw(&Rectangle::new([(0, k), (half, k + 1)], shade(p).filled()))?;
        }
        bar.draw(&Rectangle::new([(0, 0), (half, h)], BLACK.stroke_width(1)))?;
        let label = |anchor| {
            (FONT, 15)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, anchor))
        };
        for (p, y) in [(1.0, 0), (0.5, h / 2), (0.0, h)] {
            bar.draw(&Text::new(
                format!("{p:.1}"),
                (half + 6, y),
                label(VPos::Center),
            ))?;
        }
        bar_area.draw(&Text::new(
            "pass rate",
            (bar_left, bar_top - 12),
            label(VPos::Bottom),
        ))?;
        let key_top = bar_top + h + 40;
        let grey = RGBColor(225, 225, 225);
        bar_area.draw(&Rectangle::new(
            [(bar_left, key_top), (bar_left + half, key_top + 24)],
            grey.filled(),
        ))?;
        let centre = (bar_left + half / 2, key_top + 12);
        let dash_style = (FONT, 15)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        bar_area.draw(&Text::new("–", centre, dash_style))?;
        bar_area.draw(&Text::new(
            "not evaluated",
            (bar_left, key_top + 30),
            label(VPos::Top),
        ))?;
        Ok::<(), super::DrawError>(())
    })
}

/// The name of the cell whose centre is at `v` (k + 0.5), blank elsewhere.
fn centre_label(v: f64, names: &[String]) -> String {
    let k = (v - 0.5).round();
    if (v - 0.5 - k).abs() < 1e-6 && k >= 0.0 {
        names.get(k as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}
