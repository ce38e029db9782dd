//! Program entries of a run config made into registered families:
//! [`Registry::register_programs`], what the binary and the trainer call before anything else
//! reads `[[tasks.families]]`.
//!
//! ```toml
//! [[tasks.families]]                  # one program, inline (name optional)
//! program = "sort(digits(add(a, b))); a:int[3]; b:int[3]"
//! name = "sorted_sum_digits"
//! [[tasks.families]]                  # every program of a file
//! programs = "tasks/programs/digits.toml"
//! [[tasks.families]]                  # one program of a file, in the fixed-width format
//! programs = "tasks/programs/lists.toml"
//! name = "sum_of_last_two"
//! format = "fixed_width_lsb_first"
//! ```
//!
//! An inline entry takes `mode`, `solve` and `ladder` as a file entry does; a file entry takes
//! them from the file. `format`, `knobs`, `levels` (default: the whole ladder), `start_level`
//! and `weight` apply to every family of the entry.

use super::family::ProgramFamily;
use super::file::{ProgramFile, ProgramSpec};
use super::instance::Mode;
use crate::config::{bad, FamilyConfig, TasksConfig};
use crate::error::Result;
use crate::family::{Family, Registry};
use crate::rng::{hash64, hex16};

impl Registry {
    /// Registers a family for every program that `tasks` names (`program = "..."` or
    /// `programs = "FILE"`, paths relative to the working directory) and returns the config with
    /// each program entry replaced by one entry per family: its name, its canonical program
    /// text, mode, solve, its complete ladder and its levels (default: the whole ladder). The
    /// result names only registered families and is self-contained (a resumed run does not read
    /// the program files again); registering it again is a no-op. Errors name the key
    /// (`families[1].program`), the value and what is wrong; a program family may not take the
    /// name of another family.
    pub fn register_programs(&mut self, tasks: &TasksConfig) -> Result<TasksConfig> {
        let mut families = Vec::with_capacity(tasks.families.len());
        for (i, f) in tasks.families.iter().enumerate() {
            if !f.is_program() {
                families.push(f.clone());
                continue;
            }
            for family in entry_families(i, f)? {
                families.push(self.register_one(i, f, family)?);
            }
        }
        Ok(TasksConfig {
            families,
            ..tasks.clone()
        })
    }

    fn register_one(
        &mut self,
        i: usize,
        f: &FamilyConfig,
        family: ProgramFamily,
    ) -> Result<FamilyConfig> {
        let ladder = family.ladder();
        let source = format!(
            "{} | {} | {} | {}",
            family.program(),
            family.mode(),
            family.solve().unwrap_or(""),
            ladder
                .iter()
                .map(|k| k.label())
                .collect::<Vec<_>>()
                .join(" ; ")
        );
        let name = family.name().to_string();
        if self.get(&name).is_ok() && self.program_source(&name) != Some(source.as_str()) {
            let why = match self.program_source(&name) {
                Some(_) => "another program family has this name",
                None => "a registered family has this name: give the program a name of its own",
            };
            return Err(bad(format!("families[{i}].name"), format!("{name:?}"), why));
        }
        let expanded = FamilyConfig {
            name: name.clone(),
            program: Some(family.program().to_string()),
            programs: None,
            mode: (family.mode() == Mode::Input).then_some(Mode::Input),
            solve: family.solve().map(str::to_string),
            levels: match f.levels {
                [0, 0] => [1, ladder.len() as u32],
                given => given,
            },
            ladder,
            ..f.clone()
        };
        self.register_program(family, source);
        Ok(expanded)
    }
}

