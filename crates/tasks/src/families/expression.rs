//! `integer_expression`: evaluate an arithmetic expression with precedence and parentheses.
//!
//! Knobs: `terms` (operands), `ops` (1: `+ -`, 2: `+ - *`, 3: `+ - * /`), `depth` (maximum
//! parenthesis nesting), `digits` (at most this many digits per operand). With division the value
//! is an exact rational; the answer is an integer or a fraction `p/q` (any fraction of equal value
//! is accepted, `6/4` for 3/2; decimals are not). Bare: `3+4*(2-5)=` -> `-9`.

use crate::answer;
use crate::expr::{self, format_rational, parse_rational};
use crate::family::{Family, Harder, Knob};
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

use super::pow10;

/// Arithmetic expressions with precedence and parentheses, evaluated exactly.
pub struct IntegerExpression;

const KNOBS: &[Knob] = &[
    Knob::int("terms", 2, 16, 2, Harder::Up, "number of operands"),
    Knob::int(
        "ops",
        1,
        3,
        1,
        Harder::Up,
        "operators: 1 = + -, 2 = + - *, 3 = + - * /",
    ),
    Knob::int("depth", 0, 4, 0, Harder::Up, "maximum parenthesis nesting"),
    Knob::int("digits", 1, 4, 1, Harder::Up, "maximum digits per operand"),
];

const LADDER: &[[f64; 4]] = &[
    // terms, ops, depth, digits
    [2., 1., 0., 1.],
    [3., 1., 0., 1.],
    [3., 2., 0., 1.],
    [4., 2., 1., 1.],
    [5., 2., 1., 2.],
    [5., 3., 2., 2.],
    [6., 3., 2., 2.],
    [8., 3., 3., 2.],
];

impl Family for IntegerExpression {
    fn name(&self) -> &'static str {
        "integer_expression"
    }

    fn doc(&self) -> &'static str {
        "Evaluate an expression with + - * / and parentheses exactly. Bare: `3+4*(2-5)=` -> `-9`; \
         with division the answer may be a fraction `p/q` (equal values accepted)."
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn ladder(&self) -> Vec<Knobs> {
        LADDER
            .iter()
            .map(|l| {
                Knobs::from_static(&[
                    ("terms", l[0]),
                    ("ops", l[1]),
                    ("depth", l[2]),
                    ("digits", l[3]),
                ])
            })
            .collect()
    }

    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        let terms = knobs.int("terms", 2).max(1) as usize;
        let ops: &[u8] = match knobs.int("ops", 1) {
            1 => b"+-",
            2 => b"+-*",
            _ => b"+-*/",
        };
        let depth = knobs.int("depth", 0).max(0) as usize;
        let digits = knobs.int("digits", 1).clamp(1, 4) as u32;
        let mut rng = TaskRng::new(seed);
        // Redraw on division by zero; after 64 tries fall back to a sum (always defined).
        let (text, value) = (0..64)
            .find_map(|_| {
                let mut s = String::new();
                write_seq(&mut s, terms, depth, ops, digits, &mut rng);
                expr::evaluate(&s, false).ok().map(|p| (s, p.value))
            })
            .unwrap_or_else(|| {
                let s = vec!["1"; terms].join("+");
                (s, num_rational::BigRational::from_integer(terms.into()))
            });
        let gold = format_rational(&value);
        let (prompt, answer) = match style {
            PromptStyle::Bare => (format!("{text}="), gold),
            PromptStyle::Tagged => (
                format!(
                    "Evaluate {text} exactly (usual precedence: * and / before + and -). Write the result as an \
                     integer, or as a reduced fraction p/q if it is not whole, inside <answer></answer>."
                ),
                answer::wrap(style, &gold),
            ),
        };
        Task::new(
            self.name(),
            knobs,
            seed,
            style,
            format,
            prompt,
            answer,
            String::new(),
        )
    }

    fn verify(&self, task: &Task, completion: &str) -> Verdict {
        let Some(gold) = parse_rational(answer::gold(task.style, &task.answer)) else {
            return Verdict::invalid_task("reference answer is not a number");
        };
        let got = match answer::extract(task.style, completion, task.answer.len()) {
            Ok(g) => g,
            Err(v) => return v,
        };
        match parse_rational(got) {
            Some(v) if v == gold => Verdict::correct(got),
            Some(_) => Verdict::wrong(got, ""),
            None => Verdict::fail(
                Some(got.to_string()),
                Reason::Unparseable,
                "not an integer or fraction p/q",
            ),
        }
    }
}

