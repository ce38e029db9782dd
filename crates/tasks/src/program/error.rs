//! The three ways a program goes wrong: its text ([`ProgramError`], with a byte position), one
//! run ([`ExecError`], a typed outcome) and the validity rules ([`Invalid`]).

use super::types::{Prim, Type};

/// A program text that does not parse or type-check, or inputs that do not fit an expression.
/// `pos` is a byte offset into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// The text is longer than the parser accepts.
    #[error("program text is {len} bytes; at most {max} are accepted")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Calls nested deeper than the parser accepts.
    #[error("at byte {pos}: calls nested deeper than {max}")]
    TooDeep {
        /// Where the limit was hit.
        pos: usize,
        /// The limit.
        max: usize,
    },
    /// A token that does not fit the grammar.
    #[error("at byte {pos}: expected {expected}, found {found}")]
    Syntax {
        /// Where.
        pos: usize,
        /// What the grammar allows here.
        expected: &'static str,
        /// What is there (`end of text` at the end).
        found: String,
    },
    /// A call of a name that is not a primitive.
    #[error("at byte {pos}: unknown primitive {name:?}")]
    UnknownPrimitive {
        /// Where the name starts.
        pos: usize,
        /// The name.
        name: String,
    },
    /// A call with the wrong number of arguments.
    #[error("at byte {pos}: {prim} takes {expected} argument(s), found {found}")]
    Arity {
        /// Where the call starts.
        pos: usize,
        /// The primitive.
        prim: &'static str,
        /// Its arity.
        expected: usize,
        /// Arguments given.
        found: usize,
    },
    /// An argument (or `if` branch) of the wrong type.
    #[error("at byte {pos}: argument {arg} of {prim} must be {expected}, found {found}")]
    Type {
        /// Where the argument starts.
        pos: usize,
        /// The primitive called.
        prim: &'static str,
        /// The argument's index, from 1.
        arg: usize,
        /// The type the primitive takes there.
        expected: Type,
        /// The argument's type.
        found: Type,
    },
    /// A name used in the expression but not declared after it.
    #[error("at byte {pos}: input {name:?} is not declared (declare it after `;`, e.g. `; {name}:int[3]`)")]
    Undeclared {
        /// Where it is used.
        pos: usize,
        /// The name.
        name: String,
    },
    /// A name declared twice.
    #[error("at byte {pos}: input {name:?} is declared twice")]
    Duplicate {
        /// Where the second declaration starts.
        pos: usize,
        /// The name.
        name: String,
    },
    /// An input named like a primitive or `true`/`false`.
    #[error("at byte {pos}: {name:?} is reserved and cannot name an input")]
    Reserved {
        /// Where.
        pos: usize,
        /// The name.
        name: String,
    },
    /// An integer literal beyond the value bounds.
    #[error("at byte {pos}: integer literal beyond ±999999999999999999")]
    LiteralTooLarge {
        /// Where it starts.
        pos: usize,
    },
    /// Input knobs out of range (`int[0]`, `list[99,2]`).
    #[error("at byte {pos}: {why}")]
    BadKnobs {
        /// Where the declaration's type starts.
        pos: usize,
        /// What is out of range.
        why: String,
    },
    /// More declared inputs than allowed.
    #[error("at byte {pos}: more than {max} inputs")]
    TooManyInputs {
        /// Where the first extra declaration starts.
        pos: usize,
        /// The limit.
        max: usize,
    },
    /// `with_inputs` given inputs that do not match the expression's.
    #[error("input {index}: expected {expected}, found {found}")]
    InputMismatch {
        /// Index in declaration order.
        index: usize,
        /// What the program declares (name and type).
        expected: String,
        /// What was given.
        found: String,
    },
}

/// Why one run of a program produced no value. Every failure of execution is one of these; the
/// executor never panics and never runs past its step budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// `div` or `mod` by zero.
    #[error("division by zero")]
    DivByZero,
    /// `head`, `last`, `max_of` or `min_of` of an empty list.
    #[error("{prim} of an empty list")]
    EmptyList {
        /// The primitive.
        prim: Prim,
    },
    /// An integer beyond ±(10^18 - 1) (or the limit's digits).
    #[error("integer result beyond the value bound")]
    TooLarge,
    /// A list longer than the limit.
    #[error("list result longer than the limit")]
    TooLong,
    /// The step budget ran out.
    #[error("step budget exhausted")]
    Budget,
    /// `undigits` of a list with an element outside 0..=9.
    #[error("undigits of a list holding {value}, not a digit 0..=9")]
    BadDigit {
        /// The offending element.
        value: i64,
    },
    /// The wrong number of input values.
    #[error("program takes {expected} input(s), given {found}")]
    InputCount {
        /// Declared inputs.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// A tree node of the wrong type: cannot happen for a parsed program, reported rather than
    /// panicked on should an internal edit ever build one.
    #[error("ill-typed expression: expected {expected}")]
    IllTyped {
        /// The type the context needs.
        expected: Type,
    },
    /// An input value of the wrong type or out of bounds.
    #[error("input {index} must be a {expected} within bounds")]
    InputType {
        /// Index in declaration order.
        index: usize,
        /// The declared type.
        expected: Type,
    },
}

/// Why a program is not kept as a task family (the validity rules, see `Validity`). A
/// `Program` is well typed by construction: type errors are [`ProgramError`]s when parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The step budget ran out on a probe input.
    #[error("runs past the step budget on probe {probe}")]
    Budget {
        /// Probe index.
        probe: usize,
    },
    /// Some other execution failure on a probe input (one bad probe rejects the program).
    #[error("invalid on probe {probe}: {error}")]
    InvalidOnProbe {
        /// Probe index.
        probe: usize,
        /// What went wrong.
        error: ExecError,
    },
    /// Changing this input never changes the output over the probes.
    #[error("output does not depend on input {name:?}")]
    IgnoresInput {
        /// The input's name.
        name: String,
    },
    /// The same output on every probe.
    #[error("constant: the same output on every probe")]
    Constant,
    /// Nearly the same output on every probe (more than `Validity::max_skew` of them).
    #[error("skewed: the same output on {most} of {probes} probes")]
    Skewed {
        /// Probes that give the most common output.
        most: usize,
        /// Probes run.
        probes: usize,
    },
    /// An answer longer than the completion allows.
    #[error("an answer of {chars} characters, longer than the {max} allowed")]
    AnswerTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
}
