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
use serde_json::{Map, Value};

use crate::curriculum::FrontierConfig;
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

/// One family in play: a registered family by `name`, or a program family (`program` or
/// `programs`; see [`crate::Registry::register_programs`], which turns program entries into
/// registered families before anything else reads the config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "FamilyToml")]
pub struct FamilyConfig {
    /// Registered family name. A `program` entry: the family's name (empty when not given:
    /// `program_` and 8 hex digits of the program's hash). A `programs` entry: the one program
    /// of the file to use (empty when not given: all of them).
    pub name: String,
    /// A task program with its declarations (`sum(digits(a)); a:int[6]`): this entry is that
    /// program's family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// A program file (`tasks/programs/digits.toml`): its programs are families, one entry each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programs: Option<std::path::PathBuf>,
    /// A `program` entry: output (compute the result, the default) or input (find an input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::program::Mode>,
    /// A `program` entry in input mode: the input to find (default: the first int or list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solve: Option<String>,
    /// A `program` entry: its levels as knob settings (default: one level per digit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ladder: Vec<Knobs>,
    /// Number format.
    pub format: NumberFormat,
    /// Knobs fixed at every level (e.g. `width = 8`), set over the ladder's.
    pub knobs: Knobs,
    /// Ladder levels in play, inclusive `[min, max]`. A program entry without it: `[0, 0]`
    /// until its programs are registered, then its whole ladder.
    pub levels: [u32; 2],
    /// Level where `fixed`, `ladder` and `frontier` start.
    pub start_level: u32,
    /// Relative sampling weight among families (each family of a `programs` entry has it).
    pub weight: f64,
}

/// [`FamilyConfig`] as written: the same keys, each optional, so that a program entry can tell
/// a key left out from its default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyToml {
    name: Option<String>,
    program: Option<String>,
    programs: Option<std::path::PathBuf>,
    mode: Option<crate::program::Mode>,
    solve: Option<String>,
    #[serde(default)]
    ladder: Vec<Knobs>,
    format: Option<NumberFormat>,
    knobs: Option<Knobs>,
    levels: Option<[u32; 2]>,
    start_level: Option<u32>,
    weight: Option<f64>,
}

impl From<FamilyToml> for FamilyConfig {
    fn from(t: FamilyToml) -> Self {
        let d = FamilyConfig::default();
        let program = t.program.is_some() || t.programs.is_some();
        Self {
            name: t
                .name
                .unwrap_or_else(|| if program { String::new() } else { d.name }),
            program: t.program,
            programs: t.programs,
            mode: t.mode,
            solve: t.solve,
            ladder: t.ladder,
            format: t.format.unwrap_or(d.format),
            knobs: t.knobs.unwrap_or(d.knobs),
            levels: t.levels.unwrap_or(if program { [0, 0] } else { d.levels }),
            start_level: t.start_level.unwrap_or(d.start_level),
            weight: t.weight.unwrap_or(d.weight),
        }
    }
}

impl FamilyConfig {
    /// Whether this entry names a program or a program file.
    pub fn is_program(&self) -> bool {
        self.program.is_some() || self.programs.is_some()
    }
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

/// The curriculum strategy and its parameters: `type` names a strategy registered in the
/// [`Registry`] ([`crate::Strategies`]); every other key is a parameter of that strategy, read
/// into its own config struct (which rejects unknown keys) when the config is validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurriculumConfig {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    params: Map<String, Value>,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            style: PromptStyle::Bare,
            // The quickstart's family: addition in fixed-width LSB-first notation, width 8.
            families: vec![FamilyConfig {
                format: NumberFormat::FixedWidthLsbFirst,
                knobs: Knobs::from_static(&[("width", 8.0)]),
                ..FamilyConfig::default()
            }],
            curriculum: CurriculumConfig::default(),
            stats: StatsConfig::default(),
        }
    }
}

