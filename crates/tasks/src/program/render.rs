//! The text of program tasks: values written in a number format, the compact expression, the
//! prompts of both modes and styles, and the one answer format read back.
//!
//! Values: an int is decimal (`-42`), a bool `true` or `false`, a list `[1,2,3]` (no spaces;
//! `[]` when empty). In `fixed_width_lsb_first` every number is zero-padded to its width (see
//! [`super::width`]) and written least-significant digit first, with a leading `-` when negative:
//! 42 at width 4 is `2400`, the list [5, 17] at width 2 is `[50,71]`.
//!
//! Answers are read back in exactly that format: surrounding whitespace is trimmed and spaces
//! around list elements are ignored (`[1, 2, 3]` reads as `[1,2,3]`); a natural int is an
//! optional sign and digits without leading zeros ([`crate::answer::canonical_int`]); a
//! fixed-width number has exactly its width in digits; anything else (`1,000`, `007`, `[1 2]`,
//! `true or false`, two values) is unparseable.

use super::syntax::write_expr;
use super::tree::Expr;
use super::types::{Input, InputKind, Prim, Type, MAX_INT_DIGITS, MAX_LIST_LEN};
use super::value::Value;
use super::width::Width;
use crate::answer::canonical_int;
use crate::task::NumberFormat;

/// Writes the int `x` in `format`, padded to `width` digits when fixed-width (never truncated).
pub(crate) fn push_int(out: &mut String, x: i64, format: NumberFormat, width: u32) {
    match format {
        NumberFormat::Natural => out.push_str(itoa::Buffer::new().format(x)),
        NumberFormat::FixedWidthLsbFirst => {
            if x < 0 {
                out.push('-');
            }
            let mut m = x.unsigned_abs();
            let digits = m.checked_ilog10().map_or(1, |d| d + 1);
            for _ in 0..width.max(digits) {
                out.push((b'0' + (m % 10) as u8) as char);
                m /= 10;
            }
        }
    }
}

/// Writes `v` in `format`; `width` gives the padding of its numbers.
pub(crate) fn push_value(out: &mut String, v: &Value, format: NumberFormat, width: Width) {
    match v {
        Value::Int(x) => push_int(out, *x, format, width.digits()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_int(out, *x, format, width.digits());
            }
            out.push(']');
        }
    }
}

/// Writes the expression without spaces: `sort(digits(add(a,b)))`.
pub(crate) fn push_compact(out: &mut String, e: &Expr, inputs: &[Input]) {
    match e {
        Expr::Int(x) => push_int(out, *x, NumberFormat::Natural, 1),
        Expr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Expr::Input(i) => match inputs.get(*i) {
            Some(d) => out.push_str(&d.name),
            None => out.push('?'),
        },
        Expr::Call(p, args) => {
            out.push_str(p.name());
            out.push('(');
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                push_compact(out, a, inputs);
            }
            out.push(')');
        }
    }
}

/// The canonical expression text (`sort(digits(add(a, b)))`), for tagged prompts.
pub(crate) fn canonical_expr(e: &Expr, inputs: &[Input]) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_expr(&mut s, e, inputs);
    s
}

/// The program text with declarations of `kinds` (`f(a); a:int[3]`), appended to `out`.
pub(crate) fn push_program(
    out: &mut String,
    expr_text: &str,
    inputs: &[Input],
    kinds: &[InputKind],
) {
    out.push_str(expr_text);
    for (d, k) in inputs.iter().zip(kinds) {
        out.push_str("; ");
        out.push_str(&d.name);
        out.push(':');
        push_kind(out, *k);
    }
}

fn push_kind(out: &mut String, k: InputKind) {
    let n = |out: &mut String, x: u32| push_int(out, x as i64, NumberFormat::Natural, 1);
    match k {
        InputKind::Int { digits } => {
            out.push_str("int[");
            n(out, digits);
            out.push(']');
        }
        InputKind::List { len, digits } => {
            out.push_str("list[");
            n(out, len);
            out.push(',');
            n(out, digits);
            out.push(']');
        }
        InputKind::Bool => out.push_str("bool"),
    }
}

