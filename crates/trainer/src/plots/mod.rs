//! Drawing the report's PNGs with plotters' bitmap backend: shared style, the embedded font, the
//! time axis and a side legend; one file per plot.

mod archive;
mod comparison;
mod evolution;
mod jaggedness;
mod pass_rate;
mod training;

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

pub(crate) use archive::archive;
pub use comparison::comparison;
pub use evolution::{evolution, EvolvePoint};
pub(crate) use jaggedness::jaggedness;
pub(crate) use pass_rate::pass_rate;
pub(crate) use training::training;

use crate::error::Error;

/// plotters' error on the bitmap backend; turned into [`Error::Plot`] at a plot's boundary.
type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;
/// What a drawing function returns.
type DrawResult = std::result::Result<(), DrawError>;

/// The font family name registered for every text element.
const FONT: &str = "sans-serif";
/// DejaVu Sans subset (licence in `LICENSE-DejaVu.txt`): no system fonts needed.
static FONT_BYTES: &[u8] = include_bytes!("DejaVuSans-subset.ttf");
/// Its bold face, for titles.
static BOLD_FONT_BYTES: &[u8] = include_bytes!("DejaVuSans-Bold-subset.ttf");

/// Canvas size of every plot, in pixels.
const SIZE: (u32, u32) = (1200, 700);
/// Width of the legend panel at the right.
const LEGEND_WIDTH: u32 = 260;

/// Tableau 10: distinct, colour-blind-tolerant line colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

/// The bold face at `size` pixels (`FontDesc::style` would keep the regular glyphs).
fn bold(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Bold)
}

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers the embedded fonts once per process.
fn ensure_font() -> std::result::Result<(), String> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let ok = *LOADED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, BOLD_FONT_BYTES).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| "the embedded font failed to load".to_string())
}

/// Runs a drawing function on a fresh white canvas at `path` and saves it.
fn render(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> DrawResult,
) -> crate::Result<()> {
    let err = |message: String| Error::Plot {
        path: path.to_path_buf(),
        message,
    };
    ensure_font().map_err(err)?;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    draw(&root).map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Training time shown in seconds for short runs, minutes otherwise.
#[derive(Debug, Clone, Copy)]
struct TimeAxis {
    divisor: f64,
    label: &'static str,
}

impl TimeAxis {
    fn for_max_seconds(max: f64) -> Self {
        if max > 180.0 {
            Self {
                divisor: 60.0,
                label: "training wall time (minutes, evaluation excluded)",
            }
        } else {
            Self {
                divisor: 1.0,
                label: "training wall time (seconds, evaluation excluded)",
            }
        }
    }

    fn of(&self, seconds: f64) -> f64 {
        seconds / self.divisor
    }

    /// A tick label: whole numbers on long axes, one decimal on short ones.
    fn tick(&self, v: f64, end: f64) -> String {
        if end >= 10.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    }

    /// Upper end of the axis: the data's end, never an empty range.
    fn end(&self, max_seconds: f64) -> f64 {
        self.of(max_seconds).max(1e-9) * 1.02
    }
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Solid,
    Dashed,
    Faint,
}

/// A legend in its own panel: a bold heading and one line sample + label per entry.
fn draw_legend(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    heading: &str,
    entries: &[(String, RGBColor, Mark)],
) -> DrawResult {
    let top = 70;
    area.draw(&Text::new(heading.to_string(), (10, top), bold(17.0)))?;
    for (i, (label, colour, mark)) in entries.iter().enumerate() {
        let y = top + 34 + 24 * i as i32;
        let (x0, x1) = (12, 46);
        match mark {
            Mark::Solid => area.draw(&PathElement::new(
                vec![(x0, y), (x1, y)],
                colour.stroke_width(3),
            ))?,
            Mark::Faint => area.draw(&PathElement::new(
                vec![(x0, y), (x1, y)],
                colour.mix(0.35).stroke_width(2),
            ))?,
            Mark::Dashed => {
                for x in (x0..x1).step_by(10) {
                    area.draw(&PathElement::new(
                        vec![(x, y), ((x + 6).min(x1), y)],
                        colour.stroke_width(3),
                    ))?;
                }
            }
        }
        area.draw(&Text::new(label.clone(), (54, y - 8), (FONT, 15)))?;
    }
    Ok(())
}
