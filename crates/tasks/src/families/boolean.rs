//! `boolean_eval`: evaluate a propositional formula under a given assignment.
//!
//! Knobs: `vars` (variables a, b, … with a given truth value), `depth` (the formula is a full
//! binary tree of this depth: 2^depth leaves), `ops` (1: `& |`, 2: also `!`, 3: also `^` xor).
//! Bare: `a=T b=F:(a&!b)|b=` -> `T`. Tagged: the same in words; the answer `T` or `F` (tagged
//! also accepts `True`/`False`/`true`/`false`) inside `<answer>…</answer>`. Chance is 1/2, which the
//! curriculum takes into account.

use crate::answer;
use crate::family::{Family, Harder, Knob};
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

/// Evaluation of random propositional formulas.
pub struct BooleanEval;

const KNOBS: &[Knob] = &[
    Knob::int(
        "vars",
        1,
        8,
        2,
        Harder::Up,
        "number of variables (a, b, ...), each given a value",
    ),
    Knob::int(
        "depth",
        1,
        8,
        1,
        Harder::Up,
        "depth of the full binary formula tree (2^depth leaves)",
    ),
    Knob::int(
        "ops",
        1,
        3,
        1,
        Harder::Up,
        "operators: 1 = & |, 2 = & | !, 3 = & | ! ^",
    ),
];

const LADDER: &[[f64; 3]] = &[
    [2., 1., 1.],
    [2., 2., 1.],
    [3., 2., 2.],
    [4., 3., 2.],
    [4., 3., 3.],
    [5., 4., 3.],
    [6., 4., 3.],
    [8., 5., 3.],
];

const NAMES: &[u8; 8] = b"abcdefgh";

impl Family for BooleanEval {
    fn name(&self) -> &'static str {
        "boolean_eval"
    }

    fn doc(&self) -> &'static str {
        "Evaluate a propositional formula under an assignment. Bare: `a=T b=F:(a&!b)|b=` -> `T`."
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn ladder(&self) -> Vec<Knobs> {
        LADDER
            .iter()
            .map(|l| Knobs::from_static(&[("vars", l[0]), ("depth", l[1]), ("ops", l[2])]))
            .collect()
    }

    fn chance(&self, _knobs: &Knobs) -> f64 {
        0.5
    }

    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        let vars = knobs.int("vars", 2).clamp(1, 8) as usize;
        let depth = knobs.int("depth", 1).clamp(1, 8) as u32;
        let ops = knobs.int("ops", 1).clamp(1, 3) as u8;
        let mut rng = TaskRng::new(seed);
        let bits = rng.next_bits();
        let mut prompt = String::with_capacity(4 * vars + (6usize << depth) + 80);
        if style == PromptStyle::Tagged {
            prompt.push_str("Given ");
        }
        for (i, name) in NAMES.iter().take(vars).enumerate() {
            if i > 0 {
                prompt.push(' ');
            }
            prompt.push(*name as char);
            prompt.push('=');
            prompt.push(if bits >> i & 1 == 1 { 'T' } else { 'F' });
        }
        prompt.push_str(if style == PromptStyle::Tagged {
            ", evaluate "
        } else {
            ":"
        });
        let value = write_node(&mut prompt, depth, true, vars, ops, bits, &mut rng);
        let gold = if value { "T" } else { "F" };
        let answer = match style {
            PromptStyle::Bare => {
                prompt.push('=');
                gold.to_string()
            }
            PromptStyle::Tagged => {
                prompt.push_str(
                    " where & is and, | is or, ! is not and ^ is xor. Answer T (true) or F (false) inside <answer></answer>.",
                );
                answer::wrap(style, gold)
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
        let gold = answer::gold(task.style, &task.answer);
        let got = match answer::extract(task.style, completion, task.answer.len()) {
            Ok(g) => g,
            Err(v) => return v,
        };
        let value = match (task.style, got) {
            (_, "T") => "T",
            (_, "F") => "F",
            (PromptStyle::Tagged, "True" | "true") => "T",
            (PromptStyle::Tagged, "False" | "false") => "F",
            _ => {
                return Verdict::fail(
                    Some(got.to_string()),
                    Reason::Unparseable,
                    "expected T or F",
                )
            }
        };
        if value == gold {
            Verdict::correct(got)
        } else {
            Verdict::wrong(got, "")
        }
    }
}

trait Bits {
    fn next_bits(&mut self) -> u64;
}

impl Bits for TaskRng {
    fn next_bits(&mut self) -> u64 {
        rand::RngCore::next_u64(self)
    }
}

