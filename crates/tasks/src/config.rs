//! `TasksConfig`: the `[tasks]` section of a run config (families in play and the curriculum).
//!
//! ```toml
//! [tasks]
//! style = "bare"
//! [[tasks.families]]
//! name = "addition"
//! format = "fixed_width_lsb_first"
//! knobs = { width = 8 }
//! levels = [1, 8]          # ladder levels in play, inclusive
//! start_level = 1
//! [tasks.curriculum]
//! type = "frontier"
//! promote = 0.8
//! min_groups = 24
//! replay = 0.1
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Result, TasksError};
use crate::family::Registry;
use crate::knobs::Knobs;
use crate::task::{NumberFormat, PromptStyle};

/// The `[tasks]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    /// Prompt style of every task.
    pub style: PromptStyle,
    /// The families in play.
    pub families: Vec<FamilyConfig>,
    /// How cells are chosen.
    pub curriculum: CurriculumConfig,
    /// Rates of the per-cell statistics.
    pub stats: StatsConfig,
}

/// One family in play.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FamilyConfig {
    /// Registered family name.
    pub name: String,
    /// Number format.
    pub format: NumberFormat,
    /// Knobs fixed at every level (e.g. `width = 8`), set over the ladder's.
    pub knobs: Knobs,
    /// Ladder levels in play, inclusive `[min, max]`.
    pub levels: [u32; 2],
    /// Level where `fixed`, `ladder` and `frontier` start.
    pub start_level: u32,
    /// Relative sampling weight among families.
    pub weight: f64,
}

/// Rates of the per-cell exponential moving averages (per observed group).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    /// Rate of the pass-rate EMA used for decisions.
    pub ema: f64,
    /// Rate of the fast EMA of learning progress.
    pub fast: f64,
    /// Rate of the slow EMA of learning progress (progress = fast − slow).
    pub slow: f64,
}

/// The curriculum strategy and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CurriculumConfig {
    /// Always the start level.
    Fixed,
    /// Uniform over the cells in play.
    Uniform,
    /// reasoning-gym's threshold ladder: promote when the mean pass rate over the last `window`
    /// groups at the current level is above `promote`, demote below `demote`.
    Ladder {
        /// Promotion threshold.
        #[serde(default = "d_ladder_promote")]
        promote: f64,
        /// Demotion threshold.
        #[serde(default = "d_ladder_demote")]
        demote: f64,
        /// Groups averaged before a move.
        #[serde(default = "d_window")]
        window: usize,
    },
    /// Train at the frontier: the lowest level not mastered (plus cells above it whose pass rate is
    /// inside `band`), replaying mastered cells a fraction `replay` of the time. Mastered = at least
    /// `min_groups` groups and a chance-corrected pass-rate EMA at or above `promote`.
    Frontier {
        /// Mastery threshold (chance-corrected EMA).
        #[serde(default = "d_promote")]
        promote: f64,
        /// Pass-rate band `[low, high]` of trainable cells above the frontier.
        #[serde(default = "d_band")]
        band: [f64; 2],
        /// Groups at a cell before it can count as mastered.
        #[serde(default = "d_min_groups")]
        min_groups: u64,
        /// Fraction of choices that replay mastered cells.
        #[serde(default = "d_replay")]
        replay: f64,
        /// A mastered cell whose EMA falls below this is the frontier again (forgetting).
        #[serde(default = "d_demote")]
        demote: f64,
    },
    /// Ours: score cells by q(1 − q) + `progress_weight` · |learning progress| (q = chance-corrected
    /// pass rate), sample ∝ exp(score / `temperature`) among reachable cells; when the frontier cell
    /// has had `min_groups` groups without one success, add intermediate knob settings between it
    /// and the level below so that the next step is reachable.
    Learnability {
        /// Weight of |fast − slow| EMA in the score.
        #[serde(default = "d_progress_weight")]
        progress_weight: f64,
        /// Softmax temperature of the choice.
        #[serde(default = "d_temperature")]
        temperature: f64,
        /// Assumed pass rate of a reachable cell never tried.
        #[serde(default = "d_prior")]
        prior: f64,
        /// Mastery threshold (chance-corrected EMA).
        #[serde(default = "d_promote")]
        promote: f64,
        /// Groups before mastery or a stall is decided.
        #[serde(default = "d_min_groups")]
        min_groups: u64,
        /// Fraction of choices that replay mastered cells.
        #[serde(default = "d_replay")]
        replay: f64,
        /// Whether stalled steps get intermediate cells.
        #[serde(default = "d_true")]
        intermediates: bool,
    },
}