/// Whether the expression calls `div` or `mod` (tagged prompts then say how they round).
fn divides(e: &Expr) -> bool {
    match e {
        Expr::Call(p, args) => matches!(p, Prim::Div | Prim::Mod) || args.iter().any(divides),
        _ => false,
    }
}

/// Everything a prompt shows: the expression, the inputs with their sizes and values, the
/// output, which input is unknown (input mode) and the widths of the fixed-width format.
pub(crate) struct Shown<'a> {
    /// The expression.
    pub expr: &'a Expr,
    /// Its compact text (bare prompts).
    pub compact: &'a str,
    /// Its canonical text (tagged prompts).
    pub canonical: &'a str,
    /// The declarations (names).
    pub inputs: &'a [Input],
    /// The sizes at the task's knobs.
    pub kinds: &'a [InputKind],
    /// The input values.
    pub values: &'a [Value],
    /// The output and its width.
    pub output: (&'a Value, Width),
    /// Input mode: the index of the input to find.
    pub solve: Option<usize>,
}

/// The bare prompt. Output mode: `sort(digits(add(a,b))) a=123 b=456 =`; input mode (find `a`):
/// `add(a,3) =126 a:int[3]=`, the given inputs before the `=`.
pub(crate) fn bare_prompt(s: &Shown, format: NumberFormat) -> String {
    let mut p = String::with_capacity(s.compact.len() + 16 * s.values.len() + 16);
    p.push_str(s.compact);
    for (k, (d, v)) in s.inputs.iter().zip(s.values).enumerate() {
        if Some(k) == s.solve {
            continue;
        }
        p.push(' ');
        p.push_str(&d.name);
        p.push('=');
        push_value(&mut p, v, format, input_width(s, k));
    }
    p.push_str(" =");
    if let Some(k) = s.solve {
        push_value(&mut p, s.output.0, format, s.output.1);
        if let (Some(d), Some(kind)) = (s.inputs.get(k), s.kinds.get(k)) {
            p.push(' ');
            p.push_str(&d.name);
            p.push(':');
            push_kind(&mut p, *kind);
            p.push('=');
        }
    }
    p
}

fn input_width(s: &Shown, k: usize) -> Width {
    s.kinds
        .get(k)
        .map_or(Width::Int(MAX_INT_DIGITS), |kind| Width::of_input(*kind))
}

