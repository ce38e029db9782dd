//! Run reports: reads a run directory's `metrics.jsonl` and `eval.jsonl` and writes three PNG
//! plots and `summary.md` (final pass rate per level, time to reach 0.5 / 0.8, steps, tokens).
//!
//! It reads the lines through the records the trainer writes them with: `metrics.jsonl` as
//! [`StepMetrics`] (the report draws `reward`, `informative_fraction`, `position`, and sums
//! `tokens_sampled`), `eval.jsonl` as [`EvalRecord`] (greedy pass@1 per family and level).
//! `families.jsonl` (an `evolve` run) is read as [`FamilyLine`]: `{"step": 40, "event":
//! "created", "family": "evo_…", "cell": "L1", "at_group": 612, "origin": "invented", "program":
//! "…", "parent": "…", "edit": "wrap", …}`; events `created`, `mastered`, `hopeless`, `unlocked`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metrics::{EvalRecord, StepMetrics};
use crate::plots;

/// Pass-rate thresholds the summary reports the first crossing time of.
pub const THRESHOLDS: [f64; 2] = [0.5, 0.8];

/// File names written into the output directory.
pub const PASS_RATE_PNG: &str = "pass_rate.png";
/// Reward / informative fraction / curriculum position plot.
pub const TRAINING_PNG: &str = "training.png";
/// Family × level heat map of the last evaluation.
pub const JAGGEDNESS_PNG: &str = "jaggedness.png";
/// The markdown summary.
pub const SUMMARY_MD: &str = "summary.md";
/// Archive growth of an open-ended (`evolve`) run.
pub const ARCHIVE_PNG: &str = "archive.png";

/// One line of `families.jsonl`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FamilyLine {
    /// RL step.
    pub step: u64,
    /// `created`, `mastered`, `hopeless` or `unlocked`.
    pub event: String,
    /// The family.
    pub family: String,
    /// The cell's label.
    pub cell: String,
    /// For an invented family's `created`: its program.
    #[serde(default)]
    pub program: Option<String>,
    /// The program it was edited from.
    #[serde(default)]
    pub parent: Option<String>,
    /// The edit.
    #[serde(default)]
    pub edit: Option<String>,
}

/// Everything a report is drawn from.
#[derive(Debug, Clone, Default)]
pub struct RunLog {
    /// Per-step metrics, in file order.
    pub metrics: Vec<StepMetrics>,
    /// Evaluations, in file order.
    pub evals: Vec<EvalRecord>,
    /// Family events of an `evolve` run, in file order.
    pub families: Vec<FamilyLine>,
}

/// One family × level cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cell {
    /// Task family name.
    pub family: String,
    /// Level as written in `eval.jsonl`.
    pub level: String,
}

impl RunLog {
    /// Reads `metrics.jsonl` and `eval.jsonl` from `run_dir`; a missing file reads as empty, but
    /// at least one must exist.
    pub fn read(run_dir: &Path) -> Result<Self> {
        let metrics_path = run_dir.join("metrics.jsonl");
        let eval_path = run_dir.join("eval.jsonl");
        if !metrics_path.is_file() && !eval_path.is_file() {
            return Err(Error::Io {
                path: metrics_path,
                error: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no metrics.jsonl or eval.jsonl in the run directory",
                ),
            });
        }
        Ok(Self {
            metrics: read_jsonl(&metrics_path)?,
            evals: read_jsonl(&eval_path)?,
            families: read_jsonl(&run_dir.join(crate::FAMILIES_JSONL))?,
        })
    }

    /// Every cell that appears in any evaluation, by family then numeric level.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells: Vec<Cell> = self
            .evals
            .iter()
            .flat_map(|e| {
                e.pass.iter().flat_map(|(family, levels)| {
                    levels.keys().map(|level| Cell {
                        family: family.clone(),
                        level: level.clone(),
                    })
                })
            })
            .collect();
        cells.sort_by(|a, b| a.family.cmp(&b.family).then(level_cmp(&a.level, &b.level)));
        cells.dedup();
        cells
    }

    /// (train_seconds, pass rate) of `cell` over the evaluations that include it.
    pub fn pass_series(&self, cell: &Cell) -> Vec<(f64, f64)> {
        self.evals
            .iter()
            .filter_map(|e| {
                let pass = e.pass.get(&cell.family)?.get(&cell.level)?;
                Some((e.train_seconds, *pass))
            })
            .collect()
    }

    /// The first evaluation at which `cell` reached `threshold`: (step, train_seconds).
    pub fn first_reaching(&self, cell: &Cell, threshold: f64) -> Option<(u64, f64)> {
        self.evals.iter().find_map(|e| {
            let pass = *e.pass.get(&cell.family)?.get(&cell.level)?;
            (pass >= threshold).then_some((e.step, e.train_seconds))
        })
    }
}

