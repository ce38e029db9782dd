//! The language's static side: value types, the primitives with their signatures, and input
//! declarations (`a:int[3]`, `l:list[5,2]`, `c:bool`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most decimal digits of any integer value: every int (and list element) has |x| <= 10^18 - 1.
pub const MAX_INT_DIGITS: u32 = 18;
/// The largest magnitude of any integer value, `10^18 - 1`.
pub const MAX_INT: i64 = 999_999_999_999_999_999;
/// Most elements of any list value (and of a declared list input).
pub const MAX_LIST_LEN: usize = 64;
/// Most declared inputs of one program.
pub const MAX_INPUTS: usize = 8;

/// The type of a value or an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// An exact integer, |x| <= [`MAX_INT`].
    Int,
    /// `true` or `false`.
    Bool,
    /// A list of integers, at most [`MAX_LIST_LEN`] long.
    List,
}

impl Type {
    /// All types, in a fixed order.
    pub const ALL: [Type; 3] = [Type::Int, Type::Bool, Type::List];

    /// The name used in declarations and messages: `int`, `bool`, `list`.
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Int => "int",
            Type::Bool => "bool",
            Type::List => "list",
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a declared input is drawn: its type and size knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputKind {
    /// `int[d]`: a non-negative integer of up to `digits` digits, uniform in `0..10^digits`.
    Int {
        /// Most decimal digits, 1..=[`MAX_INT_DIGITS`].
        digits: u32,
    },
    /// `list[n,d]`: exactly `len` integers, each uniform in `0..10^digits`.
    List {
        /// Number of elements, 1..=[`MAX_LIST_LEN`].
        len: u32,
        /// Most decimal digits of each element, 1..=[`MAX_INT_DIGITS`].
        digits: u32,
    },
    /// `bool`: `true` or `false`, each with probability 1/2.
    Bool,
}

impl InputKind {
    /// The type of the values this input takes.
    pub fn ty(self) -> Type {
        match self {
            InputKind::Int { .. } => Type::Int,
            InputKind::List { .. } => Type::List,
            InputKind::Bool => Type::Bool,
        }
    }

    /// Why these knobs are out of range, or `None` when they are fine.
    pub fn check(self) -> Option<String> {
        let digits_ok = |d: u32| (1..=MAX_INT_DIGITS).contains(&d);
        match self {
            InputKind::Int { digits } if !digits_ok(digits) => {
                Some(format!("int digits {digits} outside 1..={MAX_INT_DIGITS}"))
            }
            InputKind::List { len, .. } if !(1..=MAX_LIST_LEN as u32).contains(&len) => {
                Some(format!("list length {len} outside 1..={MAX_LIST_LEN}"))
            }
            InputKind::List { digits, .. } if !digits_ok(digits) => Some(format!(
                "list element digits {digits} outside 1..={MAX_INT_DIGITS}"
            )),
            _ => None,
        }
    }

    /// Total digits an instance shows (`int[d]`: d, `list[n,d]`: n*d, `bool`: 1): the input-size
    /// axis of the evolver's archive.
    pub fn size(self) -> u32 {
        match self {
            InputKind::Int { digits } => digits,
            InputKind::List { len, digits } => len * digits,
            InputKind::Bool => 1,
        }
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKind::Int { digits } => write!(f, "int[{digits}]"),
            InputKind::List { len, digits } => write!(f, "list[{len},{digits}]"),
            InputKind::Bool => f.write_str("bool"),
        }
    }
}

/// One declared input: `name:kind`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Input {
    /// The name the expression uses.
    pub name: String,
    /// Its type and size knobs.
    pub kind: InputKind,
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.kind)
    }
}

/// The primitives. Every one has a fixed signature except `if`, whose branches share any type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // each variant is documented by its name and `PRIMS` below
pub enum Prim {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Neg,
    Abs,
    Min,
    Max,
    Square,
    Eq,
    Lt,
    Gt,
    Not,
    And,
    Or,
    Xor,
    Even,
    If,
    Sum,
    Len,
    Sort,
    Rev,
    Head,
    Last,
    Take,
    Drop,
    Count,
    Concat,
    MaxOf,
    MinOf,
    Digits,
    Undigits,
    FilterEven,
    FilterOdd,
    Cumsum,
}

use Type::{Bool as B, Int as I, List as L};

