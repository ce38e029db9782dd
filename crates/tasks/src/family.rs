//! `trait Family` (the seam users extend to add a verifier), its `Knob`s, and the `Registry`.

use std::sync::OnceLock;

use serde::Serialize;

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

/// One difficulty axis of a family.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Knob {
    /// Name, as used in configs and `--knob NAME=VALUE`.
    pub name: &'static str,
    /// Allowed values.
    pub range: KnobRange,
    /// Value when not set.
    pub default: f64,
    /// Which direction is harder.
    pub harder: Harder,
    /// What it controls.
    pub doc: &'static str,
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
            name,
            range: KnobRange::Int { min, max },
            default: default as f64,
            harder,
            doc,
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
/// panic, in time bounded by the task (reject long completions before parsing them).
pub trait Family: Send + Sync {
    /// Unique name (`addition`).
    fn name(&self) -> &'static str;
    /// The difficulty knobs, with ranges and defaults.
    fn knobs(&self) -> &'static [Knob];
    /// Generates the task for complete, checked `knobs` from `seed`.
    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task;
    /// Decides a completion; never panics.
    fn verify(&self, task: &Task, completion: &str) -> Verdict;

    /// One paragraph: what a task looks like and what answer is accepted.
    fn doc(&self) -> &'static str {
        ""
    }
    /// The documented level ladder: level `L` is the knobs at index `L - 1`, set over the defaults.
    fn ladder(&self) -> Vec<Knobs> {
        vec![Knobs::new()]
    }
    /// Number formats this family can write.
    fn formats(&self) -> &'static [NumberFormat] {
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

/// The families known by name.
pub struct Registry {
    families: Vec<Box<dyn Family>>,
}

impl Registry {
    /// The seven built-in families.
    pub fn builtin() -> Self {
        Self {
            families: crate::families::builtin(),
        }
    }

    /// A shared instance of [`Registry::builtin`].
    pub fn shared() -> &'static Registry {
        static SHARED: OnceLock<Registry> = OnceLock::new();
        SHARED.get_or_init(Registry::builtin)
    }

    /// An empty registry.
    pub fn empty() -> Self {
        Self {
            families: Vec::new(),
        }
    }

    /// Adds (or replaces, by name) a family.
    pub fn register(&mut self, family: Box<dyn Family>) {
        self.families.retain(|f| f.name() != family.name());
        self.families.push(family);
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
    pub fn names(&self) -> Vec<&'static str> {
        self.families.iter().map(|f| f.name()).collect()
    }

    /// Complete knobs: the defaults with `overrides` on top, every name and value checked.
    pub fn resolve(&self, family: &str, overrides: &Knobs, format: NumberFormat) -> Result<Knobs> {
        let fam = self.get(family)?;
        let mut knobs = Knobs::new();
        for k in fam.knobs() {
            knobs.set(k.name, k.default);
        }
        for (name, value) in overrides.iter() {
            let knob = fam.knobs().iter().find(|k| k.name == name).ok_or_else(|| {
                TasksError::UnknownKnob {
                    family: family.to_string(),
                    name: name.to_string(),
                    known: fam
                        .knobs()
                        .iter()
                        .map(|k| k.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            knob.check(value).map_err(|why| TasksError::BadKnob {
                family: family.to_string(),
                name: name.to_string(),
                value,
                why,
            })?;
            knobs.set(knob.name, value);
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

    /// The overrides that define ladder `level` of `family` (1-based).
    pub fn level_knobs(&self, family: &str, level: u32) -> Result<Knobs> {
        let ladder = self.get(family)?.ladder();
        let max = ladder.len() as u32;
        if level == 0 || level > max {
            return Err(TasksError::BadLevel {
                family: family.to_string(),
                level,
                max,
            });
        }
        Ok(ladder[(level - 1) as usize].clone())
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
        let knobs = self.resolve(family, knobs, format)?;
        Ok(self.get(family)?.generate(&knobs, style, format, seed))
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
        let knobs = self.level_knobs(family, level)?.overlay(overrides);
        let mut task = self.generate(family, &knobs, style, format, seed)?;
        task.level = Some(level);
        Ok(task)
    }
}

/// Decides `completion` for `task` with the built-in families (and the import verifiers); never
/// panics: an unknown family gives an incorrect verdict naming it.
pub fn verify(task: &Task, completion: &str) -> Verdict {
    match Registry::shared().get(&task.family) {
        Ok(family) => family.verify(task, completion),
        Err(_) => match crate::import::verify_external(task, completion) {
            Some(v) => v,
            None => Verdict::unknown_family(&task.family),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let v = verify(&t, &t.answer.clone());
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
