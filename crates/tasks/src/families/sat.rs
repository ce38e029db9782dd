//! `sat`: find a satisfying assignment of a CNF formula with a planted solution.
//!
//! Knobs: `vars` (variables a, b, …), `clauses`, `clause_len` (distinct variables per clause).
//! A hidden assignment is drawn first and every clause is made true under it, so every instance is
//! satisfiable. The answer is one letter per variable in alphabetical order, `T` or `F`: ANY
//! assignment that satisfies every clause is correct (the planted one is just the reference).
//! Bare: `abc:(a|!b)&(!a|c)=` -> `TTT` (and `FFT`, `FFF`, … are correct too).
//! The clauses are kept in `task.data` as `vars;lits lits,…` with DIMACS-style signed indices:
//! `3;1 -2,-1 3`.

use crate::answer;
use crate::family::{Family, Harder, Knob};
use crate::knobs::Knobs;
use crate::rng::TaskRng;
use crate::task::{NumberFormat, PromptStyle, Reason, Task, Verdict};

/// Satisfiability of planted-solution CNF formulas.
pub struct Sat;

const KNOBS: &[Knob] = &[
    Knob::int(
        "vars",
        2,
        20,
        3,
        Harder::Up,
        "number of variables (a, b, ...)",
    ),
    Knob::int("clauses", 1, 100, 2, Harder::Up, "number of clauses"),
    Knob::int(
        "clause_len",
        1,
        5,
        2,
        Harder::Up,
        "distinct variables per clause",
    ),
];

const LADDER: &[[f64; 3]] = &[
    [3., 2., 2.],
    [4., 4., 2.],
    [5., 12., 3.],
    [6., 20., 3.],
    [8., 30., 3.],
    [10., 42., 3.],
    [12., 50., 3.],
    [14., 60., 3.],
];

const LETTERS: &[u8; 20] = b"abcdefghijklmnopqrst";

/// A CNF instance: `vars` variables, clauses of signed 1-based indices.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cnf {
    pub vars: usize,
    pub clauses: Vec<Vec<i32>>,
}

impl Cnf {
    /// Whether `assignment` (one bool per variable) satisfies every clause.
    pub fn satisfied_by(&self, assignment: &[bool]) -> bool {
        self.clauses.iter().all(|c| {
            c.iter()
                .any(|&l| assignment[l.unsigned_abs() as usize - 1] == (l > 0))
        })
    }

    /// The compact `vars;1 -2,-1 3` encoding.
    pub fn encode(&self) -> String {
        let clauses: Vec<String> = self
            .clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        format!("{};{}", self.vars, clauses.join(","))
    }

    /// Reads [`Cnf::encode`]'s format; `None` if malformed or out of range.
    pub fn decode(s: &str) -> Option<Cnf> {
        let (vars, rest) = s.split_once(';')?;
        let vars: usize = vars.parse().ok()?;
        if !(1..=LETTERS.len()).contains(&vars) {
            return None;
        }
        let mut clauses = Vec::new();
        for c in rest.split(',').filter(|c| !c.is_empty()) {
            let lits: Option<Vec<i32>> = c.split(' ').map(|l| l.parse::<i32>().ok()).collect();
            let lits = lits?;
            if lits.is_empty()
                || lits
                    .iter()
                    .any(|&l| l == 0 || l.unsigned_abs() as usize > vars)
            {
                return None;
            }
            clauses.push(lits);
        }
        Some(Cnf { vars, clauses })
    }

    /// The formula in the prompt syntax: `(a|!b)&(!a|c)`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.clauses.iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            s.push('(');
            for (j, &l) in c.iter().enumerate() {
                if j > 0 {
                    s.push('|');
                }
                if l < 0 {
                    s.push('!');
                }
                s.push(LETTERS[l.unsigned_abs() as usize - 1] as char);
            }
            s.push(')');
        }
        s
    }
}

