//! `sorting`: sort a list of integers in ascending order.
//!
//! Knobs: `length`, `digits` (at most this many digits per number), `negatives` (1: numbers may be
//! negative). Bare: `sort:5 3 9 1=` -> `1 3 5 9`. The answer is the whole sorted list: numbers
//! separated by spaces and/or commas (`1,3,5,9` and `1, 3, 5, 9` are read the same), optionally in
//! one pair of brackets; every number spelled as [`crate::answer::canonical_int`] requires. No
//! tolerance: the list must equal the sorted input exactly (length, order, values).

use crate::answer::{self, canonical_int};
use crate::family::{Family, Harder, Knob};
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

use super::pow10;

/// Sorting lists of integers.
pub struct Sorting;

const KNOBS: &[Knob] = &[
    Knob::int("length", 2, 64, 2, Harder::Up, "how many numbers"),
    Knob::int(
        "digits",
        1,
        9,
        1,
        Harder::Up,
        "at most this many digits per number",
    ),
    Knob::int(
        "negatives",
        0,
        1,
        0,
        Harder::Up,
        "1: numbers may be negative",
    ),
];

const LADDER: &[[f64; 3]] = &[
    [2., 1., 0.],
    [3., 1., 0.],
    [4., 2., 0.],
    [5., 2., 0.],
    [6., 3., 0.],
    [8., 3., 1.],
    [10., 4., 1.],
    [16., 4., 1.],
];

/// The numbers of a list answer in canonical form, `None` if any token is not an integer.
fn tokens(s: &str) -> Option<Vec<(bool, &str)>> {
    s.split([' ', ',', '\t', '\n'])
        .filter(|t| !t.is_empty())
        .map(canonical_int)
        .collect()
}

impl Family for Sorting {
    fn name(&self) -> &'static str {
        "sorting"
    }

    fn doc(&self) -> &'static str {
        "Sort integers ascending. Bare: `sort:5 3 9 1=` -> `1 3 5 9` (spaces or commas between numbers)."
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn ladder(&self) -> Vec<Knobs> {
        LADDER
            .iter()
            .map(|l| Knobs::from_static(&[("length", l[0]), ("digits", l[1]), ("negatives", l[2])]))
            .collect()
    }

    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        let length = knobs.int("length", 2).max(1) as usize;
        let digits = knobs.int("digits", 1).clamp(1, 9) as u32;
        let negatives = knobs.int("negatives", 0) != 0;
        let mut rng = TaskRng::new(seed);
        let hi = pow10(digits) as i64 - 1;
        let lo = if negatives { -hi } else { 0 };
        let values: Vec<i64> = (0..length).map(|_| rng.range_i64(lo, hi)).collect();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let join = |v: &[i64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let gold = join(&sorted);
        let (prompt, answer) = match style {
            PromptStyle::Bare => (format!("sort:{}=", join(&values)), gold),
            PromptStyle::Tagged => (
                format!(
                    "Sort these numbers in ascending order: {}. Write the sorted list, separated by spaces, inside \
                     <answer></answer>.",
                    join(&values)
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
        let gold = answer::gold(task.style, &task.answer);
        let got = match answer::extract(task.style, completion, task.answer.len()) {
            Ok(g) => g,
            Err(v) => return v,
        };
        let inner = got
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(got);
        let (Some(mine), Some(want)) = (tokens(inner), tokens(gold)) else {
            return Verdict::fail(
                Some(got.to_string()),
                Reason::Unparseable,
                "expected integers separated by spaces or commas",
            );
        };
        if mine.len() != want.len() {
            return Verdict::wrong(
                got,
                format!("{} numbers, expected {}", mine.len(), want.len()),
            );
        }
        if mine == want {
            Verdict::correct(got)
        } else {
            Verdict::wrong(got, "")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::contract;
    use crate::family::Registry;

    #[test]
    fn separators_and_tolerance() {
        let t = Task::new(
            "sorting",
            &Knobs::new(),
            0,
            PromptStyle::Bare,
            NumberFormat::Natural,
            "sort:5 3 9 1=".into(),
            "1 3 5 9".into(),
            String::new(),
        );
        for ok in [
            "1 3 5 9",
            "1,3,5,9",
            "1, 3, 5, 9",
            "[1, 3, 5, 9]",
            " 1  3 5 9 ",
        ] {
            assert!(Sorting.verify(&t, ok).correct, "{ok}");
        }
        for bad in [
            "1 3 5",
            "1 3 5 9 9",
            "1 3 4 9",
            "2 3 5 9",
            "9 5 3 1",
            "1 3 5 10",
            "[1 3 5 9",
            "1;3;5;9",
            "01 3 5 9",
            "1 3 5 9 or 1 3 9 5",
        ] {
            assert!(!Sorting.verify(&t, bad).correct, "{bad}");
        }
    }

    #[test]
    fn answer_is_the_sorted_prompt() {
        let reg = Registry::builtin();
        for seed in 0..100 {
            let t = reg
                .generate_level(
                    "sorting",
                    8,
                    &Knobs::new(),
                    PromptStyle::Bare,
                    NumberFormat::Natural,
                    seed,
                )
                .unwrap();
            let mut v: Vec<i64> = t.prompt[5..t.prompt.len() - 1]
                .split(' ')
                .map(|x| x.parse().unwrap())
                .collect();
            v.sort();
            assert_eq!(
                v.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                t.answer
            );
        }
    }

    #[test]
    fn contract() {
        contract::check_family(
            &Sorting,
            NumberFormat::Natural,
            &Knobs::new(),
            contract::perturb_digit,
            |t| t.answer.len() as f64,
        );
    }

    #[test]
    fn fuzz_no_panic() {
        contract::fuzz_family(&Sorting, NumberFormat::Natural);
    }
}
