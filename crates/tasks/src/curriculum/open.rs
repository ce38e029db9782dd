//! `evolve` (ours): open-ended training. The curriculum keeps a live archive of families, the
//! run's own (hand-written or program families, each ladder level a cell) and ones it invents
//! with the program [`Evolver`], and chooses cells across all of them at the policy's frontier.
//!
//! Each group, a cell is drawn ∝ exp(score / temperature) over the active cells, with
//! score = i + `progress` · |fast − slow EMA| − `diversity` · (its share of the last `window`
//! groups), i the EMA of the cell's *informative rate* (the share of its groups that are neither
//! all right nor all wrong: exactly the groups GRPO learns from). Not p(1 − p) of the pass rate:
//! a small model is often all-or-nothing per task instance, so a cell at pass rate 0.5 can give
//! almost only uniform groups (seen in a first run: cells at 0.4-0.5 with 5 % informative
//! groups). A cell not yet judged (fewer than `min_groups` groups) scores at least `novelty`, so
//! that it is. A fraction `replay` of the draws replays a mastered cell, which comes back into
//! play when its skill falls 0.2 below `mastered` (invented families interfere with learned
//! ones: a first run lost `rev(l)` from 1.00 to 0.02 with replay at 0.05). A cell is retired as
//! *mastered* (chance-corrected fast EMA ≥ `mastered` after `min_groups` groups), *hopeless*
//! (fast EMA ≤ `hopeless` after `hopeless_groups`) or *stalled* (informative rate below
//! `stalled` after `stalled_groups`; mastered instead if its skill is within 0.2 of
//! `mastered`: uniform groups teach nothing either way); retired cells that are not mastered are
//! tried again after `retry_after` groups, then twice as long each time. When a family's top cell is mastered, `grow` adds a cell one
//! step harder (the ladder's last step once more; every size knob + 1 for a single cell), if
//! its answers fit `max_answer_chars`: a mastered skill's next size. A ladder's next level
//! opens when the level below passes `unlock`. When fewer than `min_live` active cells can still
//! teach (not yet judged, or neither retired nor stalling), the evolver proposes `proposals`
//! edits of the program families in play (edit-and-replay: parents drawn ∝ their informative
//! rate, plus fresh samples) and the first `add` new distinct families join the run, one cell
//! each. The diversity term keeps the choice from collapsing onto a few cells (SOAR's warning
//! about choosing by learnability alone). Everything, the evolver included, is serde state: a
//! restored run continues exactly.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::learnability::softmax_pick;
use super::{CellStats, FamilyCells, Strategy, StrategyConfig};
use crate::config::{bad, unit};
use crate::error::Result;
use crate::family::Registry;
use crate::program::{
    Edit, EvolveConfig, Evolver, Fingerprint, GrammarConfig, Mode, Program, ProgramFamily, Validity,
};
use crate::rng::TaskRng;
use crate::task::NumberFormat;

/// The informative rate a cell is assumed to have before its first group.
const PRIOR_INFORMATIVE: f64 = 0.5;

/// The name `[tasks.curriculum] type` takes for open-ended training.
pub const EVOLVE: &str = "evolve";

/// `[tasks.curriculum] type = "evolve"` (ours): choose cells across every family by learnability,
/// learning progress, novelty and diversity, retire mastered and hopeless ones, and invent new
/// program families near the learnable ones when the signal thins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvolveCurriculumConfig {
    /// Least score of a cell seen fewer than `min_groups` times (so that it gets judged).
    pub novelty: f64,
    /// Weight of |fast − slow| EMA (learning progress) in the score.
    pub progress: f64,
    /// Penalty per unit share of the last `window` groups that a cell took.
    pub diversity: f64,
    /// Softmax temperature of the choice.
    pub temperature: f64,
    /// Fraction of draws that replay a mastered cell.
    pub replay: f64,
    /// Fraction of the other draws kept for the run's own families (those in `[[tasks.families]]`)
    /// while any of their cells is active: invented families soon outnumber them a hundred to
    /// one, and without a share a run with `addition` among its families trained it in 2 % of
    /// its groups.
    pub given: f64,
    /// Chance-corrected fast pass-rate EMA at which a cell is mastered (retired, replayed).
    pub mastered: f64,
    /// Groups before a cell can be judged mastered.
    pub min_groups: u64,
    /// Fast pass-rate EMA at or below which a cell is hopeless (retired).
    pub hopeless: f64,
    /// Groups before a cell can be judged hopeless. Until it has `max(min_groups,
    /// hopeless_groups)` groups a cell is not yet judged: it keeps the `novelty` floor and counts
    /// as able to teach (which holds back inventing), so a large value also flattens the choice.
    pub hopeless_groups: u64,
    /// EMA rate of each cell's informative rate (the share of its groups with 0 < correct < G).
    pub informative_rate: f64,
    /// Informative rate below which a cell is retired: all-or-nothing groups, so GRPO gets
    /// nothing there even at a middling pass rate. Retired as mastered when its skill is within
    /// 0.2 of `mastered`, as stalled otherwise.
    pub stalled: f64,
    /// Groups before a cell can be judged stalled.
    pub stalled_groups: u64,
    /// Groups after which a hopeless or stalled cell is tried again (doubling each time).
    pub retry_after: u64,
    /// Fast pass-rate EMA of a ladder level (after `min_groups`) that opens the next level.
    pub unlock: f64,
    /// Groups in the window that measures the informative fraction and diversity.
    pub window: usize,
    /// Invent families when fewer active cells than this are learnable (being judged, or
    /// neither hopeless nor mastered).
    pub min_live: usize,
    /// Never invent while this many cells are active.
    pub max_live: usize,
    /// New families added per refresh.
    pub add: usize,
    /// Evolver proposals per refresh.
    pub proposals: usize,
    /// Share of proposals that are fresh samples from the grammar rather than edits.
    pub p_sample: f64,
    /// Number format of invented families.
    pub format: NumberFormat,
    /// Deepest invented program (a bare input is depth 1).
    pub max_depth: usize,
    /// Most inputs of an invented program.
    pub max_inputs: usize,
    /// Digits of an invented program's int inputs, `[min, max]`.
    pub int_digits: [u32; 2],
    /// Length of an invented program's list inputs, `[min, max]`.
    pub list_len: [u32; 2],
    /// Digits of list elements, `[min, max]`.
    pub list_digits: [u32; 2],
    /// Longest answer of an invented family, in characters (keep it under the completion length).
    pub max_answer_chars: usize,
    /// Largest share of its probe inputs on which an invented family may give one and the same
    /// answer (1.0: any family that is not constant). A family above it is mastered by guessing
    /// that answer, and teaches nothing.
    pub max_skew: f64,
    /// When a family's top cell is mastered, add a cell one step harder (the ladder's last step
    /// once more; every size knob + 1 for a single cell) while its answers fit
    /// `max_answer_chars` and its prompts `max_prompt_chars`: a learned skill's next size. Off
    /// by default: in a first trial most grown cells were mastered at once, and judging them
    /// cost more signal than they gave (docs/open-ended.md).
    pub grow: bool,
    /// Longest prompt of a grown cell, in characters (keep it under the model's context less
    /// `sampling.max_new_tokens`).
    pub max_prompt_chars: usize,
    /// A program file whose expressions (at any size) are never invented: a held-out grid that
    /// evaluation may then call unseen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<std::path::PathBuf>,
    /// Draw each task's *operation* first, uniformly among those with active cells, then a cell
    /// of it by score. A program family's operation is its outermost primitive (the one that
    /// makes the answer: `add` for `add(head(l), 1)`), a hand-written family's its name. Without
    /// it, cells compete by score alone, and operations whose groups are mixed by chance
    /// (true/false answers) take a large share of the draws.
    pub stratify: bool,
}

