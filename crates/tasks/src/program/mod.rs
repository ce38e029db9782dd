//! Task programs: a small typed language whose executor is the verifier, behavioural
//! fingerprints that count distinct task families, and an evolver that invents them.
//!
//! # Text
//! ```text
//! program := expr (';' decl)*
//! expr    := INT | '-' INT | 'true' | 'false' | NAME | PRIM '(' expr (',' expr)* ')'
//! decl    := NAME ':' ('int[' D ']' | 'list[' N ',' D ']' | 'bool')
//! ```
//! e.g. `sort(digits(add(a, b))); a:int[3]; b:int[3]` or `sum(take(rev(l), 2)); l:list[5,2]`.
//! Whitespace between tokens is free; [`Program`]'s `Display` prints the canonical form
//! (`f(a, b); a:int[3]`), and `Program::parse(&p.to_string()) == Ok(p)`. `int[D]` is a
//! non-negative integer of up to D digits, uniform in `0..10^D` (1 <= D <= 18); `list[N,D]` is
//! exactly N such integers (1 <= N <= 64); `bool` is fair. Names are `[A-Za-z_][A-Za-z0-9_]*`,
//! not a primitive nor `true`/`false`; every name used must be declared, once. Text is at most
//! 4096 bytes, expressions at most 32 deep, at most 8 inputs. Errors ([`ProgramError`]) carry
//! the byte position and say what was expected.
//!
//! # Values and limits
//! `int` (i64 with |x| <= 10^18 - 1: any result beyond is [`ExecError::TooLarge`], never a wrap),
//! `bool`, `list` (of ints, at most 64 long: [`ExecError::TooLong`]). Every run has a step
//! budget ([`Limits`]: one step per node, one per list element touched; [`ExecError::Budget`]).
//!
//! # Primitives
//! | primitive | type | meaning |
//! |---|---|---|
//! | `add sub mul` | int, int → int | exact, checked |
//! | `div mod` | int, int → int | floor division and remainder like Python `//`, `%` (`div(-7, 2)` = -4, `mod(-7, 2)` = 1, `mod(7, -2)` = -1); by 0: [`ExecError::DivByZero`] |
//! | `neg abs square` | int → int | −x, \|x\|, x² |
//! | `min max` | int, int → int | |
//! | `eq lt gt` | int, int → bool | =, <, > |
//! | `not` / `and or xor` | bool → bool / bool, bool → bool | both operands always evaluated |
//! | `even` | int → bool | x mod 2 = 0 |
//! | `if` | bool, T, T → T | evaluates only the chosen branch; T any one type |
//! | `sum len` | list → int | sum([]) = 0 |
//! | `head last max_of min_of` | list → int | of [] : [`ExecError::EmptyList`] |
//! | `count` | list, int → int | occurrences of the int |
//! | `sort rev` | list → list | ascending; reversed |
//! | `take drop` | list, int → list | first k / all but the first k, k clipped to [0, len] |
//! | `concat` | list, list → list | |
//! | `digits` | int → list | decimal digits of \|x\|, most significant first; digits(0) = [0] |
//! | `undigits` | list → int | the number with these digits (leading zeros allowed, [] = 0); an element outside 0..=9 is [`ExecError::BadDigit`] |
//! | `filter_even filter_odd` | list → list | keep the even / odd elements, in order |
//! | `cumsum` | list → list | prefix sums |
//!
//! # Families
//! [`Program::validate`] applies the [`Validity`] rules on [`NUM_PROBES`] fixed probe inputs and
//! returns the [`Fingerprint`]: equal fingerprints are one family (`add(a, 0)` and `a`). The
//! [`Evolver`] grows an [`Archive`] of distinct valid families from the primitives alone.
//!
//! # Tasks
//! [`ProgramFamily`] is a program as a [`crate::Family`]: knobs are the input sizes (`a_digits`,
//! `l_len`, `l_digits`), a task draws inputs from its seed (redrawing the rare input the program
//! fails on, [`draw_instance`]) and asks for the result ([`Mode::Output`]) or for an input that
//! gives a shown result ([`Mode::Input`]: any such input within its declared size is right).
//! Prompts (bare `sort(digits(add(a,b))) a=883 b=431 =`, or tagged), both number formats
//! (fixed-width pads to [`width`] bounds) and the one answer format (`[1,1,3,4]`, `-42`, `true`)
//! are documented in `docs/task-programs.md`. [`verify`] decides a program task from its own
//! fields (`program`, `inputs`, `value`, `mode`, `solve`). [`ProgramFile`] reads
//! `tasks/programs/*.toml`; `Registry::register_programs` registers a run config's programs.
//!
//! ```
//! use tasks::program::{Program, Value, Limits, Validity};
//!
//! let p = Program::parse("sort(digits(add(a,b))); a:int[3]; b:int[3]").unwrap();
//! assert_eq!(p.to_string(), "sort(digits(add(a, b))); a:int[3]; b:int[3]");
//! let out = p.run(&[Value::Int(123), Value::Int(456)], &Limits::default()).unwrap();
//! assert_eq!(out, Value::List(vec![5, 7, 9]));
//! let same = Program::parse("sort(digits(add(b, add(a, 0)))); a:int[3]; b:int[3]").unwrap();
//! assert_eq!(p.validate(&Validity::default()), same.validate(&Validity::default()));
//! ```

