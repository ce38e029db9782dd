//! Program tasks: an instance is (program, input sizes, seed): inputs drawn from the seed at the
//! declared sizes, the answer computed by the executor. Two modes: *output* (compute the result)
//! and *input* (find a value of one input, the others given, for which the program gives the
//! shown result; any such value within the input's declared size is correct). Verification
//! needs nothing but the task: it carries its program, inputs and result.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::draw_value;
use super::error::ExecError;
use super::exec::{Limits, Machine, V};
use super::render::{self, ReadError, Shown};
use super::tree::Program;
use super::types::{InputKind, Type, MAX_INPUTS};
use super::value::Value;
use super::width::{width, Width};
use crate::answer;
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

/// What a program task asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Compute the program's result on the given inputs.
    #[default]
    Output,
    /// Find a value of one input (the others given) for which the program gives the shown
    /// result.
    Input,
}

impl Mode {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Output => "output",
            Mode::Input => "input",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Input values by name, in declaration order; JSON: an object (`{"a": 123, "l": [1, 2]}`).
/// The names are shared with the family that drew them (a task costs no copy of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    names: Arc<[Arc<str>]>,
    values: Vec<Value>,
}

impl Inputs {
    /// The inputs `names[i] = values[i]`; `None` when the counts differ.
    pub fn new(names: Arc<[Arc<str>]>, values: Vec<Value>) -> Option<Inputs> {
        (names.len() == values.len()).then_some(Inputs { names, values })
    }

