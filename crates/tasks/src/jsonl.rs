//! Eval sets: JSONL files of tasks, one task per line, frozen under `tasks/eval/`.
//!
//! File names: `{family}-{style}-{format}-L{level}.jsonl` (see [`eval_file_name`]). A set holds
//! at most `n` distinct tasks, and at most half of the distinct tasks found in `10 n` draws: on a
//! level with a small problem space (addition level 1 has 100 problems) the other half stays
//! available to training, which never uses an eval id.

use std::collections::HashSet;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::error::{Result, TasksError};
use crate::family::Registry;
use crate::knobs::Knobs;
use crate::rng::{fnv1a64, TaskRng};
use crate::task::{NumberFormat, PromptStyle, Task};

/// A frozen eval set.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSet {
    /// Name (the file stem).
    pub name: String,
    /// The tasks, distinct ids.
    pub tasks: Vec<Task>,
}

/// `addition-bare-fixed_width_lsb_first-L3.jsonl`.
pub fn eval_file_name(
    family: &str,
    style: PromptStyle,
    format: NumberFormat,
    level: u32,
) -> String {
    format!(
        "{family}-{}-{}-L{level}.jsonl",
        style.as_str(),
        format.as_str()
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TasksError + '_ {
    move |source| TasksError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl EvalSet {
    /// Generates the eval set of `family` at ladder `level` (with `overrides` on top): up to `n`
    /// distinct tasks from seeds derived from (family, level), halved on small problem spaces.
    pub fn generate(
        registry: &Registry,
        family: &str,
        level: u32,
        overrides: &Knobs,
        style: PromptStyle,
        format: NumberFormat,
        n: usize,
    ) -> Result<EvalSet> {
        let mut rng = TaskRng::new(fnv1a64(&["eval", family, &level.to_string()]));
        let mut seen = HashSet::new();
        let mut unique = Vec::new();
        for _ in 0..10 * n {
            let task =
                registry.generate_level(family, level, overrides, style, format, rng.next_u64())?;
            if seen.insert(task.id.clone()) {
                unique.push(task);
            }
        }
        let keep = n.min(unique.len() / 2).max(1.min(unique.len()));
        unique.truncate(keep);
        Ok(EvalSet {
            name: eval_file_name(family, style, format, level)
                .trim_end_matches(".jsonl")
                .to_string(),
            tasks: unique,
        })
    }

    /// Reads a JSONL file of tasks; the error names the file and line.
    pub fn read(path: &Path) -> Result<EvalSet> {
        let file = std::fs::File::open(path).map_err(io(path))?;
        let mut tasks = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io(path))?;
            if line.trim().is_empty() {
                continue;
            }
            let task: Task = serde_json::from_str(&line).map_err(|e| TasksError::Jsonl {
                path: path.to_path_buf(),
                line: i + 1,
                detail: e.to_string(),
            })?;
            if task.id != task.content_id() {
                return Err(TasksError::Jsonl {
                    path: path.to_path_buf(),
                    line: i + 1,
                    detail: format!(
                        "id {} does not match its content (expected {})",
                        task.id,
                        task.content_id()
                    ),
                });
            }
            tasks.push(task);
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(EvalSet { name, tasks })
    }

    /// Every `*.jsonl` set in `dir`, in name order.
    pub fn read_dir(dir: &Path) -> Result<Vec<EvalSet>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        paths.sort();
        paths.iter().map(|p| EvalSet::read(p)).collect()
    }

    /// Writes the set as JSONL (creating parent directories).
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let file = std::fs::File::create(path).map_err(io(path))?;
        let mut w = BufWriter::new(file);
        for t in &self.tasks {
            let line = serde_json::to_string(t).map_err(|e| TasksError::Jsonl {
                path: path.to_path_buf(),
                line: 0,
                detail: e.to_string(),
            })?;
            writeln!(w, "{line}").map_err(io(path))?;
        }
        w.flush().map_err(io(path))
    }

    /// The ids of the set's tasks (what training excludes).
    pub fn ids(&self) -> HashSet<String> {
        self.tasks.iter().map(|t| t.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_spaces_keep_half_for_training_and_files_round_trip() {
        let reg = Registry::builtin();
        let w8 = Knobs::from_static(&[("width", 8.0)]);
        let l1 = EvalSet::generate(
            &reg,
            "addition",
            1,
            &w8,
            PromptStyle::Bare,
            NumberFormat::FixedWidthLsbFirst,
            200,
        )
        .unwrap();
        assert_eq!(
            l1.tasks.len(),
            50,
            "addition level 1 has 100 problems: half go to eval"
        );
        let l3 = EvalSet::generate(
            &reg,
            "addition",
            3,
            &w8,
            PromptStyle::Bare,
            NumberFormat::FixedWidthLsbFirst,
            200,
        )
        .unwrap();
        assert_eq!(l3.tasks.len(), 200);
        assert_eq!(l3.ids().len(), 200);
        assert_eq!(l3.name, "addition-bare-fixed_width_lsb_first-L3");
        let again = EvalSet::generate(
            &reg,
            "addition",
            3,
            &w8,
            PromptStyle::Bare,
            NumberFormat::FixedWidthLsbFirst,
            200,
        )
        .unwrap();
        assert_eq!(again, l3, "eval sets are reproducible");
        let dir = std::env::temp_dir().join(format!("tasks-evalset-{}", std::process::id()));
        let path = dir.join("x.jsonl");
        l3.write(&path).unwrap();
        let back = EvalSet::read(&path).unwrap();
        assert_eq!(back.tasks, l3.tasks);
        std::fs::write(&path, "{\"id\":1}\n").unwrap();
        let e = EvalSet::read(&path).unwrap_err().to_string();
        assert!(e.contains("x.jsonl:1"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
