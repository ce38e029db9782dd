//! Program text: the parser (text → typed [`Program`], errors with byte positions) and the
//! canonical printer (`f(a, b); a:int[3]`).
//!
//! Parsing is total and bounded on any string: at most [`MAX_TEXT_LEN`] bytes, calls nested at
//! most [`MAX_DEPTH`] deep (so recursion is bounded), at most [`MAX_INPUTS`] declarations.

use std::fmt;

use super::error::ProgramError;
use super::tree::{Expr, Program};
use super::types::{Input, InputKind, Prim, Type, MAX_INPUTS, MAX_INT};

/// Longest program text accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 4096;
/// Deepest expression accepted (a bare input or literal has depth 1).
pub const MAX_DEPTH: usize = 32;

/// A parsed but not yet resolved expression node (names not yet looked up, no types).
struct Raw {
    pos: usize,
    kind: RawKind,
}

enum RawKind {
    Int(i64),
    Bool(bool),
    Name(String),
    Call(String, Vec<Raw>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

const EXPR: &str = "an expression (an integer, `true`, `false`, an input name or a call)";

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    /// The token at `pos`, quoted, for messages.
    fn found(&self, pos: usize) -> String {
        let rest = self.s.get(pos..).unwrap_or_default();
        let Some(&c) = rest.first() else {
            return "end of text".into();
        };
        let is_word = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
        let n = if is_word(&c) {
            rest.iter().take_while(|c| is_word(c)).count().min(24)
        } else {
            1
        };
        format!("`{}`", String::from_utf8_lossy(&rest[..n]))
    }

    fn syntax<T>(&mut self, expected: &'static str) -> Result<T, ProgramError> {
        self.skip_ws();
        Err(ProgramError::Syntax {
            pos: self.i,
            expected,
            found: self.found(self.i),
        })
    }

    fn expect(&mut self, c: u8, expected: &'static str) -> Result<(), ProgramError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.syntax(expected)
        }
    }

    fn ident(&mut self) -> Option<(usize, String)> {
        self.skip_ws();
        let start = self.i;
        match self.s.get(start) {
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
            _ => return None,
        }
        let mut end = start;
        while self
            .s
            .get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            end += 1;
        }
        self.i = end;
        // The bytes are ASCII, so this cannot fail; an empty name would be caught by the caller.
        let name = std::str::from_utf8(&self.s[start..end]).unwrap_or_default();
        Some((start, name.to_string()))
    }

    /// Decimal digits at the cursor (no sign) as a value within `max`.
    fn number(&mut self, max: u64, expected: &'static str) -> Result<(usize, u64), ProgramError> {
        self.skip_ws();
        let start = self.i;
        let mut v: u64 = 0;
        let mut over = false;
        while let Some(c) = self.s.get(self.i).filter(|c| c.is_ascii_digit()) {
            v = v.saturating_mul(10).saturating_add((c - b'0') as u64);
            over |= v > max;
            self.i += 1;
        }
        if self.i == start {
            return self.syntax(expected);
        }
        if over {
            return Err(ProgramError::LiteralTooLarge { pos: start });
        }
        Ok((start, v))
    }

    fn expr(&mut self, depth: usize) -> Result<Raw, ProgramError> {
        self.skip_ws();
        let pos = self.i;
        if depth > MAX_DEPTH {
            return Err(ProgramError::TooDeep {
                pos,
                max: MAX_DEPTH,
            });
        }
        match self.s.get(pos) {
            Some(b'-') => {
                self.i += 1;
                if !self.s.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
                    return self.syntax("digits after `-`");
                }
                let (_, v) = self.number(MAX_INT as u64, "digits after `-`")?;
                Ok(Raw {
                    pos,
                    kind: RawKind::Int(-(v as i64)),
                })
            }
            Some(c) if c.is_ascii_digit() => {
                let (_, v) = self.number(MAX_INT as u64, EXPR)?;
                Ok(Raw {
                    pos,
                    kind: RawKind::Int(v as i64),
                })
            }
            _ => {
                let Some((_, name)) = self.ident() else {
                    return self.syntax(EXPR);
                };
                match name.as_str() {
                    "true" => {
                        return Ok(Raw {
                            pos,
                            kind: RawKind::Bool(true),
                        })
                    }
                    "false" => {
                        return Ok(Raw {
                            pos,
                            kind: RawKind::Bool(false),
                        })
                    }
                    _ => {}
                }
                if self.peek() != Some(b'(') {
                    return Ok(Raw {
                        pos,
                        kind: RawKind::Name(name),
                    });
                }
                self.i += 1;
                let mut args = Vec::new();
                if self.peek() == Some(b')') {
                    self.i += 1;
                } else {
                    loop {
                        args.push(self.expr(depth + 1)?);
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b')') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.syntax("`,` or `)`"),
                        }
                    }
                }
                Ok(Raw {
                    pos,
                    kind: RawKind::Call(name, args),
                })
            }
        }
    }

    fn decl(&mut self, inputs: &[(usize, Input)]) -> Result<(usize, Input), ProgramError> {
        let Some((pos, name)) = self.ident() else {
            return self.syntax("an input name");
        };
        if Prim::from_name(&name).is_some() || name == "true" || name == "false" {
            return Err(ProgramError::Reserved { pos, name });
        }
        if inputs.iter().any(|(_, d)| d.name == name) {
            return Err(ProgramError::Duplicate { pos, name });
        }
        self.expect(b':', "`:` after the input name")?;
        self.skip_ws();
        let kind_pos = self.i;
        let Some((_, ty)) = self.ident() else {
            return self.syntax("`int`, `list` or `bool`");
        };
        let max = u32::MAX as u64;
        let kind = match ty.as_str() {
            "int" => {
                self.expect(b'[', "`[` after `int`")?;
                let (_, digits) = self.number(max, "the number of digits")?;
                self.expect(b']', "`]`")?;
                InputKind::Int {
                    digits: digits as u32,
                }
            }
            "list" => {
                self.expect(b'[', "`[` after `list`")?;
                let (_, len) = self.number(max, "the list length")?;
                self.expect(b',', "`,` between length and digits")?;
                let (_, digits) = self.number(max, "the number of digits")?;
                self.expect(b']', "`]`")?;
                InputKind::List {
                    len: len as u32,
                    digits: digits as u32,
                }
            }
            "bool" => InputKind::Bool,
            _ => {
                return Err(ProgramError::Syntax {
                    pos: kind_pos,
                    expected: "`int`, `list` or `bool`",
                    found: self.found(kind_pos),
                })
            }
        };
        if let Some(why) = kind.check() {
            return Err(ProgramError::BadKnobs { pos: kind_pos, why });
        }
        Ok((pos, Input { name, kind }))
    }
}

