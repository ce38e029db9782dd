//! The open-ended comparison: arms (curricula) × seeds, each evaluated on a held-out grid of
//! program families, summarised as the jaggedness spread per arm and its difference from a
//! baseline arm with bootstrap confidence intervals.
//!
//! Layout read: `DIR/<arm>/<seed>/holdout.json` (what `rlvr eval --programs` prints: `{"programs":
//! [{"name", "pass"}, ...]}`) and, for the training signal, `DIR/<arm>/<seed>/metrics.jsonl`.
//! Written: `DIR/comparison.md` (the table) and `DIR/comparison.png` (each arm's held-out pass
//! rates sorted, worst first: a flat, high line is a less jagged skill profile); when every run
//! recorded its programs' guessing baselines, the same above chance (a second table in
//! `comparison.md`, and `DIR/comparison_above_chance.png`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::report::RunLog;

/// The file each run's held-out evaluation is saved in.
pub const HOLDOUT_JSON: &str = "holdout.json";
/// The table.
pub const COMPARISON_MD: &str = "comparison.md";
/// The plot.
pub const COMPARISON_PNG: &str = "comparison.png";
/// The plot above chance.
pub const COMPARISON_ABOVE_CHANCE_PNG: &str = "comparison_above_chance.png";
/// What introduces the second table of `comparison.md`.
pub const ABOVE_CHANCE: &str = "Above chance: each program's pass rate p taken above its \
    guessing baseline b (the share of its instances whose answer is the most common one: what \
    always giving that answer scores), (p − b) / (1 − b), at least 0.";

/// One run of one arm: its held-out pass rate per program, and its training signal.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmRun {
    /// The arm (curriculum) name: the directory under the comparison directory.
    pub arm: String,
    /// The seed's directory name.
    pub seed: String,
    /// Greedy pass rate per held-out program.
    pub pass: BTreeMap<String, f64>,
    /// Per held-out program, what always giving its most common answer scores (empty when the
    /// evaluation did not record it).
    pub baseline: BTreeMap<String, f64>,
    /// Mean informative fraction over the run's RL steps (`None` without metrics).
    pub informative: Option<f64>,
}

#[derive(Deserialize)]
struct Holdout {
    programs: Vec<HoldoutRow>,
}

#[derive(Deserialize)]
struct HoldoutRow {
    name: String,
    pass: f64,
    #[serde(default)]
    baseline: Option<f64>,
}

/// The spread statistics the comparison reports.
const STATS: [&str; 3] = ["mean", "std", "cvar25"];

fn stat(s: &tasks::Spread, k: usize) -> f64 {
    match k {
        0 => s.mean,
        1 => s.std,
        _ => s.cvar25,
    }
}

/// Reads every `DIR/<arm>/<seed>/` that holds a `holdout.json`, in name order.
pub fn read_runs(dir: &Path) -> Result<Vec<ArmRun>> {
    let io = |path: &Path, error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut runs = Vec::new();
    let mut arms: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    arms.sort();
    for arm_dir in arms {
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(&arm_dir)
            .map_err(|e| io(&arm_dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(HOLDOUT_JSON).is_file())
            .collect();
        seeds.sort();
        for seed_dir in seeds {
            let path = seed_dir.join(HOLDOUT_JSON);
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let holdout: Holdout = serde_json::from_str(&text).map_err(|e| Error::NotHoldout {
                path: path.clone(),
                error: e,
            })?;
            let informative = RunLog::read(&seed_dir).ok().and_then(|log| {
                let f: Vec<f64> = log.metrics.iter().map(|m| m.informative_fraction).collect();
                (!f.is_empty()).then(|| f.iter().sum::<f64>() / f.len() as f64)
            });
            let name = |p: &Path| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            };
            runs.push(ArmRun {
                arm: name(&arm_dir),
                seed: name(&seed_dir),
                baseline: holdout
                    .programs
                    .iter()
                    .filter_map(|r| Some((r.name.clone(), r.baseline?)))
                    .collect(),
                pass: holdout
                    .programs
                    .into_iter()
                    .map(|r| (r.name, r.pass))
                    .collect(),
                informative,
            });
        }
    }
    Ok(runs)
}