    /// The value of input `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.iter().find(|&(n, _)| n == name).map(|(_, v)| v)
    }

    /// `(name, value)` pairs in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(|n| &**n).zip(&self.values)
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Serialize for Inputs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (n, v) in self.iter() {
            map.serialize_entry(n, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Inputs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an object of at most {MAX_INPUTS} input values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inputs, A::Error> {
                let (mut names, mut values) = (Vec::new(), Vec::new());
                while let Some((n, v)) = map.next_entry::<String, Value>()? {
                    if values.len() == MAX_INPUTS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_INPUTS} inputs"
                        )));
                    }
                    names.push(Arc::from(n));
                    values.push(v);
                }
                Ok(Inputs {
                    names: names.into(),
                    values,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// Draws before an instance gives up on random inputs and takes the first probe input that
/// runs (see [`draw_instance`]).
pub const MAX_DRAWS: usize = 64;

thread_local! {
    /// One interpreter per thread, reused across instances (its arena stays allocated).
    static MACHINE: RefCell<Machine> = RefCell::new(Machine::new(&Limits::default()));
}

/// Runs `p` on `inputs` with the default limits on this thread's reusable machine.
pub(crate) fn run(p: &Program, inputs: &[Value]) -> Result<Value, ExecError> {
    if inputs.len() != p.inputs.len() {
        return Err(ExecError::InputCount {
            expected: p.inputs.len(),
            found: inputs.len(),
        });
    }
    MACHINE.with(|m| {
        let mut m = m.borrow_mut();
        m.reset();
        let mut loaded = [V::Int(0); MAX_INPUTS];
        for (index, (v, d)) in inputs.iter().zip(&p.inputs).enumerate() {
            if v.ty() != d.kind.ty() || !v.in_bounds() {
                return Err(ExecError::InputType {
                    index,
                    expected: d.kind.ty(),
                });
            }
            let Some(slot) = loaded.get_mut(index) else {
                return Err(ExecError::InputCount {
                    expected: MAX_INPUTS,
                    found: inputs.len(),
                });
            };
            *slot = m.load(v);
        }
        let out = m.eval(&p.expr, p.output, &loaded[..inputs.len()])?;
        Ok(m.value(out))
    })
}

/// The inputs and output of the instance of `p` (run at sizes `kinds`) drawn from `seed`: up to
/// [`MAX_DRAWS`] draws from the seed's stream until the program runs on them (a valid family
/// fails only on rare inputs, e.g. `div(a, sub(b, 5))` at b = 5); then the probe inputs at these
/// sizes in order (valid knobs run on every probe); the last error when nothing runs.
pub fn draw_instance(
    p: &Program,
    kinds: &[InputKind],
    seed: u64,
) -> Result<(Vec<Value>, Value), ExecError> {
    let mut rng = TaskRng::new(seed);
    let mut last = ExecError::InputCount {
        expected: p.inputs.len(),
        found: kinds.len(),
    };
    if kinds.len() != p.inputs.len() {
        return Err(last);
    }
    for _ in 0..MAX_DRAWS {
        let values: Vec<Value> = kinds.iter().map(|k| draw_value(*k, &mut rng)).collect();
        match run(p, &values) {
            Ok(out) => return Ok((values, out)),
            Err(e) => last = e,
        }
    }
    let sized: Vec<super::types::Input> = p
        .inputs
        .iter()
        .zip(kinds)
        .map(|(d, k)| super::types::Input {
            name: d.name.clone(),
            kind: *k,
        })
        .collect();
    for values in super::fingerprint::probe_inputs(&sized) {
        match run(p, &values) {
            Ok(out) => return Ok((values, out)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A program with the texts its tasks show, computed once: what [`super::ProgramFamily`] holds.
#[derive(Debug, Clone)]
pub(crate) struct Texts {
    /// The canonical expression (`sort(digits(add(a, b)))`).
    pub canonical: String,
    /// The compact expression (`sort(digits(add(a,b)))`).
    pub compact: String,
    /// The input names, in declaration order.
    pub names: Arc<[Arc<str>]>,
    /// The program text with its declarations at the sizes tasks are usually made at (the
    /// declared sizes and the ladder's), shared by every task made there.
    pub programs: Vec<(Vec<InputKind>, Arc<str>)>,
}

impl Texts {
    pub(crate) fn of(p: &Program) -> Texts {
        let mut compact = String::new();
        render::push_compact(&mut compact, &p.expr, &p.inputs);
        let mut texts = Texts {
            canonical: render::canonical_expr(&p.expr, &p.inputs),
            compact,
            names: p
                .inputs
                .iter()
                .map(|d| Arc::from(d.name.as_str()))
                .collect(),
            programs: Vec::new(),
        };
        let declared: Vec<InputKind> = p.inputs.iter().map(|d| d.kind).collect();
        texts.keep_program(p, &declared);
        texts
    }

    /// Keeps the program text at sizes `kinds` for the tasks made there.
    pub(crate) fn keep_program(&mut self, p: &Program, kinds: &[InputKind]) {
        if self.programs.iter().all(|(k, _)| k != kinds) {
            let text = Arc::from(self.program(p, kinds));
            self.programs.push((kinds.to_vec(), text));
        }
    }

    /// The program text with its declarations at sizes `kinds`: shared when kept, made when not.
    fn program_at(&self, p: &Program, kinds: &[InputKind]) -> Arc<str> {
        match self.programs.iter().find(|(k, _)| k == kinds) {
            Some((_, text)) => text.clone(),
            None => Arc::from(self.program(p, kinds)),
        }
    }

    fn program(&self, p: &Program, kinds: &[InputKind]) -> String {
        let mut text = String::with_capacity(self.canonical.len() + 12 * kinds.len());
        render::push_program(&mut text, &self.canonical, &p.inputs, kinds);
        text
    }
}

/// Everything that fixes a program task but the seed.
pub(crate) struct Spec<'a> {
    pub family: &'a str,
    pub program: &'a Program,
    pub texts: &'a Texts,
    pub kinds: &'a [InputKind],
    pub knobs: &'a Knobs,
    pub mode: Mode,
    /// Input mode: the index of the input to find.
    pub solve: usize,
    pub style: PromptStyle,
    pub format: NumberFormat,
}

/// The task of `spec` from `seed` (an error only when no input runs at all, see
/// [`draw_instance`]).
pub(crate) fn make_task(spec: &Spec, seed: u64) -> Result<Task, ExecError> {
    let (values, output) = draw_instance(spec.program, spec.kinds, seed)?;
    let out_width = match spec.format {
        NumberFormat::Natural => Width::Bool,
        NumberFormat::FixedWidthLsbFirst => width(&spec.program.expr, spec.kinds),
    };
    let solve = (spec.mode == Mode::Input).then_some(spec.solve);
    let shown = Shown {
        expr: &spec.program.expr,
        compact: &spec.texts.compact,
        canonical: &spec.texts.canonical,
        inputs: &spec.program.inputs,
        kinds: spec.kinds,
        values: &values,
        output: (&output, out_width),
        solve,
    };
    let prompt = match spec.style {
        PromptStyle::Bare => render::bare_prompt(&shown, spec.format),
        PromptStyle::Tagged => render::tagged_prompt(&shown, spec.format),
    };
    let mut gold = String::with_capacity(32);
    match solve {
        None => render::push_value(&mut gold, &output, spec.format, out_width),
        Some(k) => render::push_value(
            &mut gold,
            &values[k],
            spec.format,
            Width::of_input(spec.kinds[k]),
        ),
    }
    let reference = match spec.style {
        PromptStyle::Bare => gold,
        PromptStyle::Tagged => answer::wrap(spec.style, &gold),
    };
    let program = spec.texts.program_at(spec.program, spec.kinds);
    let mut task = Task::new(
        spec.family,
        spec.knobs,
        seed,
        spec.style,
        spec.format,
        prompt,
        reference,
        String::new(),
    );
    task.program = Some(program);
    task.mode = Some(spec.mode);
    task.solve = solve.map(|k| spec.program.inputs[k].name.clone());
    // The names come from the same program as the values: the counts agree.
    task.inputs = Inputs::new(spec.texts.names.clone(), values);
    task.value = Some(output);
    Ok(task)
}

/// Decides `completion` for a program task from the task alone; total (never panics), bounded by
/// the task. Output mode: the answer must equal the reference value (read in the task's format).
/// Input mode: the answer, a value of the input `solve` within its declared size, must make the
/// program (with the other inputs as given) produce `value`.
pub fn verify(task: &Task, completion: &str) -> Verdict {
    let gold = answer::gold(task.style, &task.answer);
    let got = match answer::extract(task.style, completion, gold.len()) {
        Ok(g) => g,
        Err(v) => return v,
    };
    match task.mode.unwrap_or_default() {
        Mode::Output => verify_output(task, gold, got),
        Mode::Input => verify_input(task, got),
    }
}

fn unreadable(got: &str, e: ReadError) -> Verdict {
    match e {
        ReadError::Malformed(why) => Verdict::fail(Some(got.to_string()), Reason::Unparseable, why),
        ReadError::OutOfRange => Verdict::wrong(got, "beyond the value bound"),
    }
}

fn verify_output(task: &Task, gold: &str, got: &str) -> Verdict {
    let Some((ty, width)) = render::gold_shape(gold, task.format) else {
        return Verdict::invalid_task("the reference answer is empty");
    };
    // The common case, an answer spelt as the reference: one read of the text decides it.
    if got == gold {
        return match render::check_value(gold, ty, task.format, width) {
            Ok(()) => Verdict::correct(got),
            Err(_) => Verdict::invalid_task(format!("reference answer {gold:?} is not a value")),
        };
    }
    // An equal answer has read the whole reference too (it is a value); otherwise the reference
    // is checked before the answer is blamed: it is our own rendering, and a task line edited
    // into nonsense is invalid.
    let same = render::same_value(got, gold, ty, task.format, width);
    if !matches!(same, Ok(true)) && render::same_value(gold, gold, ty, task.format, width).is_err()
    {
        return Verdict::invalid_task(format!("reference answer {gold:?} is not a value"));
    }
    match same {
        Ok(true) => Verdict::correct(got),
        Ok(false) => Verdict::wrong(got, ""),
        Err(e) => unreadable(got, e),
    }
}

fn verify_input(task: &Task, got: &str) -> Verdict {
    let (Some(text), Some(solve), Some(inputs), Some(target)) =
        (&task.program, &task.solve, &task.inputs, &task.value)
    else {
        return Verdict::invalid_task("an input-mode task needs program, solve, inputs and value");
    };
    let program = match Program::parse(text) {
        Ok(p) => p,
        Err(e) => return Verdict::invalid_task(format!("program {text:?}: {e}")),
    };
    let Some(k) = program.inputs.iter().position(|d| &d.name == solve) else {
        return Verdict::invalid_task(format!("solve = {solve:?} is not an input of the program"));
    };
    let kind = program.inputs[k].kind;
    let (ty, digits) = match kind {
        InputKind::Int { digits } => (Type::Int, digits),
        InputKind::List { digits, .. } => (Type::List, digits),
        InputKind::Bool => (Type::Bool, 1),
    };
    let proposal = match render::read_value(got, ty, task.format, Some(digits)) {
        Ok(v) => v,
        Err(e) => return unreadable(got, e),
    };
    if !fits(&proposal, kind) {
        return Verdict::wrong(got, format!("{solve} must be a {kind}"));
    }
    let mut values = Vec::with_capacity(program.inputs.len());
    for (i, d) in program.inputs.iter().enumerate() {
        if i == k {
            values.push(proposal.clone());
            continue;
        }
        match inputs.get(&d.name) {
            Some(v) => values.push(v.clone()),
            None => return Verdict::invalid_task(format!("no value for input {:?}", d.name)),
        }
    }
    match run(&program, &values) {
        Ok(v) if &v == target => Verdict::correct(got),
        Ok(v) => Verdict::wrong(got, format!("gives {v}")),
        Err(e) => Verdict::wrong(got, format!("the program fails on it: {e}")),
    }
}

/// Whether `v` is a value the declaration `kind` could draw (an int of at most its digits, a
/// list of exactly its length of such ints).
fn fits(v: &Value, kind: InputKind) -> bool {
    let int_ok = |x: i64, d: u32| x >= 0 && x < 10i64.pow(d.min(18));
    match (v, kind) {
        (Value::Int(x), InputKind::Int { digits }) => int_ok(*x, digits),
        (Value::List(l), InputKind::List { len, digits }) => {
            l.len() == len as usize && l.iter().all(|x| int_ok(*x, digits))
        }
        (Value::Bool(_), InputKind::Bool) => true,
        _ => false,
    }
}