/// Parses and type-checks program text.
pub(crate) fn parse(text: &str) -> Result<Program, ProgramError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(ProgramError::TooLong {
            len: text.len(),
            max: MAX_TEXT_LEN,
        });
    }
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let raw = p.expr(1)?;
    let mut decls: Vec<(usize, Input)> = Vec::new();
    loop {
        match p.peek() {
            None => break,
            Some(b';') => {
                p.i += 1;
                if decls.len() == MAX_INPUTS {
                    p.skip_ws();
                    return Err(ProgramError::TooManyInputs {
                        pos: p.i,
                        max: MAX_INPUTS,
                    });
                }
                let d = p.decl(&decls)?;
                decls.push(d);
            }
            Some(_) => {
                return p.syntax(if decls.is_empty() {
                    "`;` (input declarations) or end of text"
                } else {
                    "`;` or end of text"
                })
            }
        }
    }
    let inputs: Vec<Input> = decls.into_iter().map(|(_, d)| d).collect();
    let (expr, output) = resolve(&raw, &inputs)?;
    Ok(Program {
        expr,
        inputs,
        output,
    })
}

/// Looks up names and checks types, bottom up.
fn resolve(raw: &Raw, inputs: &[Input]) -> Result<(Expr, Type), ProgramError> {
    match &raw.kind {
        RawKind::Int(x) => Ok((Expr::Int(*x), Type::Int)),
        RawKind::Bool(b) => Ok((Expr::Bool(*b), Type::Bool)),
        RawKind::Name(name) => match inputs.iter().position(|d| &d.name == name) {
            Some(i) => Ok((Expr::Input(i), inputs[i].kind.ty())),
            None if Prim::from_name(name).is_some() => Err(ProgramError::Syntax {
                pos: raw.pos + name.len(),
                expected: "`(` and the primitive's arguments",
                found: "no arguments".into(),
            }),
            None => Err(ProgramError::Undeclared {
                pos: raw.pos,
                name: name.clone(),
            }),
        },
        RawKind::Call(name, args) => {
            let Some(prim) = Prim::from_name(name) else {
                return Err(ProgramError::UnknownPrimitive {
                    pos: raw.pos,
                    name: name.clone(),
                });
            };
            if args.len() != prim.arity() {
                return Err(ProgramError::Arity {
                    pos: raw.pos,
                    prim: prim.name(),
                    expected: prim.arity(),
                    found: args.len(),
                });
            }
            let mut out = Vec::with_capacity(args.len());
            let mut types = Vec::with_capacity(args.len());
            for a in args {
                let (e, t) = resolve(a, inputs)?;
                out.push(e);
                types.push(t);
            }
            // `if` takes the type of its then-branch; others have a fixed signature.
            let result = if prim == Prim::If {
                types[1]
            } else {
                prim.result()
            };
            let expected = prim.signature_at(result);
            for (k, (a, t)) in args.iter().zip(&types).enumerate() {
                if *t != expected[k] {
                    return Err(ProgramError::Type {
                        pos: a.pos,
                        prim: prim.name(),
                        arg: k + 1,
                        expected: expected[k],
                        found: *t,
                    });
                }
            }
            Ok((Expr::Call(prim, out), result))
        }
    }
}

/// The canonical text of an expression and its declarations.
pub(crate) fn print(expr: &Expr, inputs: &[Input]) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_program(&mut s, expr, inputs);
    s
}

