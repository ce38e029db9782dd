//! [`ProgramFamily`]: a task program as a [`Family`], so that a curriculum trains on it like on
//! any built-in. Its knobs are the input sizes (`a_digits` for `a:int[D]`; `l_len` and `l_digits`
//! for `l:list[N,D]`; a bool has none), defaulting to the declared sizes; `generate` runs the
//! program at the sizes the knobs give.

use std::borrow::Cow;

use super::fingerprint::Validity;
use super::instance::{self, Mode, Spec, Texts};
use super::tree::Program;
use super::types::{Input, InputKind, Type, MAX_INPUTS, MAX_INT_DIGITS, MAX_LIST_LEN};
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
                    bad(
                        "input mode needs an int or list input to find (a bool is a coin flip)"
                            .into(),
                    )
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
        family.keep_ladder_texts();
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
        self.keep_ladder_texts();
        Ok(self)
    }

    /// Keeps the program text of each ladder level, so that its tasks share one.
    fn keep_ladder_texts(&mut self) {
        for level in &self.ladder {
            let kinds = self.kinds(level);
            self.texts.keep_program(&self.program, &kinds);
        }
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
        self.kinds_iter(knobs).collect()
    }

    /// [`Self::kinds`], one input at a time.
    fn kinds_iter<'a>(&'a self, knobs: &'a Knobs) -> impl Iterator<Item = InputKind> + 'a {
        // The knobs are the inputs' in declaration order: a list's `_len` then `_digits`.
        let mut next = self.knobs.iter();
        let mut get = move |default: u32| {
            next.next()
                .and_then(|k| knobs.get(&k.name))
                .map_or(default, |v| v as u32)
        };
        self.program.inputs.iter().map(move |d| match d.kind {
            InputKind::Int { digits } => InputKind::Int {
                digits: get(digits),
            },
            InputKind::List { len, digits } => InputKind::List {
                len: get(len),
                digits: get(digits),
            },
            InputKind::Bool => InputKind::Bool,
        })
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
        let p = self
            .program
            .with_inputs(inputs)
            .map_err(|e| e.to_string())?;
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
        // On the stack: this runs once per task (a parsed program has at most MAX_INPUTS).
        let mut stack = [InputKind::Bool; MAX_INPUTS];
        let heap: Vec<InputKind>;
        let kinds: &[InputKind] = if self.program.inputs.len() <= MAX_INPUTS {
            for (slot, kind) in stack.iter_mut().zip(self.kinds_iter(knobs)) {
                *slot = kind;
            }
            &stack[..self.program.inputs.len()]
        } else {
            heap = self.kinds(knobs);
            &heap
        };
        let spec = Spec {
            family: &self.name,
            program: &self.program,
            texts: &self.texts,
            kinds,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::contract;
    use crate::family::Registry;
    use crate::program::{Inputs, Value};
    use crate::rng::TaskRng;
    use crate::task::Reason;

    const NAT: NumberFormat = NumberFormat::Natural;
    const LSB: NumberFormat = NumberFormat::FixedWidthLsbFirst;
    const BARE: PromptStyle = PromptStyle::Bare;
    const TAGGED: PromptStyle = PromptStyle::Tagged;

    fn family(text: &str, mode: Mode) -> ProgramFamily {
        ProgramFamily::new("t", Program::parse(text).unwrap(), mode).unwrap()
    }

    fn task(f: &ProgramFamily, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        contract::task_at(
            f,
            f.ladder().len() as u32,
            &Knobs::new(),
            style,
            format,
            seed,
        )
    }

    fn int(v: &Value) -> i64 {
        match v {
            Value::Int(x) => *x,
            other => panic!("{other:?}"),
        }
    }

    fn input(t: &Task, name: &str) -> i64 {
        int(t.inputs.as_ref().unwrap().get(name).unwrap())
    }

    /// `n` zero-padded to `w` digits, least-significant first (by hand, for the tests).
    fn lsb(n: i64, w: usize) -> String {
        format!("{:0w$}", n).chars().rev().collect()
    }

    #[test]
    fn output_mode_bare_natural_by_hand() {
        let f = family("sort(digits(add(a, b))); a:int[3]; b:int[3]", Mode::Output);
        for seed in 0..50 {
            let t = task(&f, BARE, NAT, seed);
            let (a, b) = (input(&t, "a"), input(&t, "b"));
            assert_eq!(t.prompt, format!("sort(digits(add(a,b))) a={a} b={b} ="));
            let mut digits: Vec<char> = (a + b).to_string().chars().collect();
            digits.sort();
            let want = format!(
                "[{}]",
                digits
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            assert_eq!(t.answer, want);
            assert!(f.verify(&t, &want).correct);
            assert!(
                f.verify(&t, &want.replace(',', ", ")).correct,
                "spaces are ignored"
            );
            assert_eq!(
                t.program.as_deref(),
                Some("sort(digits(add(a, b))); a:int[3]; b:int[3]")
            );
            assert_eq!(t.mode, Some(Mode::Output));
            assert_eq!(t.solve, None);
        }
    }

    #[test]
    fn fixed_width_pads_inputs_to_their_digits_and_the_answer_to_its_bound() {
        let f = family("add(a, b); a:int[3]; b:int[3]", Mode::Output);
        let t = task(&f, BARE, LSB, 3);
        let (a, b) = (input(&t, "a"), input(&t, "b"));
        assert_eq!(
            t.prompt,
            format!("add(a,b) a={} b={} =", lsb(a, 3), lsb(b, 3))
        );
        assert_eq!(t.answer, lsb(a + b, 4));
        assert!(f.verify(&t, &lsb(a + b, 4)).correct);
        // The natural spelling and a width off by one are not the format.
        assert!(!f.verify(&t, &(a + b).to_string()).correct || (a + b) < 10);
        assert!(!f.verify(&t, &lsb(a + b, 5)).correct);
        // Negative results keep their sign in front; lists pad each element.
        let f = family("sub(a, b); a:int[2]; b:int[3]", Mode::Output);
        let t = (0..100)
            .map(|s| task(&f, BARE, LSB, s))
            .find(|t| input(t, "a") < input(t, "b"))
            .unwrap();
        let d = input(&t, "a") - input(&t, "b");
        assert_eq!(t.answer, format!("-{}", lsb(-d, 4)));
        let f = family("rev(l); l:list[3,2]", Mode::Output);
        let t = task(&f, BARE, LSB, 1);
        let Some(Value::List(l)) = t.inputs.as_ref().unwrap().get("l").cloned() else {
            panic!()
        };
        let want: Vec<String> = l.iter().rev().map(|x| lsb(*x, 2)).collect();
        assert_eq!(t.answer, format!("[{}]", want.join(",")));
    }

    #[test]
    fn tagged_prompts_instruct_and_wrap() {
        let f = family("div(a, add(b, 1)); a:int[3]; b:int[2]", Mode::Output);
        let t = task(&f, TAGGED, LSB, 0);
        let (a, b) = (input(&t, "a"), input(&t, "b"));
        assert!(
            t.prompt.starts_with(&format!(
                "Evaluate the program `div(a, add(b, 1))` for a = {} and b = {}.",
                lsb(a, 3),
                lsb(b, 2)
            )),
            "{}",
            t.prompt
        );
        assert!(t.prompt.contains("like Python's //"), "{}", t.prompt);
        assert!(
            t.prompt
                .contains("a 3 digits, b 2 digits, the result 3 digits"),
            "{}",
            t.prompt
        );
        assert!(t
            .prompt
            .ends_with("Write the result as an integer inside <answer></answer>."));
        let gold = lsb(a.div_euclid(b + 1), 3);
        assert_eq!(t.answer, format!("<answer>{gold}</answer>"));
        assert!(
            f.verify(&t, &format!("so... <answer> {gold} </answer>"))
                .correct
        );
        assert!(!f.verify(&t, &gold).correct, "tagged needs the tags");
        let hedge = format!("<answer>{gold}</answer><answer>{gold}</answer>");
        assert_eq!(f.verify(&t, &hedge).reason, Reason::Hedged);
    }

    #[test]
    fn input_mode_accepts_any_input_within_its_size_that_gives_the_result() {
        let f = family("mod(a, 7); a:int[3]", Mode::Input);
        assert_eq!(f.solve(), Some("a"));
        for seed in 0..40 {
            let t = task(&f, BARE, NAT, seed);
            let a = input(&t, "a");
            let y = int(t.value.as_ref().unwrap());
            assert_eq!(y, a % 7);
            assert_eq!(t.prompt, format!("mod(a,7) ={y} a:int[3]="));
            assert_eq!(t.answer, a.to_string());
            assert_eq!(t.solve.as_deref(), Some("a"));
            // Every other solution below 1000 is right; a near miss, a solution beyond the
            // declared size and a negative one are not.
            for other in [y, y + 7, y + 700, 994 + (y + 1) % 7 - 1] {
                if other < 1000 && other % 7 == y {
                    assert!(f.verify(&t, &other.to_string()).correct, "{other} for {y}");
                }
            }
            assert!(!f.verify(&t, &(a + 1).to_string()).correct);
            // 1001 = 7 × 143: the same residue, beyond the declared size.
            assert_eq!(f.verify(&t, &(1001 + y).to_string()).reason, Reason::Wrong);
            assert!(!f.verify(&t, &(y - 7).to_string()).correct);
            assert_eq!(
                f.verify(&t, &format!("{y} or {}", y + 7)).reason,
                Reason::Unparseable
            );
        }
    }

    #[test]
    fn input_mode_of_a_list_and_with_given_inputs() {
        let f = family("sort(l); l:list[4,1]", Mode::Input);
        let t = task(&f, TAGGED, NAT, 5);
        let Some(Value::List(sorted)) = t.value.clone() else {
            panic!()
        };
        assert!(
            t.prompt.starts_with(&format!(
                "Find a value of l (a list of exactly 4 integers, each from 0 to 9) for which the \
             program `sort(l)` gives {}.",
                crate::program::Value::List(sorted.clone())
                    .to_string()
                    .replace(", ", ",")
            )),
            "{}",
            t.prompt
        );
        let mut shuffled = sorted.clone();
        shuffled.reverse();
        let text = |l: &[i64]| {
            format!(
                "<answer>[{}]</answer>",
                l.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        assert!(f.verify(&t, &text(&shuffled)).correct);
        assert!(f.verify(&t, &text(&sorted)).correct);
        assert!(!f.verify(&t, &text(&sorted[..3])).correct, "too short");
        let mut off = sorted.clone();
        off[0] = (off[0] + 1) % 10;
        assert!(!f.verify(&t, &text(&off)).correct);
        // Input mode with another input given, in the fixed-width format; solve b.
        let f = ProgramFamily::new(
            "t",
            Program::parse("add(mul(a, 3), b); a:int[2]; b:int[2]").unwrap(),
            Mode::Input,
        )
        .unwrap()
        .with_solve("b")
        .unwrap();
        let t = task(&f, BARE, LSB, 9);
        let (a, b) = (input(&t, "a"), input(&t, "b"));
        let y = 3 * a + b;
        assert_eq!(
            t.prompt,
            format!("add(mul(a,3),b) a={} ={} b:int[2]=", lsb(a, 2), lsb(y, 4))
        );
        assert_eq!(t.answer, lsb(b, 2));
        assert!(f.verify(&t, &lsb(b, 2)).correct);
        assert!(!f.verify(&t, &b.to_string()).correct || b < 10 && lsb(b, 2) == b.to_string());
    }

    #[test]
    fn json_lines_carry_program_inputs_value_and_mode_and_verify_alone() {
        let f = family("sort(digits(add(a, b))); a:int[3]; b:int[3]", Mode::Output);
        let t = task(&f, BARE, NAT, 7);
        let json = serde_json::to_string(&t).unwrap();
        let (a, b) = (input(&t, "a"), input(&t, "b"));
        assert!(
            json.contains(&format!(
                r#""program":"sort(digits(add(a, b))); a:int[3]; b:int[3]","mode":"output","inputs":{{"a":{a},"b":{b}}},"value":{}"#,
                t.answer
            )),
            "{json}"
        );
        let back: Task = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        // No registry knows family "t": the task verifies from its own fields.
        assert!(Registry::empty().verify(&back, &t.answer).correct);
        assert!(!Registry::builtin().verify(&back, "[0]").correct);
        let f = family("mod(a, 7); a:int[3]", Mode::Input);
        let t = task(&f, BARE, NAT, 1);
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains(r#""mode":"input","solve":"a""#), "{json}");
        let back: Task = serde_json::from_str(&json).unwrap();
        let y = int(t.value.as_ref().unwrap());
        assert!(
            Registry::empty()
                .verify(&back, &(y + 7).to_string())
                .correct
        );
        // Other families' lines have none of these fields.
        let add = Registry::builtin()
            .generate("addition", &Knobs::new(), BARE, NAT, 0)
            .unwrap();
        let json = serde_json::to_string(&add).unwrap();
        for key in ["program", "mode", "inputs", "value", "solve"] {
            assert!(!json.contains(&format!("\"{key}\"")), "{json}");
        }
        // An output task whose reference was edited into a non-value is invalid, whatever the
        // answer (even the same text), and a list answer with spaces reads as the reference.
        let f = family("sort(digits(add(a, b))); a:int[3]; b:int[3]", Mode::Output);
        let mut edited = task(&f, BARE, NAT, 7);
        let spaced = edited.answer.replace(',', " , ");
        assert!(f.verify(&edited, &spaced).correct, "{spaced}");
        for gold in ["[1,2,x]", "[1,2", "[01,2]", "[1,,2]"] {
            edited.answer = gold.into();
            for got in [gold, "[1,2]", "3"] {
                assert_eq!(
                    f.verify(&edited, got).reason,
                    Reason::InvalidTask,
                    "{gold} {got}"
                );
            }
        }
        // A broken program task is invalid, not a panic.
        let mut broken = back.clone();
        broken.program = Some("mod(a, 7".into());
        assert_eq!(
            Registry::empty().verify(&broken, "3").reason,
            Reason::InvalidTask
        );
        broken.program = Some("mod(b, 7); b:int[3]".into());
        assert_eq!(
            Registry::empty().verify(&broken, "3").reason,
            Reason::InvalidTask
        );
        broken.inputs = Some(Inputs::default());
        broken.program = t.program.clone();
        assert!(
            Registry::empty().verify(&broken, &t.answer).correct,
            "a's value is the answer"
        );
    }

    #[test]
    fn same_seed_same_task_and_knobs_resize() {
        let f = family("sum(take(rev(l), 2)); l:list[5,2]", Mode::Output);
        for seed in 0..20 {
            assert_eq!(task(&f, TAGGED, LSB, seed), task(&f, TAGGED, LSB, seed));
        }
        assert_ne!(task(&f, BARE, NAT, 1).prompt, task(&f, BARE, NAT, 2).prompt);
        let knobs = Knobs::from_static(&[("l_len", 9.0), ("l_digits", 1.0)]);
        let t = Registry::empty().verify(&task(&f, BARE, NAT, 0), "x");
        assert!(!t.correct);
        let t = crate::family::generate_level(&f, 1, &knobs, BARE, NAT, 4).unwrap();
        assert_eq!(
            t.program.as_deref(),
            Some("sum(take(rev(l), 2)); l:list[9,1]")
        );
        let Some(Value::List(l)) = t.inputs.as_ref().unwrap().get("l").cloned() else {
            panic!()
        };
        assert_eq!(l.len(), 9);
        assert!(l.iter().all(|x| (0..10).contains(x)));
        assert_eq!(t.answer, (l[7] + l[8]).to_string());
    }

    #[test]
    fn knobs_default_ladder_and_errors() {
        let f = family(
            "if(c, add(a, sum(l)), a); a:int[3]; c:bool; l:list[5,2]",
            Mode::Output,
        );
        let names: Vec<&str> = f.knobs().iter().map(|k| k.name.as_ref()).collect();
        assert_eq!(names, ["a_digits", "l_len", "l_digits"]);
        assert_eq!(f.knobs()[1].default, 5.0);
        let labels: Vec<String> = f.ladder().iter().map(|k| k.label()).collect();
        assert_eq!(
            labels,
            [
                "a_digits=1,l_digits=1",
                "a_digits=2,l_digits=2",
                "a_digits=3,l_digits=2"
            ]
        );
        let err = |text: &str, mode| {
            ProgramFamily::new("t", Program::parse(text).unwrap(), mode)
                .unwrap_err()
                .to_string()
        };
        assert!(err("div(a, 1000); a:int[3]", Mode::Output).contains("constant"));
        assert!(err("not(p); p:bool", Mode::Input).contains("coin flip"));
        let p = Program::parse("add(a, 1); a:int[3]").unwrap();
        assert!(ProgramFamily::new("bad name", p.clone(), Mode::Output).is_err());
        let f = ProgramFamily::new("t", p.clone(), Mode::Input).unwrap();
        assert!(f
            .clone()
            .with_solve("z")
            .unwrap_err()
            .to_string()
            .contains("\"z\""));
        let e = f
            .clone()
            .with_ladder(vec![Knobs::from_static(&[("b_digits", 2.0)])])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("level 1") && e.contains("b_digits") && e.contains("a_digits"),
            "{e}"
        );
        let e = f
            .with_ladder(vec![Knobs::from_static(&[("a_digits", 19.0)])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("a_digits = 19"), "{e}");
        // A size at which the program is constant is refused by check (and so by resolve).
        let f = family("div(a, 100); a:int[4]", Mode::Output);
        assert!(f
            .check(&Knobs::from_static(&[("a_digits", 2.0)]), NAT)
            .is_err());
        assert_eq!(
            f.ladder().len(),
            2,
            "levels 3 and 4: below 3 digits it is constant"
        );
    }

    #[test]
    fn rare_invalid_inputs_are_redrawn_from_the_same_stream() {
        let p = Program::parse("div(a, sub(b, 5)); a:int[2]; b:int[1]").unwrap();
        let kinds: Vec<InputKind> = p.inputs().iter().map(|d| d.kind).collect();
        let mut redrawn = 0;
        for seed in 0..200u64 {
            let first = p.draw_inputs(&mut TaskRng::new(seed));
            let (values, out) = instance::draw_instance(&p, &kinds, seed).unwrap();
            assert_eq!(p.run(&values, &crate::program::Limits::default()), Ok(out));
            if first[1] == Value::Int(5) {
                redrawn += 1;
                assert_ne!(values, first);
                // The redraw is the next draw of the same stream.
                let mut rng = TaskRng::new(seed);
                let _ = p.draw_inputs(&mut rng);
                let second = p.draw_inputs(&mut rng);
                if second[1] != Value::Int(5) {
                    assert_eq!(values, second);
                }
            } else {
                assert_eq!(values, first);
            }
        }
        assert!(redrawn > 5, "{redrawn}");
        // Nothing runs: an error after a bounded number of draws and the probes.
        let p = Program::parse("head(take(l, 0)); l:list[3,1]").unwrap();
        let kinds: Vec<InputKind> = p.inputs().iter().map(|d| d.kind).collect();
        assert!(instance::draw_instance(&p, &kinds, 0).is_err());
    }

    /// A wrong answer for a program task: a digit of the gold changed, kept only when the
    /// executor (run here directly, not through the verifier) says it is not a solution.
    fn near_miss(t: &Task, gold: &str, rng: &mut TaskRng) -> Option<String> {
        let candidate = contract::perturb_digit(t, gold, rng)?;
        if t.mode != Some(Mode::Input) {
            return Some(candidate);
        }
        let p = Program::parse(t.program.as_deref()?).ok()?;
        let solve = t.solve.as_deref()?;
        let read = |s: &str| -> Option<i64> {
            match t.format {
                NumberFormat::Natural => s.parse().ok(),
                NumberFormat::FixedWidthLsbFirst => {
                    s.chars().rev().collect::<String>().parse().ok()
                }
            }
        };
        let proposal = match candidate.strip_prefix('[') {
            Some(rest) => Value::List(
                rest.strip_suffix(']')?
                    .split(',')
                    .map(read)
                    .collect::<Option<Vec<_>>>()?,
            ),
            None => Value::Int(read(&candidate)?),
        };
        let values: Vec<Value> = p
            .inputs()
            .iter()
            .map(|d| match d.name == solve {
                true => proposal.clone(),
                false => t
                    .inputs
                    .as_ref()
                    .and_then(|i| i.get(&d.name))
                    .cloned()
                    .unwrap_or(Value::Int(0)),
            })
            .collect();
        match p.run(&values, &crate::program::Limits::default()) {
            Ok(v) if Some(&v) == t.value.as_ref() => None,
            _ => Some(candidate),
        }
    }

    fn digits_shown(t: &Task) -> f64 {
        t.prompt.bytes().filter(u8::is_ascii_digit).count() as f64
    }

    fn contract_families() -> Vec<(ProgramFamily, NumberFormat)> {
        let spec = |name: &str, text: &str, mode| {
            let mut s = crate::program::ProgramSpec::new(name, text);
            s.mode = mode;
            s.family().unwrap()
        };
        vec![
            (
                spec(
                    "sorted_sum_digits",
                    "sort(digits(add(a, b))); a:int[5]; b:int[5]",
                    Mode::Output,
                ),
                NAT,
            ),
            (
                spec(
                    "sorted_sum_digits",
                    "sort(digits(add(a, b))); a:int[5]; b:int[5]",
                    Mode::Output,
                ),
                LSB,
            ),
            (
                spec(
                    "signed",
                    "sub(mul(a, 3), b); a:int[4]; b:int[5]",
                    Mode::Output,
                ),
                LSB,
            ),
            (
                spec(
                    "parity",
                    "even(add(a, mul(b, c))); a:int[3]; b:int[3]; c:int[3]",
                    Mode::Output,
                ),
                NAT,
            ),
            (
                spec("unsort", "sort(l); l:list[6,1]", Mode::Input)
                    .with_ladder(
                        (2..=6)
                            .map(|n| Knobs::from_static(&[("l_len", n as f64)]))
                            .collect(),
                    )
                    .unwrap(),
                NAT,
            ),
            (
                spec(
                    "solve_linear",
                    "add(mul(a, 3), b); a:int[4]; b:int[2]",
                    Mode::Input,
                ),
                LSB,
            ),
        ]
    }

    #[test]
    fn contract_holds_for_program_families() {
        for (f, format) in contract_families() {
            contract::check_family(&f, format, &Knobs::new(), near_miss, digits_shown);
        }
    }

    #[test]
    fn fuzz_program_families_no_panic() {
        for (f, format) in contract_families() {
            contract::fuzz_family(&f, format);
        }
    }
}
