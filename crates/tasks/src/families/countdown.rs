//! `countdown`: reach a target with the given numbers, each used at most once, and `+ - * /`.
//!
//! Knobs: `numbers` (how many are given), `max_number` (each drawn from 1..=max_number),
//! `target_max`. The generator builds the target from the numbers (every intermediate a positive
//! integer), so every instance is solvable. ANY expression is correct that uses only given numbers
//! (each at most as often as given), only `+ - * /` and parentheses (no unary minus, no other
//! symbols, no `=`), and whose exact rational value equals the target. Bare: `3 7 25 50:82=` ->
//! `25+50+7`. `task.data` holds `3 7 25 50;82`, plus `;all` when every number must be used once
//! (imported reasoning-gym tasks).

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::ToPrimitive;

use crate::answer;
use crate::expr;
use crate::family::{Family, Harder, Knob};
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

/// Countdown numbers puzzles with guaranteed solutions.
pub struct Countdown;

const KNOBS: &[Knob] = &[
    Knob::int("numbers", 2, 6, 2, Harder::Up, "how many numbers are given"),
    Knob::int(
        "max_number",
        5,
        100,
        10,
        Harder::Up,
        "numbers are drawn from 1..=max_number",
    ),
    Knob::int("target_max", 10, 1000, 100, Harder::Up, "largest target"),
];

const LADDER: &[[f64; 3]] = &[
    [2., 10., 100.],
    [3., 10., 100.],
    [3., 25., 200.],
    [4., 25., 300.],
    [4., 50., 500.],
    [5., 50., 500.],
    [5., 100., 1000.],
    [6., 100., 1000.],
];

/// A countdown instance as kept in `task.data`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Puzzle {
    pub numbers: Vec<i64>,
    pub target: i64,
    /// Every number must be used exactly once.
    pub use_all: bool,
}

impl Puzzle {
    /// `3 7 25 50;82` (+ `;all`).
    pub fn encode(&self) -> String {
        let nums: Vec<String> = self.numbers.iter().map(|n| n.to_string()).collect();
        format!(
            "{};{}{}",
            nums.join(" "),
            self.target,
            if self.use_all { ";all" } else { "" }
        )
    }

    /// Reads [`Puzzle::encode`]'s format.
    pub fn decode(s: &str) -> Option<Puzzle> {
        let mut parts = s.split(';');
        let numbers: Option<Vec<i64>> = parts.next()?.split(' ').map(|n| n.parse().ok()).collect();
        let target = parts.next()?.parse().ok()?;
        let use_all = match parts.next() {
            None => false,
            Some("all") => true,
            Some(_) => return None,
        };
        let numbers = numbers?;
        (parts.next().is_none() && !numbers.is_empty() && numbers.len() <= 32).then_some(Puzzle {
            numbers,
            target,
            use_all,
        })
    }

    /// Checks `text` against every rule; `Ok` carries nothing, `Err` the failing verdict.
    pub fn check(&self, text: &str) -> Result<(), Verdict> {
        let parsed = expr::evaluate(text, false)
            .map_err(|e| Verdict::fail(Some(text.to_string()), Reason::Unparseable, e))?;
        let mut left = self.numbers.clone();
        for lit in &parsed.literals {
            let pos = lit.to_i64().and_then(|v| left.iter().position(|&n| n == v));
            match pos {
                Some(i) => {
                    left.swap_remove(i);
                }
                None => {
                    return Err(Verdict::wrong(
                        text,
                        format!("uses {lit}, which is not given (or given fewer times)"),
                    ))
                }
            }
        }
        if self.use_all && !left.is_empty() {
            return Err(Verdict::wrong(text, format!("does not use {left:?}")));
        }
        if parsed.value != BigRational::from_integer(BigInt::from(self.target)) {
            return Err(Verdict::wrong(
                text,
                format!(
                    "value {}, not {}",
                    expr::format_rational(&parsed.value),
                    self.target
                ),
            ));
        }
        Ok(())
    }
}

/// A partial expression while building a solution: value, text, precedence (1 `+-`, 2 `*/`, 3 atom).
struct Part {
    value: i64,
    text: String,
    prec: u8,
}

fn paren(p: &Part, need: bool) -> String {
    if need {
        format!("({})", p.text)
    } else {
        p.text.clone()
    }
}

/// Combines `a` and `b` with a random operator that keeps the value a positive integer.
fn combine(a: &Part, b: &Part, rng: &mut TaskRng) -> Option<Part> {
    let (a, b) = if a.value >= b.value { (a, b) } else { (b, a) };
    let op = rng.below(4);
    match op {
        0 => Some(Part {
            value: a.value + b.value,
            text: format!("{}+{}", a.text, b.text),
            prec: 1,
        }),
        1 if a.value > b.value => Some(Part {
            value: a.value - b.value,
            text: format!("{}-{}", a.text, paren(b, b.prec == 1)),
            prec: 1,
        }),
        2 if a.value * b.value <= 1_000_000 && b.value > 1 => Some(Part {
            value: a.value * b.value,
            text: format!("{}*{}", paren(a, a.prec == 1), paren(b, b.prec == 1)),
            prec: 2,
        }),
        3 if b.value > 1 && a.value % b.value == 0 => Some(Part {
            value: a.value / b.value,
            text: format!("{}/{}", paren(a, a.prec == 1), paren(b, b.prec <= 2)),
            prec: 2,
        }),
        _ => None,
    }
}

