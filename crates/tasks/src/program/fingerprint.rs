//! Validity and distinctness: the fixed probe inputs, the behavioural [`Fingerprint`] and the
//! rules of [`Validity`].
//!
//! Probes: [`NUM_PROBES`] input tuples at the declared sizes, from a fixed seed. Probe 0 sets
//! every input to its smallest value (0, a list of zeros, `false`), probe 1 to its largest
//! (10^d - 1, a list of those, `true`); the rest are uniform draws keyed by (probe, input
//! position), so they depend on the input kinds and their order but not on the names (a longer
//! list extends the shorter one's elements).
//!
//! A program is valid when, on every probe, it runs without an [`super::ExecError`] (one failing
//! probe rejects it: a kept family's instances are almost never invalid), its answer fits
//! [`Validity::max_answer_chars`], its answers are not all equal, and for each input some probe's
//! answer changes when that input alone takes the next probe's value. Its fingerprint hashes the
//! input kinds and the answers on all probes: equal fingerprints are one family.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{ExecError, Invalid};
use super::exec::{Limits, Machine, V};
use super::tree::{kind_word, Program};
use super::types::{Input, InputKind};
use super::value::Value;
use crate::rng::TaskRng;
use crate::rng::{mix64, mix_into};

/// Number of probe inputs behind a fingerprint.
pub const NUM_PROBES: usize = 32;
/// Seed of the probe draws (fixed forever: changing it changes every fingerprint).
const PROBE_SEED: u64 = 0x7072_6f62_6573_0001;

/// A behavioural fingerprint: a stable 64-bit hash of a program's input kinds and its answers on
/// the probes. Shown and serialised as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Fingerprint)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("fingerprint {s:?}: expected hex")))
    }
}

/// The rules a program must meet to be kept as a task family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Validity {
    /// Longest answer allowed, in characters of its text (`[1, 2]` is 6): set it from the
    /// completion length.
    pub max_answer_chars: usize,
    /// Largest share of the probes that may give one and the same answer (1.0: any program
    /// that is not constant). Most probes are drawn as instances are, so a program above it
    /// asks nearly the same answer of every task (`count(l, neg(a))` is 0 unless a = 0): a
    /// policy masters it by guessing.
    pub max_skew: f64,
    /// Bounds on each run.
    pub limits: Limits,
}

impl Default for Validity {
    fn default() -> Self {
        Self {
            max_answer_chars: 40,
            max_skew: 1.0,
            limits: Limits::default(),
        }
    }
}

/// The probe inputs of a declaration list: [`NUM_PROBES`] tuples in declaration order.
pub fn probe_inputs(inputs: &[Input]) -> Vec<Vec<Value>> {
    (0..NUM_PROBES)
        .map(|i| {
            inputs
                .iter()
                .enumerate()
                .map(|(k, d)| probe_value(i, k, d.kind))
                .collect()
        })
        .collect()
}

fn probe_value(probe: usize, position: usize, kind: InputKind) -> Value {
    let mut rng = TaskRng::new(mix64(
        PROBE_SEED ^ (probe as u64) << 32 ^ (position as u64) << 8,
    ));
    let top = |digits: u32| 10u64.pow(digits.min(18));
    let mut int = |digits: u32| match probe {
        0 => 0,
        1 => top(digits) as i64 - 1,
        _ => rng.below(top(digits)) as i64,
    };
    match kind {
        InputKind::Int { digits } => Value::Int(int(digits)),
        InputKind::List { len, digits } => Value::List((0..len).map(|_| int(digits)).collect()),
        InputKind::Bool => Value::Bool(match probe {
            0 => false,
            1 => true,
            _ => rng.below(2) == 1,
        }),
    }
}

/// Characters of a value's text, without building it.
fn text_len(m: &Machine, v: V) -> usize {
    fn int_len(x: i64) -> usize {
        let sign = usize::from(x < 0);
        let digits = x
            .unsigned_abs()
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1);
        sign + digits
    }
    match v {
        V::Int(x) => int_len(x),
        V::Bool(b) => {
            if b {
                4
            } else {
                5
            }
        }
        V::List(s, n) => {
            let xs = m.slice(s, n);
            2 + xs.iter().map(|&x| int_len(x)).sum::<usize>() + 2 * xs.len().saturating_sub(1)
        }
    }
}