/// The tagged prompt: the same task in words, the answer inside `<answer></answer>`.
pub(crate) fn tagged_prompt(s: &Shown, format: NumberFormat) -> String {
    let mut p = String::with_capacity(2 * s.canonical.len() + 24 * s.values.len() + 200);
    let given: Vec<usize> = (0..s.inputs.len())
        .filter(|k| Some(*k) != s.solve)
        .collect();
    let push_given = |p: &mut String| {
        for (n, &k) in given.iter().enumerate() {
            p.push_str(match n {
                0 => "",
                _ if n + 1 == given.len() => " and ",
                _ => ", ",
            });
            p.push_str(&s.inputs[k].name);
            p.push_str(" = ");
            push_value(p, &s.values[k], format, input_width(s, k));
        }
    };
    let ty = s.output.0.ty();
    match s.solve.and_then(|k| s.inputs.get(k).zip(s.kinds.get(k))) {
        None => {
            p.push_str("Evaluate the program `");
            p.push_str(s.canonical);
            p.push('`');
            if !given.is_empty() {
                p.push_str(" for ");
                push_given(&mut p);
            }
            p.push('.');
        }
        Some((d, kind)) => {
            p.push_str("Find a value of ");
            p.push_str(&d.name);
            p.push_str(" (");
            describe(&mut p, *kind);
            p.push_str(") for which the program `");
            p.push_str(s.canonical);
            p.push_str("` gives ");
            push_value(&mut p, s.output.0, format, s.output.1);
            if !given.is_empty() {
                p.push_str(" when ");
                push_given(&mut p);
            }
            p.push('.');
        }
    }
    if divides(s.expr) {
        p.push_str(" div and mod round down, like Python's // and %.");
    }
    if format == NumberFormat::FixedWidthLsbFirst {
        p.push_str(
            " Numbers are written least-significant digit first, zero-padded to a fixed width \
             (42 at width 4 is 2400, -42 is -2400): ",
        );
        let mut first = true;
        for (k, d) in s.inputs.iter().enumerate() {
            let w = input_width(s, k);
            if w == Width::Bool {
                continue;
            }
            if !first {
                p.push_str(", ");
            }
            first = false;
            p.push_str(&d.name);
            width_words(&mut p, w);
        }
        if s.solve.is_none() && s.output.1 != Width::Bool {
            if !first {
                p.push_str(", ");
            }
            p.push_str("the result");
            width_words(&mut p, s.output.1);
        } else if s.solve.is_some() && ty != Type::Bool {
            if !first {
                p.push_str(", ");
            }
            p.push_str("the program's result");
            width_words(&mut p, s.output.1);
        }
        p.push('.');
    }
    p.push_str(" Write ");
    match s.solve.and_then(|k| s.inputs.get(k)) {
        Some(d) => {
            p.push_str("your value of ");
            p.push_str(&d.name);
            hint(&mut p, d.kind.ty());
        }
        None => {
            p.push_str("the result");
            hint(&mut p, ty);
        }
    }
    p.push_str(" inside <answer></answer>.");
    p
}

fn width_words(p: &mut String, w: Width) {
    let n = |p: &mut String, x: u32| push_int(p, x as i64, NumberFormat::Natural, 1);
    let (d, what) = match w {
        Width::Int(d) => (d, ""),
        Width::List { digits, .. } => (digits, " per element"),
        Width::Bool => return,
    };
    p.push(' ');
    n(p, d);
    p.push_str(if d == 1 { " digit" } else { " digits" });
    p.push_str(what);
}

fn hint(p: &mut String, ty: Type) {
    p.push_str(match ty {
        Type::Int => " as an integer",
        Type::Bool => ", true or false,",
        Type::List => " as a list such as [1,2,3]",
    });
}

fn describe(p: &mut String, kind: InputKind) {
    let top = |p: &mut String, d: u32| {
        p.push_str("from 0 to ");
        for _ in 0..d.min(MAX_INT_DIGITS) {
            p.push('9');
        }
    };
    match kind {
        InputKind::Int { digits } => {
            p.push_str("an integer ");
            top(p, digits);
        }
        InputKind::List { len, digits } => {
            p.push_str("a list of exactly ");
            push_int(p, len as i64, NumberFormat::Natural, 1);
            p.push_str(" integers, each ");
            top(p, digits);
        }
        InputKind::Bool => p.push_str("true or false"),
    }
}

/// Why an answer text could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// Not in the answer format.
    Malformed(&'static str),
    /// A well-formed number beyond the language's ±(10^18 - 1): no value can equal it.
    OutOfRange,
}

/// Reads one number: natural (canonical spelling) or fixed-width (`width` digits, or any number
/// of digits when `width` is `None`).
fn read_int(s: &str, format: NumberFormat, width: Option<u32>) -> Result<i64, ReadError> {
    let digits = match format {
        NumberFormat::Natural => {
            let (neg, digits) =
                canonical_int(s).ok_or(ReadError::Malformed("expected an integer"))?;
            let m = small(digits.bytes())?;
            return Ok(if neg { -m } else { m });
        }
        NumberFormat::FixedWidthLsbFirst => s,
    };
    let (neg, digits) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, digits),
    };
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && width.is_none_or(|w| digits.len() == w as usize);
    if !ok {
        return Err(ReadError::Malformed(
            "expected a fixed-width number written least-significant digit first",
        ));
    }
    let m = small(digits.bytes().rev())?;
    if neg && m == 0 {
        return Err(ReadError::Malformed("zero has no sign"));
    }
    Ok(if neg { -m } else { m })
}