/// Writes `n` operands joined by operators; with `depth` left, a run of 2+ operands may become a
/// parenthesised group (nesting one level deeper).
fn write_seq(out: &mut String, n: usize, depth: usize, ops: &[u8], digits: u32, rng: &mut TaskRng) {
    let mut left = n;
    let mut first = true;
    while left > 0 {
        if !first {
            out.push(ops[rng.below(ops.len() as u64) as usize] as char);
        }
        first = false;
        // A group never spans the whole sequence (that would be redundant parentheses).
        let max_group = if first_and_all(left, n) {
            left - 1
        } else {
            left
        };
        if depth > 0 && max_group >= 2 && rng.chance(0.5) {
            let k = 2 + rng.below((max_group - 1) as u64) as usize;
            out.push('(');
            write_seq(out, k, depth - 1, ops, digits, rng);
            out.push(')');
            left -= k;
        } else {
            let hi = pow10(digits) as u64 - 1;
            let v = 1 + rng.below(hi);
            out.push_str(&v.to_string());
            left -= 1;
        }
    }
}

fn first_and_all(left: usize, n: usize) -> bool {
    left == n
}

/// Deepest parenthesis nesting of `s`.
#[cfg(test)]
pub(crate) fn nesting(s: &str) -> usize {
    let (mut d, mut max) = (0usize, 0usize);
    for c in s.chars() {
        match c {
            '(' => {
                d += 1;
                max = max.max(d);
            }
            ')' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::contract;
    use crate::family::Registry;
    use num_traits::Zero;

    #[test]
    fn generated_expressions_respect_knobs_and_value() {
        let reg = Registry::builtin();
        for level in 1..=8 {
            let k = reg.level_knobs("integer_expression", level).unwrap();
            for seed in 0..50 {
                let t = reg
                    .generate_level(
                        "integer_expression",
                        level,
                        &Knobs::new(),
                        PromptStyle::Bare,
                        NumberFormat::Natural,
                        seed,
                    )
                    .unwrap();
                let text = t.prompt.trim_end_matches('=');
                assert!(nesting(text) <= k.int("depth", 0) as usize, "{text}");
                let p = expr::evaluate(text, false).unwrap();
                assert_eq!(p.literals.len(), k.int("terms", 0) as usize, "{text}");
                assert_eq!(format_rational(&p.value), t.answer);
                assert!(!p.value.denom().is_zero());
            }
        }
    }

    #[test]
    fn by_hand_values() {
        let t = |p: &str| format_rational(&expr::evaluate(p, false).unwrap().value);
        assert_eq!(t("3+4*(2-5)"), "-9");
        assert_eq!(t("7/(1+1)"), "7/2");
    }

    #[test]
    fn equal_fraction_accepted_decimal_rejected() {
        let mut t =
            IntegerExpression.generate(&Knobs::new(), PromptStyle::Bare, NumberFormat::Natural, 0);
        t.answer = "7/2".into();
        assert!(IntegerExpression.verify(&t, "14/4").correct);
        assert!(!IntegerExpression.verify(&t, "3.5").correct);
        assert!(!IntegerExpression.verify(&t, "7/2 or 3").correct);
        assert!(!IntegerExpression.verify(&t, "7/3").correct);
    }

    #[test]
    fn contract() {
        contract::check_family(
            &IntegerExpression,
            NumberFormat::Natural,
            &Knobs::new(),
            contract::perturb_digit,
            |t| t.prompt.len() as f64,
        );
    }

    #[test]
    fn fuzz_no_panic() {
        contract::fuzz_family(&IntegerExpression, NumberFormat::Natural);
    }
}