impl Family for Sat {
    fn name(&self) -> &'static str {
        "sat"
    }

    fn doc(&self) -> &'static str {
        "Satisfy a CNF with a planted solution; any satisfying assignment is correct. \
         Bare: `abc:(a|!b)&(!a|c)=` -> `TTT` (one T/F per variable, alphabetical)."
    }

    fn knobs(&self) -> &'static [Knob] {
        KNOBS
    }

    fn ladder(&self) -> Vec<Knobs> {
        LADDER
            .iter()
            .map(|l| Knobs::from_static(&[("vars", l[0]), ("clauses", l[1]), ("clause_len", l[2])]))
            .collect()
    }

    fn check(&self, knobs: &Knobs, _format: NumberFormat) -> Result<(), String> {
        let (vars, len) = (knobs.int("vars", 3), knobs.int("clause_len", 2));
        if len > vars {
            return Err(format!("clause_len = {len} is more than vars = {vars}"));
        }
        Ok(())
    }

    fn generate(&self, knobs: &Knobs, style: PromptStyle, format: NumberFormat, seed: u64) -> Task {
        let vars = knobs.int("vars", 3).clamp(2, 20) as usize;
        let n = knobs.int("clauses", 2).max(1) as usize;
        let len = (knobs.int("clause_len", 2).max(1) as usize).min(vars);
        let mut rng = TaskRng::new(seed);
        let planted: Vec<bool> = (0..vars).map(|_| rng.chance(0.5)).collect();
        let mut clauses = Vec::with_capacity(n);
        for _ in 0..n {
            // `len` distinct variables (partial Fisher-Yates), random signs.
            let mut pool: Vec<usize> = (0..vars).collect();
            let mut clause: Vec<i32> = Vec::with_capacity(len);
            for j in 0..len {
                let k = j + rng.below((vars - j) as u64) as usize;
                pool.swap(j, k);
                let v = pool[j] as i32 + 1;
                clause.push(if rng.chance(0.5) { v } else { -v });
            }
            // Make the clause true under the planted assignment by flipping one literal.
            if !clause
                .iter()
                .any(|&l| planted[l.unsigned_abs() as usize - 1] == (l > 0))
            {
                let k = rng.below(len as u64) as usize;
                clause[k] = -clause[k];
            }
            clauses.push(clause);
        }
        let cnf = Cnf { vars, clauses };
        let names: String = LETTERS[..vars].iter().map(|&b| b as char).collect();
        let gold: String = planted.iter().map(|&b| if b { 'T' } else { 'F' }).collect();
        let (prompt, answer) = match style {
            PromptStyle::Bare => (format!("{names}:{}=", cnf.render()), gold),
            PromptStyle::Tagged => (
                format!(
                    "Find values for the variables {names} that make this formula true: {}, where & is and, | is or \
                     and ! is not. Answer with one letter per variable in the order {names}, T for true or F for false \
                     (for example {}), inside <answer></answer>.",
                    cnf.render(),
                    "TF".repeat(vars).chars().take(vars).collect::<String>()
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
            cnf.encode(),
        )
    }

    fn verify(&self, task: &Task, completion: &str) -> Verdict {
        let Some(cnf) = Cnf::decode(&task.data) else {
            return Verdict::invalid_task("data is not a CNF (vars;1 -2,-1 3)");
        };
        let got = match answer::extract(task.style, completion, cnf.vars) {
            Ok(g) => g,
            Err(v) => return v,
        };
        if got.len() != cnf.vars || !got.bytes().all(|b| b == b'T' || b == b'F') {
            return Verdict::fail(
                Some(got.to_string()),
                Reason::Unparseable,
                format!("expected {} letters T or F", cnf.vars),
            );
        }
        let assignment: Vec<bool> = got.bytes().map(|b| b == b'T').collect();
        if cnf.satisfied_by(&assignment) {
            Verdict::correct(got)
        } else {
            Verdict::wrong(got, "a clause is false")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::families::contract;
    use crate::family::Registry;

    fn solutions(cnf: &Cnf) -> Vec<String> {
        (0u32..1 << cnf.vars)
            .map(|m| (0..cnf.vars).map(|i| m >> i & 1 == 1).collect::<Vec<_>>())
            .filter(|a| cnf.satisfied_by(a))
            .map(|a| a.iter().map(|&b| if b { 'T' } else { 'F' }).collect())
            .collect()
    }

    /// A flip of one variable of `gold` that breaks a clause, if any.
    fn near_miss(t: &Task, gold: &str, _rng: &mut TaskRng) -> Option<String> {
        let cnf = Cnf::decode(&t.data)?;
        (0..gold.len()).find_map(|i| {
            let mut s = gold.as_bytes().to_vec();
            s[i] = if s[i] == b'T' { b'F' } else { b'T' };
            let a: Vec<bool> = s.iter().map(|&b| b == b'T').collect();
            (!cnf.satisfied_by(&a)).then(|| String::from_utf8_lossy(&s).into_owned())
        })
    }

    #[test]
    fn any_satisfying_assignment_is_accepted_and_near_misses_are_not() {
        let reg = Registry::builtin();
        let mut alternatives = 0;
        for level in 1..=6 {
            for seed in 0..30 {
                let t = reg
                    .generate_level(
                        "sat",
                        level,
                        &Knobs::new(),
                        PromptStyle::Bare,
                        NumberFormat::Natural,
                        seed,
                    )
                    .unwrap();
                let cnf = Cnf::decode(&t.data).unwrap();
                let sols = solutions(&cnf);
                assert!(sols.contains(&t.answer));
                for s in sols.iter().filter(|s| **s != t.answer).take(3) {
                    assert!(
                        Sat.verify(&t, s).correct,
                        "alternative {s} rejected for {}",
                        t.prompt
                    );
                    alternatives += 1;
                }
                if let Some(miss) = near_miss(&t, &t.answer, &mut TaskRng::new(0)) {
                    assert!(!Sat.verify(&t, &miss).correct);
                    assert_eq!(Sat.verify(&t, &miss).reason, Reason::Wrong);
                }
            }
        }
        assert!(
            alternatives > 50,
            "only {alternatives} alternative solutions checked"
        );
    }

    #[test]
    fn prompt_by_hand_and_data_round_trip() {
        let cnf = Cnf {
            vars: 3,
            clauses: vec![vec![1, -2], vec![-1, 3]],
        };
        assert_eq!(cnf.render(), "(a|!b)&(!a|c)");
        assert_eq!(cnf.encode(), "3;1 -2,-1 3");
        assert_eq!(Cnf::decode("3;1 -2,-1 3"), Some(cnf));
        for bad in ["", "3", "x;1", "3;1 4", "3;0", "99;1", "3;1  2"] {
            assert_eq!(Cnf::decode(bad), None, "{bad:?}");
        }
        let mut t = Sat.generate(
            &Knobs::from_static(&[("vars", 3.0), ("clauses", 2.0), ("clause_len", 2.0)]),
            PromptStyle::Bare,
            NumberFormat::Natural,
            0,
        );
        t.data = "garbage".into();
        assert_eq!(Sat.verify(&t, "TTT").reason, Reason::InvalidTask);
    }

    #[test]
    fn contract() {
        // Hardness: bits of search a brute-force solver faces, log2(assignments / solutions).
        contract::check_family(&Sat, NumberFormat::Natural, &Knobs::new(), near_miss, |t| {
            let cnf = Cnf::decode(&t.data).unwrap();
            cnf.vars as f64 - (solutions(&cnf).len() as f64).log2()
        });
    }

    #[test]
    fn fuzz_no_panic() {
        contract::fuzz_family(&Sat, NumberFormat::Natural);
    }
}