impl Default for FamilyConfig {
    fn default() -> Self {
        Self {
            name: "addition".into(),
            program: None,
            programs: None,
            mode: None,
            solve: None,
            ladder: Vec::new(),
            format: NumberFormat::Natural,
            knobs: Knobs::new(),
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
        Self::new("frontier", &FrontierConfig::default())
            .unwrap_or_else(|_| Self::named("frontier"))
    }
}

impl CurriculumConfig {
    /// The strategy `kind` with `params` (its config struct, e.g. [`crate::LadderConfig`]); an
    /// error when they do not serialise as a table.
    pub fn new(kind: impl Into<String>, params: &impl Serialize) -> Result<Self> {
        let kind = kind.into();
        match serde_json::to_value(params) {
            Ok(Value::Object(params)) => Ok(Self { kind, params }),
            other => Err(TasksError::StrategyParams {
                strategy: kind,
                key: "curriculum".into(),
                detail: match other {
                    Ok(v) => format!("parameters must serialise as a table, not {v}"),
                    Err(e) => e.to_string(),
                },
            }),
        }
    }

    /// The strategy `kind` with no parameters set (all its defaults).
    pub fn named(kind: impl Into<String>) -> Self {
        Self::from_parts(kind, Map::new())
    }

    pub(crate) fn from_parts(kind: impl Into<String>, params: Map<String, Value>) -> Self {
        Self {
            kind: kind.into(),
            params,
        }
    }

    /// The `type` name.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The parameters as written (every key but `type`).
    pub fn params(&self) -> &Map<String, Value> {
        &self.params
    }
}

pub(crate) fn bad(
    key: impl Into<String>,
    value: impl ToString,
    why: impl Into<String>,
) -> TasksError {
    TasksError::Config {
        key: key.into(),
        value: value.to_string(),
        why: why.into(),
    }
}

/// Checks that `v` is in [0, 1]; the error names `key`.
pub(crate) fn unit(key: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(bad(key, v, "must be in [0, 1]"))
    }
}