impl ArmRun {
    /// The run with each pass rate taken above its program's guessing baseline
    /// ([`tasks::above_chance`]); `None` when a program has no baseline.
    pub fn above_chance(&self) -> Option<ArmRun> {
        let pass = self
            .pass
            .iter()
            .map(|(name, &p)| {
                Some((
                    name.clone(),
                    tasks::above_chance(p, *self.baseline.get(name)?),
                ))
            })
            .collect::<Option<_>>()?;
        Some(ArmRun {
            pass,
            ..self.clone()
        })
    }
}

/// One arm's figures: the seed mean of each statistic.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmSummary {
    /// Arm name.
    pub arm: String,
    /// Seeds.
    pub seeds: usize,
    /// Mean, std and CVaR 25 % of the held-out pass rates, each averaged over seeds.
    pub stats: [f64; 3],
    /// Mean informative fraction over seeds (`None` without metrics).
    pub informative: Option<f64>,
}

/// An arm's difference from the baseline in one statistic, with a 95 % bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Arm name.
    pub arm: String,
    /// `mean`, `std` or `cvar25`.
    pub stat: &'static str,
    /// Arm minus baseline.
    pub value: f64,
    /// 2.5 % and 97.5 % quantiles over resamples of the programs.
    pub interval: (f64, f64),
}

/// The statistics of each arm over the programs `programs` (indices into `names`), seed-averaged.
fn arm_stats(runs: &[&ArmRun], names: &[&String], programs: &[usize]) -> [f64; 3] {
    let mut out = [0.0; 3];
    let mut n = 0.0;
    for run in runs {
        let rates: Vec<f64> = programs
            .iter()
            .map(|&i| run.pass.get(names[i]).copied().unwrap_or(f64::NAN))
            .collect();
        if let Some(s) = tasks::spread(&rates) {
            for (k, o) in out.iter_mut().enumerate() {
                *o += stat(&s, k);
            }
            n += 1.0;
        }
    }
    out.map(|x| if n > 0.0 { x / n } else { f64::NAN })
}

/// Summaries per arm and deltas against `baseline` (bootstrap over the held-out programs, paired:
/// every arm sees the same resampled programs), with `resamples` resamples from `seed`.
pub fn summarise(
    runs: &[ArmRun],
    baseline: &str,
    resamples: usize,
    seed: u64,
) -> Result<(Vec<ArmSummary>, Vec<Delta>)> {
    let mut by_arm: BTreeMap<&str, Vec<&ArmRun>> = BTreeMap::new();
    for r in runs {
        by_arm.entry(&r.arm).or_default().push(r);
    }
    if !by_arm.contains_key(baseline) {
        return Err(Error::NoBaseline {
            baseline: baseline.to_string(),
            arms: by_arm.keys().map(|a| a.to_string()).collect(),
        });
    }
    let mut names: Vec<&String> = runs.iter().flat_map(|r| r.pass.keys()).collect();
    names.sort();
    names.dedup();
    let all: Vec<usize> = (0..names.len()).collect();
    let summaries: Vec<ArmSummary> = by_arm
        .iter()
        .map(|(arm, rs)| {
            let inf: Vec<f64> = rs.iter().filter_map(|r| r.informative).collect();
            ArmSummary {
                arm: arm.to_string(),
                seeds: rs.len(),
                stats: arm_stats(rs, &names, &all),
                informative: (!inf.is_empty()).then(|| inf.iter().sum::<f64>() / inf.len() as f64),
            }
        })
        .collect();
    let mut rng = tasks::TaskRng::new(seed);
    let mut samples: BTreeMap<(&str, usize), Vec<f64>> = BTreeMap::new();
    for _ in 0..resamples {
        let pick: Vec<usize> = (0..names.len())
            .map(|_| rng.below(names.len() as u64) as usize)
            .collect();
        let base = arm_stats(&by_arm[baseline], &names, &pick);
        for (arm, rs) in &by_arm {
            if *arm == baseline {
                continue;
            }
            let s = arm_stats(rs, &names, &pick);
            for k in 0..3 {
                samples.entry((arm, k)).or_default().push(s[k] - base[k]);
            }
        }
    }
    let base = summaries
        .iter()
        .find(|s| s.arm == baseline)
        .map(|s| s.stats)
        .unwrap_or([f64::NAN; 3]);
    let mut deltas = Vec::new();
    for s in &summaries {
        if s.arm == baseline {
            continue;
        }
        for (k, name) in STATS.iter().enumerate() {
            let mut v = samples.remove(&(s.arm.as_str(), k)).unwrap_or_default();
            v.sort_by(f64::total_cmp);
            let q = |p: f64| {
                if v.is_empty() {
                    f64::NAN
                } else {
                    v[((v.len() - 1) as f64 * p).round() as usize]
                }
            };
            deltas.push(Delta {
                arm: s.arm.clone(),
                stat: name,
                value: s.stats[k] - base[k],
                interval: (q(0.025), q(0.975)),
            });
        }
    }
    Ok((summaries, deltas))
}

