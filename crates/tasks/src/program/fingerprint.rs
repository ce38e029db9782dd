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
use super::tree::{finish, kind_word, mix_into, Program};
use super::types::{Input, InputKind};
use super::value::Value;
use crate::rng::TaskRng;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Validity {
    /// Longest answer allowed, in characters of its text (`[1, 2]` is 6): set it from the
    /// completion length.
    pub max_answer_chars: usize,
    /// Bounds on each run.
    pub limits: Limits,
}

impl Default for Validity {
    fn default() -> Self {
        Self {
            max_answer_chars: 40,
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
    let mut rng = TaskRng::new(finish(
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
    finish(h)
}

/// Checks programs against the rules, reusing its machine and a cache of probe sets (one per
/// input signature) across calls: the evolver's hot path.
#[derive(Debug, Clone)]
pub(crate) struct Checker {
    machine: Machine,
    probes: HashMap<Vec<InputKind>, Arc<Vec<Vec<Value>>>>,
    loaded: Vec<V>,
    answers: Vec<u64>,
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
        Fingerprint(finish(h))
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
}