impl Default for EvolveCurriculumConfig {
    fn default() -> Self {
        Self {
            novelty: 0.5,
            progress: 1.0,
            diversity: 1.0,
            temperature: 0.1,
            replay: 0.15,
            given: 0.0,
            mastered: 0.9,
            min_groups: 4,
            hopeless: 0.02,
            hopeless_groups: 2,
            informative_rate: 0.25,
            stalled: 0.1,
            stalled_groups: 8,
            retry_after: 512,
            unlock: 0.5,
            window: 128,
            min_live: 24,
            max_live: 96,
            add: 8,
            proposals: 128,
            p_sample: 0.1,
            format: NumberFormat::Natural,
            max_depth: 3,
            max_inputs: 2,
            int_digits: [1, 2],
            list_len: [2, 4],
            list_digits: [1, 1],
            max_answer_chars: 10,
            max_skew: 1.0,
            grow: false,
            max_prompt_chars: 96,
            holdout: None,
            stratify: false,
        }
    }
}

impl EvolveCurriculumConfig {
    /// The evolver's settings for invented families.
    fn evolver(&self) -> EvolveConfig {
        EvolveConfig {
            grammar: GrammarConfig {
                max_depth: self.max_depth,
                max_inputs: self.max_inputs,
                int_digits: self.int_digits,
                list_len: self.list_len,
                list_digits: self.list_digits,
                ..GrammarConfig::default()
            },
            validity: Validity {
                max_answer_chars: self.max_answer_chars,
                max_skew: self.max_skew,
                ..Validity::default()
            },
            batch: self.proposals.max(1),
            p_sample: self.p_sample,
            tournament: 1,
        }
    }
}

impl StrategyConfig for EvolveCurriculumConfig {
    type Strategy = EvolveFamily;

    fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("curriculum.replay", self.replay),
            ("curriculum.given", self.given),
            ("curriculum.mastered", self.mastered),
            ("curriculum.hopeless", self.hopeless),
            ("curriculum.unlock", self.unlock),
            ("curriculum.informative_rate", self.informative_rate),
            ("curriculum.stalled", self.stalled),
            ("curriculum.p_sample", self.p_sample),
            ("curriculum.max_skew", self.max_skew),
        ] {
            unit(key, v)?;
        }
        for (key, v) in [
            ("curriculum.novelty", self.novelty),
            ("curriculum.progress", self.progress),
            ("curriculum.diversity", self.diversity),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(bad(key, v, "must be a finite number >= 0"));
            }
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(bad(
                "curriculum.temperature",
                self.temperature,
                "must be positive",
            ));
        }
        if self.window == 0 {
            return Err(bad("curriculum.window", 0, "must be at least 1"));
        }
        if self.max_live < self.min_live {
            return Err(bad(
                "curriculum.max_live",
                self.max_live,
                format!("must be at least min_live = {}", self.min_live),
            ));
        }
        for (key, [lo, hi]) in [
            ("curriculum.int_digits", self.int_digits),
            ("curriculum.list_len", self.list_len),
            ("curriculum.list_digits", self.list_digits),
        ] {
            if lo == 0 || lo > hi {
                return Err(bad(
                    key,
                    format!("[{lo}, {hi}]"),
                    "must be [min, max], 1 <= min <= max",
                ));
            }
        }
        if self.max_depth < 2 {
            return Err(bad(
                "curriculum.max_depth",
                self.max_depth,
                "must be at least 2",
            ));
        }
        Ok(())
    }

    fn build(&self, _family: &FamilyCells) -> EvolveFamily {
        EvolveFamily {
            mastered: self.mastered,
        }
    }
}

/// The per-family part of `evolve`: the curriculum chooses cells across families itself, so this
/// only answers for metrics (the lowest level not mastered) and never declares a family
/// exhausted (the evolver can always invent more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolveFamily {
    mastered: f64,
}

impl Strategy for EvolveFamily {
    fn choose(&mut self, family: &FamilyCells, cells: &[CellStats], _rng: &mut TaskRng) -> usize {
        family.levels[family.frontier(cells, self.mastered, 1)]
    }

    fn mastery(&self) -> f64 {
        self.mastered
    }

    fn exhausted(&self, _family: &FamilyCells, _cells: &[CellStats]) -> bool {
        false
    }
}

/// Where a cell stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Drawn by score.
    Active,
    /// A ladder level waiting for the level below to pass `unlock`.
    Locked,
    /// Retired as mastered; replayed.
    Mastered,
    /// Retired: no success after `hopeless_groups`; tried again later.
    Hopeless,
    /// Retired: groups all right or all wrong (no GRPO signal); tried again later.
    Stalled,
}

/// Where a family in play came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "origin", rename_all = "snake_case")]
pub enum Origin {
    /// In the run's config.
    Given,
    /// Invented during the run.
    Invented {
        /// Its program, with declarations.
        program: String,
        /// Its fingerprint.
        fingerprint: Fingerprint,
        /// The program it was edited from (none for a fresh sample).
        parent: Option<String>,
        /// The edit that made it.
        edit: Edit,
        /// Groups the curriculum had seen when it joined.
        created_at: u64,
    },
}

