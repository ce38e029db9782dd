//! The executor: a tree-walking interpreter that is total (every failure is an [`ExecError`],
//! never a panic) and bounded (a step budget, bounds on every value).
//!
//! Lists live in one reusable arena (`Vec<i64>`) and a list value is a `(start, len)` view of it,
//! so an integer operation allocates nothing and a list operation at most appends to the arena;
//! `take`/`drop` are views without copying. Values never change once written, so views stay valid.
//! Each node costs one step, and each list element a primitive reads or writes costs one more.

use serde::{Deserialize, Serialize};

use super::error::ExecError;
use super::tree::Expr;
use super::types::{Prim, Type, MAX_INT, MAX_INT_DIGITS, MAX_LIST_LEN};
use super::value::Value;

/// Bounds on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Steps allowed: one per node evaluated plus one per list element read or written.
    pub max_steps: u64,
    /// Longest list value (at most [`MAX_LIST_LEN`]).
    pub max_list_len: usize,
    /// Most decimal digits of any integer value (at most [`MAX_INT_DIGITS`]).
    pub max_int_digits: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_steps: 10_000,
            max_list_len: MAX_LIST_LEN,
            max_int_digits: MAX_INT_DIGITS,
        }
    }
}

/// A value inside the machine: lists are views of the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum V {
    Int(i64),
    Bool(bool),
    List(u32, u32),
}

/// The interpreter's reusable state: the list arena and the step counter.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    arena: Vec<i64>,
    steps: u64,
    max_steps: u64,
    max_len: usize,
    max_int: i64,
}

impl Machine {
    /// A machine for `limits` (clamped to the language's absolute bounds).
    pub(crate) fn new(limits: &Limits) -> Machine {
        let digits = limits.max_int_digits.clamp(1, MAX_INT_DIGITS);
        Machine {
            arena: Vec::with_capacity(1024),
            steps: 0,
            max_steps: limits.max_steps,
            max_len: limits.max_list_len.min(MAX_LIST_LEN),
            max_int: (10i64.pow(digits) - 1).min(MAX_INT),
        }
    }

    /// Empties the arena for a new run.
    pub(crate) fn reset(&mut self) {
        self.arena.clear();
        self.steps = 0;
    }

    /// Puts one input value into the machine (after [`Machine::reset`]).
    pub(crate) fn load(&mut self, v: &Value) -> V {
        match v {
            Value::Int(x) => V::Int(*x),
            Value::Bool(b) => V::Bool(*b),
            Value::List(l) => {
                let start = self.arena.len() as u32;
                self.arena.extend_from_slice(l);
                V::List(start, l.len() as u32)
            }
        }
    }

    /// The list a view shows.
    pub(crate) fn slice(&self, start: u32, len: u32) -> &[i64] {
        self.arena
            .get(start as usize..(start + len) as usize)
            .unwrap_or_default()
    }

    /// Converts a machine value to a [`Value`].
    pub(crate) fn value(&self, v: V) -> Value {
        match v {
            V::Int(x) => Value::Int(x),
            V::Bool(b) => Value::Bool(b),
            V::List(s, n) => Value::List(self.slice(s, n).to_vec()),
        }
    }

    /// Evaluates `e` of type `ty` over loaded `inputs`.
    pub(crate) fn eval(&mut self, e: &Expr, ty: Type, inputs: &[V]) -> Result<V, ExecError> {
        match ty {
            Type::Int => self.int(e, inputs).map(V::Int),
            Type::Bool => self.bool(e, inputs).map(V::Bool),
            Type::List => self.list(e, inputs).map(|(s, n)| V::List(s, n)),
        }
    }

    #[inline]
    fn step(&mut self, n: u64) -> Result<(), ExecError> {
        self.steps += n;
        if self.steps > self.max_steps {
            Err(ExecError::Budget)
        } else {
            Ok(())
        }
    }