fn d_ladder_promote() -> f64 {
    0.7
}
fn d_ladder_demote() -> f64 {
    0.3
}
fn d_window() -> usize {
    8
}
fn d_promote() -> f64 {
    0.8
}
fn d_band() -> [f64; 2] {
    [0.05, 0.95]
}
fn d_min_groups() -> u64 {
    24
}
fn d_replay() -> f64 {
    0.1
}
fn d_demote() -> f64 {
    0.3
}
fn d_progress_weight() -> f64 {
    1.0
}
fn d_temperature() -> f64 {
    0.05
}
fn d_prior() -> f64 {
    0.5
}
fn d_true() -> bool {
    true
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            style: PromptStyle::Bare,
            families: vec![FamilyConfig::default()],
            curriculum: CurriculumConfig::default(),
            stats: StatsConfig::default(),
        }
    }
}

impl Default for FamilyConfig {
    fn default() -> Self {
        Self {
            name: "addition".into(),
            format: NumberFormat::FixedWidthLsbFirst,
            knobs: Knobs::from_static(&[("width", 8.0)]),
            levels: [1, 8],
            start_level: 1,
            weight: 1.0,
        }
    }
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            ema: 0.1,
            fast: 0.2,
            slow: 0.05,
        }
    }
}

impl Default for CurriculumConfig {
    fn default() -> Self {
        CurriculumConfig::Frontier {
            promote: d_promote(),
            band: d_band(),
            min_groups: d_min_groups(),
            replay: d_replay(),
            demote: d_demote(),
        }
    }
}

impl CurriculumConfig {
    /// The `type` name.
    pub fn kind(&self) -> &'static str {
        match self {
            CurriculumConfig::Fixed => "fixed",
            CurriculumConfig::Uniform => "uniform",
            CurriculumConfig::Ladder { .. } => "ladder",
            CurriculumConfig::Frontier { .. } => "frontier",
            CurriculumConfig::Learnability { .. } => "learnability",
        }
    }
}

fn bad(key: impl Into<String>, value: impl ToString, why: impl Into<String>) -> TasksError {
    TasksError::Config {
        key: key.into(),
        value: value.to_string(),
        why: why.into(),
    }
}

fn unit(key: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(bad(key, v, "must be in [0, 1]"))
    }
}

