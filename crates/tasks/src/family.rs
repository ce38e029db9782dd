//! `trait Family` (the seam users extend to add a verifier), its `Knob`s, and the `Registry`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::curriculum::{Strategies, StrategyConfig};
use crate::error::{Result, TasksError};
use crate::knobs::Knobs;
use crate::task::{NumberFormat, PromptStyle, Task, Verdict};

/// Which direction of a knob makes tasks harder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Harder {
    /// Larger values are harder.
    Up,
    /// Smaller values are harder.
    Down,
    /// The knob changes the task, not its difficulty.
    Neither,
}

/// The values a knob may take.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KnobRange {
    /// Integers in `min..=max`.
    Int {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// Reals in `min..=max`.
    Real {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
    },
}

/// One difficulty axis of a family. Names and docs may be owned, for families made at run time.
#[derive(Debug, Clone, Serialize)]
pub struct Knob {
    /// Name, as used in configs and `--knob NAME=VALUE`.
    pub name: Cow<'static, str>,
    /// Allowed values.
    pub range: KnobRange,
    /// Value when not set.
    pub default: f64,
    /// Which direction is harder.
    pub harder: Harder,
    /// What it controls.
    pub doc: Cow<'static, str>,
}

impl Knob {
    /// An integer knob.
    pub const fn int(
        name: &'static str,
        min: i64,
        max: i64,
        default: i64,
        harder: Harder,
        doc: &'static str,
    ) -> Self {
        Self {
            name: Cow::Borrowed(name),
            range: KnobRange::Int { min, max },
            default: default as f64,
            harder,
            doc: Cow::Borrowed(doc),
        }
    }

    /// Checks `value` against the range; the error says why.
    pub fn check(&self, value: f64) -> std::result::Result<(), String> {
        match self.range {
            KnobRange::Int { min, max } => {
                if value.fract() != 0.0 {
                    return Err("must be an integer".into());
                }
                if value < min as f64 || value > max as f64 {
                    return Err(format!("must be in {min}..={max}"));
                }
            }
            KnobRange::Real { min, max } => {
                if !(value >= min && value <= max) {
                    return Err(format!("must be in {min}..={max}"));
                }
            }
        }
        Ok(())
    }
}

/// A task family: a generator of problems and the exact verifier of their answers.
///
/// Contract: `generate` is deterministic in its arguments (draw randomness only from
/// `TaskRng::new(seed)`), receives complete knobs that passed [`Family::check`], and returns a task
/// whose `answer` verifies as correct. `verify` is total: any string gives a `Verdict`, never a
/// panic, in time bounded by the task (reject long completions before parsing them). `name` and
/// `knobs` do not change over the family's life. A built-in family returns `&'static` data; one
/// made at run time (from text) returns what it owns.
pub trait Family: Send + Sync {
    /// Unique name (`addition`).
    fn name(&self) -> &str;
    /// The difficulty knobs, with ranges and defaults.
    fn knobs(&self) -> &[Knob];
    /// Generates the task for complete, checked `knobs` from `seed`.
    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task;
    /// Decides a completion; never panics.
    fn verify(&self, task: &Task, completion: &str) -> Verdict;

    /// One paragraph: what a task looks like and what answer is accepted.
    fn doc(&self) -> &str {
        ""
    }
    /// The documented level ladder: level `L` is the knobs at index `L - 1`, set over the defaults.
    fn ladder(&self) -> Vec<Knobs> {
        vec![Knobs::new()]
    }
    /// Number formats this family can write.
    fn formats(&self) -> &[NumberFormat] {
        &[NumberFormat::Natural]
    }
    /// Pass rate of a blind guess at these knobs (0.5 for a True/False answer).
    fn chance(&self, _knobs: &Knobs) -> f64 {
        0.0
    }
    /// Checks a combination of knobs beyond their single ranges.
    fn check(&self, _knobs: &Knobs, _format: NumberFormat) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// The extension points by name: task families and curriculum strategies. A value, passed to
/// what needs it (the curriculum, the verifier, the warm start, the trainer); cheap to clone.
#[derive(Clone)]
pub struct Registry {
    families: Vec<Arc<dyn Family>>,
    strategies: Strategies,
    /// Families registered from program entries, by name: what made them (so that the same
    /// program may be registered again, e.g. on resume, and nothing else may take its name).
    programs: std::collections::BTreeMap<String, String>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.names())
            .field("strategies", &self.strategies)
            .finish()
    }
}