/// Writes `expr` then `; name:kind` per input.
pub(crate) fn write_program(w: &mut impl fmt::Write, expr: &Expr, inputs: &[Input]) -> fmt::Result {
    write_expr(w, expr, inputs)?;
    for d in inputs {
        write!(w, "; {d}")?;
    }
    Ok(())
}

/// Writes the expression alone, canonically spaced (`f(a, b)`).
pub(crate) fn write_expr(w: &mut impl fmt::Write, e: &Expr, inputs: &[Input]) -> fmt::Result {
    match e {
        Expr::Int(x) => write!(w, "{x}"),
        Expr::Bool(b) => write!(w, "{b}"),
        Expr::Input(i) => match inputs.get(*i) {
            Some(d) => w.write_str(&d.name),
            None => write!(w, "_input{i}"),
        },
        Expr::Call(p, args) => {
            w.write_str(p.name())?;
            w.write_char('(')?;
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    w.write_str(", ")?;
                }
                write_expr(w, a, inputs)?;
            }
            w.write_char(')')
        }
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_program(f, &self.expr, &self.inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ProgramError {
        parse(text).expect_err(text)
    }

    #[test]
    fn parses_the_issue_examples_and_prints_canonically() {
        for (text, canon, ty) in [
            (
                "sort(digits(add(a, b))); a:int[3]; b:int[3]",
                "sort(digits(add(a, b))); a:int[3]; b:int[3]",
                Type::List,
            ),
            (
                "sum(take(rev(l),2));l:list[5,2]",
                "sum(take(rev(l), 2)); l:list[5,2]",
                Type::Int,
            ),
            (
                "  if( c , a, neg(-3) ) ;\n c : bool ; a:int[ 2 ]",
                "if(c, a, neg(-3)); c:bool; a:int[2]",
                Type::Int,
            ),
            ("add(a, 0); a:int[3]", "add(a, 0); a:int[3]", Type::Int),
            ("and(true, false)", "and(true, false)", Type::Bool),
        ] {
            let p = parse(text).unwrap();
            assert_eq!(p.to_string(), canon);
            assert_eq!(p.output_type(), ty);
            assert_eq!(parse(canon).unwrap(), p);
        }
    }

    #[test]
    fn errors_carry_positions_and_say_what_was_expected() {
        assert_eq!(
            err("add(a, b; a:int[3]").to_string(),
            "at byte 8: expected `,` or `)`, found `;`"
        );
        assert_eq!(
            err("add(a, c); a:int[3]").to_string(),
            "at byte 7: input \"c\" is not declared (declare it after `;`, e.g. `; c:int[3]`)"
        );
        assert_eq!(
            err("add(a, l); a:int[3]; l:list[2,1]").to_string(),
            "at byte 7: argument 2 of add must be int, found list"
        );
        assert_eq!(
            err("plus(a, a); a:int[3]").to_string(),
            "at byte 0: unknown primitive \"plus\""
        );
        assert_eq!(
            err("neg(a, a); a:int[3]").to_string(),
            "at byte 0: neg takes 1 argument(s), found 2"
        );
        assert_eq!(
            err("a; a:int[3]; a:int[2]").to_string(),
            "at byte 13: input \"a\" is declared twice"
        );
        assert_eq!(
            err("a; a:int[0]").to_string(),
            "at byte 5: int digits 0 outside 1..=18"
        );
        assert_eq!(
            err("if(c, a, l); c:bool; a:int[1]; l:list[2,1]").to_string(),
            "at byte 9: argument 3 of if must be int, found list"
        );
        assert_eq!(
            err("a; a:float").to_string(),
            "at byte 5: expected `int`, `list` or `bool`, found `float`"
        );
        assert_eq!(
            err("").to_string(),
            format!("at byte 0: expected {EXPR}, found end of text")
        );
        assert!(matches!(
            err("add; add:int[1]"),
            ProgramError::Reserved { pos: 5, .. }
        ));
        assert!(matches!(
            err("1000000000000000000"),
            ProgramError::LiteralTooLarge { pos: 0 }
        ));
        assert!(matches!(
            err("a b; a:int[1]"),
            ProgramError::Syntax { pos: 2, .. }
        ));
        assert!(matches!(err("sum; "), ProgramError::Syntax { .. }));
    }

    #[test]
    fn deep_and_long_texts_are_errors_not_overflows() {
        let deep = "(".repeat(100_000);
        assert!(matches!(err(&deep), ProgramError::TooLong { .. }));
        let deep = format!("{}a{}; a:int[1]", "neg(".repeat(40), ")".repeat(40));
        assert!(matches!(err(&deep), ProgramError::TooDeep { .. }));
        let ok = format!("{}a{}; a:int[1]", "neg(".repeat(31), ")".repeat(31));
        assert_eq!(parse(&ok).unwrap().depth(), 32);
        let many: String = (0..9).map(|i| format!("; x{i}:bool")).collect();
        assert!(matches!(
            err(&format!("x0{many}")),
            ProgramError::TooManyInputs { max: 8, .. }
        ));
    }
}