/// The value of ASCII digits (most significant first), if within the language's bound.
fn small(digits: impl Iterator<Item = u8>) -> Result<i64, ReadError> {
    let mut m: i64 = 0;
    for b in digits {
        m = m
            .checked_mul(10)
            .and_then(|m| m.checked_add((b - b'0') as i64))
            .filter(|m| *m <= super::types::MAX_INT)
            .ok_or(ReadError::OutOfRange)?;
    }
    Ok(m)
}

/// Reads an answer of type `ty` in `format`. `width` is the fixed width of its numbers (`None`:
/// any width; natural format ignores it).
pub(crate) fn read_value(
    s: &str,
    ty: Type,
    format: NumberFormat,
    width: Option<u32>,
) -> Result<Value, ReadError> {
    match ty {
        Type::Int => read_int(s, format, width).map(Value::Int),
        Type::Bool => match s {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(ReadError::Malformed("expected true or false")),
        },
        Type::List => {
            let mut l = Vec::new();
            for item in list_items(s)? {
                if l.len() == MAX_LIST_LEN {
                    return Err(ReadError::OutOfRange);
                }
                l.push(read_int(item, format, width)?);
            }
            Ok(Value::List(l))
        }
    }
}

/// The elements of a list text (between its brackets), or the reason it is not a list.
fn list_items(s: &str) -> Result<impl Iterator<Item = &str>, ReadError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or(ReadError::Malformed("expected a list such as [1,2,3]"))?;
    let empty = trim_spaces(inner).is_empty();
    Ok(Items {
        rest: (!empty).then_some(inner),
    })
}

/// The comma-separated items of a list's inside, spaces around each trimmed (a byte scan: the
/// generic `str::split` costs more than the numbers themselves on answer-sized lists).
struct Items<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Items<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let item = match rest.bytes().position(|b| b == b',') {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                &rest[..i]
            }
            None => {
                self.rest = None;
                rest
            }
        };
        Some(trim_spaces(item))
    }
}

