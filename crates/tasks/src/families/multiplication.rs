//! `multiplication`: the product of two integers.
//!
//! Knobs `a_digits` and `b_digits` (exact digits of each factor, up to 19 so that products fit
//! in 128 bits exactly). Level ladder: 1x1, 2x1, 2x2, 3x2, 3x3, 4x3, 4x4, 5x5 digits.
//! Natural: `12*34=` -> `408`. Fixed-width LSB-first (width W, default 8): both factors padded to
//! W digits LSB first, the answer padded to 2W digits: `21000000*43000000=` -> `8040000000000000`.

use crate::answer::{self, push_lsb, push_u128};
use crate::family::{Family, Harder, Knob};
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Task, Verdict};

use super::addition::lsb_example;
use super::draw_digits;

/// Products of two integers.
pub struct Multiplication;

const KNOBS: &[Knob] = &[
    Knob::int(
        "a_digits",
        1,
        19,
        1,
        Harder::Up,
        "decimal digits of the first factor",
    ),
    Knob::int(
        "b_digits",
        1,
        19,
        1,
        Harder::Up,
        "decimal digits of the second factor",
    ),
    Knob::int(
        "width",
        1,
        19,
        8,
        Harder::Neither,
        "fixed_width_lsb_first only: digits each factor is padded to",
    ),
];

const LADDER: &[(f64, f64)] = &[
    (1., 1.),
    (2., 1.),
    (2., 2.),
    (3., 2.),
    (3., 3.),
    (4., 3.),
    (4., 4.),
    (5., 5.),
];

impl Family for Multiplication {
    fn name(&self) -> &'static str {
        "multiplication"
    }

    fn doc(&self) -> &'static str {
        "Products of two integers of a_digits and b_digits digits. Bare natural: `12*34=` -> `408`; \
         fixed_width_lsb_first pads factors to W and the product to 2W digits, LSB first."
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn ladder(&self) -> Vec<Knobs> {
        LADDER
            .iter()
            .map(|&(a, b)| Knobs::from_static(&[("a_digits", a), ("b_digits", b)]))
            .collect()
    }

    fn formats(&self) -> &'static [NumberFormat] {
        &[NumberFormat::Natural, NumberFormat::FixedWidthLsbFirst]
    }

    fn check(&self, knobs: &Knobs, format: NumberFormat) -> Result<(), String> {
        let width = knobs.int("width", 8);
        let widest = knobs.int("a_digits", 1).max(knobs.int("b_digits", 1));
        if format == NumberFormat::FixedWidthLsbFirst && width < widest {
            return Err(format!(
                "width = {width} is less than the factor digits {widest}"
            ));
        }
        Ok(())
    }

    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        let da = knobs.int("a_digits", 1) as u32;
        let db = knobs.int("b_digits", 1) as u32;
        let width = knobs.int("width", 8).max(da.max(db) as i64) as usize;
        let lsb = format == NumberFormat::FixedWidthLsbFirst;
        let mut rng = TaskRng::new(seed);
        let (a, b) = (draw_digits(&mut rng, da), draw_digits(&mut rng, db));
        let product = a * b;
        let mut expr = String::new();
        let mut gold = String::new();
        if lsb {
            push_lsb(&mut expr, a, width);
            expr.push('*');
            push_lsb(&mut expr, b, width);
            push_lsb(&mut gold, product, 2 * width);
        } else {
            push_u128(&mut expr, a);
            expr.push('*');
            push_u128(&mut expr, b);
            push_u128(&mut gold, product);
        }
        let (prompt, answer) = match style {
            PromptStyle::Bare => (format!("{expr}="), gold),
            PromptStyle::Tagged => {
                let how = if lsb {
                    format!(
                        "Numbers are written least-significant digit first, zero-padded to {width} digits (so 42 is \
                         written {}). Compute {expr} and write the product the same way, padded to {} digits",
                        lsb_example(width as u32),
                        2 * width
                    )
                } else {
                    format!("Compute {expr} and write the result as an integer")
                };
                (
                    format!("{how}, inside <answer></answer>."),
                    answer::wrap(style, &gold),
                )
            }
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
        answer::verify_formatted_int(task, completion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::contract;
    use crate::family::Registry;

    #[test]
    fn products_are_exact_at_19_digits() {
        let k = Knobs::from_static(&[("a_digits", 19.0), ("b_digits", 19.0)]);
        let t = Registry::builtin()
            .generate(
                "multiplication",
                &k,
                PromptStyle::Bare,
                NumberFormat::Natural,
                4,
            )
            .unwrap();
        let (a, b) = t.prompt.trim_end_matches('=').split_once('*').unwrap();
        let p =
            a.parse::<num_bigint::BigUint>().unwrap() * b.parse::<num_bigint::BigUint>().unwrap();
        assert_eq!(p.to_string(), t.answer);
    }

    #[test]
    fn lsb_example_by_hand() {
        for seed in 0..200_000 {
            let t = Registry::builtin()
                .generate_level(
                    "multiplication",
                    3,
                    &Knobs::new(),
                    PromptStyle::Bare,
                    NumberFormat::FixedWidthLsbFirst,
                    seed,
                )
                .unwrap();
            if t.prompt == "21000000*43000000=" {
                assert_eq!(t.answer, "8040000000000000");
                return;
            }
        }
        panic!("12*34 never drawn at level 3");
    }

    #[test]
    fn contract_both_formats() {
        let digits = |t: &Task| {
            t.answer
                .bytes()
                .filter(|b| b.is_ascii_digit() && *b != b'0')
                .count() as f64
        };
        contract::check_family(
            &Multiplication,
            NumberFormat::Natural,
            &Knobs::new(),
            contract::perturb_digit,
            digits,
        );
        contract::check_family(
            &Multiplication,
            NumberFormat::FixedWidthLsbFirst,
            &Knobs::new(),
            contract::perturb_digit,
            digits,
        );
    }

    #[test]
    fn fuzz_no_panic() {
        contract::fuzz_family(&Multiplication, NumberFormat::Natural);
    }
}