/// Every primitive with its name, argument types and result type (`if` listed at `int`; its
/// branches and result may be any one type).
pub const PRIMS: &[(Prim, &str, &[Type], Type)] = &[
    (Prim::Add, "add", &[I, I], I),
    (Prim::Sub, "sub", &[I, I], I),
    (Prim::Mul, "mul", &[I, I], I),
    (Prim::Div, "div", &[I, I], I),
    (Prim::Mod, "mod", &[I, I], I),
    (Prim::Neg, "neg", &[I], I),
    (Prim::Abs, "abs", &[I], I),
    (Prim::Min, "min", &[I, I], I),
    (Prim::Max, "max", &[I, I], I),
    (Prim::Square, "square", &[I], I),
    (Prim::Eq, "eq", &[I, I], B),
    (Prim::Lt, "lt", &[I, I], B),
    (Prim::Gt, "gt", &[I, I], B),
    (Prim::Not, "not", &[B], B),
    (Prim::And, "and", &[B, B], B),
    (Prim::Or, "or", &[B, B], B),
    (Prim::Xor, "xor", &[B, B], B),
    (Prim::Even, "even", &[I], B),
    (Prim::If, "if", &[B, I, I], I),
    (Prim::Sum, "sum", &[L], I),
    (Prim::Len, "len", &[L], I),
    (Prim::Sort, "sort", &[L], L),
    (Prim::Rev, "rev", &[L], L),
    (Prim::Head, "head", &[L], I),
    (Prim::Last, "last", &[L], I),
    (Prim::Take, "take", &[L, I], L),
    (Prim::Drop, "drop", &[L, I], L),
    (Prim::Count, "count", &[L, I], I),
    (Prim::Concat, "concat", &[L, L], L),
    (Prim::MaxOf, "max_of", &[L], I),
    (Prim::MinOf, "min_of", &[L], I),
    (Prim::Digits, "digits", &[I], L),
    (Prim::Undigits, "undigits", &[L], I),
    (Prim::FilterEven, "filter_even", &[L], L),
    (Prim::FilterOdd, "filter_odd", &[L], L),
    (Prim::Cumsum, "cumsum", &[L], L),
];

impl Prim {
    /// Every primitive, in [`PRIMS`] order.
    pub fn all() -> impl Iterator<Item = Prim> {
        PRIMS.iter().map(|p| p.0)
    }

    fn entry(self) -> &'static (Prim, &'static str, &'static [Type], Type) {
        // PRIMS lists the variants in declaration order, so the discriminant indexes it.
        &PRIMS[self as usize]
    }

    /// The name programs call it by.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The primitive called `name`, if any.
    pub fn from_name(name: &str) -> Option<Prim> {
        PRIMS.iter().find(|p| p.1 == name).map(|p| p.0)
    }

    /// Number of arguments.
    pub fn arity(self) -> usize {
        self.entry().2.len()
    }

    /// Argument types (for `if`: `[bool, int, int]`; see [`Prim::signature_at`]).
    pub fn args(self) -> &'static [Type] {
        self.entry().2
    }

    /// Result type (for `if`: `int`; see [`Prim::signature_at`]).
    pub fn result(self) -> Type {
        self.entry().3
    }

    /// Argument types when the result is `result`: only `if` has more than one signature.
    pub fn signature_at(self, result: Type) -> [Type; 3] {
        match self {
            Prim::If => [Type::Bool, result, result],
            _ => {
                let mut s = [Type::Int; 3];
                for (slot, t) in s.iter_mut().zip(self.args()) {
                    *slot = *t;
                }
                s
            }
        }
    }
}

impl fmt::Display for Prim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prims_table_is_in_declaration_order_and_names_round_trip() {
        for (i, (p, name, _, _)) in PRIMS.iter().enumerate() {
            assert_eq!(*p as usize, i, "{name}");
            assert_eq!(Prim::from_name(name), Some(*p));
            assert_eq!(p.name(), *name);
        }
        assert_eq!(Prim::from_name("nope"), None);
        assert_eq!(PRIMS.len(), Prim::Cumsum as usize + 1);
    }

    #[test]
    fn kinds_print_and_check() {
        assert_eq!(InputKind::Int { digits: 3 }.to_string(), "int[3]");
        assert_eq!(
            InputKind::List { len: 5, digits: 2 }.to_string(),
            "list[5,2]"
        );
        assert_eq!(InputKind::Bool.to_string(), "bool");
        assert!(InputKind::Int { digits: 19 }.check().is_some());
        assert!(InputKind::List { len: 0, digits: 1 }.check().is_some());
        assert!(InputKind::List { len: 65, digits: 1 }.check().is_some());
        assert!(InputKind::List {
            len: 64,
            digits: 18
        }
        .check()
        .is_none());
        assert_eq!(MAX_INT, 10i64.pow(MAX_INT_DIGITS) - 1);
    }
}
