//! Program files: named task programs in TOML, each with its mode and level ladder, so that a
//! task family is one entry (or one line of a run config) instead of Rust.
//!
//! ```toml
//! # tasks/programs/digits.toml
//! [[program]]
//! name = "digit_sum"                      # the family's name: 1-64 of A-Z a-z 0-9 _ -
//! program = "sum(digits(a)); a:int[6]"    # the program at its largest sizes
//! doc = "the sum of the decimal digits of a"
//! ladder = [{ a_digits = 2 }, { a_digits = 4 }, { a_digits = 6 }]   # optional
//!
//! [[program]]
//! name = "digit_sum_inverse"
//! program = "sum(digits(a)); a:int[3]"
//! mode = "input"                          # find a, given the result (default: output)
//! solve = "a"                             # optional: the input to find (default: the first
//!                                         # int or list input)
//! ```
//!
//! Every key but `name` and `program` is optional; unknown keys are errors. A ladder level sets
//! knobs over the declared sizes (`a_digits`, `l_len`, `l_digits`); without a ladder, level L
//! caps every input's digits at L ([`ProgramFamily::default_ladder`]). Each program must be a
//! valid family at its declared sizes and at every level; errors name the file, the key
//! (`program[2].ladder`) and the value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::family::{valid_name, ProgramFamily, MAX_NAME_LEN};
use super::instance::Mode;
use super::tree::Program;
use super::types::Type;
use crate::error::{Result, TasksError};
use crate::knobs::Knobs;

/// One named program: what a program file entry (or a run config's program entry) holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// The family's name.
    pub name: String,
    /// The program text with its declarations.
    pub program: String,
    /// Output (compute the result) or input (find an input).
    #[serde(default)]
    pub mode: Mode,
    /// Input mode: the input to find (default: the first int or list input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solve: Option<String>,
    /// Levels 1..n as knob settings over the declared sizes (default: one level per digit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ladder: Vec<Knobs>,
    /// One line on what the task is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub doc: String,
}

/// Which key of a spec is wrong, its value as written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecError {
    pub key: &'static str,
    pub value: String,
    pub why: String,
}