/// Something that happened to a family or cell, for the run's `families.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyEvent {
    /// `created`, `mastered`, `hopeless`, `stalled`, `retried`, `forgotten`, `unlocked` or
    /// `grown`.
    pub event: String,
    /// The family.
    pub family: String,
    /// The cell's label (`L3`).
    pub cell: String,
    /// Groups the curriculum had seen.
    pub at_group: u64,
    /// For `created`: where it came from.
    #[serde(flatten)]
    pub origin: Option<Origin>,
}

/// Counts and the diversity window of an `evolve` curriculum, for each step's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenMetrics {
    /// Families in play (given and invented, retired ones included).
    pub families: usize,
    /// Active cells (what the curriculum draws from).
    pub active: usize,
    /// Families invented so far.
    pub created: u64,
    /// Cells retired as mastered so far.
    pub mastered: u64,
    /// Cells retired as hopeless or stalled so far.
    pub retired: u64,
    /// Times the evolver was asked for new families.
    pub refreshes: u64,
    /// Distinct families found by the evolver (its archive).
    pub evolver_distinct: u64,
    /// Evolver proposals so far.
    pub evolver_proposals: u64,
    /// Distinct families among the last `window` groups.
    pub window_families: usize,
    /// Distinct program fingerprints among the last `window` groups.
    pub window_fingerprints: usize,
    /// Distinct archive cells (output type × depth × size) of program families in the window.
    pub window_cells: usize,
    /// Informative fraction of the last `window` groups.
    pub window_informative: f64,
    /// Distinct families trained while in the 0.1-0.9 pass band (EMA), so far.
    pub in_band: usize,
    /// Cells added one step harder than a mastered top cell, so far.
    #[serde(default)]
    pub grown: u64,
}

/// The open-ended state an `evolve` curriculum holds beside its cells.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Open {
    config: EvolveCurriculumConfig,
    evolver: Evolver,
    /// Per curriculum cell.
    status: Vec<CellStatus>,
    /// Per curriculum family.
    origin: Vec<Origin>,
    /// Fingerprint of each family that is a program (given or invented), per family.
    fingerprints: Vec<Option<Fingerprint>>,
    /// Per family: its operation (see [`EvolveCurriculumConfig::stratify`]).
    #[serde(default)]
    operations: Vec<String>,
    /// The last `window` groups: (cell, informative).
    window: VecDeque<(usize, bool)>,
    /// Groups observed.
    groups: u64,
    created: u64,
    mastered: u64,
    retired: u64,
    refreshes: u64,
    #[serde(default)]
    grown: u64,
    /// Expression hashes (sizes ignored) never to invent.
    #[serde(default)]
    holdout: std::collections::BTreeSet<u64>,
    /// Fingerprints never to invent (the held-out programs' behaviour).
    #[serde(default)]
    holdout_fingerprints: std::collections::BTreeSet<Fingerprint>,
    /// Families seen in the 0.1-0.9 pass band while trained.
    in_band: std::collections::BTreeSet<usize>,
    /// Per cell: EMA of "the group was informative" (0 < correct < G), from a prior of 0.5.
    informative: Vec<f64>,
    /// Retired (hopeless or stalled) cells: the group count at which each is tried again, and
    /// the wait after that (doubling).
    retry: BTreeMap<usize, (u64, u64)>,
    /// Events since the trainer last took them (empty at every checkpoint, which follows a take).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<FamilyEvent>,
}

impl PartialEq for Open {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

/// What the curriculum should add after a group: families the evolver invented, and the family
/// whose top cell was just mastered (to grow one step harder).
#[derive(Default)]
pub(crate) struct Additions {
    pub(crate) invented: Vec<Invented>,
    pub(crate) grow: Option<usize>,
}

/// A family the evolver invented, ready to join the curriculum.
pub(crate) struct Invented {
    pub(crate) family: ProgramFamily,
    pub(crate) origin: Origin,
}

/// The name of an invented family: `evo_` and its fingerprint.
pub fn invented_name(fingerprint: Fingerprint) -> String {
    format!("evo_{fingerprint}")
}

impl Open {
    /// The open state over the run's `families` (their programs given to the evolver as parents).
    pub(crate) fn new(
        config: EvolveCurriculumConfig,
        programs: &[Option<String>],
        families: &[FamilyCells],
        cells: &[CellStats],
        seed: u64,
    ) -> Result<Self> {
        let mut holdout = std::collections::BTreeSet::new();
        let mut holdout_fingerprints = std::collections::BTreeSet::new();
        if let Some(path) = &config.holdout {
            for spec in crate::program::read_specs(path)? {
                let program = Program::parse(&spec.program).map_err(|e| {
                    bad(
                        "curriculum.holdout",
                        path.display(),
                        format!("{}: `{}`: {e}", spec.name, spec.program),
                    )
                })?;
                holdout.insert(expression_hash(&program));
                // The same behaviour under another spelling (`abs(sub(a, b))` for
                // `sub(max(a, b), min(a, b))`) is the same family.
                if let Ok(fingerprint) = program.fingerprint() {
                    holdout_fingerprints.insert(fingerprint);
                }
            }
        }
        let mut evolver = Evolver::new(config.evolver(), seed);
        let fingerprints = programs
            .iter()
            .map(|p| {
                let program = Program::parse(p.as_deref()?).ok()?;
                evolver.give(program).ok()
            })
            .collect();
        let operations = families
            .iter()
            .zip(programs)
            .map(|(f, p)| operation(p.as_deref(), &f.name))
            .collect();
        let mut status = vec![CellStatus::Locked; cells.len()];
        for f in families {
            if let Some(&c) = f.levels.get(f.start.min(f.levels.len().saturating_sub(1))) {
                status[c] = CellStatus::Active;
            }
            for &(_, c) in &f.extras {
                status[c] = CellStatus::Active;
            }
        }
        Ok(Self {
            config,
            evolver,
            status,
            origin: vec![Origin::Given; families.len()],
            fingerprints,
            operations,
            window: VecDeque::new(),
            groups: 0,
            created: 0,
            mastered: 0,
            retired: 0,
            refreshes: 0,
            grown: 0,
            holdout,
            holdout_fingerprints,
            in_band: Default::default(),
            informative: vec![PRIOR_INFORMATIVE; cells.len()],
            retry: BTreeMap::new(),
            events: Vec::new(),
        })
    }