/// The families of config entry `i` (a program entry).
fn entry_families(i: usize, f: &FamilyConfig) -> Result<Vec<ProgramFamily>> {
    let key = |k: &str| format!("families[{i}].{k}");
    match (&f.program, &f.programs) {
        (Some(_), Some(path)) => Err(bad(
            key("programs"),
            format!("{:?}", path.display().to_string()),
            "give `program` (one program) or `programs` (a file), not both",
        )),
        (Some(text), None) => {
            let mode = f.mode.unwrap_or_default();
            let name = if f.name.is_empty() {
                derived_name(text, mode, f.solve.as_deref())
            } else {
                f.name.clone()
            };
            let spec = ProgramSpec {
                name,
                program: text.clone(),
                mode,
                solve: f.solve.clone(),
                ladder: f.ladder.clone(),
                doc: String::new(),
            };
            let family = spec.build().map_err(|e| bad(key(e.key), e.value, e.why))?;
            Ok(vec![family])
        }
        (None, Some(path)) => {
            if f.mode.is_some() || f.solve.is_some() || !f.ladder.is_empty() {
                return Err(bad(
                    key("mode"),
                    format!("{:?}", path.display().to_string()),
                    "a `programs` entry takes mode, solve and ladder from its file",
                ));
            }
            let file = ProgramFile::load(path).map_err(|e| {
                bad(
                    key("programs"),
                    format!("{:?}", path.display().to_string()),
                    e.to_string(),
                )
            })?;
            if f.name.is_empty() {
                return Ok(file.families().to_vec());
            }
            match file.get(&f.name) {
                Some((_, family)) => Ok(vec![family.clone()]),
                None => Err(bad(
                    key("name"),
                    format!("{:?}", f.name),
                    format!(
                        "no such program in {}; its programs: {}",
                        path.display(),
                        file.names()
                    ),
                )),
            }
        }
        (None, None) => Ok(Vec::new()),
    }
}