/// Orders level keys numerically when both parse as numbers ("2" < "10"), else as text.
pub fn level_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let io_err = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut out = Vec::new();
    for (idx, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err)?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|error| Error::Json {
            path: path.to_path_buf(),
            line: idx + 1,
            error,
        })?;
        out.push(record);
    }
    Ok(out)
}

/// Reads `run_dir`'s logs and writes the plots and `summary.md` into `out_dir` (created if
/// needed); returns the files written. Plots whose data is absent are skipped.
pub fn write_report(run_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let log = RunLog::read(run_dir)?;
    std::fs::create_dir_all(out_dir).map_err(|error| Error::Io {
        path: out_dir.to_path_buf(),
        error,
    })?;
    let mut written = Vec::new();
    if !log.evals.is_empty() {
        let path = out_dir.join(PASS_RATE_PNG);
        plots::pass_rate(&log, &path)?;
        written.push(path);
        let path = out_dir.join(JAGGEDNESS_PNG);
        plots::jaggedness(&log, &path)?;
        written.push(path);
    }
    if !log.metrics.is_empty() {
        let path = out_dir.join(TRAINING_PNG);
        plots::training(&log, &path)?;
        written.push(path);
    }
    if log.metrics.iter().any(|m| m.open.is_some()) {
        let path = out_dir.join(ARCHIVE_PNG);
        plots::archive(&log, &path)?;
        written.push(path);
    }
    let path = out_dir.join(SUMMARY_MD);
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run_dir.display().to_string());
    std::fs::write(&path, summary_markdown(&name, &log, &written)).map_err(|error| Error::Io {
        path: path.clone(),
        error,
    })?;
    written.push(path);
    Ok(written)
}

/// Plot of a `rlvr tasks evolve` run: distinct families and valid proposals against proposals.
pub use crate::plots::{evolution as write_evolution_plot, EvolvePoint};

/// Formats seconds as "42 s" or "3 min 05 s".
pub fn format_seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0} s")
    } else {
        let total = s.round() as u64;
        format!("{} min {:02} s", total / 60, total % 60)
    }
}

