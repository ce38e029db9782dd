//! The evolver: grows an [`Archive`] of distinct valid families from the primitives alone, by
//! sampling the typed grammar and editing archive members (ACCEL-style edit-and-replay over a
//! MAP-Elites archive).
//!
//! One [`Evolver::step`] makes a batch of [`EvolveConfig::batch`] proposals from the archive as it
//! stands, evaluates them (on `threads` threads: results do not depend on the thread count), then
//! adds the new families in proposal order. A proposal is, with probability `p_sample`, a fresh
//! program; otherwise an edit (swap, wrap, replace, crossover, knob, equally likely) of a parent
//! chosen thus: a filled cell uniformly (or, half the time, a family uniformly), then the best of
//! `tournament` members of it by the caller's [`Fitness`]. Proposals whose structure (tree and
//! input kinds) was proposed before are not evaluated again. Everything is a function of the seed.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::archive::{Archive, Cell, Edit, FamilyRecord, Lineage};
use super::fingerprint::{Checker, Fingerprint, Validity};
use super::grammar::{self, Grammar, GrammarConfig};
use super::tree::Program;
use crate::rng::TaskRng;

/// Settings of the evolver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvolveConfig {
    /// What the grammar generates (depth, inputs, knob ranges, literals).
    pub grammar: GrammarConfig,
    /// The rules a family must meet.
    pub validity: Validity,
    /// Proposals per step (evaluated together, added in order).
    pub batch: usize,
    /// Probability that a proposal is a fresh sample rather than an edit.
    pub p_sample: f64,
    /// Members drawn per parent choice; the best by fitness is the parent.
    pub tournament: usize,
}

impl Default for EvolveConfig {
    fn default() -> Self {
        Self {
            grammar: GrammarConfig::default(),
            validity: Validity::default(),
            batch: 256,
            p_sample: 0.2,
            tournament: 2,
        }
    }
}

/// A score for archive members: parents with higher scores are edited more often. The
/// curriculum passes one that reflects training (e.g. learnability); [`Uniform`] is neutral.
pub trait Fitness {
    /// The family's score (higher is preferred).
    fn score(&self, family: &FamilyRecord) -> f64;
}

impl<F: Fn(&FamilyRecord) -> f64> Fitness for F {
    fn score(&self, family: &FamilyRecord) -> f64 {
        self(family)
    }
}

/// Where parents come from: the whole archive under a [`Fitness`] (tournament), or a weighted
/// list of members (edit-and-replay near the families a curriculum finds learnable).
enum Parents<'a> {
    Tournament(&'a dyn Fitness),
    Near(&'a [(usize, f64)]),
}

/// Every family scores the same: parents are chosen uniformly.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uniform;

impl Fitness for Uniform {
    fn score(&self, _: &FamilyRecord) -> f64 {
        0.0
    }
}

/// Counts so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvolveStats {
    /// Proposals made.
    pub proposals: u64,
    /// Proposals whose edit could not be applied (nothing to swap, a knob at its bound, ...).
    pub failed: u64,
    /// Proposals skipped as redundant spellings (`add(x, 0)`, `if(c, x, x)`, ...; see the docs).
    pub redundant: u64,
    /// Proposals identical in structure to an earlier one (not evaluated again).
    pub duplicates: u64,
    /// Proposals that meet the validity rules (repeats included).
    pub valid: u64,
    /// Distinct families (the archive's size).
    pub distinct: u64,
    /// New families found by each edit.
    pub found_by: BTreeMap<Edit, u64>,
}

/// Identity hashing for keys that are already 64-bit hashes.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

type Seen = HashMap<u64, bool, BuildHasherDefault<IdHasher>>;

/// One proposal waiting for evaluation.
struct Proposal {
    program: Program,
    lineage: Lineage,
}

/// The evolver's whole state; serialisable so that a curriculum can checkpoint it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evolver {
    config: EvolveConfig,
    rng: TaskRng,
    archive: Archive,
    /// Structural hash of every proposal evaluated → whether it was valid.
    #[serde(with = "seen_sorted")]
    seen: Seen,
    stats: EvolveStats,
    /// Threads used to evaluate a batch (not part of the state: results do not depend on it).
    #[serde(skip, default = "one")]
    threads: usize,
    #[serde(skip)]
    checkers: Vec<Checker>,
}

fn one() -> usize {
    1
}