/// A hash of one answer (its type and value).
fn value_hash(m: &Machine, v: V) -> u64 {
    let mut h = 0x1357_9BDF_2468_ACE0;
    match v {
        V::Int(x) => mix_into(&mut h, 1 ^ (x as u64).rotate_left(8)),
        V::Bool(b) => mix_into(&mut h, 2 ^ (b as u64) << 8),
        V::List(s, n) => {
            mix_into(&mut h, 3 ^ (n as u64) << 8);
            for &x in m.slice(s, n) {
                mix_into(&mut h, x as u64);
            }
        }
    }
    mix64(h)
}

/// Checks programs against the rules, reusing its machine and a cache of probe sets (one per
/// input signature) across calls: the evolver's hot path.
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    machine: Machine,
    probes: HashMap<Vec<InputKind>, Arc<Vec<Vec<Value>>>>,
    loaded: Vec<V>,
    answers: Vec<u64>,
    /// Scratch for counting equal answers.
    sorted: Vec<u64>,
}

/// Most probe sets kept in a [`Checker`]'s cache before it is emptied.
const PROBE_CACHE: usize = 4096;

impl Checker {
    pub(crate) fn new(limits: &Limits) -> Checker {
        Checker {
            machine: Machine::new(limits),
            probes: HashMap::new(),
            loaded: Vec::new(),
            answers: Vec::with_capacity(NUM_PROBES),
            sorted: Vec::with_capacity(NUM_PROBES),
        }
    }

    fn probes_for(&mut self, inputs: &[Input]) -> Arc<Vec<Vec<Value>>> {
        let key: Vec<InputKind> = inputs.iter().map(|d| d.kind).collect();
        if let Some(p) = self.probes.get(&key) {
            return p.clone();
        }
        if self.probes.len() >= PROBE_CACHE {
            self.probes.clear();
        }
        let p = Arc::new(probe_inputs(inputs));
        self.probes.insert(key, p.clone());
        p
    }

    /// Runs `p` on probe `i` with input `swap` (if any) taken from probe `j` instead.
    fn run_probe(
        &mut self,
        p: &Program,
        probes: &[Vec<Value>],
        i: usize,
        swap: Option<(usize, usize)>,
    ) -> Result<V, ExecError> {
        self.machine.reset();
        self.loaded.clear();
        for k in 0..p.inputs.len() {
            let from = match swap {
                Some((sk, j)) if sk == k => j,
                _ => i,
            };
            let v = probes.get(from).and_then(|t| t.get(k));
            let v = v.map_or(V::Int(0), |v| self.machine.load(v));
            self.loaded.push(v);
        }
        self.machine.eval(&p.expr, p.output, &self.loaded)
    }

    /// The answers' hashes on every probe, or why a probe fails; `max_chars` bounds answer text.
    fn answers(
        &mut self,
        p: &Program,
        probes: &[Vec<Value>],
        max_chars: usize,
    ) -> Result<(), Invalid> {
        self.answers.clear();
        for i in 0..probes.len() {
            let v = match self.run_probe(p, probes, i, None) {
                Ok(v) => v,
                Err(ExecError::Budget) => return Err(Invalid::Budget { probe: i }),
                Err(error) => return Err(Invalid::InvalidOnProbe { probe: i, error }),
            };
            let chars = text_len(&self.machine, v);
            if chars > max_chars {
                return Err(Invalid::AnswerTooLong {
                    chars,
                    max: max_chars,
                });
            }
            let h = value_hash(&self.machine, v);
            self.answers.push(h);
        }
        Ok(())
    }

    fn fingerprint_of_answers(&self, p: &Program) -> Fingerprint {
        let mut h = PROBE_SEED;
        mix_into(&mut h, p.output as u64);
        for d in &p.inputs {
            mix_into(&mut h, kind_word(d.kind));
        }
        for &a in &self.answers {
            mix_into(&mut h, a);
        }
        Fingerprint(mix64(h))
    }

    /// The fingerprint, or why a probe fails (no other rule is checked).
    pub(crate) fn fingerprint(&mut self, p: &Program) -> Result<Fingerprint, Invalid> {
        let probes = self.probes_for(&p.inputs);
        self.answers(p, &probes, usize::MAX)?;
        Ok(self.fingerprint_of_answers(p))
    }