impl TasksConfig {
    /// Checks every value against the registry; errors name the key and the value.
    pub fn validate(&self, registry: &Registry) -> Result<()> {
        if self.families.is_empty() {
            return Err(bad("families", "[]", "at least one family is needed"));
        }
        for (i, f) in self.families.iter().enumerate() {
            let key = |k: &str| format!("families[{i}].{k}");
            let fam = registry
                .get(&f.name)
                .map_err(|e| bad(key("name"), &f.name, e.to_string()))?;
            let top = fam.ladder().len() as u32;
            let [lo, hi] = f.levels;
            if lo < 1 || hi < lo || hi > top {
                return Err(bad(
                    key("levels"),
                    format!("[{lo}, {hi}]"),
                    format!("must satisfy 1 <= min <= max <= {top}"),
                ));
            }
            if f.start_level < lo || f.start_level > hi {
                return Err(bad(
                    key("start_level"),
                    f.start_level,
                    format!("must be within levels [{lo}, {hi}]"),
                ));
            }
            if !(f.weight > 0.0 && f.weight.is_finite()) {
                return Err(bad(key("weight"), f.weight, "must be positive"));
            }
            for level in lo..=hi {
                let knobs = registry.level_knobs(&f.name, level)?.overlay(&f.knobs);
                registry
                    .resolve(&f.name, &knobs, f.format)
                    .map_err(|e| bad(key("knobs"), f.knobs.label(), e.to_string()))?;
            }
        }
        let s = &self.stats;
        for (k, v) in [
            ("stats.ema", s.ema),
            ("stats.fast", s.fast),
            ("stats.slow", s.slow),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(bad(k, v, "must be in (0, 1]"));
            }
        }
        match &self.curriculum {
            CurriculumConfig::Fixed | CurriculumConfig::Uniform => {}
            CurriculumConfig::Ladder {
                promote,
                demote,
                window,
            } => {
                unit("curriculum.promote", *promote)?;
                unit("curriculum.demote", *demote)?;
                if demote >= promote {
                    return Err(bad(
                        "curriculum.demote",
                        demote,
                        format!("must be below promote = {promote}"),
                    ));
                }
                if *window == 0 {
                    return Err(bad("curriculum.window", window, "must be at least 1"));
                }
            }
            CurriculumConfig::Frontier {
                promote,
                band,
                replay,
                demote,
                ..
            } => {
                unit("curriculum.promote", *promote)?;
                unit("curriculum.replay", *replay)?;
                unit("curriculum.demote", *demote)?;
                if !(0.0..=1.0).contains(&band[0]) || band[1] < band[0] || band[1] > 1.0 {
                    return Err(bad(
                        "curriculum.band",
                        format!("{band:?}"),
                        "must be [low, high] with 0 <= low <= high <= 1",
                    ));
                }
            }
            CurriculumConfig::Learnability {
                temperature,
                prior,
                promote,
                replay,
                progress_weight,
                ..
            } => {
                unit("curriculum.prior", *prior)?;
                unit("curriculum.promote", *promote)?;
                unit("curriculum.replay", *replay)?;
                if temperature.is_nan() || *temperature <= 0.0 {
                    return Err(bad(
                        "curriculum.temperature",
                        temperature,
                        "must be positive",
                    ));
                }
                if progress_weight.is_nan() || *progress_weight < 0.0 {
                    return Err(bad(
                        "curriculum.progress_weight",
                        progress_weight,
                        "must be >= 0",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> std::result::Result<TasksConfig, String> {
        #[derive(Deserialize)]
        struct Root {
            tasks: TasksConfig,
        }
        toml::from_str::<Root>(s)
            .map(|r| r.tasks)
            .map_err(|e| e.to_string())
    }

    const EXAMPLE: &str = r#"
[tasks]
style = "bare"
[[tasks.families]]
name = "addition"
format = "fixed_width_lsb_first"
knobs = { width = 8 }
levels = [1, 8]          # ladder levels in play, inclusive
start_level = 1
[tasks.curriculum]
type = "frontier"
promote = 0.8
min_groups = 24
replay = 0.1
"#;

    #[test]
    fn brief_example_parses_and_validates() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.families[0].knobs.int("width", 0), 8);
        assert_eq!(c.families[0].format, NumberFormat::FixedWidthLsbFirst);
        match c.curriculum {
            CurriculumConfig::Frontier {
                promote,
                min_groups,
                replay,
                band,
                ..
            } => {
                assert_eq!((promote, min_groups, replay), (0.8, 24, 0.1));
                assert_eq!(band, d_band());
            }
            other => panic!("{other:?}"),
        }
        c.validate(&Registry::builtin()).unwrap();
        TasksConfig::default()
            .validate(&Registry::builtin())
            .unwrap();
    }

    #[test]
    fn every_strategy_parses() {
        for t in ["fixed", "uniform", "ladder", "frontier", "learnability"] {
            let c = parse(&format!("[tasks.curriculum]\ntype = \"{t}\"\n")).unwrap();
            assert_eq!(c.curriculum.kind(), t);
            c.validate(&Registry::builtin()).unwrap();
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected_with_key_and_value() {
        assert!(parse("[tasks]\nstyel = \"bare\"\n")
            .unwrap_err()
            .contains("styel"));
        assert!(
            parse("[tasks.curriculum]\ntype = \"frontier\"\npromot = 0.8\n")
                .unwrap_err()
                .contains("promot")
        );
        assert!(parse("[tasks.curriculum]\ntype = \"best\"\n").is_err());
        let reg = Registry::builtin();
        let mut c = parse(EXAMPLE).unwrap();
        c.families[0].levels = [1, 9];
        let e = c.validate(&reg).unwrap_err().to_string();
        assert!(
            e.contains("families[0].levels") && e.contains("[1, 9]"),
            "{e}"
        );
        let mut c = parse(EXAMPLE).unwrap();
        c.families[0].knobs.set("width", 4.0);
        let e = c.validate(&reg).unwrap_err().to_string();
        assert!(
            e.contains("families[0].knobs") && e.contains("width=4"),
            "{e}"
        );
        let mut c = parse(EXAMPLE).unwrap();
        c.families[0].name = "adition".into();
        let e = c.validate(&reg).unwrap_err().to_string();
        assert!(e.contains("adition") && e.contains("addition"), "{e}");
        let c =
            parse("[tasks.curriculum]\ntype = \"ladder\"\npromote = 0.2\ndemote = 0.5\n").unwrap();
        assert!(c
            .validate(&reg)
            .unwrap_err()
            .to_string()
            .contains("curriculum.demote = 0.5"));
    }
}