mod archive;
mod error;
mod evolve;
mod exec;
mod family;
mod file;
mod fingerprint;
mod grammar;
mod instance;
mod register;
mod render;
mod syntax;
mod tree;
mod types;
mod value;
mod width;

pub use archive::{Archive, Cell, Edit, FamilyRecord, Lineage};
pub use error::{ExecError, Invalid, ProgramError};
pub use evolve::{EvolveConfig, EvolveStats, Evolver, Fitness, Uniform};
pub use exec::{floor_div, Limits};
pub use family::{valid_name, ProgramFamily, MAX_NAME_LEN};
pub use file::{read_specs, ProgramFile, ProgramSpec};
pub use fingerprint::{probe_inputs, Fingerprint, Validity, NUM_PROBES};
pub use grammar::GrammarConfig;
pub use instance::{draw_instance, verify, Inputs, Mode, MAX_DRAWS};
pub use syntax::{MAX_DEPTH, MAX_TEXT_LEN};
pub use tree::{Expr, Program};
pub use types::{
    Input, InputKind, Prim, Type, MAX_INPUTS, MAX_INT, MAX_INT_DIGITS, MAX_LIST_LEN, PRIMS,
};
pub use value::Value;
pub use width::{width, Width};

use crate::rng::TaskRng;
use exec::Machine;

impl Program {
    /// Parses and type-checks program text (see the module docs for the grammar).
    pub fn parse(text: &str) -> Result<Program, ProgramError> {
        syntax::parse(text)
    }

    /// Runs the program on `inputs` (in declaration order). Values are checked against the
    /// declared types and the language's bounds, not against the declared sizes (so that an
    /// input-mode answer of any size can be checked).
    pub fn run(&self, inputs: &[Value], limits: &Limits) -> Result<Value, ExecError> {
        if inputs.len() != self.inputs.len() {
            return Err(ExecError::InputCount {
                expected: self.inputs.len(),
                found: inputs.len(),
            });
        }
        let mut m = Machine::new(limits);
        let mut loaded = Vec::with_capacity(inputs.len());
        for (index, (v, d)) in inputs.iter().zip(&self.inputs).enumerate() {
            if v.ty() != d.kind.ty() || !v.in_bounds() {
                return Err(ExecError::InputType {
                    index,
                    expected: d.kind.ty(),
                });
            }
            loaded.push(m.load(v));
        }
        let out = m.eval(&self.expr, self.output, &loaded)?;
        Ok(m.value(out))
    }

    /// Inputs drawn uniformly at the declared sizes, in declaration order.
    pub fn draw_inputs(&self, rng: &mut TaskRng) -> Vec<Value> {
        self.inputs
            .iter()
            .map(|d| draw_value(d.kind, rng))
            .collect()
    }
}