    /// Every validity rule, cheapest first; the fingerprint when all hold.
    pub(crate) fn validate(
        &mut self,
        p: &Program,
        rules: &Validity,
    ) -> Result<Fingerprint, Invalid> {
        let probes = self.probes_for(&p.inputs);
        self.answers(p, &probes, rules.max_answer_chars)?;
        let first = self.answers.first().copied();
        if self.answers.iter().all(|a| Some(*a) == first) {
            return Err(Invalid::Constant);
        }
        if rules.max_skew < 1.0 {
            let most = self.most_common_answer();
            if most as f64 > rules.max_skew * self.answers.len() as f64 {
                return Err(Invalid::Skewed {
                    most,
                    probes: self.answers.len(),
                });
            }
        }
        let fingerprint = self.fingerprint_of_answers(p);
        for k in 0..p.inputs.len() {
            if !self.depends_on(p, &probes, k) {
                return Err(Invalid::IgnoresInput {
                    name: p.inputs[k].name.clone(),
                });
            }
        }
        Ok(fingerprint)
    }

    /// How many probes give the most common answer.
    fn most_common_answer(&mut self) -> usize {
        self.sorted.clear();
        self.sorted.extend_from_slice(&self.answers);
        self.sorted.sort_unstable();
        self.sorted
            .chunk_by(|a, b| a == b)
            .map(<[u64]>::len)
            .max()
            .unwrap_or(0)
    }

    /// Whether changing input `k` alone (to the next probe's value) changes some answer. A
    /// changed probe that fails to run does not count as a change.
    fn depends_on(&mut self, p: &Program, probes: &[Vec<Value>], k: usize) -> bool {
        let n = probes.len();
        for i in 0..n {
            let j = (i + 1) % n;
            if probes[i].get(k) == probes[j].get(k) {
                continue;
            }
            if let Ok(v) = self.run_probe(p, probes, i, Some((k, j))) {
                if value_hash(&self.machine, v) != self.answers[i] {
                    return true;
                }
            }
        }
        false
    }
}

impl Program {
    /// The behavioural fingerprint under default limits, or why a probe fails to run.
    pub fn fingerprint(&self) -> Result<Fingerprint, Invalid> {
        Checker::new(&Limits::default()).fingerprint(self)
    }

    /// Checks every validity rule; the fingerprint when the program is kept.
    pub fn validate(&self, rules: &Validity) -> Result<Fingerprint, Invalid> {
        Checker::new(&rules.limits).validate(self, rules)
    }