/// The markdown summary: run totals, then per cell the final pass rate and when it first
/// reached each of [`THRESHOLDS`].
pub fn summary_markdown(name: &str, log: &RunLog, images: &[PathBuf]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Run report: {name}\n");
    match log.metrics.last() {
        Some(last) => {
            let tokens: u64 = log.metrics.iter().map(|m| m.tokens_sampled).sum();
            let _ = writeln!(md, "- RL steps: {}", last.step);
            let _ = writeln!(
                md,
                "- training wall time: {} (evaluation excluded)",
                format_seconds(last.train_seconds)
            );
            let _ = writeln!(md, "- completion tokens sampled: {tokens}");
            let _ = writeln!(md, "- reward at the last step: {:.3}", last.reward);
            // The adaptive temperature (`sampling.informative_target`); 0 in older runs.
            let temps = log
                .metrics
                .iter()
                .map(|m| m.temperature)
                .filter(|&t| t > 0.0);
            let (lo, hi) = temps.fold((f64::INFINITY, 0f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
            if hi > lo {
                let _ = writeln!(
                    md,
                    "- sampling temperature: {lo:.2} to {hi:.2} (adaptive); per minute: {}",
                    minutes_line(&by_minute(log, |m| m.temperature))
                );
            }
        }
        None => {
            let _ = writeln!(md, "- no metrics.jsonl: training metrics unavailable");
        }
    }
    let _ = writeln!(md, "- evaluations: {}\n", log.evals.len());

    if let Some(last) = log.evals.last() {
        let _ = writeln!(
            md,
            "## Greedy pass rate per level\n\nFinal = last evaluation (step {}, {} of training). \
             \"Reached\" = first evaluation at or above the threshold, as training time (step).\n",
            last.step,
            format_seconds(last.train_seconds)
        );
        let mut header = String::from("| family | level | final |");
        let mut rule = String::from("|---|---:|---:|");
        for t in THRESHOLDS {
            let _ = write!(header, " reached {t} |");
            rule.push_str("---:|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for cell in log.cells() {
            let last_pass = last
                .pass
                .get(&cell.family)
                .and_then(|l| l.get(&cell.level))
                .map_or("–".to_string(), |p| format!("{p:.2}"));
            let _ = write!(md, "| {} | {} | {last_pass} |", cell.family, cell.level);
            for t in THRESHOLDS {
                let reached = log
                    .first_reaching(&cell, t)
                    .map_or("never".to_string(), |(step, s)| {
                        format!("{} (step {step})", format_seconds(s))
                    });
                let _ = write!(md, " {reached} |");
            }
            md.push('\n');
        }
        md.push('\n');
    } else {
        let _ = writeln!(md, "No eval.jsonl: pass rates unavailable.\n");
    }

    if let Some(last) = log.evals.last() {
        let rates: Vec<f64> = last
            .pass
            .values()
            .flat_map(|l| l.values().copied())
            .collect();
        if let Some(s) = tasks::spread(&rates) {
            let _ = writeln!(
                md,
                "## Jaggedness\n\nOver the last evaluation's {} cells: mean {:.3}, standard \
                 deviation across cells {:.3}, mean of the worst quarter (CVaR 25 %) {:.3}.\n",
                s.cells, s.mean, s.std, s.cvar25
            );
        }
    }
    open_summary(&mut md, log);
    signal_summary(&mut md, log);

    if !images.is_empty() {
        let _ = writeln!(md, "## Plots\n");
        for image in images {
            if let Some(file) = image.file_name().and_then(|f| f.to_str()) {
                let _ = writeln!(md, "![{file}]({file})\n");
            }
        }
    }
    md
}

/// The open-ended section: archive counts, the signal, and the invented families the run
/// mastered with their lineage.
fn open_summary(md: &mut String, log: &RunLog) {
    let Some(last) = log.metrics.iter().rev().find_map(|m| m.open.as_ref()) else {
        return;
    };
    let _ = writeln!(
        md,
        "## Open-ended archive\n\n- families in play: {} ({} invented), active cells: {}\n\
         - cells mastered: {}, retired as hopeless or stalled: {}, grown one step harder: {}\n\
         - distinct families trained inside the 0.1-0.9 pass band: {}\n",
        last.families,
        last.created,
        last.active,
        last.mastered,
        last.retired,
        last.grown,
        last.in_band
    );
    let minutes = informative_by_minute(log);
    if !minutes.is_empty() {
        let _ = writeln!(
            md,
            "Informative fraction per minute of training: {}.\n",
            minutes_line(&minutes)
        );
    }
    let created: BTreeMap<&str, &FamilyLine> = log
        .families
        .iter()
        .filter(|l| l.event == "created")
        .map(|l| (l.family.as_str(), l))
        .collect();
    // Each invented family once, at its first mastery (a forgotten one can be mastered again).
    let mut seen = std::collections::BTreeSet::new();
    let mastered: Vec<(&FamilyLine, &FamilyLine)> = log
        .families
        .iter()
        .filter(|l| l.event == "mastered" && seen.insert(l.family.as_str()))
        .filter_map(|l| Some((l, *created.get(l.family.as_str())?)))
        .collect();
    if mastered.is_empty() {
        return;
    }
    // A family that gives one answer to most instances is mastered by guessing it.
    let skews: Vec<Option<f64>> = mastered
        .iter()
        .map(|(_, c)| {
            let p = tasks::program::Program::parse(c.program.as_deref()?).ok()?;
            p.skew().ok()
        })
        .collect();
    let skewed = skews
        .iter()
        .filter(|s| s.is_some_and(|s| s > GUESSABLE))
        .count();
    let _ = writeln!(
        md,
        "### Invented families mastered ({})\n\n{skewed} of them give one answer on more than \
         {:.0} % of their probe inputs (skew), so guessing it passes most tasks.\n\n\
         | family | program | skew | made by | from | created (step) | mastered (step) |\n\
         |---|---|---:|---|---|---:|---:|",
        mastered.len(),
        GUESSABLE * 100.0
    );
    for ((m, c), skew) in mastered.into_iter().zip(skews) {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} | {} | {} | {} |",
            m.family,
            c.program.as_deref().unwrap_or("?"),
            skew.map_or("?".to_string(), |s| format!("{s:.2}")),
            c.edit.as_deref().unwrap_or("?"),
            c.parent
                .as_deref()
                .map_or("(fresh sample)".to_string(), |p| format!("`{p}`")),
            c.step,
            m.step
        );
    }
    md.push('\n');
}

/// Skew (share of the probes giving the most common answer) above which the summary counts a
/// mastered family as guessable.
const GUESSABLE: f64 = 0.8;

/// The groups of a span of steps whose cells passed within one band of pass rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Lower edge of the band (bands are 0.1 wide; the last one includes 1).
    pub lo: f64,
    /// Cells in the band.
    pub cells: usize,
    /// The band's share of the span's groups.
    pub share: f64,
    /// Share of the band's groups that were informative.
    pub informative: f64,
}