    #[inline]
    fn bound(&self, x: Option<i64>) -> Result<i64, ExecError> {
        match x {
            Some(x) if x.unsigned_abs() <= self.max_int as u64 => Ok(x),
            _ => Err(ExecError::TooLarge),
        }
    }

    /// Appends a new list of `n` elements made by `fill` from a view `(s, len)`, checked.
    fn push_list(&mut self, n: usize) -> Result<u32, ExecError> {
        if n > self.max_len {
            return Err(ExecError::TooLong);
        }
        self.step(n as u64)?;
        Ok(self.arena.len() as u32)
    }

    fn int(&mut self, e: &Expr, inputs: &[V]) -> Result<i64, ExecError> {
        self.step(1)?;
        let (p, args) = match e {
            Expr::Int(x) => return self.bound(Some(*x)),
            Expr::Input(i) => {
                return match inputs.get(*i) {
                    Some(V::Int(x)) => Ok(*x),
                    _ => Err(ExecError::InputType {
                        index: *i,
                        expected: Type::Int,
                    }),
                }
            }
            Expr::Call(p, args) => (*p, args.as_slice()),
            Expr::Bool(_) => return Err(ill_typed(Type::Int)),
        };
        match (p, args) {
            (Prim::Add, [a, b]) => {
                let (a, b) = (self.int(a, inputs)?, self.int(b, inputs)?);
                self.bound(a.checked_add(b))
            }
            (Prim::Sub, [a, b]) => {
                let (a, b) = (self.int(a, inputs)?, self.int(b, inputs)?);
                self.bound(a.checked_sub(b))
            }
            (Prim::Mul, [a, b]) => {
                let (a, b) = (self.int(a, inputs)?, self.int(b, inputs)?);
                self.bound(a.checked_mul(b))
            }
            (Prim::Div, [a, b]) => {
                let (a, b) = (self.int(a, inputs)?, self.int(b, inputs)?);
                floor_div(a, b).map(|(q, _)| q)
            }
            (Prim::Mod, [a, b]) => {
                let (a, b) = (self.int(a, inputs)?, self.int(b, inputs)?);
                floor_div(a, b).map(|(_, r)| r)
            }
            (Prim::Neg, [a]) => Ok(-self.int(a, inputs)?),
            (Prim::Abs, [a]) => Ok(self.int(a, inputs)?.abs()),
            (Prim::Min, [a, b]) => Ok(self.int(a, inputs)?.min(self.int(b, inputs)?)),
            (Prim::Max, [a, b]) => Ok(self.int(a, inputs)?.max(self.int(b, inputs)?)),
            (Prim::Square, [a]) => {
                let a = self.int(a, inputs)?;
                self.bound(a.checked_mul(a))
            }
            (Prim::If, [c, t, f]) => {
                if self.bool(c, inputs)? {
                    self.int(t, inputs)
                } else {
                    self.int(f, inputs)
                }
            }
            (Prim::Sum, [l]) => {
                let (s, n) = self.list(l, inputs)?;
                self.step(n as u64)?;
                // In i128 partial sums cannot overflow (64 · 10^18 ≪ 2^127): only the total is
                // bounded, so the order of the elements never matters.
                let acc: i128 = self.slice(s, n).iter().map(|&x| x as i128).sum();
                self.bound(i64::try_from(acc).ok())
            }
            (Prim::Len, [l]) => Ok(self.list(l, inputs)?.1 as i64),
            (Prim::Head | Prim::Last | Prim::MaxOf | Prim::MinOf, [l]) => {
                let (s, n) = self.list(l, inputs)?;
                self.step(n as u64)?;
                let xs = self.slice(s, n);
                let x = match p {
                    Prim::Head => xs.first().copied(),
                    Prim::Last => xs.last().copied(),
                    Prim::MaxOf => xs.iter().max().copied(),
                    _ => xs.iter().min().copied(),
                };
                x.ok_or(ExecError::EmptyList { prim: p })
            }
            (Prim::Count, [l, x]) => {
                let (s, n) = self.list(l, inputs)?;
                let x = self.int(x, inputs)?;
                self.step(n as u64)?;
                Ok(self.slice(s, n).iter().filter(|&&y| y == x).count() as i64)
            }
            (Prim::Undigits, [l]) => {
                let (s, n) = self.list(l, inputs)?;
                self.step(n as u64)?;
                let mut acc: i64 = 0;
                for &d in self.slice(s, n) {
                    if !(0..=9).contains(&d) {
                        return Err(ExecError::BadDigit { value: d });
                    }
                    acc = acc
                        .checked_mul(10)
                        .and_then(|a| a.checked_add(d))
                        .filter(|a| *a <= self.max_int)
                        .ok_or(ExecError::TooLarge)?;
                }
                Ok(acc)
            }
            _ => Err(ill_typed(Type::Int)),
        }
    }

