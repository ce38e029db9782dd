//! Verifiable tasks for RLVR: generators that make problems without limit, exact verifiers that
//! decide answers (the reward), and an autocurriculum that chooses what to train on.
//!
//! Pipeline order: a [`TasksConfig`] names the families in play and the curriculum strategy; a
//! [`Curriculum`] picks a cell (family × knob setting) with that family's [`Strategy`] and asks the
//! [`Registry`]'s [`Family`] to generate a [`Task`] from a seed; the policy answers;
//! [`Registry::verify`] turns each completion into a [`Verdict`]; the verdicts go back to
//! [`Curriculum::observe`]. Frozen eval sets ([`EvalSet`]) are JSONL files of tasks whose ids
//! training never uses; [`jaggedness_map`] tabulates pass rates per family × difficulty. This
//! crate has no model dependency: it is a task library on its own.
//!
//! The [`Registry`] is a value (no global): [`Registry::builtin`] holds the seven built-in
//! families and the five built-in strategies, and whatever needs families (the curriculum, the
//! verifier, the trainer) is handed one. Both extension points are open from another crate:
//! - A family (a verifier): implement [`Family`] (four required methods: `name`, `knobs`,
//!   `generate`, `verify`; `ladder`, `doc`, `formats`, `chance` and `check` have defaults), reuse
//!   [`answer::extract`] for the prompt styles, and [`Registry::register`] it. The contract every
//!   family must meet (VERIFIERS.md) is checked per family by the property tests in
//!   `families/contract.rs`.
//! - A curriculum strategy: implement [`Strategy`] (one required method, `choose`) and a
//!   [`StrategyConfig`] for its `[tasks.curriculum]` parameters, and
//!   [`Registry::register_strategy`] it under the name that `type = "..."` selects.
//!
//! `docs/extending.md` walks through both; `examples/custom-family` trains on its own family.
//!
//! Task programs ([`program`]) make families without Rust: a typed one-line expression such as
//! `sort(digits(add(a, b))); a:int[3]; b:int[3]` whose executor computes the answer, a behavioural
//! fingerprint that says which programs are one family, and an evolver that grows an archive of
//! distinct families from the primitives alone. [`program::ProgramFamily`] makes a program a
//! [`Family`] (output or input mode; knobs = its input sizes); program files
//! (`tasks/programs/*.toml`, [`program::ProgramFile`]) and a config's `program`/`programs`
//! entries become registered families through [`Registry::register_programs`]; a program task
//! carries its program and verifies from its JSON line alone ([`program::verify`]).
//!
//! ```
//! use tasks::{Knobs, NumberFormat, PromptStyle, Registry};
//!
//! let registry = Registry::builtin();
//! let width = Knobs::from_static(&[("width", 8.0)]);
//! let task = registry
//!     .generate_level("addition", 2, &width, PromptStyle::Bare, NumberFormat::FixedWidthLsbFirst, 7)
//!     .unwrap();
//! assert_eq!(task.prompt.len(), "21000000+43000000=".len());
//! assert!(registry.verify(&task, &task.answer).correct);
//! assert!(!registry.verify(&task, "12").correct);
//! ```
#![deny(missing_docs)]

pub mod answer;
mod config;
mod curriculum;
mod error;
pub mod expr;
pub mod families;
mod family;
mod import;
mod jaggedness;
mod jsonl;
mod knobs;
pub mod program;
mod rng;
mod task;

pub use config::{CurriculumConfig, FamilyConfig, StatsConfig, TasksConfig};
pub use curriculum::{
    invented_name, CellStats, CellStatus, Curriculum, CurriculumState, EvolveCurriculumConfig,
    EvolveFamily, FamilyCells, FamilyEvent, FamilyPosition, FixedConfig, FrontierConfig,
    LadderConfig, LearnabilityConfig, NewCell, OpenMetrics, Origin, Strategies, Strategy,
    StrategyConfig, UniformConfig, EVOLVE, EXHAUSTED_MIN_GROUPS,
};
pub use error::{Result, TasksError};
pub use family::{Family, Harder, Knob, KnobRange, Registry};
pub use import::{import_jsonl, ExternalVerifier};
pub use jaggedness::{
    above_chance, jaggedness_map, majority_share, spread, JaggednessMap, JaggednessRow, Spread,
};
pub use jsonl::{eval_file_name, EvalSet};
pub use knobs::Knobs;
pub use rng::{mix64, TaskRng};
pub use task::{task_id, NumberFormat, PromptStyle, Reason, Task, Verdict};