impl ProgramSpec {
    /// A spec with the defaults: output mode, the default ladder, no doc.
    pub fn new(name: impl Into<String>, program: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            mode: Mode::Output,
            solve: None,
            ladder: Vec::new(),
            doc: String::new(),
        }
    }

    /// The family this spec makes; the error names the family and says what is wrong.
    pub fn family(&self) -> Result<ProgramFamily> {
        self.build().map_err(|e| TasksError::ProgramFamily {
            family: self.name.clone(),
            why: format!("{} = {}: {}", e.key, e.value, e.why),
        })
    }

    /// The family, or the key that is wrong.
    pub(crate) fn build(&self) -> std::result::Result<ProgramFamily, SpecError> {
        let err = |key, value: String, why: String| SpecError { key, value, why };
        if !valid_name(&self.name) {
            return Err(err(
                "name",
                format!("{:?}", self.name),
                format!("a family name is 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 _ -"),
            ));
        }
        let quoted = format!("{:?}", self.program);
        let program = Program::parse(&self.program)
            .map_err(|e| err("program", quoted.clone(), e.to_string()))?;
        if self.mode == Mode::Input && program.inputs().iter().all(|d| d.kind.ty() == Type::Bool) {
            return Err(err(
                "mode",
                "\"input\"".into(),
                "input mode needs an int or list input to find".into(),
            ));
        }
        let why = |e: TasksError| match e {
            TasksError::ProgramFamily { why, .. } => why,
            other => other.to_string(),
        };
        let mut family = ProgramFamily::new(self.name.clone(), program, self.mode)
            .map_err(|e| err("program", quoted.clone(), why(e)))?;
        if let Some(solve) = &self.solve {
            family = family
                .with_solve(solve)
                .map_err(|e| err("solve", format!("{solve:?}"), why(e)))?;
        }
        if !self.ladder.is_empty() {
            let shown = format!(
                "[{}]",
                self.ladder
                    .iter()
                    .map(|k| format!("{{{}}}", k.label()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            family = family
                .with_ladder(self.ladder.clone())
                .map_err(|e| err("ladder", shown, why(e)))?;
        }
        Ok(family.with_doc(self.doc.clone()))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    program: Vec<ProgramSpec>,
}

/// The programs of a file, each unchecked: a program TOML file (`.toml`, see the module docs)
/// or a text file with one program per line (blank lines and `#` comments skipped; named
/// `line1`, `line2`, ... by line number, output mode, default ladders). Errors: the file cannot
/// be read, or its TOML does not parse.
pub fn read_specs(path: &Path) -> Result<Vec<ProgramSpec>> {
    let text = std::fs::read_to_string(path).map_err(|source| TasksError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if path.extension().is_some_and(|e| e == "toml") {
        return parse_toml(path, &text).map(|f| f.program);
    }
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| ProgramSpec::new(format!("line{}", i + 1), l.trim()))
        .collect())
}

fn parse_toml(path: &Path, text: &str) -> Result<FileToml> {
    toml::from_str(text).map_err(|e| TasksError::ProgramFile {
        path: path.to_path_buf(),
        key: "file".into(),
        value: "(TOML)".into(),
        why: e.to_string().trim_end().replace('\n', " | "),
    })
}

/// A program file: its path and its programs, in file order, each a valid family.
#[derive(Debug, Clone)]
pub struct ProgramFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The programs, with unique names.
    pub programs: Vec<ProgramSpec>,
    families: Vec<ProgramFamily>,
}

impl ProgramFile {
    /// Reads and checks the file at `path` (see the module docs for the format).
    pub fn load(path: &Path) -> Result<ProgramFile> {
        let text = std::fs::read_to_string(path).map_err(|source| TasksError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        ProgramFile::parse(path, &text)
    }

    /// Checks the TOML `text` of a program file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ProgramFile> {
        let file_err = |key: String, value: String, why: String| TasksError::ProgramFile {
            path: path.to_path_buf(),
            key,
            value,
            why,
        };
        let raw = parse_toml(path, text)?;
        if raw.program.is_empty() {
            return Err(file_err(
                "program".into(),
                "[]".into(),
                "no [[program]] entry".into(),
            ));
        }
        let mut families = Vec::with_capacity(raw.program.len());
        for (i, spec) in raw.program.iter().enumerate() {
            let family = spec
                .build()
                .map_err(|e| file_err(format!("program[{i}].{}", e.key), e.value, e.why))?;
            if let Some(j) = raw.program[..i].iter().position(|s| s.name == spec.name) {
                return Err(file_err(
                    format!("program[{i}].name"),
                    format!("{:?}", spec.name),
                    format!("program[{j}] has the same name"),
                ));
            }
            families.push(family);
        }
        Ok(ProgramFile {
            path: path.to_path_buf(),
            programs: raw.program,
            families,
        })
    }

    /// The families, in file order.
    pub fn families(&self) -> &[ProgramFamily] {
        &self.families
    }

    /// The program called `name` and its family.
    pub fn get(&self, name: &str) -> Option<(&ProgramSpec, &ProgramFamily)> {
        let i = self.programs.iter().position(|s| s.name == name)?;
        Some((&self.programs[i], &self.families[i]))
    }

    /// The names, comma separated (for messages).
    pub fn names(&self) -> String {
        self.programs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::Family;

    fn parse(text: &str) -> std::result::Result<ProgramFile, String> {
        ProgramFile::parse(Path::new("p.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_file_of_programs_becomes_families() {
        let f = parse(
            r#"
[[program]]
name = "digit_sum"
program = "sum(digits(a));a:int[6]"
doc = "the digit sum"
ladder = [{ a_digits = 2 }, { a_digits = 6 }]

[[program]]
name = "unsort"
program = "sort(l); l:list[4,1]"
mode = "input"
"#,
        )
        .unwrap();
        assert_eq!(f.names(), "digit_sum, unsort");
        let (spec, fam) = f.get("digit_sum").unwrap();
        assert_eq!(spec.doc, "the digit sum");
        assert_eq!((fam.doc(), fam.ladder().len()), ("the digit sum", 2));
        assert_eq!(fam.program().to_string(), "sum(digits(a)); a:int[6]");
        let (_, fam) = f.get("unsort").unwrap();
        assert_eq!((fam.mode(), fam.solve()), (Mode::Input, Some("l")));
        assert_eq!(fam.ladder().len(), 1, "default ladder: one level per digit");
        assert!(f.get("nope").is_none());
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_value() {
        let one = |body: &str| parse(&format!("[[program]]\nname = \"x\"\n{body}")).unwrap_err();
        let e = one("program = \"add(a,; a:int[3]\"");
        assert!(
            e.starts_with("p.toml: program[0].program = \"add(a,; a:int[3]\": at byte 6"),
            "{e}"
        );
        let e = one("program = \"add(a, 1); a:int[3]\"\nmdoe = \"input\"");
        assert!(e.contains("p.toml: file") && e.contains("mdoe"), "{e}");
        let e = one("program = \"div(a, 1000); a:int[3]\"");
        assert!(
            e.contains("program[0].program") && e.contains("constant"),
            "{e}"
        );
        let e = one("program = \"add(a, 1); a:int[3]\"\nmode = \"input\"\nsolve = \"b\"");
        assert!(e.contains("program[0].solve = \"b\""), "{e}");
        let e = one("program = \"not(p); p:bool\"\nmode = \"input\"");
        assert!(e.contains("program[0].mode = \"input\""), "{e}");
        let e =
            one("program = \"add(a, 1); a:int[3]\"\nladder = [{ a_digits = 2 }, { b_digits = 1 }]");
        assert!(
            e.contains("program[0].ladder = [{a_digits=2}, {b_digits=1}]") && e.contains("level 2"),
            "{e}"
        );
        let e =
            parse("[[program]]\nname = \"a b\"\nprogram = \"add(a, 1); a:int[3]\"").unwrap_err();
        assert!(e.contains("program[0].name = \"a b\""), "{e}");
        let e = parse(
            "[[program]]\nname = \"x\"\nprogram = \"a; a:int[2]\"\n[[program]]\nname = \"x\"\nprogram = \"a; a:int[3]\"",
        )
        .unwrap_err();
        assert!(
            e.contains("program[1].name = \"x\": program[0] has the same name"),
            "{e}"
        );
        let e = parse("[program]\nname = 3").unwrap_err();
        assert!(e.starts_with("p.toml: file = (TOML):"), "{e}");
        assert!(parse("").unwrap_err().contains("no [[program]] entry"));
        let e = ProgramFile::load(Path::new("/nonexistent/p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/p.toml"), "{e}");
    }

    #[test]
    fn the_shipped_program_files_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tasks/programs");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file = ProgramFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
            for (spec, fam) in file.programs.iter().zip(file.families()) {
                assert!(
                    !spec.ladder.is_empty(),
                    "{}: {} has no ladder",
                    path.display(),
                    spec.name
                );
                assert!(
                    !spec.doc.is_empty(),
                    "{}: {} has no doc",
                    path.display(),
                    spec.name
                );
                // Every level generates a task whose gold answer verifies.
                for level in 1..=fam.ladder().len() as u32 {
                    let t = crate::families::contract::task_at(
                        fam,
                        level,
                        &Knobs::new(),
                        crate::task::PromptStyle::Bare,
                        crate::task::NumberFormat::FixedWidthLsbFirst,
                        level as u64,
                    );
                    assert!(fam.verify(&t, &t.answer).correct, "{t:?}");
                }
                n += 1;
            }
        }
        assert!(n >= 15, "{n} programs");
    }
}
