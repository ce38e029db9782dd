//! Our own parser and exact evaluator for arithmetic expressions in model text (never an `eval`).
//!
//! Grammar (whitespace between tokens ignored):
//! `expr := term (('+' | '-') term)*`, `term := factor (('*' | '/') factor)*`,
//! `factor := INT | '(' expr ')' | '-' factor` (the last only when `allow_neg`).
//! `INT` is decimal digits without leading zeros, at most [`MAX_DIGITS`] of them. Values are exact
//! rationals; division by zero makes the expression invalid. Input length, nesting depth and
//! literal count are bounded, so the work is bounded for any string.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};

/// Longest integer literal accepted.
pub const MAX_DIGITS: usize = 30;
/// Longest expression accepted, in bytes.
pub const MAX_LEN: usize = 1024;
const MAX_DEPTH: usize = 64;

/// A parsed expression: its exact value and the integer literals it uses, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The exact value.
    pub value: BigRational,
    /// The literals, as written.
    pub literals: Vec<BigInt>,
}

/// Parses and evaluates `text`; the error says what is wrong.
pub fn evaluate(text: &str, allow_neg: bool) -> Result<Parsed, String> {
    if text.len() > MAX_LEN {
        return Err(format!("expression longer than {MAX_LEN} bytes"));
    }
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        allow_neg,
        depth: 0,
        literals: Vec::new(),
    };
    let value = p.expr()?;
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected {:?} at byte {}", p.rest(), p.i));
    }
    Ok(Parsed {
        value,
        literals: p.literals,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    allow_neg: bool,
    depth: usize,
    literals: Vec<BigInt>,
}

impl Parser<'_> {
    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.s[self.i..self.s.len().min(self.i + 8)]).into_owned()
    }

    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn expr(&mut self) -> Result<BigRational, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let mut acc = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            let rhs = self.term()?;
            acc = if op == b'+' { acc + rhs } else { acc - rhs };
        }
        self.depth -= 1;
        Ok(acc)
    }

    fn term(&mut self) -> Result<BigRational, String> {
        let mut acc = self.factor()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.i += 1;
            let rhs = self.factor()?;
            if op == b'*' {
                acc *= rhs;
            } else {
                if rhs.is_zero() {
                    return Err("division by zero".into());
                }
                acc /= rhs;
            }
        }
        Ok(acc)
    }

    fn factor(&mut self) -> Result<BigRational, String> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let v = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err(format!("expected ')' at byte {}", self.i));
                }
                self.i += 1;
                Ok(v)
            }
            Some(b'-') if self.allow_neg => {
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err("nested too deeply".into());
                }
                let v = self.factor()?;
                self.depth -= 1;
                Ok(-v)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let digits = &self.s[start..self.i];
                if digits.len() > MAX_DIGITS {
                    return Err(format!("number longer than {MAX_DIGITS} digits"));
                }
                if digits.len() > 1 && digits[0] == b'0' {
                    return Err("number with a leading zero".into());
                }
                let n = BigInt::parse_bytes(digits, 10).ok_or("bad number")?;
                self.literals.push(n.clone());
                Ok(BigRational::from_integer(n))
            }
            Some(_) => Err(format!("unexpected {:?} at byte {}", self.rest(), self.i)),
            None => Err("unexpected end".into()),
        }
    }
}

/// `v` as an answer: `7`, `-7`, or the reduced fraction `-7/2` (sign on the numerator).
pub fn format_rational(v: &BigRational) -> String {
    if v.is_integer() {
        v.numer().to_string()
    } else {
        format!("{}/{}", v.numer(), v.denom())
    }
}

/// Reads an answer that is an integer or a fraction `p/q` (`q > 0`, no leading zeros, optional
/// sign on `p`); `None` for anything else. `6/4` reads as 3/2: equal values are equal answers.
pub fn parse_rational(s: &str) -> Option<BigRational> {
    let (num, den) = match s.split_once('/') {
        Some((n, d)) => (n.trim(), Some(d.trim())),
        None => (s, None),
    };
    if num.len() > MAX_DIGITS + 1 || den.is_some_and(|d| d.len() > MAX_DIGITS) {
        return None;
    }
    let (neg, digits) = crate::answer::canonical_int(num)?;
    let mut n = BigInt::parse_bytes(digits.as_bytes(), 10)?;
    if neg {
        n = -n;
    }
    let d = match den {
        None => BigInt::from(1),
        Some(d) => {
            let (dneg, dd) = crate::answer::canonical_int(d)?;
            if dneg || d.starts_with('+') {
                return None;
            }
            BigInt::parse_bytes(dd.as_bytes(), 10)?
        }
    };
    if d.is_zero() || d.is_negative() {
        return None;
    }
    Some(BigRational::new(n, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(s: &str) -> String {
        format_rational(&evaluate(s, true).unwrap().value)
    }

    #[test]
    fn precedence_parentheses_and_exact_division() {
        assert_eq!(val("1+2*3"), "7");
        assert_eq!(val("(1+2)*3"), "9");
        assert_eq!(val("7/2"), "7/2");
        assert_eq!(val("1-2-3"), "-4");
        assert_eq!(val("8/4/2"), "1");
        assert_eq!(val("-(3-5)"), "2");
        assert_eq!(val(" 2 * ( 3 + 4 ) "), "14");
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in ["", "1+", "(1", "1)", "01", "1/0", "2**3", "1=1", "x", "--1"] {
            assert!(evaluate(bad, false).is_err(), "{bad:?}");
        }
        assert!(evaluate("-1", false).is_err());
        assert!(evaluate(&"(".repeat(100), true).is_err());
        assert!(evaluate(&"-".repeat(100), true).is_err());
        assert_eq!(evaluate("3*(4+5)", false).unwrap().literals.len(), 3);
    }

    #[test]
    fn rational_answers() {
        assert_eq!(parse_rational("6/4"), parse_rational("3/2"));
        assert_eq!(
            parse_rational("-3/2").map(|v| format_rational(&v)),
            Some("-3/2".into())
        );
        for bad in ["3/0", "3/-2", "3/+2", "1.5", "3//2", "/2", "03/2", "3/02"] {
            assert_eq!(parse_rational(bad), None, "{bad:?}");
        }
    }
}
