//! Digit widths: the most decimal digits a program's values can have at given input sizes, by
//! interval reasoning over the tree. The fixed-width format pads every number of a task to such a
//! width, so that the layout of a task depends on its knobs only, never on the drawn values.
//!
//! Rules (a bound on |x|'s digits; lists: a bound on each element's digits and on the length):
//! `add sub` max + 1, `mul` sum, `square` twice, `div neg abs` the first argument's, `mod` the
//! divisor's, `min max if` the larger, `sum` element + digits of the length, `len count` digits
//! of the length, `head last max_of min_of` the element's, `digits` one-digit elements as many as
//! the argument's digits, `undigits` the length, `cumsum` like `sum` per element, `concat` the
//! larger element and the summed length, the rest keep their argument's. Every bound is capped at
//! the language's 18 digits and 64 elements, so a bound always holds for a value that runs.

use super::tree::Expr;
use super::types::{InputKind, Prim, MAX_INT_DIGITS, MAX_LIST_LEN};

/// The width bound of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// An int of at most this many digits.
    Int(u32),
    /// A bool (no digits).
    Bool,
    /// A list of at most `len` elements of at most `digits` digits each.
    List {
        /// Most elements.
        len: u32,
        /// Most digits of each element.
        digits: u32,
    },
}

impl Width {
    /// The width of a declared input.
    pub fn of_input(kind: InputKind) -> Width {
        match kind {
            InputKind::Int { digits } => Width::Int(cap(digits)),
            InputKind::List { len, digits } => Width::List {
                len: len.min(MAX_LIST_LEN as u32),
                digits: cap(digits),
            },
            InputKind::Bool => Width::Bool,
        }
    }

    /// The digits numbers of this value are padded to (an int's, or a list element's; 1 for a
    /// bool, which has none).
    pub fn digits(self) -> u32 {
        match self {
            Width::Int(d) | Width::List { digits: d, .. } => d,
            Width::Bool => 1,
        }
    }

    fn int(self) -> u32 {
        self.digits()
    }

    fn list(self) -> (u32, u32) {
        match self {
            Width::List { len, digits } => (len, digits),
            // Ill-typed trees do not parse; a neutral bound keeps this total anyway.
            _ => (1, 1),
        }
    }
}

fn cap(d: u32) -> u32 {
    d.clamp(1, MAX_INT_DIGITS)
}

fn list(len: u32, digits: u32) -> Width {
    Width::List {
        len: len.clamp(0, MAX_LIST_LEN as u32),
        digits: cap(digits),
    }
}

/// Decimal digits of `n` (1 for 0).
fn digits_of(n: u64) -> u32 {
    n.checked_ilog10().map_or(1, |d| d + 1)
}

