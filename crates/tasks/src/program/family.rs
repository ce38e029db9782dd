//! [`ProgramFamily`]: a task program as a [`Family`], so that a curriculum trains on it like on
//! any built-in. Its knobs are the input sizes (`a_digits` for `a:int[D]`; `l_len` and `l_digits`
//! for `l:list[N,D]`; a bool has none), defaulting to the declared sizes; `generate` runs the
//! program at the sizes the knobs give.

use std::borrow::Cow;

use super::fingerprint::Validity;
use super::instance::{self, Mode, Spec, Texts};
use super::tree::Program;
use super::types::{Input, InputKind, Type, MAX_INT_DIGITS, MAX_LIST_LEN};
use crate::error::{Result, TasksError};
use crate::family::{Family, Harder, Knob, KnobRange};
use crate::knobs::Knobs;
use crate::task::{NumberFormat, PromptStyle, Task, Verdict};

/// Longest family name (it names eval files and plot rows).
pub const MAX_NAME_LEN: usize = 64;

/// A task family made from a program.
#[derive(Debug, Clone)]
pub struct ProgramFamily {
    name: String,
    program: Program,
    texts: Texts,
    mode: Mode,
    solve: usize,
    knobs: Vec<Knob>,
    ladder: Vec<Knobs>,
    doc: String,
}

/// The rules a program family's sizes must meet: the evolver's, without its answer-length cap
/// (a run's completion length is the run's business).
fn rules() -> Validity {
    Validity {
        max_answer_chars: usize::MAX,
        ..Validity::default()
    }
}

/// Whether `name` may name a family: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ProgramFamily {
    /// The family `name` of `program`'s tasks in `mode`, at the declared sizes, with the default
    /// ladder ([`ProgramFamily::default_ladder`]). In input mode the input to find is the first
    /// int or list input (see [`ProgramFamily::with_solve`]). Errors: a bad name, a program that
    /// is not a valid family at its declared sizes ([`Program::validate`]'s rules without the
    /// answer-length cap), or input mode without an int or list input.
    pub fn new(name: impl Into<String>, program: Program, mode: Mode) -> Result<Self> {
        let name = name.into();
        let bad = |why: String| TasksError::ProgramFamily {
            family: name.clone(),
            why,
        };
        if !valid_name(&name) {
            return Err(bad(format!(
                "a family name is 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ -"
            )));
        }
        program
            .validate(&rules())
            .map_err(|e| bad(format!("`{program}` is not a valid task program: {e}")))?;
        let solve = match mode {
            Mode::Output => 0,
            Mode::Input => program
                .inputs
                .iter()
                .position(|d| d.kind.ty() != Type::Bool)
                .ok_or_else(|| {
                    bad("input mode needs an int or list input to find (a bool is a coin flip)".into())
                })?,
        };
        let knobs = program.inputs.iter().flat_map(input_knobs).collect();
        let mut family = ProgramFamily {
            texts: Texts::of(&program),
            name,
            program,
            mode,
            solve,
            knobs,
            ladder: Vec::new(),
            doc: String::new(),
        };
        family.ladder = family.default_ladder();
        Ok(family)
    }

    /// In input mode, find the input `name` (an int or list input) instead of the first one.
    pub fn with_solve(mut self, name: &str) -> Result<Self> {
        let found = self.program.inputs.iter().position(|d| d.name == name);
        let why = match found.map(|k| self.program.inputs[k].kind.ty()) {
            _ if self.mode != Mode::Input => Some("solve applies to input mode only".to_string()),
            None => Some(format!(
                "solve = {name:?} is not an input of `{}`",
                self.program
            )),
            Some(Type::Bool) => Some(format!("solve = {name:?} is a bool: a coin flip")),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(TasksError::ProgramFamily {
                family: self.name,
                why,
            });
        }
        self.solve = found.unwrap_or(0);
        Ok(self)
    }

    /// Levels `1..=n` at these knob settings (each over the declared sizes), each checked: known
    /// knobs, values in range, and a valid program at those sizes.
    pub fn with_ladder(mut self, ladder: Vec<Knobs>) -> Result<Self> {
        if ladder.is_empty() {
            return Err(TasksError::ProgramFamily {
                family: self.name,
                why: "the ladder is empty".into(),
            });
        }
        for (i, level) in ladder.iter().enumerate() {
            crate::family::resolve(&self, level, NumberFormat::Natural).map_err(|e| {
                TasksError::ProgramFamily {
                    family: self.name.clone(),
                    why: format!("ladder level {} ({}): {e}", i + 1, level.label()),
                }
            })?;
        }
        self.ladder = ladder;
        Ok(self)
    }

    /// A one-paragraph description (shown by `rlvr tasks list`).
    pub fn with_doc(mut self, doc: impl Into<String>) -> Self {
        self.doc = doc.into();
        self
    }

    /// The program at its declared sizes.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Input mode: the name of the input to find.
    pub fn solve(&self) -> Option<&str> {
        (self.mode == Mode::Input).then(|| self.program.inputs[self.solve].name.as_str())
    }

    /// The ladder used when none is given: level L caps every input's digits at L (lists keep
    /// their length), L = 1 up to the most digits declared; levels at which the program is not
    /// a valid family are left out. One level (the declared sizes) when no input has digits.
    pub fn default_ladder(&self) -> Vec<Knobs> {
        let top = self
            .program
            .inputs
            .iter()
            .map(|d| match d.kind {
                InputKind::Int { digits } | InputKind::List { digits, .. } => digits,
                InputKind::Bool => 0,
            })
            .max()
            .unwrap_or(0);
        let mut ladder: Vec<Knobs> = (1..=top)
            .map(|level| {
                let mut k = Knobs::new();
                for d in &self.program.inputs {
                    if let InputKind::Int { digits } | InputKind::List { digits, .. } = d.kind {
                        k.set(format!("{}_digits", d.name), digits.min(level) as f64);
                    }
                }
                k
            })
            .filter(|k| self.sized(k).is_ok())
            .collect();
        if ladder.is_empty() {
            ladder.push(Knobs::new());
        }
        ladder
    }

    /// The input sizes that `knobs` set (declared sizes where unset).
    pub fn kinds(&self, knobs: &Knobs) -> Vec<InputKind> {
        // The knobs are the inputs' in declaration order: a list's `_len` then `_digits`.
        let mut next = self.knobs.iter();
        let mut get = |default: u32| {
            next.next()
                .and_then(|k| knobs.get(&k.name))
                .map_or(default, |v| v as u32)
        };
        self.program
            .inputs
            .iter()
            .map(|d| match d.kind {
                InputKind::Int { digits } => InputKind::Int {
                    digits: get(digits),
                },
                InputKind::List { len, digits } => InputKind::List {
                    len: get(len),
                    digits: get(digits),
                },
                InputKind::Bool => InputKind::Bool,
            })
            .collect()
    }

    /// The program at the sizes `knobs` set, checked against the validity rules.
    pub fn sized(&self, knobs: &Knobs) -> std::result::Result<Program, String> {
        let inputs: Vec<Input> = self
            .program
            .inputs
            .iter()
            .zip(self.kinds(knobs))
            .map(|(d, kind)| Input {
                name: d.name.clone(),
                kind,
            })
            .collect();
        let p = self.program.with_inputs(inputs).map_err(|e| e.to_string())?;
        p.validate(&rules())
            .map_err(|e| format!("`{p}` is not a valid task program: {e}"))?;
        Ok(p)
    }

    /// The task at complete `knobs` from `seed`; an error when no input runs at these sizes.
    pub fn task(
        &self,
        knobs: &Knobs,
        style: PromptStyle,
        format: NumberFormat,
        seed: u64,
    ) -> Result<Task> {
        let kinds = self.kinds(knobs);
        let spec = Spec {
            family: &self.name,
            program: &self.program,
            texts: &self.texts,
            kinds: &kinds,
            knobs,
            mode: self.mode,
            solve: self.solve,
            style,
            format,
        };
        instance::make_task(&spec, seed).map_err(|error| TasksError::NoInstance {
            family: self.name.clone(),
            knobs: knobs.label(),
            error,
        })
    }
}