/// Writes a full binary subtree of `depth` and returns its value. Binary subterms below the top
/// are parenthesised; with `ops >= 2` any node is negated with probability 0.3.
fn write_node(
    out: &mut String,
    depth: u32,
    top: bool,
    vars: usize,
    ops: u8,
    bits: u64,
    rng: &mut TaskRng,
) -> bool {
    let r = rand::RngCore::next_u64(rng);
    let negate = ops >= 2 && (r & 0x3ff) < 307;
    if negate {
        out.push('!');
    }
    let value = if depth == 0 {
        let v = ((r >> 10) % vars as u64) as usize;
        out.push(NAMES[v] as char);
        bits >> v & 1 == 1
    } else {
        let op = match ops {
            1 | 2 => [b'&', b'|'][(r >> 10) as usize & 1],
            _ => [b'&', b'|', b'^'][((r >> 10) % 3) as usize],
        };
        let paren = !top || negate;
        if paren {
            out.push('(');
        }
        let a = write_node(out, depth - 1, false, vars, ops, bits, rng);
        out.push(op as char);
        let b = write_node(out, depth - 1, false, vars, ops, bits, rng);
        if paren {
            out.push(')');
        }
        match op {
            b'&' => a & b,
            b'|' => a | b,
            _ => a ^ b,
        }
    };
    value ^ negate
}

/// Evaluates a formula in the bare syntax with `assignment` (tests only: an independent oracle).
#[cfg(test)]
fn eval_text(s: &[u8], i: &mut usize, assignment: &[bool]) -> bool {
    fn atom(s: &[u8], i: &mut usize, a: &[bool]) -> bool {
        match s[*i] {
            b'!' => {
                *i += 1;
                !atom(s, i, a)
            }
            b'(' => {
                *i += 1;
                let v = eval_text(s, i, a);
                *i += 1; // ')'
                v
            }
            c => {
                *i += 1;
                a[(c - b'a') as usize]
            }
        }
    }
    let mut v = atom(s, i, assignment);
    while *i < s.len() && matches!(s[*i], b'&' | b'|' | b'^') {
        let op = s[*i];
        *i += 1;
        let w = atom(s, i, assignment);
        v = match op {
            b'&' => v & w,
            b'|' => v | w,
            _ => v ^ w,
        };
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::contract;
    use crate::family::Registry;

    #[test]
    fn answers_match_an_independent_evaluator() {
        let reg = Registry::builtin();
        let mut trues = 0;
        for level in 1..=8 {
            for seed in 0..100 {
                let t = reg
                    .generate_level(
                        "boolean_eval",
                        level,
                        &Knobs::new(),
                        PromptStyle::Bare,
                        NumberFormat::Natural,
                        seed,
                    )
                    .unwrap();
                let (assign, formula) = t.prompt.trim_end_matches('=').split_once(':').unwrap();
                let a: Vec<bool> = assign.split(' ').map(|kv| kv.ends_with('T')).collect();
                let v = eval_text(formula.as_bytes(), &mut 0, &a);
                assert_eq!(if v { "T" } else { "F" }, t.answer, "{}", t.prompt);
                trues += v as usize;
            }
        }
        // Both answers are common (a constant answer would be a reward hack).
        assert!((160..=640).contains(&trues), "{trues} of 800 true");
    }

    #[test]
    fn by_hand() {
        assert!(eval_text(b"(a&!b)|b", &mut 0, &[true, true]));
        assert!(!eval_text(b"(a&!b)|b", &mut 0, &[false, false]));
        assert!(!eval_text(b"(a&!b)&b", &mut 0, &[true, true]));
        assert!(eval_text(b"(a&!b)|b", &mut 0, &[true, false]));
        assert!(eval_text(b"!(a^b)", &mut 0, &[false, false]));
    }

    #[test]
    fn tagged_accepts_words_bare_does_not() {
        let reg = Registry::builtin();
        let t = reg
            .generate(
                "boolean_eval",
                &Knobs::new(),
                PromptStyle::Tagged,
                NumberFormat::Natural,
                1,
            )
            .unwrap();
        let word = if t.answer.contains('T') {
            "True"
        } else {
            "False"
        };
        assert!(
            BooleanEval
                .verify(&t, &format!("<answer>{word}</answer>"))
                .correct
        );
        assert!(!BooleanEval.verify(&t, "<answer>T or F</answer>").correct);
        let b = reg
            .generate(
                "boolean_eval",
                &Knobs::new(),
                PromptStyle::Bare,
                NumberFormat::Natural,
                1,
            )
            .unwrap();
        assert!(
            !BooleanEval
                .verify(&b, if b.answer == "T" { "True" } else { "False" })
                .correct
        );
        assert!(!BooleanEval.verify(&b, "TF").correct);
    }

    #[test]
    fn contract() {
        contract::check_family(
            &BooleanEval,
            NumberFormat::Natural,
            &Knobs::new(),
            contract::perturb_digit,
            |t| {
                t.prompt
                    .bytes()
                    .filter(|b| matches!(b, b'&' | b'|' | b'^' | b'!'))
                    .count() as f64
            },
        );
    }

    #[test]
    fn fuzz_no_panic() {
        contract::fuzz_family(&BooleanEval, NumberFormat::Natural);
    }
}