    fn bool(&mut self, e: &Expr, inputs: &[V]) -> Result<bool, ExecError> {
        self.step(1)?;
        let (p, args) = match e {
            Expr::Bool(b) => return Ok(*b),
            Expr::Input(i) => {
                return match inputs.get(*i) {
                    Some(V::Bool(b)) => Ok(*b),
                    _ => Err(ExecError::InputType {
                        index: *i,
                        expected: Type::Bool,
                    }),
                }
            }
            Expr::Call(p, args) => (*p, args.as_slice()),
            Expr::Int(_) => return Err(ill_typed(Type::Bool)),
        };
        match (p, args) {
            (Prim::Eq, [a, b]) => Ok(self.int(a, inputs)? == self.int(b, inputs)?),
            (Prim::Lt, [a, b]) => Ok(self.int(a, inputs)? < self.int(b, inputs)?),
            (Prim::Gt, [a, b]) => Ok(self.int(a, inputs)? > self.int(b, inputs)?),
            (Prim::Not, [a]) => Ok(!self.bool(a, inputs)?),
            // Both operands are evaluated (no short circuit): errors do not depend on the order.
            (Prim::And, [a, b]) => Ok(self.bool(a, inputs)? & self.bool(b, inputs)?),
            (Prim::Or, [a, b]) => Ok(self.bool(a, inputs)? | self.bool(b, inputs)?),
            (Prim::Xor, [a, b]) => Ok(self.bool(a, inputs)? ^ self.bool(b, inputs)?),
            (Prim::Even, [a]) => Ok(self.int(a, inputs)? % 2 == 0),
            (Prim::If, [c, t, f]) => {
                if self.bool(c, inputs)? {
                    self.bool(t, inputs)
                } else {
                    self.bool(f, inputs)
                }
            }
            _ => Err(ill_typed(Type::Bool)),
        }
    }