/// Cells with fewer groups than this over a span are left out of [`signal_by_pass_band`]: their
/// pass rate says little.
pub const BAND_MIN_GROUPS: usize = 4;

/// The groups of `metrics` by their cell's mean pass rate over those steps: shows whether uniform
/// groups come from cells at the extremes (a curriculum's choice) or from cells in the middle
/// (a policy that is all-or-nothing per prompt). Empty bands are left out.
pub fn signal_by_pass_band(metrics: &[StepMetrics]) -> Vec<Band> {
    // Per cell: groups, pass-weighted groups, informative-weighted groups.
    let mut cells: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
    for m in metrics {
        for (name, c) in &m.cells {
            let e = cells.entry(name.as_str()).or_default();
            e.0 += c.groups;
            e.1 += c.groups as f64 * c.pass;
            e.2 += c.groups as f64 * c.informative;
        }
    }
    let mut bands = [(0usize, 0usize, 0.0f64); 10];
    let mut total = 0;
    for &(groups, pass, informative) in cells.values() {
        if groups < BAND_MIN_GROUPS {
            continue;
        }
        let b = ((pass / groups as f64 * 10.0) as usize).min(9);
        bands[b].0 += 1;
        bands[b].1 += groups;
        bands[b].2 += informative;
        total += groups;
    }
    bands
        .iter()
        .enumerate()
        .filter(|(_, b)| b.1 > 0)
        .map(|(i, &(cells, groups, informative))| Band {
            lo: i as f64 / 10.0,
            cells,
            share: groups as f64 / total as f64,
            informative: informative / groups as f64,
        })
        .collect()
}

/// The signal section: informative share by cell pass rate in the first and last third of the
/// steps.
fn signal_summary(md: &mut String, log: &RunLog) {
    let n = log.metrics.len();
    if n < 3 || log.metrics.iter().all(|m| m.cells.is_empty()) {
        return;
    }
    let (first, last) = (&log.metrics[..n / 3], &log.metrics[n - n / 3..]);
    let span = |s: &[StepMetrics]| {
        format!(
            "{}-{}",
            s.first().map_or(0, |m| m.step),
            s.last().map_or(0, |m| m.step)
        )
    };
    let (early, late) = (signal_by_pass_band(first), signal_by_pass_band(last));
    let _ = writeln!(
        md,
        "## Signal by cell pass rate\n\nGroups by their cell's mean pass rate over the span \
         (cells with at least {BAND_MIN_GROUPS} groups): the band's share of the groups, and how \
         many of them were informative. Cells in the middle giving uniform groups means the \
         policy is all-or-nothing per prompt.\n\n\
         | pass rate | steps {e}: share | informative | steps {l}: share | informative |\n\
         |---|---:|---:|---:|---:|",
        e = span(first),
        l = span(last)
    );
    let band = |bands: &[Band], i: usize| {
        bands
            .iter()
            .find(|b| (b.lo * 10.0).round() as usize == i)
            .copied()
    };
    let cell = |b: Option<Band>| {
        b.map_or("| – | – ".to_string(), |b| {
            format!("| {:.2} | {:.2} ", b.share, b.informative)
        })
    };
    for i in 0..10 {
        let (a, b) = (band(&early, i), band(&late, i));
        if a.is_none() && b.is_none() {
            continue;
        }
        let lo = i as f64 / 10.0;
        let _ = writeln!(md, "| {lo:.1}-{:.1} {}{}|", lo + 0.1, cell(a), cell(b));
    }
    md.push('\n');
}