    /// The invented families' programs, in the order they joined (a restore re-registers them).
    pub(crate) fn invented(&self) -> impl Iterator<Item = (usize, &str)> {
        self.origin.iter().enumerate().filter_map(|(i, o)| match o {
            Origin::Invented { program, .. } => Some((i, program.as_str())),
            Origin::Given => None,
        })
    }

    /// The number format of invented families.
    pub(crate) fn format(&self) -> NumberFormat {
        self.config.format
    }

    /// The family and cell of the next task.
    pub(crate) fn choose(
        &self,
        families: &[FamilyCells],
        cells: &[CellStats],
        rng: &mut TaskRng,
    ) -> (usize, usize) {
        let family_of = |cell: usize| family_of(families, cell).unwrap_or(0);
        let of = |s: CellStatus| -> Vec<usize> {
            (0..cells.len()).filter(|&c| self.status[c] == s).collect()
        };
        let mastered = of(CellStatus::Mastered);
        if !mastered.is_empty() && rng.chance(self.config.replay) {
            let c = mastered[rng.below(mastered.len() as u64) as usize];
            return (family_of(c), c);
        }
        let mut active = of(CellStatus::Active);
        // The run's own families' share (no draw from the stream when it is 0, so that runs
        // without one are as before).
        if self.config.given > 0.0 && rng.chance(self.config.given) {
            let own: std::collections::BTreeSet<usize> = families
                .iter()
                .zip(&self.origin)
                .filter(|(_, o)| matches!(o, Origin::Given))
                .flat_map(|(f, _)| f.all().map(|(_, c)| c))
                .collect();
            let given: Vec<usize> = active.iter().copied().filter(|c| own.contains(c)).collect();
            if !given.is_empty() {
                active = given;
            }
        }
        if active.is_empty() {
            // Nothing active (a refresh found nothing yet): replay, or the first cell.
            let c = mastered.first().copied().unwrap_or(0);
            return (family_of(c), c);
        }
        if self.config.stratify {
            // Each cell's operation in one pass over the families, not a search per cell.
            let mut op = vec![""; cells.len()];
            for (f, fam) in families.iter().enumerate() {
                let name = self.operations.get(f).map_or("", String::as_str);
                for (_, c) in fam.all() {
                    if let Some(slot) = op.get_mut(c) {
                        *slot = name;
                    }
                }
            }
            let ops: std::collections::BTreeSet<&str> = active.iter().map(|&c| op[c]).collect();
            if let Some(&chosen) = ops.iter().nth(rng.below(ops.len() as u64) as usize) {
                active.retain(|&c| op[c] == chosen);
            }
        }
        let mut share: BTreeMap<usize, f64> = BTreeMap::new();
        let n = self.window.len().max(1) as f64;
        for &(c, _) in &self.window {
            *share.entry(c).or_default() += 1.0 / n;
        }
        let scores: Vec<f64> = active
            .iter()
            .map(|&c| {
                let s = &cells[c];
                let inf = self
                    .informative
                    .get(c)
                    .copied()
                    .unwrap_or(PRIOR_INFORMATIVE);
                let learn = if s.groups == 0 {
                    0.0
                } else {
                    inf + self.config.progress * s.learning_progress().abs()
                };
                // A cell not yet judged keeps being tried until it is.
                let base = if s.groups < self.judged_after() {
                    learn.max(self.config.novelty)
                } else {
                    learn
                };
                base - self.config.diversity * share.get(&c).copied().unwrap_or(0.0)
            })
            .collect();
        let c = active[softmax_pick(&scores, self.config.temperature, rng)];
        (family_of(c), c)
    }

    /// Takes in that `cells[cell]` (of family `f`) just observed one group; retires, unlocks and
    /// decides whether to invent or grow. Returns what to add.
    pub(crate) fn observe(
        &mut self,
        f: usize,
        cell: usize,
        families: &[FamilyCells],
        cells: &[CellStats],
    ) -> Additions {
        let mut grow = None;
        let s = &cells[cell];
        self.groups += 1;
        let informative = s.last > 0.0 && s.last < 1.0;
        if let Some(x) = self.informative.get_mut(cell) {
            *x += self.config.informative_rate * (f64::from(u8::from(informative)) - *x);
        }
        self.window.push_back((cell, informative));
        while self.window.len() > self.config.window {
            self.window.pop_front();
        }
        if (0.1..=0.9).contains(&s.fast) && s.groups > 1 {
            self.in_band.insert(f);
        }
        if self.status.get(cell) == Some(&CellStatus::Active) {
            let c = &self.config;
            let stalled = s.groups >= c.stalled_groups
                && self.informative.get(cell).is_some_and(|&x| x < c.stalled);
            let judged = if s.groups >= c.min_groups && skill(s) >= c.mastered {
                Some(CellStatus::Mastered)
            } else if s.groups >= c.hopeless_groups && s.fast <= c.hopeless {
                Some(CellStatus::Hopeless)
            } else if stalled {
                // Uniform groups teach nothing. A cell that passes nearly always is as good as
                // mastered (replay keeps it, and brings it back if it is forgotten); left
                // active, such cells piled up in a first run until a third of the active cells'
                // groups were all right.
                if skill(s) >= c.mastered - FORGOTTEN_MARGIN {
                    Some(CellStatus::Mastered)
                } else {
                    Some(CellStatus::Stalled)
                }
            } else {
                None
            };
            if judged == Some(CellStatus::Mastered) {
                self.mastered += 1;
            }
            if let Some(status) = judged {
                if status != CellStatus::Mastered {
                    self.retired += 1;
                    let wait = self
                        .retry
                        .get(&cell)
                        .map_or(self.config.retry_after, |&(_, w)| w * 2);
                    self.retry.insert(cell, (self.groups + wait, wait));
                }
                self.status[cell] = status;
                self.event(status_name(status), &families[f].name, &s.label, None);
                if status == CellStatus::Mastered
                    && self.config.grow
                    && families[f].levels.last() == Some(&cell)
                {
                    grow = Some(f);
                }
            }
        }
        // A replayed mastered cell that the policy has forgotten comes back into play.
        if self.status.get(cell) == Some(&CellStatus::Mastered)
            && skill(s) < self.config.mastered - FORGOTTEN_MARGIN
        {
            self.status[cell] = CellStatus::Active;
            self.event("forgotten", &families[f].name, &s.label, None);
        }
        // Retired cells whose wait is over are tried again (the policy may have caught up).
        let due: Vec<usize> = self
            .retry
            .iter()
            .filter(|&(&c, &(at, _))| at <= self.groups && self.status[c] != CellStatus::Active)
            .map(|(&c, _)| c)
            .collect();
        for c in due {
            self.status[c] = CellStatus::Active;
            self.informative[c] = PRIOR_INFORMATIVE;
            if let Some(r) = self.retry.get_mut(&c) {
                r.0 = u64::MAX;
            }
            let family = family_of(families, c).map_or(String::new(), |f| families[f].name.clone());
            let label = cells[c].label.clone();
            self.event("retried", &family, &label, None);
        }
        // The next ladder level opens once this one is within reach.
        if s.groups >= self.config.min_groups && s.fast >= self.config.unlock {
            let fam = &families[f];
            if let Some(p) = fam.levels.iter().position(|&c| c == cell) {
                if let Some(&next) = fam.levels.get(p + 1) {
                    if self.status[next] == CellStatus::Locked {
                        self.status[next] = CellStatus::Active;
                        let label = cells[next].label.clone();
                        self.event("unlocked", &fam.name, &label, None);
                    }
                }
            }
        }
        let invented = if self.wants_refresh(cells) {
            self.refresh(families)
        } else {
            Vec::new()
        };
        Additions { invented, grow }
    }