/// The markdown table of a comparison.
pub fn markdown(
    summaries: &[ArmSummary],
    deltas: &[Delta],
    baseline: &str,
    programs: usize,
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| arm | seeds | held-out mean | std across cells | worst quarter (CVaR 25 %) | informative fraction |\n|---|---:|---:|---:|---:|---:|"
    );
    for s in summaries {
        let inf = s.informative.map_or("–".into(), |f| format!("{f:.3}"));
        let _ = writeln!(
            md,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {inf} |",
            s.arm, s.seeds, s.stats[0], s.stats[1], s.stats[2]
        );
    }
    if !deltas.is_empty() {
        let _ = writeln!(
            md,
            "\nAgainst `{baseline}` (arm − {baseline}; 95 % bootstrap interval over the {programs} \
             held-out programs, seed-averaged):\n\n| arm | statistic | difference | interval |\n|---|---|---:|---|"
        );
        for d in deltas {
            let _ = writeln!(
                md,
                "| {} | {} | {:+.3} | [{:+.3}, {:+.3}] |",
                d.arm, d.stat, d.value, d.interval.0, d.interval.1
            );
        }
    }
    md
}

/// Reads the comparison in `dir`, writes `comparison.md` and `comparison.png` there (and
/// `comparison_above_chance.png` when the runs have baselines), and returns the tables.
pub fn write_comparison(dir: &Path, baseline: &str, resamples: usize) -> Result<String> {
    let runs = read_runs(dir)?;
    if runs.is_empty() {
        return Err(Error::NoRuns {
            dir: dir.to_path_buf(),
            file: HOLDOUT_JSON,
        });
    }
    let (summaries, deltas) = summarise(&runs, baseline, resamples, 0)?;
    let programs = runs
        .iter()
        .flat_map(|r| r.pass.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut md = markdown(&summaries, &deltas, baseline, programs);
    // A program whose answers are mostly one value is passed by guessing it: the same figures
    // above each program's guessing baseline say how much of the skill is more than that.
    if let Some(above) = runs
        .iter()
        .map(ArmRun::above_chance)
        .collect::<Option<Vec<_>>>()
    {
        let (summaries, deltas) = summarise(&above, baseline, resamples, 0)?;
        let _ = write!(
            md,
            "\n{ABOVE_CHANCE}\n\n{}",
            markdown(&summaries, &deltas, baseline, programs)
        );
        crate::plots::comparison(&above, true, &dir.join(COMPARISON_ABOVE_CHANCE_PNG))?;
    }
    let path = dir.join(COMPARISON_MD);
    std::fs::write(&path, &md).map_err(|error| Error::Io { path, error })?;
    crate::plots::comparison(&runs, false, &dir.join(COMPARISON_PNG))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(arm: &str, seed: &str, pass: &[f64]) -> ArmRun {
        ArmRun {
            arm: arm.into(),
            seed: seed.into(),
            pass: pass
                .iter()
                .enumerate()
                .map(|(i, &p)| (format!("p{i}"), p))
                .collect(),
            baseline: BTreeMap::new(),
            informative: Some(0.5),
        }
    }

    #[test]
    fn summaries_average_seeds_and_deltas_are_against_the_baseline() {
        let runs = [
            run("uniform", "s0", &[1.0, 0.0, 0.5, 0.5]),
            run("uniform", "s1", &[1.0, 0.0, 0.5, 0.5]),
            run("evolve", "s0", &[0.6, 0.4, 0.5, 0.5]),
            run("evolve", "s1", &[0.6, 0.4, 0.5, 0.5]),
        ];
        let (s, d) = summarise(&runs, "uniform", 200, 1).unwrap();
        let evolve = s.iter().find(|a| a.arm == "evolve").unwrap();
        let uniform = s.iter().find(|a| a.arm == "uniform").unwrap();
        // Means equal (0.5); uniform's std = sqrt((0.25 + 0.25 + 0 + 0) / 4) = 0.3536, evolve's
        // sqrt((0.01 + 0.01) / 4) = 0.0707; worst quarter (one of four): 0.0 vs 0.4.
        assert!((uniform.stats[0] - 0.5).abs() < 1e-12 && (evolve.stats[0] - 0.5).abs() < 1e-12);
        assert!((uniform.stats[1] - 0.125f64.sqrt()).abs() < 1e-12);
        assert!((evolve.stats[1] - 0.005f64.sqrt()).abs() < 1e-12);
        assert!((evolve.stats[2] - 0.4).abs() < 1e-12 && uniform.stats[2].abs() < 1e-12);
        let cvar = d.iter().find(|x| x.stat == "cvar25").unwrap();
        assert!((cvar.value - 0.4).abs() < 1e-12);
        assert!(cvar.interval.0 <= cvar.interval.1);
        let e = summarise(&runs, "ladders", 10, 0).unwrap_err().to_string();
        assert!(
            e.contains("ladders") && e.contains("evolve, uniform"),
            "{e}"
        );
        let md = markdown(&s, &d, "uniform", 4);
        assert!(
            md.contains("| evolve | 2 | 0.500 | 0.071 | 0.400 | 0.500 |"),
            "{md}"
        );
        assert!(md.contains("| evolve | cvar25 | +0.400 |"), "{md}");
    }

    #[test]
    fn above_chance_takes_each_pass_rate_above_its_baseline() {
        let mut r = run("evolve", "s0", &[0.9, 0.5]);
        assert_eq!(r.above_chance(), None);
        r.baseline = [("p0".to_string(), 0.9), ("p1".to_string(), 0.0)].into();
        let a = r.above_chance().unwrap();
        // 0.9 is what guessing scores on p0; p1 has no guess that passes.
        assert_eq!(a.pass["p0"], 0.0);
        assert_eq!(a.pass["p1"], 0.5);
        // The comparison writes the second table only when every run has baselines.
        let dir = tempfile::tempdir().unwrap();
        for (arm, pass) in [("uniform", 0.2), ("evolve", 0.95)] {
            let run = dir.path().join(arm).join("s0");
            std::fs::create_dir_all(&run).unwrap();
            let holdout = serde_json::json!({"programs": [
                {"name": "eq", "pass": pass, "baseline": 0.9},
                {"name": "add", "pass": 0.5, "baseline": 0.0},
            ]});
            std::fs::write(run.join(HOLDOUT_JSON), holdout.to_string()).unwrap();
        }
        let md = write_comparison(dir.path(), "uniform", 50).unwrap();
        assert!(dir.path().join(COMPARISON_ABOVE_CHANCE_PNG).is_file());
        let (raw, above) = md.split_once(ABOVE_CHANCE).expect("a second table");
        // Raw means: evolve (0.95 + 0.5) / 2, uniform (0.2 + 0.5) / 2; above chance: evolve
        // (0.5 + 0.5) / 2, uniform (0 + 0.5) / 2.
        assert!(raw.contains("| evolve | 1 | 0.725 |"), "{md}");
        assert!(raw.contains("| uniform | 1 | 0.350 |"), "{md}");
        assert!(above.contains("| evolve | 1 | 0.500 |"), "{md}");
        assert!(above.contains("| uniform | 1 | 0.250 |"), "{md}");
    }
}