/// `program_` and 8 hex digits of a hash of the program text, mode and solve.
fn derived_name(text: &str, mode: Mode, solve: Option<&str>) -> String {
    // Hash the canonical text when it parses, so that spacing does not change the name.
    let canonical =
        super::Program::parse(text).map_or_else(|_| text.to_string(), |p| p.to_string());
    let h = hex16(hash64(&[&canonical, mode.as_str(), solve.unwrap_or("")]));
    format!("program_{}", &h[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curriculum::Curriculum;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn config(families: &str) -> TasksConfig {
        #[derive(serde::Deserialize)]
        struct Root {
            tasks: TasksConfig,
        }
        toml::from_str::<Root>(&format!("[tasks]\n{families}"))
            .unwrap_or_else(|e| panic!("{e}"))
            .tasks
    }

    fn shipped(file: &str) -> String {
        format!("{}/../../tasks/programs/{file}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn program_entries_become_registered_families() {
        let cfg = config(&format!(
            r#"
[[tasks.families]]
name = "addition"
[[tasks.families]]
program = "sort(digits(add(a,b))); a:int[3]; b:int[3]"
[[tasks.families]]
program = "mod(a, 7); a:int[3]"
name = "mod7_inverse"
mode = "input"
levels = [2, 3]
start_level = 2
[[tasks.families]]
programs = "{}"
[[tasks.families]]
programs = "{}"
name = "sorted_list"
format = "fixed_width_lsb_first"
weight = 2.0
"#,
            shipped("digits.toml"),
            shipped("lists.toml")
        ));
        assert!(
            cfg.validate_with(&Registry::builtin()).is_err(),
            "not registered yet"
        );
        let mut reg = Registry::builtin();
        let out = reg.register_programs(&cfg).unwrap();
        let names: Vec<&str> = out.families.iter().map(|f| f.name.as_str()).collect();
        // The derived name hashes the canonical text (spacing does not matter).
        let h = hex16(hash64(&[
            "sort(digits(add(a, b))); a:int[3]; b:int[3]",
            "output",
            "",
        ]));
        assert_eq!(
            names[..3],
            ["addition", &format!("program_{}", &h[..8]), "mod7_inverse"]
        );
        assert_eq!(names.len(), 3 + 6 + 1);
        assert_eq!(names[3], "digit_sum");
        let last = out.families.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.weight, last.levels),
            ("sorted_list", 2.0, [1, 5])
        );
        assert_eq!(last.program.as_deref(), Some("sort(l); l:list[10,2]"));
        assert_eq!(last.ladder.len(), 5);
        let inline = &out.families[1];
        assert_eq!(
            inline.program.as_deref(),
            Some("sort(digits(add(a, b))); a:int[3]; b:int[3]")
        );
        assert_eq!((inline.levels, inline.ladder.len()), ([1, 3], 3));
        let inverse = &out.families[2];
        assert_eq!(
            (inverse.mode, inverse.solve.as_deref(), inverse.levels),
            (Some(Mode::Input), Some("a"), [2, 3])
        );
        out.validate_with(&reg).unwrap();
        // Expanding again changes nothing, also through TOML (what a resumed run reads).
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Root {
            tasks: TasksConfig,
        }
        let text = toml::to_string(&Root { tasks: out.clone() }).unwrap();
        let reread = toml::from_str::<Root>(&text).unwrap().tasks;
        assert_eq!(reread, out);
        let mut fresh = Registry::builtin();
        assert_eq!(fresh.register_programs(&reread).unwrap(), out);
        assert_eq!(reg.register_programs(&out).unwrap(), out);
        // A curriculum draws program tasks; they verify.
        let mut c = Curriculum::new(&out, Arc::new(reg.clone()), 0, HashSet::new()).unwrap();
        let tasks = c.next_tasks(40);
        let programs = tasks.iter().filter(|t| t.program.is_some()).count();
        assert!(programs > 20, "{programs} of 40");
        for t in &tasks {
            assert!(reg.verify(t, &t.answer).correct, "{t:?}");
        }
    }

    #[test]
    fn bad_program_entries_are_errors_naming_key_and_value() {
        let err = |families: &str| {
            Registry::builtin()
                .register_programs(&config(families))
                .unwrap_err()
                .to_string()
        };
        let e = err("[[tasks.families]]\nprogram = \"add(a, ; a:int[2]\"");
        assert!(
            e.contains("tasks.families[0].program = \"add(a, ; a:int[2]\": at byte 7"),
            "{e}"
        );
        let e = err("[[tasks.families]]\nprogram = \"a; a:int[2]\"\nname = \"addition\"");
        assert!(
            e.contains("families[0].name = \"addition\"") && e.contains("name of its own"),
            "{e}"
        );
        let e = err(&format!(
            "[[tasks.families]]\nprograms = \"{}\"\nname = \"digit_summ\"",
            shipped("digits.toml")
        ));
        assert!(
            e.contains("families[0].name = \"digit_summ\"") && e.contains("digit_sum,"),
            "{e}"
        );
        let e = err("[[tasks.families]]\nprograms = \"nope.toml\"");
        assert!(
            e.contains("families[0].programs = \"nope.toml\"") && e.contains("nope.toml:"),
            "{e}"
        );
        let e = err("[[tasks.families]]\nprogram = \"a; a:int[2]\"\nprograms = \"x.toml\"");
        assert!(e.contains("not both"), "{e}");
        let e = err("[[tasks.families]]\nprogram = \"a; a:int[2]\"\nname = \"x\"\n[[tasks.families]]\nprogram = \"a; a:int[3]\"\nname = \"x\"");
        assert!(
            e.contains("families[1].name = \"x\": another program family"),
            "{e}"
        );
        let e =
            err("[[tasks.families]]\nprogram = \"a; a:int[2]\"\nmode = \"output\"\nsolve = \"a\"");
        assert!(e.contains("families[0].solve"), "{e}");
        let e = toml::from_str::<toml::Value>("").map(|_| ()).err();
        assert!(e.is_none());
        // Keys of program entries on a plain family are refused by validation.
        let c = config("[[tasks.families]]\nname = \"addition\"\nmode = \"input\"");
        let e = c
            .validate_with(&Registry::builtin())
            .unwrap_err()
            .to_string();
        assert!(e.contains("program entries only"), "{e}");
    }
}