impl TasksConfig {
    /// Checks every value against `registry`'s families and strategies; errors name the key and
    /// the value.
    pub fn validate_with(&self, registry: &Registry) -> Result<()> {
        if self.families.is_empty() {
            return Err(bad("families", "[]", "at least one family is needed"));
        }
        for (i, f) in self.families.iter().enumerate() {
            let key = |k: &str| format!("families[{i}].{k}");
            if f.programs.is_some() || (f.is_program() && (f.name.is_empty() || f.levels[0] == 0)) {
                return Err(bad(
                    key("program"),
                    f.program.as_deref().map_or_else(
                        || {
                            format!(
                                "{:?}",
                                f.programs.as_deref().unwrap_or(std::path::Path::new(""))
                            )
                        },
                        |p| format!("{p:?}"),
                    ),
                    "a program entry: register its programs first (Registry::register_programs)",
                ));
            }
            if !f.is_program() && (f.mode.is_some() || f.solve.is_some() || !f.ladder.is_empty()) {
                return Err(bad(
                    key("mode"),
                    &f.name,
                    "mode, solve and ladder apply to program entries only",
                ));
            }
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
        registry.strategies().resolve(&self.curriculum)?;
        Ok(())
    }

    /// This config, validated, with every curriculum parameter set (defaults filled in): what a
    /// run writes as its resolved config.
    pub fn resolved(&self, registry: &Registry) -> Result<Self> {
        self.validate_with(registry)?;
        Ok(Self {
            curriculum: registry.strategies().resolve(&self.curriculum)?,
            ..self.clone()
        })
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
        let reg = Registry::builtin();
        let resolved = c.resolved(&reg).unwrap();
        assert_eq!(resolved.curriculum.kind(), "frontier");
        let frontier: FrontierConfig =
            serde_json::from_value(Value::Object(resolved.curriculum.params().clone())).unwrap();
        assert_eq!(
            (frontier.promote, frontier.min_groups, frontier.replay),
            (0.8, 24, 0.1)
        );
        assert_eq!(frontier.band, FrontierConfig::default().band);
        TasksConfig::default().validate_with(&reg).unwrap();
    }

    #[test]
    fn every_strategy_parses_and_resolves_to_every_key_with_its_default() {
        let reg = Registry::builtin();
        let keys: [(&str, &[&str]); 5] = [
            ("fixed", &[]),
            ("uniform", &[]),
            ("ladder", &["demote", "promote", "window"]),
            (
                "frontier",
                &["band", "demote", "min_groups", "promote", "replay"],
            ),
            (
                "learnability",
                &[
                    "intermediates",
                    "min_groups",
                    "prior",
                    "progress_weight",
                    "promote",
                    "replay",
                    "temperature",
                ],
            ),
        ];
        for (t, want) in keys {
            let c = parse(&format!("[tasks.curriculum]\ntype = \"{t}\"\n")).unwrap();
            assert_eq!(c.curriculum.kind(), t);
            let resolved = c.resolved(&reg).unwrap().curriculum;
            let got: Vec<&str> = resolved.params().keys().map(String::as_str).collect();
            assert_eq!(got, want, "{t}");
        }
        // The default is frontier with every key already set, and resolving keeps values given.
        let d = CurriculumConfig::default();
        assert_eq!(reg.strategies().resolve(&d).unwrap(), d);
        let c = parse("[tasks.curriculum]\ntype = \"ladder\"\nwindow = 3\n").unwrap();
        let r = reg.strategies().resolve(&c.curriculum).unwrap();
        assert_eq!(r.params()["window"], 3);
        assert_eq!(r.params()["promote"], 0.7);
    }

    #[test]
    fn the_resolved_config_round_trips_through_toml() {
        #[derive(Serialize, Deserialize)]
        struct Root {
            tasks: TasksConfig,
        }
        let reg = Registry::builtin();
        let c = parse(EXAMPLE).unwrap().resolved(&reg).unwrap();
        let text = toml::to_string(&Root { tasks: c.clone() }).unwrap();
        assert!(text.contains("band = [0.05, 0.95]"), "{text}");
        assert_eq!(parse(&text).unwrap(), c);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected_with_key_and_value() {
        assert!(parse("[tasks]\nstyel = \"bare\"\n")
            .unwrap_err()
            .contains("styel"));
        let reg = Registry::builtin();
        let e = parse("[tasks.curriculum]\ntype = \"frontier\"\npromot = 0.8\n")
            .unwrap()
            .validate_with(&reg)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tasks.curriculum")
                && e.contains("unknown field `promot`")
                && e.contains("`promote`"),
            "{e}"
        );
        let e = parse("[tasks.curriculum]\ntype = \"ladder\"\nwindow = \"wide\"\n")
            .unwrap()
            .validate_with(&reg)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tasks.curriculum.window") && e.contains("\"wide\""),
            "{e}"
        );
        let e = parse("[tasks.curriculum]\ntype = \"best\"\n")
            .unwrap()
            .validate_with(&reg)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"best\"") && e.contains("frontier") && e.contains("learnability"),
            "{e}"
        );
        assert!(parse("[tasks.curriculum]\npromote = 0.8\n")
            .unwrap_err()
            .contains("type"));
        let mut c = parse(EXAMPLE).unwrap();
        c.families[0].levels = [1, 9];
        let e = c.validate_with(&reg).unwrap_err().to_string();
        assert!(
            e.contains("families[0].levels") && e.contains("[1, 9]"),
            "{e}"
        );
        let mut c = parse(EXAMPLE).unwrap();
        c.families[0].knobs.set("width", 4.0);
        let e = c.validate_with(&reg).unwrap_err().to_string();
        assert!(
            e.contains("families[0].knobs") && e.contains("width=4"),
            "{e}"
        );
        let mut c = parse(EXAMPLE).unwrap();
        c.families[0].name = "adition".into();
        let e = c.validate_with(&reg).unwrap_err().to_string();
        assert!(e.contains("adition") && e.contains("addition"), "{e}");
        let c =
            parse("[tasks.curriculum]\ntype = \"ladder\"\npromote = 0.2\ndemote = 0.5\n").unwrap();
        assert!(c
            .validate_with(&reg)
            .unwrap_err()
            .to_string()
            .contains("curriculum.demote = 0.5"));
    }
}