impl Family for Countdown {
    fn name(&self) -> &'static str {
        "countdown"
    }

    fn doc(&self) -> &'static str {
        "Reach the target with the given numbers (each at most once) and + - * / ( ); any valid \
         expression is correct. Bare: `3 7 25 50:82=` -> `25+50+7`."
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn ladder(&self) -> Vec<Knobs> {
        LADDER
            .iter()
            .map(|l| {
                Knobs::from_static(&[
                    ("numbers", l[0]),
                    ("max_number", l[1]),
                    ("target_max", l[2]),
                ])
            })
            .collect()
    }

    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        let n = knobs.int("numbers", 2).clamp(2, 6) as usize;
        let max_number = knobs.int("max_number", 10).max(2);
        let target_max = knobs.int("target_max", 100).max(2);
        let mut rng = TaskRng::new(seed);
        let numbers: Vec<i64> = (0..n).map(|_| rng.range_i64(1, max_number)).collect();
        let mut solution = None;
        for _ in 0..200 {
            // Use all numbers, or all but one (at least two).
            let k = if n > 2 && rng.chance(0.5) { n - 1 } else { n };
            // A random subset of k numbers, then combine random pairs until one part is left.
            let mut parts: Vec<Part> = if n == k {
                rebuild(&numbers)
            } else {
                parts_from(&numbers, &mut rng, k)
            };
            let mut ok = true;
            while parts.len() > 1 {
                let i = rng.below(parts.len() as u64) as usize;
                let a = parts.swap_remove(i);
                let j = rng.below(parts.len() as u64) as usize;
                let b = parts.swap_remove(j);
                match (0..8).find_map(|_| combine(&a, &b, &mut rng)) {
                    Some(p) => parts.push(p),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            let Some(p) = parts.pop() else { continue };
            if ok && p.value >= 1 && p.value <= target_max && !numbers.contains(&p.value) {
                solution = Some(p);
                break;
            }
        }
        let solution = solution.unwrap_or_else(|| Part {
            value: numbers[0] + numbers[1],
            text: format!("{}+{}", numbers[0], numbers[1]),
            prec: 1,
        });
        let puzzle = Puzzle {
            numbers: numbers.clone(),
            target: solution.value,
            use_all: false,
        };
        let list: Vec<String> = numbers.iter().map(|v| v.to_string()).collect();
        let (prompt, answer) = match style {
            PromptStyle::Bare => (format!("{}:{}=", list.join(" "), solution.value), solution.text),
            PromptStyle::Tagged => (
                format!(
                    "Using the numbers {} (each at most once) and + - * / with parentheses, write an expression \
                     equal to {}. Put only the expression inside <answer></answer>.",
                    list.join(", "),
                    solution.value
                ),
                answer::wrap(style, &solution.text),
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
            puzzle.encode(),
        )
    }

    fn verify(&self, task: &Task, completion: &str) -> Verdict {
        let Some(puzzle) = Puzzle::decode(&task.data) else {
            return Verdict::invalid_task("data is not a countdown puzzle (numbers;target)");
        };
        let got = match answer::extract(task.style, completion, task.answer.len().max(16)) {
            Ok(g) => g,
            Err(v) => return v,
        };
        match puzzle.check(got) {
            Ok(()) => Verdict::correct(got),
            Err(v) => v,
        }
    }
}

/// One atom per number.
fn rebuild(numbers: &[i64]) -> Vec<Part> {
    numbers
        .iter()
        .map(|&v| Part {
            value: v,
            text: v.to_string(),
            prec: 3,
        })
        .collect()
}

/// `k` atoms from a random subset of `numbers`.
fn parts_from(numbers: &[i64], rng: &mut TaskRng, k: usize) -> Vec<Part> {
    let mut parts = rebuild(numbers);
    while parts.len() > k {
        let i = rng.below(parts.len() as u64) as usize;
        parts.swap_remove(i);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::contract;
    use crate::family::Registry;

    /// Independent brute-force solver (integer intermediates): up to `limit` solution texts.
    fn solve(items: Vec<(i64, String)>, target: i64, out: &mut Vec<String>, limit: usize) {
        if out.len() >= limit {
            return;
        }
        for (v, s) in &items {
            if *v == target && !out.contains(s) {
                out.push(s.clone());
            }
        }
        for i in 0..items.len() {
            for j in 0..items.len() {
                if i == j {
                    continue;
                }
                let (a, b) = (&items[i], &items[j]);
                let rest: Vec<(i64, String)> = items
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k != i && *k != j)
                    .map(|(_, x)| x.clone())
                    .collect();
                let mut cands = vec![
                    (a.0 + b.0, format!("({}+{})", a.1, b.1)),
                    (a.0 * b.0, format!("({}*{})", a.1, b.1)),
                ];
                if a.0 > b.0 {
                    cands.push((a.0 - b.0, format!("({}-{})", a.1, b.1)));
                }
                if b.0 > 0 && a.0 % b.0 == 0 {
                    cands.push((a.0 / b.0, format!("({}/{})", a.1, b.1)));
                }
                for c in cands {
                    let mut next = rest.clone();
                    next.push(c);
                    solve(next, target, out, limit);
                    if out.len() >= limit {
                        return;
                    }
                }
            }
        }
    }

    #[test]
    fn independent_solutions_accepted_near_misses_rejected() {
        let reg = Registry::builtin();
        let mut alternatives = 0;
        for level in 1..=4 {
            for seed in 0..25 {
                let t = reg
                    .generate_level(
                        "countdown",
                        level,
                        &Knobs::new(),
                        PromptStyle::Bare,
                        NumberFormat::Natural,
                        seed,
                    )
                    .unwrap();
                let p = Puzzle::decode(&t.data).unwrap();
                let mut sols = Vec::new();
                solve(
                    p.numbers.iter().map(|&v| (v, v.to_string())).collect(),
                    p.target,
                    &mut sols,
                    4,
                );
                assert!(!sols.is_empty(), "solver found nothing for {}", t.prompt);
                for s in &sols {
                    assert!(
                        Countdown.verify(&t, s).correct,
                        "{s} rejected for {}",
                        t.prompt
                    );
                    alternatives += 1;
                }
                // Near misses: off by one; a number not given (0); a number used once too often.
                assert!(
                    !Countdown.verify(&t, &format!("{}+1-1+1", t.answer)).correct
                        || p.numbers.iter().filter(|&&n| n == 1).count() >= 3
                );
                assert!(!Countdown.verify(&t, &format!("{}+0", t.answer)).correct);
                let a = p.numbers[0];
                let used = expr::evaluate(&t.answer, false)
                    .unwrap()
                    .literals
                    .iter()
                    .filter(|l| **l == BigInt::from(a))
                    .count();
                let given = p.numbers.iter().filter(|&&n| n == a).count();
                let twice = format!("({})*{a}/{a}", t.answer);
                assert_eq!(
                    Countdown.verify(&t, &twice).correct,
                    used + 2 <= given,
                    "{twice} for {}",
                    t.prompt
                );
            }
        }
        assert!(alternatives >= 100);
    }

    #[test]
    fn rules_by_hand() {
        let t = Task::new(
            "countdown",
            &Knobs::new(),
            0,
            PromptStyle::Bare,
            NumberFormat::Natural,
            "3 7 25 50:82=".into(),
            "25+50+7".into(),
            "3 7 25 50;82".into(),
        );
        assert!(Countdown.verify(&t, "50+25+7").correct);
        assert!(Countdown.verify(&t, "(50+25)+7").correct);
        assert!(!Countdown.verify(&t, "50+25+7+0").correct); // 0 not given
        assert!(!Countdown.verify(&t, "82").correct); // 82 not given
        assert!(!Countdown.verify(&t, "50+25+7=82").correct);
        assert!(!Countdown.verify(&t, "50+25+7 or 3").correct);
        assert!(!Countdown.verify(&t, "50+25+7*1").correct);
        assert!(!Countdown.verify(&t, "-3+50+25+7+3").correct); // unary minus, and 3 twice
        assert!(!Countdown.verify(&t, "50+50-25+7").correct); // 50 twice
                                                              // Exact rationals: 7/7 is 1, not a truncation.
        let t2 = Task {
            data: "3 7 8;2".into(),
            ..t.clone()
        };
        assert!(Countdown.verify(&t2, "8/(7-3)").correct);
        assert!(!Countdown.verify(&t2, "7/3").correct); // 2.33 truncates to 2 in careless checkers
        let all = Task {
            data: "3 7 25 50;82;all".into(),
            ..t
        };
        assert!(!Countdown.verify(&all, "50+25+7").correct);
        assert!(!Countdown.verify(&all, "50+25+7*3-21+21-0").correct);
        assert_eq!(Puzzle::decode("1 2;3;any"), None);
    }

    #[test]
    fn contract() {
        contract::check_family(
            &Countdown,
            NumberFormat::Natural,
            &Knobs::new(),
            contract::perturb_digit,
            |t| Puzzle::decode(&t.data).unwrap().numbers.len() as f64,
        );
    }

    #[test]
    fn fuzz_no_panic() {
        contract::fuzz_family(&Countdown, NumberFormat::Natural);
    }
}
