//! The archive of distinct families: one [`FamilyRecord`] per fingerprint, in discovery order,
//! each in a MAP-Elites [`Cell`] (output type × depth × input size) so that coverage is a number.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fingerprint::Fingerprint;
use super::tree::Program;
use super::types::Type;
use crate::error::TasksError;

/// Depth buckets: 1, 2, ..., 6, and 7 or more.
pub const DEPTH_BUCKETS: u8 = 7;
/// Input-size buckets over the total digits an instance shows (see `InputKind::size`):
/// 1, 2, 3-4, 5-8, 9-16, 17-32, 33 or more (bucket = ceil(log2 size), capped).
pub const SIZE_BUCKETS: u8 = 7;

/// A MAP-Elites cell: output type × depth bucket × input-size bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// The answers' type.
    pub output: Type,
    /// The program's depth, capped at [`DEPTH_BUCKETS`] (7 means 7 or more).
    pub depth: u8,
    /// ceil(log2(total input digits)), capped at [`SIZE_BUCKETS`] - 1.
    pub size: u8,
}

impl Cell {
    /// The cell a program falls in.
    pub fn of(p: &Program) -> Cell {
        let total: u32 = p.inputs().iter().map(|d| d.kind.size()).sum();
        let size = total.max(1).next_power_of_two().trailing_zeros();
        Cell {
            output: p.output_type(),
            depth: p.depth().clamp(1, DEPTH_BUCKETS as usize) as u8,
            size: size.min(SIZE_BUCKETS as u32 - 1) as u8,
        }
    }

    /// Number of cells in the grid: 3 types × 7 depths × 7 sizes.
    pub const TOTAL: usize = 3 * DEPTH_BUCKETS as usize * SIZE_BUCKETS as usize;

    /// The cell's index in `0..Cell::TOTAL`.
    pub fn index(&self) -> usize {
        let t = match self.output {
            Type::Int => 0,
            Type::Bool => 1,
            Type::List => 2,
        };
        let d = (self.depth.clamp(1, DEPTH_BUCKETS) - 1) as usize;
        let s = self.size.min(SIZE_BUCKETS - 1) as usize;
        (t * DEPTH_BUCKETS as usize + d) * SIZE_BUCKETS as usize + s
    }
}

/// How a proposal was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edit {
    /// A fresh program sampled from the typed grammar (no parent).
    Sample,
    /// One primitive swapped for another of the same signature.
    Swap,
    /// A subtree wrapped in a primitive (other arguments sampled).
    Wrap,
    /// A subtree replaced by a fresh one of the same type.
    Replace,
    /// A subtree replaced by one of the same type from a second archive member.
    Crossover,
    /// An input's knob (digits, list length) moved by one.
    Knob,
    /// Given from outside (a family a run started with), not proposed.
    Given,
}

impl Edit {
    /// Every way the evolver proposes, in a fixed order ([`Edit::Given`] is not one).
    pub const ALL: [Edit; 6] = [
        Edit::Sample,
        Edit::Swap,
        Edit::Wrap,
        Edit::Replace,
        Edit::Crossover,
        Edit::Knob,
    ];
}

/// Where a family came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    /// The archive member edited (none for a sample).
    pub parent: Option<Fingerprint>,
    /// The second member of a crossover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<Fingerprint>,
    /// The edit.
    pub edit: Edit,
    /// Index of the proposal that found it (from 0).
    pub proposal: u64,
}

/// One distinct valid family: its first-found program, fingerprint, cell and lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyRecord {
    /// The program, serialised as its canonical text with declarations.
    pub program: Program,
    /// Its behavioural fingerprint.
    pub fingerprint: Fingerprint,
    /// Its archive cell.
    pub cell: Cell,
    /// How it was found.
    pub lineage: Lineage,
}

/// The families found so far, indexed by fingerprint and by cell.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    records: Vec<FamilyRecord>,
    by_fingerprint: HashMap<Fingerprint, u32>,
    /// Record indices per cell index.
    cells: Vec<Vec<u32>>,
    /// Indices of the non-empty cells, in the order they were first filled.
    filled: Vec<u32>,
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Archive {
        Archive {
            cells: vec![Vec::new(); Cell::TOTAL],
            ..Archive::default()
        }
    }

    /// Number of distinct families.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no family has been found.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The families, in discovery order.
    pub fn records(&self) -> &[FamilyRecord] {
        &self.records
    }

    /// Whether a family with this fingerprint is in the archive.
    pub fn contains(&self, f: Fingerprint) -> bool {
        self.by_fingerprint.contains_key(&f)
    }

    /// The family with this fingerprint.
    pub fn get(&self, f: Fingerprint) -> Option<&FamilyRecord> {
        self.by_fingerprint
            .get(&f)
            .and_then(|&i| self.records.get(i as usize))
    }

    /// Adds a family; `false` (and nothing changes) when its fingerprint is already there.
    pub fn insert(&mut self, record: FamilyRecord) -> bool {
        if self.cells.len() != Cell::TOTAL {
            self.cells = vec![Vec::new(); Cell::TOTAL];
        }
        if self.by_fingerprint.contains_key(&record.fingerprint) {
            return false;
        }
        let i = self.records.len() as u32;
        let c = record.cell.index();
        self.by_fingerprint.insert(record.fingerprint, i);
        if self.cells[c].is_empty() {
            self.filled.push(c as u32);
        }
        self.cells[c].push(i);
        self.records.push(record);
        true
    }

    /// Number of non-empty cells.
    pub fn cells_filled(&self) -> usize {
        self.filled.len()
    }

    /// Coverage: filled cells / [`Cell::TOTAL`].
    pub fn coverage(&self) -> f64 {
        self.filled.len() as f64 / Cell::TOTAL as f64
    }

    /// Number of distinct expressions among the families, input knobs ignored (`add(a, b)` at
    /// 3 and at 4 digits are two families but one expression).
    pub fn distinct_expressions(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        for r in &self.records {
            let mut h = 0;
            r.program.expr().structural_hash(&mut h);
            seen.insert(h);
        }
        seen.len()
    }

    /// Writes one JSON object per family (`program`, `fingerprint`, `cell`, `lineage`), in
    /// discovery order, to `path`.
    pub fn write_jsonl(&self, path: &Path) -> crate::Result<()> {
        let io = |source| TasksError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut w = BufWriter::new(File::create(path).map_err(io)?);
        for r in &self.records {
            // A record has no map with non-string keys, so serialising cannot fail.
            let line = serde_json::to_string(r).unwrap_or_default();
            writeln!(w, "{line}").map_err(io)?;
        }
        w.flush().map_err(io)
    }

    /// The index (in [`Archive::records`]) of the family with this fingerprint.
    pub fn index_of(&self, f: Fingerprint) -> Option<usize> {
        self.by_fingerprint.get(&f).map(|&i| i as usize)
    }

    /// Indices of the non-empty cells, in the order they were first filled.
    pub(crate) fn filled(&self) -> &[u32] {
        &self.filled
    }

    /// Record indices in the cell with this index.
    pub(crate) fn cell_members(&self, cell: usize) -> &[u32] {
        self.cells.get(cell).map_or(&[], |v| v.as_slice())
    }
}

impl Serialize for Archive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.records.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Archive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let records = Vec::<FamilyRecord>::deserialize(d)?;
        let mut a = Archive::new();
        for r in records {
            a.insert(r);
        }
        Ok(a)
    }
}