    fn list(&mut self, e: &Expr, inputs: &[V]) -> Result<(u32, u32), ExecError> {
        self.step(1)?;
        let (p, args) = match e {
            Expr::Input(i) => {
                return match inputs.get(*i) {
                    Some(V::List(s, n)) => Ok((*s, *n)),
                    _ => Err(ExecError::InputType {
                        index: *i,
                        expected: Type::List,
                    }),
                }
            }
            Expr::Call(p, args) => (*p, args.as_slice()),
            _ => return Err(ill_typed(Type::List)),
        };
        match (p, args) {
            (Prim::Sort | Prim::Rev, [l]) => {
                let (s, n) = self.list(l, inputs)?;
                let start = self.push_list(n as usize)?;
                let (a, b) = (s as usize, (s + n) as usize);
                self.arena.extend_from_within(a..b);
                let new = &mut self.arena[start as usize..];
                if p == Prim::Sort {
                    new.sort_unstable();
                } else {
                    new.reverse();
                }
                Ok((start, n))
            }
            (Prim::Take | Prim::Drop, [l, k]) => {
                let (s, n) = self.list(l, inputs)?;
                let k = self.int(k, inputs)?.clamp(0, n as i64) as u32;
                Ok(if p == Prim::Take {
                    (s, k)
                } else {
                    (s + k, n - k)
                })
            }
            (Prim::Concat, [l, m]) => {
                let (s1, n1) = self.list(l, inputs)?;
                let (s2, n2) = self.list(m, inputs)?;
                let n = n1 as usize + n2 as usize;
                if s1 + n1 == s2 {
                    // Adjacent views (the usual case for fresh results): no copy needed.
                    return if n > self.max_len {
                        Err(ExecError::TooLong)
                    } else {
                        Ok((s1, n as u32))
                    };
                }
                let start = self.push_list(n)?;
                self.arena
                    .extend_from_within(s1 as usize..(s1 + n1) as usize);
                self.arena
                    .extend_from_within(s2 as usize..(s2 + n2) as usize);
                Ok((start, n as u32))
            }
            (Prim::Digits, [x]) => {
                let x = self.int(x, inputs)?.unsigned_abs();
                let n = if x == 0 { 1 } else { x.ilog10() as usize + 1 };
                let start = self.push_list(n)?;
                let mut y = x;
                for _ in 0..n {
                    self.arena.push((y % 10) as i64);
                    y /= 10;
                }
                self.arena[start as usize..].reverse();
                Ok((start, n as u32))
            }
            (Prim::FilterEven | Prim::FilterOdd, [l]) => {
                let (s, n) = self.list(l, inputs)?;
                let start = self.push_list(n as usize)?;
                let want = if p == Prim::FilterEven { 0 } else { 1 };
                for i in s..s + n {
                    let x = self.arena[i as usize];
                    if x.rem_euclid(2) == want {
                        self.arena.push(x);
                    }
                }
                Ok((start, self.arena.len() as u32 - start))
            }
            (Prim::Cumsum, [l]) => {
                let (s, n) = self.list(l, inputs)?;
                let start = self.push_list(n as usize)?;
                let mut acc: i64 = 0;
                for i in s..s + n {
                    acc = self.bound(acc.checked_add(self.arena[i as usize]))?;
                    self.arena.push(acc);
                }
                Ok((start, n))
            }
            (Prim::If, [c, t, f]) => {
                if self.bool(c, inputs)? {
                    self.list(t, inputs)
                } else {
                    self.list(f, inputs)
                }
            }
            _ => Err(ill_typed(Type::List)),
        }
    }
}

/// A node of the wrong type: impossible in a checked [`super::Program`]; reported, not panicked.
fn ill_typed(expected: Type) -> ExecError {
    ExecError::IllTyped { expected }
}