    /// The share of the probes that give the most common answer (what [`Validity::max_skew`]
    /// bounds), or why a probe fails to run.
    pub fn skew(&self) -> Result<f64, Invalid> {
        let mut checker = Checker::new(&Limits::default());
        let probes = checker.probes_for(&self.inputs);
        checker.answers(self, &probes, usize::MAX)?;
        Ok(checker.most_common_answer() as f64 / probes.len().max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(text: &str) -> Program {
        Program::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn validate(text: &str) -> Result<Fingerprint, Invalid> {
        program(text).validate(&Validity::default())
    }

    #[test]
    fn equal_behaviour_is_one_family() {
        let a = validate("a; a:int[3]").unwrap();
        assert_eq!(validate("add(a, 0); a:int[3]"), Ok(a));
        assert_eq!(validate("neg(neg(x)); x:int[3]"), Ok(a));
        assert_eq!(validate("undigits(digits(a)); a:int[3]"), Ok(a));
        assert_eq!(
            validate("add(a, b); a:int[3]; b:int[3]"),
            validate("add(b, a); a:int[3]; b:int[3]")
        );
        // Declaration order is input order: sub(b, a) over (b, a) is sub(a, b) over (a, b).
        assert_eq!(
            validate("sub(a, b); a:int[3]; b:int[3]"),
            validate("sub(b, a); b:int[3]; a:int[3]")
        );
        assert_ne!(
            validate("sub(a, b); a:int[3]; b:int[3]"),
            validate("sub(b, a); a:int[3]; b:int[3]")
        );
        // Other knobs, other family.
        assert_ne!(validate("a; a:int[4]"), Ok(a));
        assert_eq!(program("add(a, 0); a:int[3]").fingerprint(), Ok(a));
    }

    #[test]
    fn fingerprints_are_pinned() {
        // A change here changes every archive's fingerprints: only on purpose.
        let f = validate("sort(digits(add(a, b))); a:int[3]; b:int[3]").unwrap();
        assert_eq!(f.to_string(), "bfc2c3b5607c2531");
        assert_eq!(f.to_string().parse::<Fingerprint>(), Ok(f));
        assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
    }

    #[test]
    fn validity_rejections_name_the_rule() {
        assert_eq!(validate("mul(a, 0); a:int[3]"), Err(Invalid::Constant));
        assert_eq!(validate("len(l); l:list[4,2]"), Err(Invalid::Constant));
        assert_eq!(validate("add(1, 2)"), Err(Invalid::Constant));
        assert_eq!(
            validate("add(a, mul(b, 0)); a:int[3]; b:int[3]"),
            Err(Invalid::IgnoresInput { name: "b".into() })
        );
        assert_eq!(
            validate("if(or(c, not(c)), a, 0); c:bool; a:int[2]"),
            Err(Invalid::IgnoresInput { name: "c".into() })
        );
        // Probe 0 sets b = 0.
        assert_eq!(
            validate("div(a, b); a:int[3]; b:int[3]"),
            Err(Invalid::InvalidOnProbe {
                probe: 0,
                error: ExecError::DivByZero
            })
        );
        assert!(validate("div(a, add(b, 1)); a:int[3]; b:int[3]").is_ok());
        assert_eq!(
            validate("mul(a, b); a:int[18]; b:int[18]"),
            Err(Invalid::InvalidOnProbe {
                probe: 1,
                error: ExecError::TooLarge
            })
        );
        let short = Validity {
            max_answer_chars: 5,
            ..Validity::default()
        };
        // Probe 1: 999 * 999 = 998001, six characters.
        assert_eq!(
            program("mul(a, b); a:int[3]; b:int[3]").validate(&short),
            Err(Invalid::AnswerTooLong { chars: 6, max: 5 })
        );
        // `[9, 9, 9]` is nine characters.
        assert_eq!(
            program("l; l:list[3,1]").validate(&Validity {
                max_answer_chars: 8,
                ..Validity::default()
            }),
            Err(Invalid::AnswerTooLong { chars: 9, max: 8 })
        );
        // 0 unless a = 0: the same answer on 31 of the 32 probes (probe 0 has a = 0).
        let skewed = "count(l, neg(a)); l:list[3,1]; a:int[2]";
        assert!(validate(skewed).is_ok());
        assert_eq!(program(skewed).skew(), Ok(31.0 / 32.0));
        let strict = Validity {
            max_skew: 0.8,
            ..Validity::default()
        };
        assert_eq!(
            program(skewed).validate(&strict),
            Err(Invalid::Skewed {
                most: 31,
                probes: NUM_PROBES
            })
        );
        assert!(program("lt(a, b); a:int[2]; b:int[2]")
            .validate(&strict)
            .is_ok());
        let tight = Validity {
            limits: Limits {
                max_steps: 5,
                ..Limits::default()
            },
            ..Validity::default()
        };
        assert_eq!(
            program("sum(sort(l)); l:list[8,2]").validate(&tight),
            Err(Invalid::Budget { probe: 0 })
        );
    }

    #[test]
    fn probes_have_edges_and_depend_on_kinds_not_names() {
        let inputs = program("add(a, head(l)); a:int[2]; l:list[3,1]")
            .inputs
            .clone();
        let probes = probe_inputs(&inputs);
        assert_eq!(probes.len(), NUM_PROBES);
        assert_eq!(probes[0], vec![Value::Int(0), Value::List(vec![0, 0, 0])]);
        assert_eq!(probes[1], vec![Value::Int(99), Value::List(vec![9, 9, 9])]);
        for p in &probes {
            assert!(matches!(p[0], Value::Int(x) if (0..100).contains(&x)));
            assert!(
                matches!(&p[1], Value::List(l) if l.len() == 3 && l.iter().all(|x| (0..10).contains(x)))
            );
        }
        let renamed = program("add(x, head(y)); x:int[2]; y:list[3,1]")
            .inputs
            .clone();
        assert_eq!(probe_inputs(&renamed), probes);
        // A longer list extends the shorter one's draws.
        let longer = program("head(l); l:list[5,1]").inputs.clone();
        let shorter = program("head(l); l:list[3,1]").inputs.clone();
        for (a, b) in probe_inputs(&longer).iter().zip(probe_inputs(&shorter)) {
            let (Value::List(a), Value::List(b)) = (&a[0], &b[0]) else {
                panic!()
            };
            assert_eq!(&a[..3], &b[..]);
        }
    }
}