/// The width bound of `e` when the inputs have `kinds` (in declaration order).
pub fn width(e: &Expr, kinds: &[InputKind]) -> Width {
    let w = |a: &Expr| width(a, kinds);
    match e {
        Expr::Int(x) => Width::Int(cap(digits_of(x.unsigned_abs()))),
        Expr::Bool(_) => Width::Bool,
        Expr::Input(i) => kinds
            .get(*i)
            .map_or(Width::Int(MAX_INT_DIGITS), |k| Width::of_input(*k)),
        Expr::Call(p, args) => {
            let arg = |k: usize| args.get(k).map_or(Width::Int(1), w);
            match p {
                Prim::Add | Prim::Sub => Width::Int(cap(arg(0).int().max(arg(1).int()) + 1)),
                Prim::Mul => Width::Int(cap(arg(0).int() + arg(1).int())),
                Prim::Square => Width::Int(cap(2 * arg(0).int())),
                Prim::Div | Prim::Neg | Prim::Abs => Width::Int(arg(0).int()),
                Prim::Mod => Width::Int(arg(1).int()),
                Prim::Min | Prim::Max => Width::Int(arg(0).int().max(arg(1).int())),
                Prim::Eq | Prim::Lt | Prim::Gt | Prim::Not | Prim::And | Prim::Or | Prim::Xor => {
                    Width::Bool
                }
                Prim::Even => Width::Bool,
                Prim::If => match (arg(1), arg(2)) {
                    (Width::Int(a), Width::Int(b)) => Width::Int(a.max(b)),
                    (
                        Width::List {
                            len: l1,
                            digits: d1,
                        },
                        Width::List {
                            len: l2,
                            digits: d2,
                        },
                    ) => list(l1.max(l2), d1.max(d2)),
                    _ => Width::Bool,
                },
                Prim::Sum => {
                    let (len, d) = arg(0).list();
                    Width::Int(cap(d + digits_of(len as u64)))
                }
                Prim::Len | Prim::Count => Width::Int(digits_of(arg(0).list().0 as u64)),
                Prim::Head | Prim::Last | Prim::MaxOf | Prim::MinOf => Width::Int(arg(0).list().1),
                Prim::Sort | Prim::Rev | Prim::Take | Prim::Drop => arg(0),
                Prim::FilterEven | Prim::FilterOdd => arg(0),
                Prim::Concat => {
                    let ((l1, d1), (l2, d2)) = (arg(0).list(), arg(1).list());
                    list(l1 + l2, d1.max(d2))
                }
                Prim::Digits => list(arg(0).int(), 1),
                Prim::Undigits => Width::Int(cap(arg(0).list().0)),
                Prim::Cumsum => {
                    let (len, d) = arg(0).list();
                    list(len, d + digits_of(len as u64))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Limits, Program, Value};
    use crate::rng::TaskRng;

    fn digits(x: i64) -> u32 {
        digits_of(x.unsigned_abs())
    }

    /// Whether `v` fits `w`.
    fn fits(v: &Value, w: Width) -> bool {
        match (v, w) {
            (Value::Int(x), Width::Int(d)) => digits(*x) <= d,
            (Value::Bool(_), Width::Bool) => true,
            (Value::List(l), Width::List { len, digits: d }) => {
                l.len() as u32 <= len && l.iter().all(|x| digits(*x) <= d)
            }
            _ => false,
        }
    }

    #[test]
    fn bounds_by_hand() {
        let cases = [
            ("add(a, b); a:int[3]; b:int[2]", Width::Int(4)),
            ("mul(a, b); a:int[3]; b:int[2]", Width::Int(5)),
            ("mod(a, 7); a:int[5]", Width::Int(1)),
            ("sum(l); l:list[12,2]", Width::Int(4)),
            ("len(l); l:list[12,2]", Width::Int(2)),
            (
                "sort(digits(add(a, b))); a:int[3]; b:int[3]",
                Width::List { len: 4, digits: 1 },
            ),
            ("cumsum(l); l:list[5,2]", Width::List { len: 5, digits: 3 }),
            ("undigits(rev(digits(a))); a:int[4]", Width::Int(4)),
            ("even(a); a:int[2]", Width::Bool),
            ("square(square(square(a))); a:int[9]", Width::Int(18)),
        ];
        for (text, want) in cases {
            let p = Program::parse(text).unwrap();
            let kinds: Vec<InputKind> = p.inputs().iter().map(|d| d.kind).collect();
            assert_eq!(width(p.expr(), &kinds), want, "{text}");
        }
    }

    #[test]
    fn every_value_that_runs_fits_its_bound() {
        // Programs that reach each rule, on their extreme and random inputs.
        let texts = [
            "sub(min(a, b), mul(a, 9)); a:int[3]; b:int[2]",
            "if(lt(a, b), neg(square(a)), div(b, add(a, 1))); a:int[4]; b:int[4]",
            "concat(cumsum(l), digits(sum(m))); l:list[6,3]; m:list[9,2]",
            "count(concat(l, rev(l)), max_of(l)); l:list[7,1]",
            "undigits(take(digits(mul(a, a)), 5)); a:int[6]",
            "filter_odd(sort(drop(l, 2))); l:list[8,2]",
            "mod(sum(l), add(a, 1)); l:list[4,3]; a:int[2]",
            "abs(sub(head(l), last(l))); l:list[3,5]",
        ];
        for text in texts {
            let p = Program::parse(text).unwrap();
            let kinds: Vec<InputKind> = p.inputs().iter().map(|d| d.kind).collect();
            let w = width(p.expr(), &kinds);
            let mut rng = TaskRng::new(7);
            let mut ran = 0;
            let mut probes = crate::program::probe_inputs(p.inputs());
            probes.extend((0..500).map(|_| p.draw_inputs(&mut rng)));
            for inputs in probes {
                if let Ok(v) = p.run(&inputs, &Limits::default()) {
                    assert!(fits(&v, w), "{text}: {v} does not fit {w:?}");
                    ran += 1;
                }
            }
            assert!(ran > 400, "{text}: only {ran} runs");
        }
    }
}