/// Floor division and its remainder (Python's `//` and `%`): the remainder has the divisor's sign.
pub fn floor_div(a: i64, b: i64) -> Result<(i64, i64), ExecError> {
    if b == 0 {
        return Err(ExecError::DivByZero);
    }
    // Values are within ±(10^18 - 1), so `i64::MIN / -1` cannot occur.
    let (q, r) = (a / b, a % b);
    if r != 0 && ((r < 0) != (b < 0)) {
        Ok((q - 1, r + b))
    } else {
        Ok((q, r))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Program, Value};
    use super::*;

    /// Runs a closed program (no inputs) under default limits.
    fn eval(text: &str) -> Result<Value, ExecError> {
        Program::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .run(&[], &Limits::default())
    }

    fn int(text: &str) -> i64 {
        match eval(text) {
            Ok(Value::Int(x)) => x,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn list(text: &str) -> Vec<i64> {
        match eval(text) {
            Ok(Value::List(l)) => l,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn boolean(text: &str) -> bool {
        match eval(text) {
            Ok(Value::Bool(b)) => b,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn integer_primitives_match_hand_computed_values() {
        assert_eq!(int("add(2, 3)"), 5);
        assert_eq!(int("sub(2, 3)"), -1);
        assert_eq!(int("mul(-4, 3)"), -12);
        assert_eq!(int("neg(7)"), -7);
        assert_eq!(int("abs(-7)"), 7);
        assert_eq!(int("min(-1, 3)"), -1);
        assert_eq!(int("max(-1, 3)"), 3);
        assert_eq!(int("square(-12)"), 144);
        // Python: 7 // 2, -7 // 2, 7 // -2, -7 // -2 = 3, -4, -4, 3
        assert_eq!(int("div(7, 2)"), 3);
        assert_eq!(int("div(-7, 2)"), -4);
        assert_eq!(int("div(7, -2)"), -4);
        assert_eq!(int("div(-7, -2)"), 3);
        assert_eq!(int("div(-6, 2)"), -3);
        // Python: 7 % 2, -7 % 2, 7 % -2, -7 % -2 = 1, 1, -1, -1
        assert_eq!(int("mod(7, 2)"), 1);
        assert_eq!(int("mod(-7, 2)"), 1);
        assert_eq!(int("mod(7, -2)"), -1);
        assert_eq!(int("mod(-7, -2)"), -1);
        assert_eq!(int("mod(-6, 3)"), 0);
        assert_eq!(eval("div(1, 0)"), Err(ExecError::DivByZero));
        assert_eq!(eval("mod(1, sub(2, 2))"), Err(ExecError::DivByZero));
    }

    #[test]
    fn integers_beyond_the_bound_are_too_large_never_wrapped() {
        assert_eq!(int("add(999999999999999998, 1)"), 999_999_999_999_999_999);
        assert_eq!(eval("add(999999999999999999, 1)"), Err(ExecError::TooLarge));
        assert_eq!(
            eval("sub(-999999999999999999, 1)"),
            Err(ExecError::TooLarge)
        );
        assert_eq!(
            eval("mul(999999999999999999, 999999999999999999)"),
            Err(ExecError::TooLarge)
        );
        assert_eq!(eval("square(1000000000)"), Err(ExecError::TooLarge));
        assert_eq!(int("square(999999999)"), 999_999_998_000_000_001);
        let limits = Limits {
            max_int_digits: 3,
            ..Limits::default()
        };
        let p = Program::parse("mul(a, a); a:int[2]").unwrap();
        assert_eq!(p.run(&[Value::Int(31)], &limits), Ok(Value::Int(961)));
        assert_eq!(p.run(&[Value::Int(32)], &limits), Err(ExecError::TooLarge));
    }

    #[test]
    fn boolean_primitives_and_lazy_if() {
        assert!(boolean("eq(3, 3)") && !boolean("eq(3, -3)"));
        assert!(boolean("lt(-3, 2)") && !boolean("lt(2, 2)"));
        assert!(boolean("gt(3, 2)") && !boolean("gt(2, 2)"));
        assert!(!boolean("not(true)"));
        assert!(boolean("and(true, true)") && !boolean("and(true, false)"));
        assert!(boolean("or(false, true)") && !boolean("or(false, false)"));
        assert!(boolean("xor(true, false)") && !boolean("xor(true, true)"));
        assert!(boolean("even(-4)") && !boolean("even(-3)") && boolean("even(0)"));
        // Only the chosen branch runs: the other would divide by zero.
        assert_eq!(int("if(true, 1, div(1, 0))"), 1);
        assert_eq!(int("if(false, div(1, 0), 2)"), 2);
        assert_eq!(list("if(lt(1, 2), digits(12), digits(3))"), vec![1, 2]);
        assert!(boolean("if(false, true, eq(1, 1))"));
        // and/or evaluate both sides: an error on either side is the run's error.
        assert_eq!(
            eval("and(false, eq(div(1, 0), 1))"),
            Err(ExecError::DivByZero)
        );
    }

    #[test]
    fn list_primitives_match_hand_computed_values() {
        assert_eq!(list("digits(0)"), vec![0]);
        assert_eq!(list("digits(-120)"), vec![1, 2, 0]);
        assert_eq!(list("digits(999999999999999999)"), vec![9; 18]);
        assert_eq!(int("undigits(digits(-120))"), 120);
        assert_eq!(int("undigits(concat(digits(0), digits(7)))"), 7);
        assert_eq!(int("undigits(take(digits(5), 0))"), 0);
        assert_eq!(
            eval("undigits(cumsum(digits(99)))"),
            Err(ExecError::BadDigit { value: 18 })
        );
        assert_eq!(
            eval("undigits(concat(digits(999999999999999999), digits(1)))"),
            Err(ExecError::TooLarge)
        );
        assert_eq!(int("sum(digits(987))"), 24);
        assert_eq!(int("sum(take(digits(5), 0))"), 0);
        assert_eq!(int("len(digits(12345))"), 5);
        assert_eq!(list("sort(digits(31412))"), vec![1, 1, 2, 3, 4]);
        assert_eq!(list("rev(digits(123))"), vec![3, 2, 1]);
        assert_eq!(int("head(digits(123))"), 1);
        assert_eq!(int("last(digits(123))"), 3);
        assert_eq!(int("max_of(digits(3192))"), 9);
        assert_eq!(int("min_of(digits(3192))"), 1);
        assert_eq!(list("take(digits(12345), 2)"), vec![1, 2]);
        assert_eq!(list("take(digits(12345), -1)"), Vec::<i64>::new());
        assert_eq!(list("take(digits(12345), 9)"), vec![1, 2, 3, 4, 5]);
        assert_eq!(list("drop(digits(12345), 2)"), vec![3, 4, 5]);
        assert_eq!(list("drop(digits(12345), -3)"), vec![1, 2, 3, 4, 5]);
        assert_eq!(list("drop(digits(12345), 7)"), Vec::<i64>::new());
        assert_eq!(int("count(digits(1231), 1)"), 2);
        assert_eq!(int("count(digits(1231), 5)"), 0);
        assert_eq!(list("concat(digits(12), digits(34))"), vec![1, 2, 3, 4]);
        assert_eq!(
            list("concat(rev(digits(12)), digits(34))"),
            vec![2, 1, 3, 4]
        );
        assert_eq!(list("filter_even(digits(123456))"), vec![2, 4, 6]);
        assert_eq!(list("filter_odd(digits(123456))"), vec![1, 3, 5]);
        assert_eq!(list("cumsum(digits(1234))"), vec![1, 3, 6, 10]);
        for prim in ["head", "last", "max_of", "min_of"] {
            let p = Prim::from_name(prim).unwrap();
            assert_eq!(
                eval(&format!("{prim}(take(digits(1), 0))")),
                Err(ExecError::EmptyList { prim: p })
            );
        }
    }

    #[test]
    fn list_inputs_negative_elements_and_bounds() {
        let p = Program::parse("filter_odd(l); l:list[4,2]").unwrap();
        let out = p.run(&[Value::List(vec![-3, -2, 5, 0])], &Limits::default());
        assert_eq!(out, Ok(Value::List(vec![-3, 5])));
        let p = Program::parse("concat(l, l); l:list[40,1]").unwrap();
        assert_eq!(
            p.run(&[Value::List(vec![1; 40])], &Limits::default()),
            Err(ExecError::TooLong)
        );
        assert_eq!(
            p.run(&[Value::Int(1)], &Limits::default()),
            Err(ExecError::InputType {
                index: 0,
                expected: Type::List
            })
        );
        assert_eq!(
            p.run(&[], &Limits::default()),
            Err(ExecError::InputCount {
                expected: 1,
                found: 0
            })
        );
        assert_eq!(
            p.run(&[Value::List(vec![MAX_INT + 1])], &Limits::default()),
            Err(ExecError::InputType {
                index: 0,
                expected: Type::List
            })
        );
    }

    #[test]
    fn the_step_budget_stops_a_run() {
        let p = Program::parse("sum(sort(concat(l, l))); l:list[30,2]").unwrap();
        let input = [Value::List(vec![7; 30])];
        assert_eq!(p.run(&input, &Limits::default()), Ok(Value::Int(420)));
        let tight = Limits {
            max_steps: 50,
            ..Limits::default()
        };
        assert_eq!(p.run(&input, &tight), Err(ExecError::Budget));
    }
}