/// Per-minute values, 2 decimals, comma-separated; a minute with no RL step (the warm start)
/// shows as a dash.
fn minutes_line(minutes: &[f64]) -> String {
    let cells: Vec<String> = minutes
        .iter()
        .map(|f| {
            if f.is_nan() {
                "–".to_string()
            } else {
                format!("{f:.2}")
            }
        })
        .collect();
    cells.join(", ")
}

/// The informative fraction of each whole minute of training (mean over that minute's steps).
pub fn informative_by_minute(log: &RunLog) -> Vec<f64> {
    by_minute(log, |m| m.informative_fraction)
}

/// The mean of `value` over each whole minute of training's steps (NaN for a minute with none).
pub fn by_minute(log: &RunLog, value: impl Fn(&StepMetrics) -> f64) -> Vec<f64> {
    let mut sums: Vec<(f64, usize)> = Vec::new();
    for m in &log.metrics {
        let f = value(m);
        let minute = (m.train_seconds / 60.0) as usize;
        if sums.len() <= minute {
            sums.resize(minute + 1, (0.0, 0));
        }
        sums[minute].0 += f;
        sums[minute].1 += 1;
    }
    sums.into_iter()
        .map(|(s, n)| if n == 0 { f64::NAN } else { s / n as f64 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::PassRates;

    fn eval(step: u64, t: f64, pass: &[(&str, &str, f64)]) -> EvalRecord {
        let mut map = PassRates::new();
        for (f, l, p) in pass {
            map.entry(f.to_string())
                .or_default()
                .insert(l.to_string(), *p);
        }
        EvalRecord {
            step,
            train_seconds: t,
            pass: map,
            ..EvalRecord::default()
        }
    }

    #[test]
    fn levels_sort_numerically() {
        let log = RunLog {
            metrics: vec![],
            evals: vec![eval(
                0,
                0.0,
                &[("b", "10", 0.0), ("b", "2", 0.0), ("a", "1", 0.0)],
            )],
            families: vec![],
        };
        let cells: Vec<(String, String)> = log
            .cells()
            .into_iter()
            .map(|c| (c.family, c.level))
            .collect();
        let want = [("a", "1"), ("b", "2"), ("b", "10")];
        assert_eq!(cells, want.map(|(f, l)| (f.to_string(), l.to_string())));
    }

    /// `evolve` counts with `families` in play, `created` invented and `mastered` mastered.
    fn open(families: usize, created: u64, mastered: u64) -> Option<tasks::OpenMetrics> {
        Some(tasks::OpenMetrics {
            families,
            active: 10,
            created,
            mastered,
            retired: 1,
            refreshes: 3,
            evolver_distinct: 40,
            evolver_proposals: 400,
            window_families: 7,
            window_fingerprints: 7,
            window_cells: 4,
            window_informative: 0.5,
            in_band: 12,
            grown: 2,
        })
    }

    #[test]
    fn a_minute_without_rl_steps_shows_as_a_dash() {
        let metric = |step, t: f64, inf| StepMetrics {
            step,
            train_seconds: t,
            informative_fraction: inf,
            open: open(17, 0, 0),
            ..StepMetrics::default()
        };
        let log = RunLog {
            metrics: vec![metric(1, 70.0, 0.2), metric(2, 130.0, 0.4)],
            evals: vec![],
            families: vec![],
        };
        let md = summary_markdown("run", &log, &[]);
        assert!(
            md.contains("Informative fraction per minute of training: –, 0.20, 0.40."),
            "{md}"
        );
    }

    #[test]
    fn an_adaptive_temperature_is_summarised_per_minute_and_a_fixed_one_is_not() {
        let metric = |step, t: f64, temperature| StepMetrics {
            step,
            train_seconds: t,
            temperature,
            ..StepMetrics::default()
        };
        let log = |temps: [f64; 3]| RunLog {
            metrics: vec![
                metric(1, 10.0, temps[0]),
                metric(2, 50.0, temps[1]),
                metric(3, 70.0, temps[2]),
            ],
            evals: vec![],
            families: vec![],
        };
        let md = summary_markdown("run", &log([1.3, 1.5, 1.6]), &[]);
        assert!(
            md.contains("- sampling temperature: 1.30 to 1.60 (adaptive); per minute: 1.40, 1.60"),
            "{md}"
        );
        let fixed = summary_markdown("run", &log([1.3, 1.3, 1.3]), &[]);
        assert!(!fixed.contains("sampling temperature"), "{fixed}");
        // Runs written before the temperature was recorded read it as 0.
        let old = summary_markdown("run", &log([0.0, 0.0, 0.0]), &[]);
        assert!(!old.contains("sampling temperature"), "{old}");
    }

    #[test]
    fn groups_are_binned_by_their_cells_pass_rate_over_the_span() {
        use crate::metrics::CellMetrics;
        let step = |step, cells: &[(&str, usize, f64, f64)]| StepMetrics {
            step,
            cells: cells
                .iter()
                .map(|&(name, groups, informative, pass)| {
                    let c = CellMetrics {
                        groups,
                        informative,
                        pass,
                    };
                    (name.to_string(), c)
                })
                .collect(),
            ..StepMetrics::default()
        };
        // "mid" passes half the time over the span, but by halves: all-right groups, then
        // all-wrong ones, then two informative ones. "top" always passes. "few" has too few
        // groups to be binned.
        let metrics = vec![
            step(1, &[("mid", 2, 0.0, 1.0), ("top", 2, 0.0, 1.0)]),
            step(2, &[("mid", 2, 0.0, 0.0), ("few", 3, 1.0, 0.5)]),
            step(3, &[("mid", 2, 1.0, 0.5), ("top", 2, 0.0, 1.0)]),
        ];
        let bands = signal_by_pass_band(&metrics);
        assert_eq!(bands.len(), 2, "{bands:?}");
        let (mid, top) = (bands[0], bands[1]);
        assert_eq!((mid.lo, mid.cells), (0.5, 1));
        assert!((mid.share - 0.6).abs() < 1e-12 && (mid.informative - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((top.lo, top.cells), (0.9, 1));
        assert!((top.share - 0.4).abs() < 1e-12 && top.informative == 0.0);
        // The summary compares the first and last third of the steps.
        let log = RunLog {
            metrics: vec![
                step(1, &[("mid", 4, 0.5, 0.5)]),
                step(2, &[("mid", 4, 0.5, 0.5)]),
                step(3, &[("mid", 4, 0.25, 0.5)]),
            ],
            evals: vec![],
            families: vec![],
        };
        let md = summary_markdown("run", &log, &[]);
        assert!(md.contains("| pass rate | steps 1-1: share"), "{md}");
        assert!(
            md.contains("| 0.5-0.6 | 1.00 | 0.50 | 1.00 | 0.25 |"),
            "{md}"
        );
    }

    #[test]
    fn open_ended_summary_gives_counts_signal_spread_and_mastered_lineage() {
        let metric = |step, t: f64, inf, open| StepMetrics {
            step,
            train_seconds: t,
            informative_fraction: inf,
            open,
            ..StepMetrics::default()
        };
        let line = |text: &str| serde_json::from_str::<FamilyLine>(text).unwrap();
        let log = RunLog {
            metrics: vec![
                metric(1, 10.0, 0.2, open(17, 0, 0)),
                metric(2, 50.0, 0.4, open(21, 4, 1)),
                metric(3, 70.0, 0.9, open(25, 8, 3)),
            ],
            evals: vec![eval(
                3,
                70.0,
                &[
                    ("a", "1", 1.0),
                    ("a", "2", 0.2),
                    ("b", "1", 0.6),
                    ("b", "2", 0.2),
                ],
            )],
            families: vec![
                line(
                    r#"{"step": 2, "event": "created", "family": "evo_1", "cell": "L1", "at_group": 40, "origin": "invented", "program": "rev(sort(l)); l:list[3,1]", "fingerprint": "00000000000000aa", "parent": "sort(l); l:list[3,1]", "edit": "wrap", "created_at": 40}"#,
                ),
                line(
                    r#"{"step": 2, "event": "created", "family": "evo_2", "cell": "L1", "at_group": 40, "origin": "invented", "program": "max(a, 3); a:int[2]", "fingerprint": "00000000000000bb", "parent": null, "edit": "sample", "created_at": 40}"#,
                ),
                line(
                    r#"{"step": 2, "event": "created", "family": "evo_3", "cell": "L1", "at_group": 40, "origin": "invented", "program": "count(l, neg(a)); l:list[3,1]; a:int[2]", "fingerprint": "00000000000000cc", "parent": null, "edit": "sample", "created_at": 40}"#,
                ),
                line(
                    r#"{"step": 3, "event": "mastered", "family": "evo_1", "cell": "L1", "at_group": 60}"#,
                ),
                line(
                    r#"{"step": 3, "event": "mastered", "family": "evo_3", "cell": "L1", "at_group": 60}"#,
                ),
                line(
                    r#"{"step": 3, "event": "mastered", "family": "p_add", "cell": "L1", "at_group": 60}"#,
                ),
                line(
                    r#"{"step": 3, "event": "forgotten", "family": "evo_1", "cell": "L1", "at_group": 61}"#,
                ),
                line(
                    r#"{"step": 3, "event": "mastered", "family": "evo_1", "cell": "L1", "at_group": 70}"#,
                ),
            ],
        };
        let minutes = informative_by_minute(&log);
        assert_eq!(minutes.len(), 2);
        assert!((minutes[0] - 0.3).abs() < 1e-12 && (minutes[1] - 0.9).abs() < 1e-12);
        let md = summary_markdown("run", &log, &[]);
        assert!(md.contains("families in play: 25 (8 invented)"), "{md}");
        assert!(
            md.contains("Informative fraction per minute of training: 0.30, 0.90."),
            "{md}"
        );
        // Pass rates 1.0, 0.2, 0.6, 0.2: mean 0.5, worst quarter = one cell, 0.2.
        assert!(md.contains("mean 0.500"), "{md}");
        assert!(md.contains("(CVaR 25 %) 0.200"), "{md}");
        // Only invented families that were mastered, with what they were made from.
        assert!(md.contains("Invented families mastered (2)"), "{md}");
        assert!(
            md.contains(
                "| evo_1 | `rev(sort(l)); l:list[3,1]` | 0.03 | wrap | `sort(l); l:list[3,1]` | 2 | 3 |"
            ),
            "{md}"
        );
        // count(l, neg(a)) is 0 unless a = 0: the same answer on 31 of the 32 probes.
        assert!(
            md.contains("| evo_3 | `count(l, neg(a)); l:list[3,1]; a:int[2]` | 0.97 |"),
            "{md}"
        );
        assert!(
            md.contains("1 of them give one answer on more than 80 %"),
            "{md}"
        );
        assert!(!md.contains("evo_2 |"), "{md}");
    }

    #[test]
    fn summary_gives_final_rates_and_first_crossing_times() {
        let log = RunLog {
            metrics: vec![
                StepMetrics {
                    step: 1,
                    train_seconds: 2.0,
                    reward: 0.25,
                    tokens_sampled: 100,
                    ..StepMetrics::default()
                },
                StepMetrics {
                    step: 2,
                    train_seconds: 95.0,
                    reward: 0.5,
                    tokens_sampled: 150,
                    ..StepMetrics::default()
                },
            ],
            evals: vec![
                eval(0, 0.0, &[("addition", "3", 0.1)]),
                eval(1, 30.0, &[("addition", "3", 0.6)]),
                eval(2, 95.0, &[("addition", "3", 0.85)]),
            ],
            families: vec![],
        };
        let md = summary_markdown("run", &log, &[]);
        assert!(md.contains("- RL steps: 2"), "{md}");
        assert!(md.contains("- completion tokens sampled: 250"), "{md}");
        assert!(md.contains("1 min 35 s (evaluation excluded)"), "{md}");
        assert!(
            md.contains("| addition | 3 | 0.85 | 30 s (step 1) | 1 min 35 s (step 2) |"),
            "{md}"
        );
    }

    #[test]
    fn malformed_lines_are_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("eval.jsonl"),
            "{\"step\":0,\"train_seconds\":0,\"pass\":{}}\n\n{\"step\": \"x\"}\n",
        )
        .unwrap();
        let err = RunLog::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("eval.jsonl:3:"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        assert!(RunLog::read(empty.path()).is_err());
    }
}