impl Registry {
    /// The seven built-in families and the built-in strategies ([`Strategies::builtin`]).
    pub fn builtin() -> Self {
        Self {
            families: crate::families::builtin(),
            strategies: Strategies::builtin(),
            programs: Default::default(),
        }
    }

    /// An empty registry: no family, no strategy.
    pub fn empty() -> Self {
        Self {
            families: Vec::new(),
            strategies: Strategies::empty(),
            programs: Default::default(),
        }
    }

    /// Adds (or replaces, by name) a family.
    pub fn register(&mut self, family: Box<dyn Family>) {
        self.programs.remove(family.name());
        self.families.retain(|f| f.name() != family.name());
        self.families.push(Arc::from(family));
    }

    /// What registered the program family `name` (see [`Registry::register_programs`]).
    pub(crate) fn program_source(&self, name: &str) -> Option<&str> {
        self.programs.get(name).map(String::as_str)
    }

    /// Registers a program family made from `source` (a description of its program, mode,
    /// solve and ladder).
    pub(crate) fn register_program(
        &mut self,
        family: crate::program::ProgramFamily,
        source: String,
    ) {
        let name = family.name().to_string();
        self.register(Box::new(family));
        self.programs.insert(name, source);
    }

    /// Adds (or replaces) the curriculum strategy that `[tasks.curriculum] type = "name"` selects,
    /// with parameters `C` (see [`Strategies::register`]).
    pub fn register_strategy<C: StrategyConfig>(&mut self, name: impl Into<String>) {
        self.strategies.register::<C>(name);
    }

    /// The curriculum strategies.
    pub fn strategies(&self) -> &Strategies {
        &self.strategies
    }