    /// The longest answer and prompt a grown cell may have.
    pub(crate) fn max_chars(&self) -> (usize, usize) {
        (self.config.max_answer_chars, self.config.max_prompt_chars)
    }

    /// Records that family `f` grew a cell one step harder than its top (active from now).
    pub(crate) fn grew(&mut self, name: &str, label: &str) {
        self.status.push(CellStatus::Active);
        self.informative.push(PRIOR_INFORMATIVE);
        self.grown += 1;
        self.event("grown", name, label, None);
    }

    fn active(&self) -> usize {
        self.status
            .iter()
            .filter(|&&s| s == CellStatus::Active)
            .count()
    }

    fn window_informative(&self) -> f64 {
        if self.window.is_empty() {
            return 0.0;
        }
        self.window.iter().filter(|&&(_, i)| i).count() as f64 / self.window.len() as f64
    }

    /// Groups after which a cell can be judged one way or the other.
    fn judged_after(&self) -> u64 {
        self.config.min_groups.max(self.config.hopeless_groups)
    }

    /// Active cells that can still teach: not yet judged, or neither hopeless nor mastered yet.
    fn learnable(&self, cells: &[CellStats]) -> usize {
        (0..cells.len().min(self.status.len()))
            .filter(|&c| self.status[c] == CellStatus::Active)
            .filter(|&c| {
                cells[c].groups < self.judged_after()
                    || (cells[c].fast > self.config.hopeless
                        && self.informative[c] >= self.config.stalled)
            })
            .count()
    }

    /// Invent when learnable cells run short. Not on a low informative fraction as such: freshly
    /// invented families are often too hard at first, so inventing on a low fraction feeds itself
    /// (seen in a first run: 20 refreshes in 4 minutes, the fraction falling from 0.31 to 0.19).
    fn wants_refresh(&self, cells: &[CellStats]) -> bool {
        self.active() < self.config.max_live && self.learnable(cells) < self.config.min_live
    }

    /// Asks the evolver for families near the learnable program families; returns up to `add`.
    fn refresh(&mut self, families: &[FamilyCells]) -> Vec<Invented> {
        self.refreshes += 1;
        let mut parents: Vec<(usize, f64)> = Vec::new();
        for (f, fp) in self.fingerprints.iter().enumerate() {
            let Some(index) = fp.and_then(|fp| self.evolver.archive().index_of(fp)) else {
                continue;
            };
            let weight = families[f]
                .all()
                .map(|(_, c)| match self.status[c] {
                    CellStatus::Active | CellStatus::Mastered => {
                        // Mastered or uninformative cells still seed edits, a little.
                        self.informative.get(c).copied().unwrap_or(0.0).max(0.02)
                    }
                    _ => 0.0,
                })
                .fold(0.0, f64::max);
            if weight > 0.0 {
                parents.push((index, weight));
            }
        }
        let found = self.evolver.step_near(self.config.proposals, &parents);
        let records = self.evolver.archive().records();
        let mut out = Vec::new();
        for r in &records[found] {
            if out.len() >= self.config.add {
                break;
            }
            if self.holdout.contains(&expression_hash(&r.program))
                || self.holdout_fingerprints.contains(&r.fingerprint)
            {
                continue;
            }
            let name = invented_name(r.fingerprint);
            let Ok(family) = ProgramFamily::new(name, r.program.clone(), Mode::Output) else {
                continue;
            };
            let parent = r
                .lineage
                .parent
                .and_then(|p| self.evolver.archive().get(p))
                .map(|p| p.program.to_string());
            out.push(Invented {
                family,
                origin: Origin::Invented {
                    program: r.program.to_string(),
                    fingerprint: r.fingerprint,
                    parent,
                    edit: r.lineage.edit,
                    created_at: self.groups,
                },
            });
        }
        out
    }

    /// Records that an invented family joined as family `f` with cells `new_cells`.
    pub(crate) fn joined(
        &mut self,
        f: usize,
        origin: Origin,
        label: &str,
        name: &str,
        new_cells: usize,
    ) {
        if let Origin::Invented { fingerprint, .. } = &origin {
            while self.fingerprints.len() <= f {
                self.fingerprints.push(None);
            }
            self.fingerprints[f] = Some(*fingerprint);
        }
        while self.origin.len() <= f {
            self.origin.push(Origin::Given);
        }
        let program = match &origin {
            Origin::Invented { program, .. } => Some(program.as_str()),
            Origin::Given => None,
        };
        let op = operation(program, name);
        while self.operations.len() <= f {
            self.operations.push(String::new());
        }
        self.operations[f] = op;
        self.origin[f] = origin.clone();
        self.status
            .extend(std::iter::repeat_n(CellStatus::Active, new_cells));
        self.informative
            .extend(std::iter::repeat_n(PRIOR_INFORMATIVE, new_cells));
        self.created += 1;
        self.event("created", name, label, Some(origin));
    }

    fn event(&mut self, event: &str, family: &str, cell: &str, origin: Option<Origin>) {
        self.events.push(FamilyEvent {
            event: event.to_string(),
            family: family.to_string(),
            cell: cell.to_string(),
            at_group: self.groups,
            origin,
        });
    }