impl Clone for Evolver {
    /// The same state (the per-thread checkers, scratch space, are made afresh).
    fn clone(&self) -> Self {
        Evolver {
            config: self.config.clone(),
            rng: self.rng.clone(),
            archive: self.archive.clone(),
            seen: self.seen.clone(),
            stats: self.stats.clone(),
            threads: self.threads,
            checkers: Vec::new(),
        }
    }
}

mod seen_sorted {
    use super::Seen;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(seen: &Seen, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<(u64, bool)> = seen.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_unstable();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Seen, D::Error> {
        let v = Vec::<(u64, bool)>::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

impl Evolver {
    /// An evolver with an empty archive, all randomness from `seed`. The grammar settings are
    /// clamped to the language's limits ([`GrammarConfig::clamped`]).
    pub fn new(mut config: EvolveConfig, seed: u64) -> Evolver {
        config.grammar = config.grammar.clamped();
        Evolver {
            config,
            rng: TaskRng::new(seed ^ 0x6576_6f6c_7665_0000),
            archive: Archive::new(),
            seen: Seen::default(),
            stats: EvolveStats::default(),
            threads: 1,
            checkers: Vec::new(),
        }
    }

    /// Evaluates batches on `threads` threads (at least 1); results are the same for any count.
    pub fn with_threads(mut self, threads: usize) -> Evolver {
        self.threads = threads.max(1);
        self
    }

    /// The families found so far.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Counts so far.
    pub fn stats(&self) -> &EvolveStats {
        &self.stats
    }

    /// The settings.
    pub fn config(&self) -> &EvolveConfig {
        &self.config
    }

    /// Makes proposals until `proposals` have been made in all, parents chosen uniformly.
    pub fn run(&mut self, proposals: u64) {
        while self.stats.proposals < proposals {
            let n = (proposals - self.stats.proposals).min(self.config.batch.max(1) as u64);
            self.step_n(n as usize, &Uniform);
        }
    }

    /// One batch of [`EvolveConfig::batch`] proposals, parents preferred by `fitness`; returns
    /// the number of new families.
    pub fn step(&mut self, fitness: &dyn Fitness) -> usize {
        self.step_n(self.config.batch.max(1), fitness)
    }

    /// One batch of `n` proposals; returns the number of new families.
    pub fn step_n(&mut self, n: usize, fitness: &dyn Fitness) -> usize {
        self.batch(n, Parents::Tournament(fitness))
    }

    /// One batch of `n` proposals whose edits start from the archive members `parents` (record
    /// indices with weights > 0; a parent is drawn in proportion to its weight; fresh samples keep
    /// their share [`EvolveConfig::p_sample`]). Returns the range of the new families' indices in
    /// [`Archive::records`]. With no usable parent every proposal is a fresh sample.
    pub fn step_near(&mut self, n: usize, parents: &[(usize, f64)]) -> std::ops::Range<usize> {
        let before = self.archive.len();
        let usable: Vec<(usize, f64)> = parents
            .iter()
            .copied()
            .filter(|&(i, w)| i < before && w > 0.0 && w.is_finite())
            .collect();
        self.batch(n, Parents::Near(&usable));
        before..self.archive.len()
    }

    /// Adds `program` as given (lineage [`Edit::Given`]) if it meets the validity rules and its
    /// fingerprint is new; returns its fingerprint, or why it is not a family. A family already
    /// there under another spelling gives that family's fingerprint.
    pub fn give(&mut self, program: Program) -> Result<Fingerprint, super::Invalid> {
        let fingerprint = program.validate(&self.config.validity)?;
        self.seen.insert(program.structural_hash(), true);
        let record = FamilyRecord {
            cell: Cell::of(&program),
            program,
            fingerprint,
            lineage: Lineage {
                parent: None,
                other: None,
                edit: Edit::Given,
                proposal: self.stats.proposals,
            },
        };
        if self.archive.insert(record) {
            self.stats.distinct = self.archive.len() as u64;
        }
        Ok(fingerprint)
    }

    fn batch(&mut self, n: usize, parents: Parents<'_>) -> usize {
        // A restored state's config may have been edited: keep it within the language's limits.
        self.config.grammar = self.config.grammar.clamped();
        let mut batch: Vec<Proposal> = Vec::with_capacity(n);
        let mut repeats: Vec<u64> = Vec::new();
        let mut pending: HashMap<u64, (), BuildHasherDefault<IdHasher>> = HashMap::default();
        for _ in 0..n {
            let index = self.stats.proposals;
            self.stats.proposals += 1;
            let Some(proposal) = self.propose(index, &parents) else {
                self.stats.failed += 1;
                continue;
            };
            if grammar::redundant(proposal.program.expr()) {
                self.stats.redundant += 1;
                continue;
            }
            let h = proposal.program.structural_hash();
            if self.seen.contains_key(&h) || pending.contains_key(&h) {
                self.stats.duplicates += 1;
                repeats.push(h);
                continue;
            }
            pending.insert(h, ());
            batch.push(proposal);
        }
        let results = self.evaluate(&batch);
        let mut found = 0;
        for (proposal, result) in batch.into_iter().zip(results) {
            let h = proposal.program.structural_hash();
            self.seen.insert(h, result.is_some());
            let Some(fingerprint) = result else { continue };
            self.stats.valid += 1;
            let cell = Cell::of(&proposal.program);
            let edit = proposal.lineage.edit;
            let record = FamilyRecord {
                program: proposal.program,
                fingerprint,
                cell,
                lineage: proposal.lineage,
            };
            if self.archive.insert(record) {
                found += 1;
                *self.stats.found_by.entry(edit).or_default() += 1;
            }
        }
        self.stats.valid += repeats
            .iter()
            .filter(|h| self.seen.get(h).copied().unwrap_or(false))
            .count() as u64;
        self.stats.distinct = self.archive.len() as u64;
        found
    }

    /// Validates a batch, split over the threads; one result per proposal, in order.
    fn evaluate(&mut self, batch: &[Proposal]) -> Vec<Option<Fingerprint>> {
        let limits = self.config.validity.limits;
        let threads = self.threads.min(batch.len()).max(1);
        while self.checkers.len() < threads {
            self.checkers.push(Checker::new(&limits));
        }
        let rules = self.config.validity;
        if threads == 1 {
            let checker = &mut self.checkers[0];
            return batch
                .iter()
                .map(|p| checker.validate(&p.program, &rules).ok())
                .collect();
        }
        let chunk = batch.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .chunks(chunk)
                .zip(self.checkers.iter_mut())
                .map(|(part, checker)| {
                    s.spawn(move || {
                        part.iter()
                            .map(|p| checker.validate(&p.program, &rules).ok())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                // A validation never panics; were one to, its proposals count as invalid.
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    /// Chooses a parent: from the weighted list, or a filled cell uniformly (or a family
    /// uniformly), then a tournament.
    fn parent(&mut self, parents: &Parents<'_>) -> Option<&FamilyRecord> {
        let records = self.archive.records();
        if records.is_empty() {
            return None;
        }
        let fitness = match parents {
            Parents::Tournament(fitness) => *fitness,
            Parents::Near(list) => {
                let total: f64 = list.iter().map(|&(_, w)| w).sum();
                let mut x = self.rng.unit() * total;
                let &(i, _) = list
                    .iter()
                    .find(|&&(_, w)| {
                        x -= w;
                        x < 0.0
                    })
                    .or(list.last())?;
                return records.get(i);
            }
        };
        let filled = self.archive.filled();
        let by_cell = self.rng.below(2) == 0;
        let cell = filled[self.rng.below(filled.len() as u64) as usize] as usize;
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..self.config.tournament.max(1) {
            let i = if by_cell {
                let members = self.archive.cell_members(cell);
                members[self.rng.below(members.len() as u64) as usize] as usize
            } else {
                self.rng.below(records.len() as u64) as usize
            };
            let score = fitness.score(&records[i]);
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, i));
            }
        }
        best.map(|(_, i)| &records[i])
    }

    /// Makes one proposal (`None` when the chosen edit does not apply).
    fn propose(&mut self, index: u64, parents: &Parents<'_>) -> Option<Proposal> {
        let no_parent = match parents {
            Parents::Tournament(_) => self.archive.is_empty(),
            Parents::Near(list) => list.is_empty(),
        };
        let sample = no_parent || self.rng.chance(self.config.p_sample);
        if sample {
            let program = Grammar::program(&self.config.grammar, &mut self.rng)?;
            return Some(Proposal {
                program,
                lineage: Lineage {
                    parent: None,
                    other: None,
                    edit: Edit::Sample,
                    proposal: index,
                },
            });
        }
        let edit = Edit::ALL[1 + self.rng.below(Edit::ALL.len() as u64 - 1) as usize];
        let parent = self.parent(parents)?.clone();
        let other = if edit == Edit::Crossover {
            Some(self.parent(parents)?.clone())
        } else {
            None
        };
        let g = &self.config.grammar;
        let rng = &mut self.rng;
        let program = match (edit, &other) {
            (Edit::Swap, _) => grammar::swap(&parent.program, rng),
            (Edit::Wrap, _) => grammar::wrap(&parent.program, g, rng),
            (Edit::Replace, _) => grammar::replace(&parent.program, g, rng),
            (Edit::Crossover, Some(o)) => grammar::crossover(&parent.program, &o.program, g, rng),
            (Edit::Knob, _) => grammar::knob(&parent.program, g, rng),
            _ => None,
        }?;
        Some(Proposal {
            program,
            lineage: Lineage {
                parent: Some(parent.fingerprint),
                other: other.map(|o| o.fingerprint),
                edit,
                proposal: index,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::types::Type;
    use super::*;

    fn archive_lines(e: &Evolver) -> Vec<String> {
        e.archive()
            .records()
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    }

    #[test]
    fn same_seed_same_archive_and_other_seed_another() {
        let mut a = Evolver::new(EvolveConfig::default(), 3);
        let mut b = Evolver::new(EvolveConfig::default(), 3).with_threads(3);
        let mut c = Evolver::new(EvolveConfig::default(), 4);
        a.run(2000);
        b.run(2000);
        c.run(2000);
        assert_eq!(archive_lines(&a), archive_lines(&b));
        assert_eq!(a.stats(), b.stats());
        assert_ne!(archive_lines(&a), archive_lines(&c));
    }

    #[test]
    fn distinct_families_grow_and_are_valid_and_distinct() {
        let mut e = Evolver::new(EvolveConfig::default(), 0);
        let mut counts = Vec::new();
        for n in [500, 1000, 2000, 4000] {
            e.run(n);
            counts.push(e.stats().distinct);
        }
        assert!(counts.windows(2).all(|w| w[1] > w[0]), "{counts:?}");
        let s = e.stats();
        assert_eq!(s.proposals, 4000);
        assert_eq!(s.distinct as usize, e.archive().len());
        assert!(s.valid >= s.distinct);
        assert_eq!(s.found_by.values().sum::<u64>(), s.distinct);
        // Edits, not only samples, find families.
        assert!(s.found_by.get(&Edit::Wrap).copied().unwrap_or(0) > 0);
        let rules = e.config().validity;
        let mut seen = std::collections::HashSet::new();
        for r in e.archive().records() {
            let again = Program::parse(&r.program.to_string()).unwrap();
            assert_eq!(again.validate(&rules), Ok(r.fingerprint), "{}", r.program);
            assert!(seen.insert(r.fingerprint));
            assert_eq!(r.cell, Cell::of(&r.program));
            if let Some(parent) = r.lineage.parent {
                let p = e.archive().get(parent).unwrap();
                assert!(p.lineage.proposal < r.lineage.proposal);
            } else {
                assert_eq!(r.lineage.edit, Edit::Sample);
            }
        }
        assert!(e.archive().cells_filled() > 10);
    }

    #[test]
    fn a_checkpointed_evolver_continues_exactly() {
        let mut a = Evolver::new(EvolveConfig::default(), 9);
        a.run(700);
        let saved = serde_json::to_string(&a).unwrap();
        let mut b: Evolver = serde_json::from_str(&saved).unwrap();
        assert_eq!(serde_json::to_string(&b).unwrap(), saved);
        a.run(1500);
        b.run(1500);
        assert_eq!(archive_lines(&a), archive_lines(&b));
        assert_eq!(a.stats(), b.stats());
    }

    #[test]
    fn fitness_steers_the_choice_of_parents() {
        // Prefer list-valued families: their children are more often lists than without.
        let lists = |r: &FamilyRecord| f64::from(u8::from(r.program.output_type() == Type::List));
        let config = EvolveConfig {
            tournament: 8,
            ..EvolveConfig::default()
        };
        let mut steered = Evolver::new(config.clone(), 5);
        let mut plain = Evolver::new(config, 5);
        for _ in 0..8 {
            steered.step(&lists);
            plain.step(&Uniform);
        }
        let share = |e: &Evolver| {
            let edited: Vec<_> = e
                .archive()
                .records()
                .iter()
                .filter(|r| r.lineage.parent.is_some())
                .collect();
            let from_lists = edited
                .iter()
                .filter(|r| {
                    let p = e.archive().get(r.lineage.parent.unwrap()).unwrap();
                    p.program.output_type() == Type::List
                })
                .count();
            from_lists as f64 / edited.len() as f64
        };
        assert!(
            share(&steered) > share(&plain) + 0.2,
            "{} vs {}",
            share(&steered),
            share(&plain)
        );
    }
}