/// One value drawn uniformly at an input's knobs.
pub fn draw_value(kind: InputKind, rng: &mut TaskRng) -> Value {
    let top = |digits: u32| 10u64.pow(digits.clamp(1, MAX_INT_DIGITS));
    match kind {
        InputKind::Int { digits } => Value::Int(rng.below(top(digits)) as i64),
        InputKind::List { len, digits } => Value::List(
            (0..len.min(MAX_LIST_LEN as u32))
                .map(|_| rng.below(top(digits)) as i64)
                .collect(),
        ),
        InputKind::Bool => Value::Bool(rng.below(2) == 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(text: &str) -> Program {
        Program::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn with_inputs_changes_sizes_only() {
        let p = program("add(a, head(l)); a:int[3]; l:list[5,2]");
        let bigger = vec![
            Input {
                name: "a".into(),
                kind: InputKind::Int { digits: 6 },
            },
            Input {
                name: "l".into(),
                kind: InputKind::List { len: 9, digits: 1 },
            },
        ];
        let q = p.with_inputs(bigger.clone()).unwrap();
        assert_eq!(q.to_string(), "add(a, head(l)); a:int[6]; l:list[9,1]");
        assert_eq!((q.expr(), q.output_type()), (p.expr(), p.output_type()));
        let mut renamed = bigger.clone();
        renamed[0].name = "b".into();
        assert!(matches!(
            p.with_inputs(renamed),
            Err(ProgramError::InputMismatch { index: 0, .. })
        ));
        let mut retyped = bigger.clone();
        retyped[1].kind = InputKind::Bool;
        assert!(matches!(
            p.with_inputs(retyped),
            Err(ProgramError::InputMismatch { index: 1, .. })
        ));
        let mut too_long = bigger.clone();
        too_long[1].kind = InputKind::List { len: 65, digits: 1 };
        assert!(p.with_inputs(too_long).is_err());
        assert!(p.with_inputs(bigger[..1].to_vec()).is_err());
    }

    #[test]
    fn drawn_inputs_follow_the_declared_sizes_and_the_seed() {
        let p = program("if(c, add(a, sum(l)), 0); c:bool; a:int[3]; l:list[4,2]");
        let mut seen_true = false;
        let mut rng = TaskRng::new(0);
        for _ in 0..200 {
            let v = p.draw_inputs(&mut rng);
            let [Value::Bool(c), Value::Int(a), Value::List(l)] = v.as_slice() else {
                panic!("{v:?}")
            };
            seen_true |= *c;
            assert!((0..1000).contains(a));
            assert!(l.len() == 4 && l.iter().all(|x| (0..100).contains(x)));
            let expect = if *c { a + l.iter().sum::<i64>() } else { 0 };
            assert_eq!(p.run(&v, &Limits::default()), Ok(Value::Int(expect)));
        }
        assert!(seen_true);
        assert_eq!(
            p.draw_inputs(&mut TaskRng::new(5)),
            p.draw_inputs(&mut TaskRng::new(5))
        );
    }

    #[test]
    fn programs_serialise_as_their_text_and_build_from_parts() {
        let p = program("sum(take(rev(l),2));l:list[5,2]");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"sum(take(rev(l), 2)); l:list[5,2]\"");
        assert_eq!(serde_json::from_str::<Program>(&json).unwrap(), p);
        assert!(serde_json::from_str::<Program>("\"sum(l)\"").is_err());
        let q = Program::from_parts(p.expr().clone(), p.inputs().to_vec()).unwrap();
        assert_eq!(q, p);
        let ill = Expr::Call(Prim::Sum, vec![Expr::Int(3)]);
        assert!(matches!(
            Program::from_parts(ill, vec![]),
            Err(ProgramError::Type { pos: 4, .. })
        ));
        // sum > take > rev > l is 4 deep; sum, take, rev, l, 2 are 5 nodes.
        assert_eq!((p.depth(), p.size()), (4, 5));
    }
}