    /// The events since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<FamilyEvent> {
        std::mem::take(&mut self.events)
    }

    /// Families from the run's config (they come first).
    pub(crate) fn given_families(&self) -> usize {
        self.origin
            .iter()
            .take_while(|o| matches!(o, Origin::Given))
            .count()
    }

    /// Status of every cell.
    pub(crate) fn status(&self) -> &[CellStatus] {
        &self.status
    }

    /// Counts and the window's diversity.
    pub(crate) fn metrics(&self, families: &[FamilyCells]) -> OpenMetrics {
        let mut fams = std::collections::BTreeSet::new();
        let mut fps = std::collections::BTreeSet::new();
        let mut archive_cells = std::collections::BTreeSet::new();
        // Cell → family once, not once per window entry.
        let mut family = vec![None; self.status.len()];
        for (f, fam) in families.iter().enumerate() {
            for (_, c) in fam.all() {
                if let Some(slot) = family.get_mut(c) {
                    *slot = Some(f);
                }
            }
        }
        for &(c, _) in &self.window {
            let Some(f) = family.get(c).copied().flatten() else {
                continue;
            };
            fams.insert(f);
            if let Some(Some(fp)) = self.fingerprints.get(f) {
                fps.insert(*fp);
                if let Some(r) = self.evolver.archive().get(*fp) {
                    archive_cells.insert(r.cell.index());
                }
            }
        }
        OpenMetrics {
            families: families.len(),
            active: self.active(),
            created: self.created,
            mastered: self.mastered,
            retired: self.retired,
            refreshes: self.refreshes,
            evolver_distinct: self.evolver.stats().distinct,
            evolver_proposals: self.evolver.stats().proposals,
            window_families: fams.len(),
            window_fingerprints: fps.len(),
            window_cells: archive_cells.len(),
            window_informative: self.window_informative(),
            in_band: self.in_band.len(),
            grown: self.grown,
        }
    }
}

/// A family's operation: a program's outermost primitive, else the family's name.
fn operation(program: Option<&str>, name: &str) -> String {
    let top = program
        .and_then(|p| Program::parse(p).ok())
        .and_then(|p| match p.expr() {
            crate::program::Expr::Call(prim, _) => Some(prim.name()),
            _ => None,
        });
    top.map_or_else(|| name.to_string(), str::to_string)
}

/// The family (index into `families`) that holds `cell`.
fn family_of(families: &[FamilyCells], cell: usize) -> Option<usize> {
    families
        .iter()
        .position(|f| f.all().any(|(_, c)| c == cell))
}

/// How far below `mastered` a replayed cell's skill must fall to count as forgotten.
const FORGOTTEN_MARGIN: f64 = 0.2;

/// The chance-corrected fast EMA of a cell's pass rate.
fn skill(s: &CellStats) -> f64 {
    if s.chance >= 1.0 {
        0.0
    } else {
        (s.fast - s.chance) / (1.0 - s.chance)
    }
}

/// A program's expression, input sizes ignored.
fn expression_hash(p: &Program) -> u64 {
    let mut h = 0;
    p.expr().structural_hash(&mut h);
    h
}

fn status_name(s: CellStatus) -> &'static str {
    match s {
        CellStatus::Active => "active",
        CellStatus::Locked => "locked",
        CellStatus::Mastered => "mastered",
        CellStatus::Hopeless => "hopeless",
        CellStatus::Stalled => "stalled",
    }
}