/// `s` without ASCII spaces at either end.
fn trim_spaces(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    let end = b.iter().rposition(|&c| c != b' ').map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// Whether `s` reads as a value of type `ty` (the same reading as [`read_value`], without
/// building the value).
pub(crate) fn check_value(
    s: &str,
    ty: Type,
    format: NumberFormat,
    width: Option<u32>,
) -> Result<(), ReadError> {
    match ty {
        Type::Int => read_int(s, format, width).map(drop),
        Type::Bool => read_value(s, ty, format, width).map(drop),
        Type::List => {
            for (n, item) in list_items(s)?.enumerate() {
                if n == MAX_LIST_LEN {
                    return Err(ReadError::OutOfRange);
                }
                read_int(item, format, width)?;
            }
            Ok(())
        }
    }
}

/// Whether the answer `got` is the value that the reference answer `gold` (our own rendering,
/// of type `ty`, numbers `width` wide) writes; the same reading as [`read_value`], without
/// building either value.
pub(crate) fn same_value(
    got: &str,
    gold: &str,
    ty: Type,
    format: NumberFormat,
    width: Option<u32>,
) -> Result<bool, ReadError> {
    match ty {
        Type::Int => Ok(read_int(got, format, width)? == read_int(gold, format, width)?),
        Type::Bool => {
            Ok(read_value(got, ty, format, width)? == read_value(gold, ty, format, width)?)
        }
        Type::List => {
            let (mut mine, mut want) = (list_items(got)?, list_items(gold)?);
            let mut equal = true;
            let mut n = 0;
            loop {
                match (mine.next(), want.next()) {
                    (Some(a), b) => {
                        n += 1;
                        if n > MAX_LIST_LEN {
                            return Err(ReadError::OutOfRange);
                        }
                        let a = read_int(a, format, width)?;
                        equal &= b.map(|b| read_int(b, format, width)) == Some(Ok(a));
                    }
                    (None, Some(_)) => equal = false,
                    (None, None) => return Ok(equal),
                }
            }
        }
    }
}

/// The type and fixed width of a reference answer text in `format` (`None` width: no number in
/// it, e.g. `[]`), or `None` if it is not a value.
pub(crate) fn gold_shape(gold: &str, format: NumberFormat) -> Option<(Type, Option<u32>)> {
    let ty = match gold.as_bytes().first()? {
        b'[' => Type::List,
        b't' | b'f' => Type::Bool,
        _ => Type::Int,
    };
    let first = match ty {
        Type::List => gold
            .get(1..gold.len().saturating_sub(1))?
            .split(',')
            .next()
            .filter(|s| !s.is_empty()),
        Type::Int => Some(gold),
        Type::Bool => None,
    };
    let width = match format {
        NumberFormat::Natural => None,
        NumberFormat::FixedWidthLsbFirst => first.map(|n| n.trim_start_matches('-').len() as u32),
    };
    Some((ty, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Program;

    const LSB: NumberFormat = NumberFormat::FixedWidthLsbFirst;
    const NAT: NumberFormat = NumberFormat::Natural;

    fn text(v: &Value, format: NumberFormat, w: Width) -> String {
        let mut s = String::new();
        push_value(&mut s, v, format, w);
        s
    }

    #[test]
    fn values_in_both_formats() {
        let l = Value::List(vec![5, 17, 0]);
        assert_eq!(text(&l, NAT, Width::Bool), "[5,17,0]");
        let w2 = Width::List { len: 3, digits: 2 };
        assert_eq!(text(&l, LSB, w2), "[50,71,00]");
        assert_eq!(text(&Value::Int(42), LSB, Width::Int(4)), "2400");
        assert_eq!(text(&Value::Int(-42), LSB, Width::Int(4)), "-2400");
        assert_eq!(text(&Value::Int(-42), NAT, Width::Int(4)), "-42");
        assert_eq!(text(&Value::Int(0), LSB, Width::Int(3)), "000");
        // A width too small never truncates.
        assert_eq!(text(&Value::Int(12345), LSB, Width::Int(2)), "54321");
        assert_eq!(text(&Value::Bool(false), LSB, Width::Bool), "false");
        assert_eq!(text(&Value::List(vec![]), LSB, w2), "[]");
    }

    #[test]
    fn answers_read_back_in_exactly_one_format() {
        let r = |s: &str, ty, f, w| read_value(s, ty, f, w);
        assert_eq!(
            r("[5,17,0]", Type::List, NAT, None),
            Ok(Value::List(vec![5, 17, 0]))
        );
        assert_eq!(
            r("[ 5, 17 ,0 ]", Type::List, NAT, None),
            Ok(Value::List(vec![5, 17, 0]))
        );
        assert_eq!(r("[]", Type::List, NAT, None), Ok(Value::List(vec![])));
        assert_eq!(
            r("[50,71,00]", Type::List, LSB, Some(2)),
            Ok(Value::List(vec![5, 17, 0]))
        );
        assert_eq!(r("2400", Type::Int, LSB, Some(4)), Ok(Value::Int(42)));
        assert_eq!(r("-2400", Type::Int, LSB, Some(4)), Ok(Value::Int(-42)));
        assert_eq!(r("+42", Type::Int, NAT, None), Ok(Value::Int(42)));
        assert_eq!(r("-0", Type::Int, NAT, None), Ok(Value::Int(0)));
        assert_eq!(r("true", Type::Bool, NAT, None), Ok(Value::Bool(true)));
        assert_eq!(
            r("1000000000000000000", Type::Int, NAT, None),
            Err(ReadError::OutOfRange)
        );
        for (bad, ty, f, w) in [
            ("[5 17]", Type::List, NAT, None),
            ("5,17", Type::List, NAT, None),
            ("[5,,17]", Type::List, NAT, None),
            ("[5,17", Type::List, NAT, None),
            ("[05,17]", Type::List, NAT, None),
            ("[5,71]", Type::List, LSB, Some(2)),
            ("240", Type::Int, LSB, Some(4)),
            ("24000", Type::Int, LSB, Some(4)),
            ("+2400", Type::Int, LSB, Some(4)),
            ("-0000", Type::Int, LSB, Some(4)),
            ("007", Type::Int, NAT, None),
            ("1,000", Type::Int, NAT, None),
            ("4 or 5", Type::Int, NAT, None),
            ("True", Type::Bool, NAT, None),
            ("true or false", Type::Bool, NAT, None),
            ("T", Type::Bool, NAT, None),
        ] {
            assert!(
                matches!(r(bad, ty, f, w), Err(ReadError::Malformed(_))),
                "{bad:?} read as {:?}",
                r(bad, ty, f, w)
            );
        }
    }

    #[test]
    fn same_value_reads_like_read_value() {
        let cases = [
            ("[1, 2,3]", "[1,2,3]", Type::List, NAT, None),
            ("[1,2]", "[1,2,3]", Type::List, NAT, None),
            ("[1,2,3,4]", "[1,2,3]", Type::List, NAT, None),
            ("[ ]", "[]", Type::List, NAT, None),
            ("[0]", "[]", Type::List, NAT, None),
            ("[1,,3]", "[1,2,3]", Type::List, NAT, None),
            ("[1,2,03]", "[1,2,3]", Type::List, NAT, None),
            ("[10,20]", "[10,20]", Type::List, LSB, Some(2)),
            ("[1,20]", "[10,20]", Type::List, LSB, Some(2)),
            ("+7", "7", Type::Int, NAT, None),
            ("-0", "0", Type::Int, NAT, None),
            ("8", "7", Type::Int, NAT, None),
            ("x", "7", Type::Int, NAT, None),
            ("true", "true", Type::Bool, NAT, None),
            ("false", "true", Type::Bool, NAT, None),
        ];
        for (got, gold, ty, f, w) in cases {
            let by_value = match (read_value(got, ty, f, w), read_value(gold, ty, f, w)) {
                (Ok(a), Ok(b)) => Ok(a == b),
                (Err(e), _) => Err(e),
                (_, Err(e)) => panic!("{gold}: {e:?}"),
            };
            assert_eq!(
                same_value(got, gold, ty, f, w),
                by_value,
                "{got:?} vs {gold:?}"
            );
            // check_value accepts exactly what read_value reads.
            assert_eq!(
                check_value(got, ty, f, w),
                read_value(got, ty, f, w).map(drop),
                "{got:?}"
            );
        }
    }

    #[test]
    fn gold_shapes() {
        assert_eq!(gold_shape("[50,71]", LSB), Some((Type::List, Some(2))));
        assert_eq!(gold_shape("[]", LSB), Some((Type::List, None)));
        assert_eq!(gold_shape("-2400", LSB), Some((Type::Int, Some(4))));
        assert_eq!(gold_shape("false", NAT), Some((Type::Bool, None)));
        assert_eq!(gold_shape("", NAT), None);
    }

    #[test]
    fn compact_and_program_text() {
        let p = Program::parse("sort(digits(add(a, -3))); a:int[3]").unwrap();
        let mut s = String::new();
        push_compact(&mut s, p.expr(), p.inputs());
        assert_eq!(s, "sort(digits(add(a,-3)))");
        let mut t = String::new();
        let kinds = [InputKind::Int { digits: 5 }];
        push_program(
            &mut t,
            &canonical_expr(p.expr(), p.inputs()),
            p.inputs(),
            &kinds,
        );
        assert_eq!(t, "sort(digits(add(a, -3))); a:int[5]");
        assert!(Program::parse(&t).is_ok());
    }
}