    /// The family called `name`; the error lists the known names.
    pub fn get(&self, name: &str) -> Result<&dyn Family> {
        self.families
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.as_ref())
            .ok_or_else(|| TasksError::UnknownFamily {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// All families, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Family> {
        self.families.iter().map(|f| f.as_ref())
    }

    /// The family names.
    pub fn names(&self) -> Vec<&str> {
        self.families.iter().map(|f| f.name()).collect()
    }

    /// Complete knobs: the defaults with `overrides` on top, every name and value checked.
    pub fn resolve(&self, family: &str, overrides: &Knobs, format: NumberFormat) -> Result<Knobs> {
        resolve(self.get(family)?, overrides, format)
    }

    /// The overrides that define ladder `level` of `family` (1-based).
    pub fn level_knobs(&self, family: &str, level: u32) -> Result<Knobs> {
        level_knobs(self.get(family)?, level)
    }

    /// The task of `family` at `knobs` (overrides of the defaults) from `seed`.
    pub fn generate(
        &self,
        family: &str,
        knobs: &Knobs,
        style: PromptStyle,
        format: NumberFormat,
        seed: u64,
    ) -> Result<Task> {
        let fam = self.get(family)?;
        let knobs = resolve(fam, knobs, format)?;
        Ok(fam.generate(&knobs, style, format, seed))
    }

    /// The task of `family` at ladder `level`, with `overrides` (e.g. `width = 8`) on top.
    pub fn generate_level(
        &self,
        family: &str,
        level: u32,
        overrides: &Knobs,
        style: PromptStyle,
        format: NumberFormat,
        seed: u64,
    ) -> Result<Task> {
        generate_level(self.get(family)?, level, overrides, style, format, seed)
    }

    /// Decides `completion` for `task` with its family here (or an import verifier); never
    /// panics: a family known to neither gives an incorrect verdict naming it. A program task
    /// (one with a `program` field) is decided by the program executor from the task alone,
    /// whether or not its family is registered ([`crate::program::verify`]).
    pub fn verify(&self, task: &Task, completion: &str) -> Verdict {
        if task.program.is_some() {
            return crate::program::verify(task, completion);
        }
        match self.get(&task.family) {
            Ok(family) => family.verify(task, completion),
            Err(_) => match crate::import::verify_external(task, completion) {
                Some(v) => v,
                None => Verdict::unknown_family(&task.family),
            },
        }
    }
}

/// Complete knobs of `fam`: its defaults with `overrides` on top, every name and value checked.
pub(crate) fn resolve(fam: &dyn Family, overrides: &Knobs, format: NumberFormat) -> Result<Knobs> {
    let family = fam.name();
    let mut knobs = Knobs::new();
    for k in fam.knobs() {
        knobs.set(k.name.clone(), k.default);
    }
    for (name, value) in overrides.iter() {
        let knob =
            fam.knobs()
                .iter()
                .find(|k| k.name == name)
                .ok_or_else(|| TasksError::UnknownKnob {
                    family: family.to_string(),
                    name: name.to_string(),
                    known: fam
                        .knobs()
                        .iter()
                        .map(|k| k.name.as_ref())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        knob.check(value).map_err(|why| TasksError::BadKnob {
            family: family.to_string(),
            name: name.to_string(),
            value,
            why,
        })?;
        knobs.set(knob.name.clone(), value);
    }
    if !fam.formats().contains(&format) {
        return Err(TasksError::UnsupportedFormat {
            family: family.to_string(),
            format: format.as_str().to_string(),
            supported: fam
                .formats()
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    fam.check(&knobs, format)
        .map_err(|detail| TasksError::InvalidKnobs {
            family: family.to_string(),
            detail,
        })?;
    Ok(knobs)
}

/// The overrides that define ladder `level` of `fam` (1-based).
pub(crate) fn level_knobs(fam: &dyn Family, level: u32) -> Result<Knobs> {
    let ladder = fam.ladder();
    let max = ladder.len() as u32;
    if level == 0 || level > max {
        return Err(TasksError::BadLevel {
            family: fam.name().to_string(),
            level,
            max,
        });
    }
    Ok(ladder[(level - 1) as usize].clone())
}

/// The task of `fam` at ladder `level`, with `overrides` on top (no registry needed).
pub(crate) fn generate_level(
    fam: &dyn Family,
    level: u32,
    overrides: &Knobs,
    style: PromptStyle,
    format: NumberFormat,
    seed: u64,
) -> Result<Task> {
    let knobs = resolve(fam, &level_knobs(fam, level)?.overlay(overrides), format)?;
    let mut task = fam.generate(&knobs, style, format, seed);
    task.level = Some(level);
    Ok(task)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A family made at run time: its name and knob are owned strings. The task: write `n`.
    pub(crate) struct Echo {
        pub(crate) name: String,
        pub(crate) knobs: Vec<Knob>,
    }

    impl Echo {
        /// `echo_{id}` with one integer knob `{knob}` in 1..=99 (default 1).
        pub(crate) fn new(id: u32, knob: &str) -> Self {
            Self {
                name: format!("echo_{id}"),
                knobs: vec![Knob {
                    name: Cow::Owned(knob.to_string()),
                    range: KnobRange::Int { min: 1, max: 99 },
                    default: 1.0,
                    harder: Harder::Up,
                    doc: Cow::Owned(format!("the number to write back ({knob})")),
                }],
            }
        }
    }

    impl Family for Echo {
        fn name(&self) -> &str {
            &self.name
        }
        fn knobs(&self) -> &[Knob] {
            &self.knobs
        }
        fn generate(
            &self,
            knobs: &Knobs,
            style: PromptStyle,
            format: NumberFormat,
            seed: u64,
        ) -> Task {
            let n = knobs.int(&self.knobs[0].name, 1);
            let gold = n.to_string();
            let reference = crate::answer::wrap(style, &gold);
            Task::new(
                &self.name,
                knobs,
                seed,
                style,
                format,
                format!("echo {n}:"),
                reference,
                String::new(),
            )
        }
        fn verify(&self, task: &Task, completion: &str) -> Verdict {
            crate::answer::verify_exact(
                task.style,
                completion,
                crate::answer::gold(task.style, &task.answer),
            )
        }
        fn ladder(&self) -> Vec<Knobs> {
            (1..=4)
                .map(|n| {
                    let mut k = Knobs::new();
                    k.set(self.knobs[0].name.clone(), n as f64);
                    k
                })
                .collect()
        }
    }

    #[test]
    fn a_family_made_at_run_time_registers_resolves_and_verifies() {
        let mut reg = Registry::builtin();
        reg.register(Box::new(Echo::new(7, "value")));
        assert_eq!(reg.names().last(), Some(&"echo_7"));
        let e = reg
            .resolve(
                "echo_7",
                &Knobs::from_static(&[("valeu", 2.0)]),
                NumberFormat::Natural,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("valeu") && e.contains("its knobs: value"), "{e}");
        let t = reg
            .generate_level(
                "echo_7",
                3,
                &Knobs::new(),
                PromptStyle::Bare,
                NumberFormat::Natural,
                0,
            )
            .unwrap();
        assert_eq!(
            (t.prompt.as_str(), t.answer.as_str(), t.level),
            ("echo 3:", "3", Some(3))
        );
        assert!(reg.verify(&t, "3").correct);
        assert!(!reg.verify(&t, "4").correct);
        // Re-registering by the same (owned) name replaces the family.
        reg.register(Box::new(Echo::new(7, "other")));
        assert_eq!(reg.names().iter().filter(|n| **n == "echo_7").count(), 1);
        assert!(reg
            .resolve(
                "echo_7",
                &Knobs::from_static(&[("other", 2.0)]),
                NumberFormat::Natural
            )
            .is_ok());
    }

    #[test]
    fn registry_verify_uses_its_families_then_the_import_verifiers() {
        let reg = Registry::builtin();
        for fam in reg.iter() {
            let t = reg
                .generate_level(
                    fam.name(),
                    2,
                    &Knobs::new(),
                    PromptStyle::Tagged,
                    NumberFormat::Natural,
                    3,
                )
                .unwrap();
            assert_eq!(
                reg.verify(&t, &t.answer),
                fam.verify(&t, &t.answer),
                "{}",
                fam.name()
            );
            assert!(reg.verify(&t, &t.answer).correct, "{}", fam.name());
        }
        let mut t = reg
            .generate(
                "addition",
                &Knobs::new(),
                PromptStyle::Tagged,
                NumberFormat::Natural,
                1,
            )
            .unwrap();
        t.family = "exact_string".into();
        t.answer = "<answer>Paris</answer>".into();
        assert!(reg.verify(&t, "<answer>Paris</answer>").correct);
        assert!(!reg.verify(&t, "<answer>paris</answer>").correct);
        // An empty registry still knows the import verifiers, and no family.
        assert!(
            Registry::empty()
                .verify(&t, "<answer>Paris</answer>")
                .correct
        );
        t.family = "addition".into();
        assert_eq!(
            Registry::empty().verify(&t, "x").reason,
            crate::task::Reason::UnknownFamily
        );
    }

    #[test]
    fn unknown_family_error_lists_known_names() {
        let err = Registry::builtin()
            .get("adition")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("adition") && err.contains("addition") && err.contains("countdown"),
            "{err}"
        );
    }

    #[test]
    fn resolve_rejects_unknown_knob_and_out_of_range_value() {
        let reg = Registry::builtin();
        let e = reg
            .resolve(
                "addition",
                &Knobs::from_static(&[("digitz", 3.0)]),
                NumberFormat::Natural,
            )
            .unwrap_err();
        assert!(
            e.to_string().contains("digitz") && e.to_string().contains("digits"),
            "{e}"
        );
        let e = reg
            .resolve(
                "addition",
                &Knobs::from_static(&[("digits", 0.0)]),
                NumberFormat::Natural,
            )
            .unwrap_err();
        assert!(e.to_string().contains("digits = 0"), "{e}");
        let e = reg
            .resolve(
                "addition",
                &Knobs::from_static(&[("digits", 2.5)]),
                NumberFormat::Natural,
            )
            .unwrap_err();
        assert!(e.to_string().contains("integer"), "{e}");
        let e = reg
            .resolve("sorting", &Knobs::new(), NumberFormat::FixedWidthLsbFirst)
            .unwrap_err();
        assert!(e.to_string().contains("fixed_width_lsb_first"), "{e}");
    }

    #[test]
    fn bad_level_is_an_error() {
        let reg = Registry::builtin();
        assert!(reg
            .generate_level(
                "addition",
                0,
                &Knobs::new(),
                PromptStyle::Bare,
                NumberFormat::Natural,
                0
            )
            .is_err());
        assert!(reg
            .generate_level(
                "addition",
                99,
                &Knobs::new(),
                PromptStyle::Bare,
                NumberFormat::Natural,
                0
            )
            .is_err());
    }

    #[test]
    fn unknown_family_verdict_names_it() {
        let mut t = Registry::builtin()
            .generate(
                "addition",
                &Knobs::new(),
                PromptStyle::Bare,
                NumberFormat::Natural,
                1,
            )
            .unwrap();
        t.family = "nope".into();
        let v = Registry::builtin().verify(&t, &t.answer.clone());
        assert!(!v.correct);
        assert_eq!(v.reason, crate::task::Reason::UnknownFamily);
        assert!(v.detail.unwrap().contains("nope"));
    }

    #[test]
    fn every_family_has_seven_or_more_levels_and_valid_ladder() {
        let reg = Registry::builtin();
        assert!(reg.names().len() >= 7);
        for fam in reg.iter() {
            let ladder = fam.ladder();
            assert!(
                ladder.len() >= 6,
                "{} has {} levels",
                fam.name(),
                ladder.len()
            );
            for (i, k) in ladder.iter().enumerate() {
                reg.resolve(fam.name(), k, NumberFormat::Natural)
                    .unwrap_or_else(|e| panic!("{} level {}: {e}", fam.name(), i + 1));
            }
        }
    }
}