/// Re-registers the invented families of a saved `evolve` curriculum in `registry`.
pub(crate) fn register_invented(
    registry: &mut Registry,
    open: &Open,
    families: &[FamilyCells],
) -> Result<()> {
    for (f, program) in open.invented() {
        let Some(fam) = families.get(f) else { continue };
        let parsed =
            Program::parse(program).map_err(|e| crate::error::TasksError::StrategyState {
                detail: format!("invented family {}: `{program}`: {e}", fam.name),
            })?;
        let family = ProgramFamily::new(fam.name.clone(), parsed, Mode::Output)?;
        registry.register(Box::new(family));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;
    use crate::config::{CurriculumConfig, FamilyConfig, TasksConfig};
    use crate::curriculum::{Curriculum, CurriculumState};
    use crate::task::Verdict;

    fn config(params: &EvolveCurriculumConfig) -> (TasksConfig, Arc<Registry>) {
        let mut tasks = TasksConfig {
            curriculum: CurriculumConfig::new(EVOLVE, params).unwrap(),
            ..TasksConfig::default()
        };
        tasks.families = vec![
            FamilyConfig {
                name: "addition".into(),
                levels: [1, 4],
                start_level: 1,
                ..FamilyConfig::default()
            },
            FamilyConfig {
                name: "max1".into(),
                program: Some("max(a, b); a:int[1]; b:int[1]".into()),
                levels: [0, 0],
                ..FamilyConfig::default()
            },
        ];
        let mut registry = Registry::builtin();
        let tasks = registry.register_programs(&tasks).unwrap();
        (tasks, Arc::new(registry))
    }

    /// A group of 16 verdicts, the first `k` right.
    fn sixteen(k: usize) -> Vec<Verdict> {
        (0..16)
            .map(|i| {
                if i < k {
                    Verdict::correct("1")
                } else {
                    Verdict::unparseable("")
                }
            })
            .collect()
    }

    /// A learner that gets better at a cell the more groups it sees there, from a start that
    /// depends on the family (some hopeless, most learnable).
    fn learner(c: &mut Curriculum, groups: usize) -> Vec<bool> {
        let mut informative = Vec::new();
        for _ in 0..groups {
            for t in c.next_tasks(1) {
                let seen = c
                    .stats()
                    .iter()
                    .find(|s| s.family == t.family && s.level == t.level)
                    .map_or(0, |s| s.groups);
                let h = crate::rng::mix64(t.family.bytes().map(u64::from).sum::<u64>());
                let k = if h.is_multiple_of(5) {
                    0
                } else {
                    ((h % 4) + seen).min(16) as usize
                };
                informative.push(k > 0 && k < 16);
                c.observe(&t, &sixteen(k));
            }
        }
        informative
    }

    fn params() -> EvolveCurriculumConfig {
        EvolveCurriculumConfig {
            // The simulated learner never forgets: replays only cost it.
            replay: 0.05,
            min_live: 6,
            max_live: 24,
            window: 32,
            proposals: 64,
            add: 4,
            ..EvolveCurriculumConfig::default()
        }
    }

    #[test]
    fn invents_families_retires_mastered_ones_and_keeps_the_signal() {
        let (tasks, registry) = config(&params());
        let mut c = Curriculum::new(&tasks, registry, 7, HashSet::new()).unwrap();
        let informative = learner(&mut c, 600);
        let m = c.open_metrics().unwrap();
        assert!(m.created >= 10, "{m:?}");
        assert!(m.mastered >= 5, "{m:?}");
        assert_eq!(m.families as u64, 2 + m.created);
        // Addition's level 2 opened after level 1 passed `unlock`.
        let status = c.cell_status().unwrap();
        assert_ne!(status[1], CellStatus::Locked);
        // The signal never runs dry: every later window of 100 groups is more than half informative
        // (the learner masters a cell in ~16 groups, so a fixed set would run out).
        for w in informative[200..].chunks(100) {
            let f = w.iter().filter(|&&i| i).count() as f64 / w.len() as f64;
            assert!(f >= 0.55, "informative fraction {f}");
        }
        assert!(m.window_families >= 4, "{m:?}");
        let events = c.take_events();
        let created: Vec<_> = events.iter().filter(|e| e.event == "created").collect();
        assert_eq!(created.len() as u64, m.created);
        assert!(created.iter().any(|e| matches!(
            &e.origin,
            Some(Origin::Invented {
                parent: Some(_),
                ..
            })
        )));
        assert!(c.take_events().is_empty());
        // Invented tasks carry their program and verify from the task alone.
        let t = c
            .next_tasks(50)
            .into_iter()
            .find(|t| t.family.starts_with("evo_"))
            .unwrap();
        assert!(t.program.is_some());
        assert!(c.registry().verify(&t, &t.answer).correct);
    }

    #[test]
    fn max_skew_keeps_near_constant_families_out() {
        // The skew of every family invented over 600 simulated groups.
        let invented_skews = |max_skew: f64| -> Vec<f64> {
            let p = EvolveCurriculumConfig {
                max_skew,
                ..params()
            };
            let (tasks, registry) = config(&p);
            let mut c = Curriculum::new(&tasks, registry, 7, HashSet::new()).unwrap();
            learner(&mut c, 600);
            c.take_events()
                .into_iter()
                .filter_map(|e| match e.origin {
                    Some(Origin::Invented { program, .. }) => Some(program),
                    _ => None,
                })
                .map(|text| Program::parse(&text).unwrap().skew().unwrap())
                .collect()
        };
        let free = invented_skews(1.0);
        assert!(free.iter().any(|&s| s > 0.75), "{free:?}");
        let kept = invented_skews(0.75);
        assert!(kept.len() >= 10, "{kept:?}");
        assert!(kept.iter().all(|&s| s <= 0.75), "{kept:?}");
    }

    #[test]
    fn the_given_share_keeps_the_runs_own_families_trained() {
        // Every cell stays half right, so nothing retires and the invented families compete
        // with the run's own (addition, max1) on equal terms. Share of the draws that were the
        // run's own, after 100 groups.
        let own_share = |given: f64| {
            let (tasks, registry) = config(&EvolveCurriculumConfig {
                given,
                replay: 0.0,
                ..params()
            });
            let mut c = Curriculum::new(&tasks, registry, 7, HashSet::new()).unwrap();
            let (mut own, mut n) = (0, 0);
            for i in 0..400 {
                for t in c.next_tasks(1) {
                    let mine = !t.family.starts_with("evo_");
                    if i >= 100 {
                        own += usize::from(mine);
                        n += 1;
                    }
                    c.observe(&t, &sixteen(8));
                }
            }
            assert!(c.open_metrics().unwrap().created >= 4);
            own as f64 / n as f64
        };
        assert_eq!(own_share(1.0), 1.0);
        let (without, half) = (own_share(0.0), own_share(0.5));
        assert!(without < 0.6, "{without}");
        assert!(half >= 0.6 && half > without + 0.15, "{without} -> {half}");
    }

    #[test]
    fn stratified_draws_share_out_operations_not_cells() {
        // Three `lt` families and one `max`, every group half right, nothing invented: by score
        // alone `max` gets about a quarter of the draws; drawn by operation first, about half.
        let max_share = |stratify: bool| {
            let p = EvolveCurriculumConfig {
                stratify,
                replay: 0.0,
                min_live: 0,
                ..params()
            };
            let mut tasks = TasksConfig {
                curriculum: CurriculumConfig::new(EVOLVE, &p).unwrap(),
                ..TasksConfig::default()
            };
            tasks.families = [
                "lt(a, b); a:int[1]; b:int[1]",
                "lt(a, 5); a:int[1]",
                "lt(add(a, b), 9); a:int[1]; b:int[1]",
                "max(a, b); a:int[1]; b:int[1]",
            ]
            .iter()
            .enumerate()
            .map(|(i, text)| FamilyConfig {
                name: format!("f{i}"),
                program: Some(text.to_string()),
                levels: [0, 0],
                ..FamilyConfig::default()
            })
            .collect();
            let mut registry = Registry::builtin();
            let tasks = registry.register_programs(&tasks).unwrap();
            let mut c = Curriculum::new(&tasks, Arc::new(registry), 7, HashSet::new()).unwrap();
            let (mut max, mut n) = (0, 0);
            for _ in 0..800 {
                for t in c.next_tasks(1) {
                    let program = t.program.as_deref().unwrap_or("");
                    max += usize::from(program.starts_with("max("));
                    n += 1;
                    c.observe(&t, &sixteen(8));
                }
            }
            assert_eq!(c.open_metrics().unwrap().created, 0);
            max as f64 / n as f64
        };
        let (by_cell, by_operation) = (max_share(false), max_share(true));
        assert!((0.15..0.35).contains(&by_cell), "{by_cell}");
        assert!((0.4..0.6).contains(&by_operation), "{by_operation}");
    }

    #[test]
    fn a_restored_evolve_curriculum_continues_exactly() {
        for stratify in [false, true] {
            restored_continues_exactly(EvolveCurriculumConfig {
                stratify,
                ..params()
            });
        }
    }

    fn restored_continues_exactly(params: EvolveCurriculumConfig) {
        let (tasks, registry) = config(&params);
        let mut a = Curriculum::new(&tasks, registry.clone(), 3, HashSet::new()).unwrap();
        learner(&mut a, 300);
        a.take_events();
        let saved = serde_json::to_string(&a).unwrap();
        let state: CurriculumState = serde_json::from_str(&saved).unwrap();
        // The registry the run started with: invented families are re-registered from the state.
        let mut b = Curriculum::restore(state, registry).unwrap();
        assert_eq!(a, b);
        let (ia, ib) = (learner(&mut a, 200), learner(&mut b, 200));
        assert_eq!(ia, ib);
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }

    /// One addition cell, nothing invented or grown: fed `k` of 16 right per group.
    fn single_cell() -> Curriculum {
        addition_levels(EvolveCurriculumConfig::default(), [1, 1])
    }

    /// Addition at `levels`, nothing invented.
    fn addition_levels(p: EvolveCurriculumConfig, levels: [u32; 2]) -> Curriculum {
        let p = EvolveCurriculumConfig {
            min_live: 0,
            retry_after: 16,
            ..p
        };
        let tasks = TasksConfig {
            curriculum: CurriculumConfig::new(EVOLVE, &p).unwrap(),
            families: vec![FamilyConfig {
                name: "addition".into(),
                levels,
                start_level: 1,
                ..FamilyConfig::default()
            }],
            ..TasksConfig::default()
        };
        Curriculum::new(&tasks, Arc::new(Registry::builtin()), 0, HashSet::new()).unwrap()
    }

    fn feed(c: &mut Curriculum, ks: impl IntoIterator<Item = usize>) {
        for k in ks {
            let t = c.next_tasks(1).pop().unwrap();
            c.observe(&t, &sixteen(k));
        }
    }

    fn events(c: &mut Curriculum) -> Vec<String> {
        c.take_events().into_iter().map(|e| e.event).collect()
    }

    #[test]
    fn all_or_nothing_cells_stall_are_retried_and_forgotten_ones_come_back() {
        let mut c = single_cell();
        // Pass rate 0.5 but every group uniform: no GRPO signal. The informative EMA falls from
        // 0.5 by a factor 0.75 a group: below 0.1 after 6 groups; judged from group 8.
        feed(&mut c, [16, 0, 16, 0, 16, 0, 16]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Active);
        feed(&mut c, [0]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Stalled);
        assert_eq!(events(&mut c), ["stalled"]);
        // Tried again after `retry_after` = 16 more groups (the only cell is still drawn).
        feed(&mut c, [8; 15]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Stalled);
        feed(&mut c, [8]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Active);
        assert_eq!(events(&mut c), ["retried"]);
        // Mastered once the fast EMA is high, then forgotten when replays fail.
        feed(&mut c, [16; 12]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Mastered);
        feed(&mut c, [0, 0]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Active);
        assert_eq!(events(&mut c), ["mastered", "forgotten"]);
    }

    #[test]
    fn uniform_groups_near_mastery_retire_the_cell_as_mastered() {
        let mut c = single_cell();
        // Mostly all right, never informative: the fast EMA stays under 0.9 (0.80, 0.84, 0.87,
        // 0.90-, then 0.72 at group 8), so it is never mastered by pass rate, yet it teaches
        // nothing. At group 8 (informative EMA 0.05) it retires as mastered, not stalled: its
        // skill is within 0.2 of `mastered`.
        feed(&mut c, [16, 16, 16, 0, 16, 16, 16]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Active);
        feed(&mut c, [0]);
        assert_eq!(c.cell_status().unwrap()[0], CellStatus::Mastered);
        assert_eq!(events(&mut c), ["mastered"]);
        assert_eq!(c.open_metrics().unwrap().mastered, 1);
    }

    #[test]
    fn a_mastered_top_cell_grows_one_step_harder_until_answers_no_longer_fit() {
        // Addition at levels 1-2: 4-character answers fit (3-digit sums), 5 do not.
        let mut c = addition_levels(
            EvolveCurriculumConfig {
                grow: true,
                max_answer_chars: 4,
                ..EvolveCurriculumConfig::default()
            },
            [1, 2],
        );
        let knob = |c: &Curriculum, cell: usize, k: &str| c.stats()[cell].knobs.get(k);
        // Everything right: level 1 is mastered and opens level 2, which is mastered in turn;
        // then the ladder's last step (digits + 1, operands unchanged) is taken once more.
        for _ in 0..40 {
            feed(&mut c, [16]);
            if c.stats().len() > 2 {
                break;
            }
        }
        let ev = events(&mut c);
        assert!(ev.ends_with(&["mastered".into(), "grown".into()]), "{ev:?}");
        assert_eq!(c.stats().len(), 3);
        assert_eq!(knob(&c, 2, "digits"), Some(3.0));
        assert_eq!(knob(&c, 2, "operands"), knob(&c, 1, "operands"));
        assert_eq!(c.stats()[2].level, Some(3));
        assert_eq!(c.cell_status().unwrap()[2], CellStatus::Active);
        assert_eq!(c.open_metrics().unwrap().grown, 1);
        // Mastered at 3 digits: 4-digit sums can take 5 characters, so nothing more grows.
        for _ in 0..60 {
            feed(&mut c, [16]);
        }
        assert_eq!(c.cell_status().unwrap()[2], CellStatus::Mastered);
        assert_eq!(c.stats().len(), 3);
        // The grown cell is part of the saved state.
        let restored = Curriculum::restore(
            serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap(),
            c.registry().clone(),
        )
        .unwrap();
        assert_eq!(restored, c);
    }

    #[test]
    fn bad_parameters_name_the_key() {
        let (mut tasks, registry) = config(&params());
        for (p, key) in [
            (
                EvolveCurriculumConfig {
                    replay: 1.5,
                    ..params()
                },
                "curriculum.replay",
            ),
            (
                EvolveCurriculumConfig {
                    max_live: 2,
                    ..params()
                },
                "curriculum.max_live",
            ),
            (
                EvolveCurriculumConfig {
                    int_digits: [3, 1],
                    ..params()
                },
                "curriculum.int_digits",
            ),
            (
                EvolveCurriculumConfig {
                    max_skew: 1.2,
                    ..params()
                },
                "curriculum.max_skew",
            ),
        ] {
            tasks.curriculum = CurriculumConfig::new(EVOLVE, &p).unwrap();
            let e = Curriculum::new(&tasks, registry.clone(), 0, HashSet::new())
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