/// The knobs of one input: its digits (and its length, for a list).
fn input_knobs(d: &Input) -> Vec<Knob> {
    let knob = |field: &str, max: usize, default: u32, what: String| Knob {
        name: Cow::Owned(format!("{}_{field}", d.name)),
        range: KnobRange::Int {
            min: 1,
            max: max as i64,
        },
        default: default as f64,
        harder: Harder::Up,
        doc: Cow::Owned(what),
    };
    match d.kind {
        InputKind::Int { digits } => vec![knob(
            "digits",
            MAX_INT_DIGITS as usize,
            digits,
            format!("most digits of {}", d.name),
        )],
        InputKind::List { len, digits } => vec![
            knob(
                "len",
                MAX_LIST_LEN,
                len,
                format!("number of elements of {}", d.name),
            ),
            knob(
                "digits",
                MAX_INT_DIGITS as usize,
                digits,
                format!("most digits of each element of {}", d.name),
            ),
        ],
        InputKind::Bool => Vec::new(),
    }
}

impl Family for ProgramFamily {
    fn name(&self) -> &str {
        &self.name
    }

    fn knobs(&self) -> &[Knob] {
        &self.knobs
    }

    /// A task at checked knobs. Should no input run at them at all (only possible when the
    /// knobs skipped [`Family::check`]), the task says so and no answer verifies.
    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        self.task(knobs, style, format, seed).unwrap_or_else(|e| {
            Task::new(
                &self.name,
                knobs,
                seed,
                style,
                format,
                format!("{} (no valid instance: {e})", self.texts.compact),
                String::new(),
                String::new(),
            )
        })
    }

    fn verify(&self, task: &Task, completion: &str) -> Verdict {
        instance::verify(task, completion)
    }

    fn doc(&self) -> &str {
        &self.doc
    }

    fn ladder(&self) -> Vec<Knobs> {
        self.ladder.clone()
    }

    fn formats(&self) -> &[NumberFormat] {
        &[NumberFormat::Natural, NumberFormat::FixedWidthLsbFirst]
    }

    fn chance(&self, _knobs: &Knobs) -> f64 {
        match (self.mode, self.program.output) {
            (Mode::Output, Type::Bool) => 0.5,
            _ => 0.0,
        }
    }

    fn check(&self, knobs: &Knobs, _format: NumberFormat) -> std::result::Result<(), String> {
        self.sized(knobs).map(|_| ())
    }
}
