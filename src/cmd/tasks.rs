//! `rlvr tasks`: list families, sample tasks, verify completions, export the frozen eval sets and
//! import external JSONL tasks, check program files and evolve task-program families. Every
//! command writes JSON lines (or a table) to stdout.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde::Deserialize;
use tasks::program::{read_specs, Cell, EvolveConfig, Evolver, Mode};
use tasks::{
    eval_file_name, import_jsonl, EvalSet, ExternalVerifier, FamilyConfig, Knobs, NumberFormat,
    PromptStyle, Reason, Registry, Task, TasksConfig, Verdict,
};
use trainer::report::EvolvePoint;

/// Arguments of `rlvr tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(subcommand)]
    pub command: TasksCommand,
}

/// The `rlvr tasks` subcommands.
#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List the families, their knobs and level ladders.
    List {
        /// One JSON object per family (name, doc, knobs, levels, formats) instead of a table.
        #[arg(long)]
        json: bool,
        /// List the families of this program file instead of the built-ins (repeatable).
        #[arg(long, value_name = "FILE")]
        programs: Vec<PathBuf>,
    },
    /// Print generated tasks, one JSON object per line.
    Sample(SampleArgs),
    /// Read `{"task": ..., "completion": "..."}` lines on stdin, write one verdict per line.
    Verify,
    /// Write the frozen eval sets (one JSONL file per family x level).
    Export(ExportArgs),
    /// Convert external `{"question", "answer"}` JSONL (reasoning-gym's) into tasks.
    Import(ImportArgs),
    /// Check a program file: parse, type-check and run each program on the probe inputs.
    ///
    /// FILE is a program TOML file (tasks/programs/*.toml) or a text file with one program per
    /// line. Prints one JSON line per program: its fingerprint, mode and levels, or why it is
    /// rejected (exit status 2 if any is). Programs with equal fingerprints are one family.
    Check(CheckArgs),
    /// Grow an archive of distinct task-program families from the primitives alone.
    ///
    /// Writes DIR/archive.jsonl (one family per line: program, fingerprint, cell, lineage),
    /// DIR/distinct.png (distinct families against proposals) and one summary JSON line on
    /// stdout. The same seed gives a byte-identical archive, whatever the thread count.
    Evolve(EvolveArgs),
}

/// Arguments of `rlvr tasks evolve`.
#[derive(Debug, Args)]
pub struct EvolveArgs {
    /// Proposals to make.
    #[arg(long, default_value_t = 100_000)]
    pub proposals: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Threads evaluating each batch of proposals (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Reject a program that gives one and the same answer on more than this share of its
    /// probe inputs (1.0: keep any program that is not constant).
    #[arg(long, default_value_t = 1.0, value_parser = parse_share)]
    pub max_skew: f64,
}

/// Arguments of `rlvr tasks sample`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["family", "program"]))]
pub struct SampleArgs {
    /// Family name (see `rlvr tasks list`; with --programs FILE, the file's too).
    pub family: Option<String>,
    /// A task program to sample instead of a family, e.g.
    /// `--program "sort(digits(add(a, b))); a:int[3]; b:int[3]"`; its knobs are its input sizes
    /// (`--knob a_digits=5`), its levels one per digit.
    #[arg(long, value_name = "TEXT")]
    pub program: Option<String>,
    /// With --program: output (compute the result) or input (find an input for the result).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// With --program --mode input: the input to find (default: the first int or list input).
    #[arg(long, value_name = "INPUT", requires = "program")]
    pub solve: Option<String>,
    /// Register the families of this program file, so that FAMILY may name one (repeatable).
    #[arg(long, value_name = "FILE")]
    pub programs: Vec<PathBuf>,
    /// Set a knob (repeatable), e.g. `--knob digits=3`.
    #[arg(long = "knob", value_name = "NAME=VALUE")]
    pub knobs: Vec<String>,
    /// Ladder level; `--knob` values are set on top of it.
    #[arg(long)]
    pub level: Option<u32>,
    /// Number of tasks; task i uses seed `seed + i`.
    #[arg(short = 'n', default_value_t = 5)]
    pub n: usize,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Prompt style: bare or tagged.
    #[arg(long, default_value = "bare", value_parser = parse_style)]
    pub style: PromptStyle,
    /// Number format: natural or fixed_width_lsb_first.
    #[arg(long, default_value = "natural", value_parser = parse_format)]
    pub format: NumberFormat,
}

/// Arguments of `rlvr tasks check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Program TOML file, or a text file with one program per line.
    pub file: PathBuf,
}

/// Arguments of `rlvr tasks export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output directory.
    #[arg(long, default_value = "tasks/eval")]
    pub out: PathBuf,
    /// Only these families (repeatable; default all).
    #[arg(long = "family")]
    pub families: Vec<String>,
    /// Tasks per addition level (bare, fixed_width_lsb_first, width 8).
    #[arg(long, default_value_t = 200)]
    pub addition: usize,
    /// Tasks per level of every other family (bare, natural).
    #[arg(long, default_value_t = 100)]
    pub others: usize,
    /// Export the families of this program file (bare, natural, --others per level) instead of
    /// the built-ins (repeatable; --family picks among them).
    #[arg(long, value_name = "FILE")]
    pub programs: Vec<PathBuf>,
}

/// Arguments of `rlvr tasks import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSONL file of `{"question", "answer"}` objects.
    pub file: PathBuf,
    /// Verifier: exact_string, exact_number or countdown.
    #[arg(long)]
    pub verifier: String,
    /// Write the tasks here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub(crate) fn parse_style(s: &str) -> Result<PromptStyle, String> {
    match s {
        "bare" => Ok(PromptStyle::Bare),
        "tagged" => Ok(PromptStyle::Tagged),
        _ => Err(format!("unknown style {s:?}: expected bare or tagged")),
    }
}

pub(crate) fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "output" => Ok(Mode::Output),
        "input" => Ok(Mode::Input),
        _ => Err(format!("unknown mode {s:?}: expected output or input")),
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: expected a share in [0, 1]")),
    }
}

pub(crate) fn parse_format(s: &str) -> Result<NumberFormat, String> {
    match s {
        "natural" => Ok(NumberFormat::Natural),
        "fixed_width_lsb_first" => Ok(NumberFormat::FixedWidthLsbFirst),
        _ => Err(format!(
            "unknown format {s:?}: expected natural or fixed_width_lsb_first"
        )),
    }
}

/// Runs `rlvr tasks`.
pub fn run(args: TasksArgs) -> anyhow::Result<()> {
    let registry = Registry::builtin();
    match args.command {
        TasksCommand::List { json, programs } => {
            let (registry, names) = with_program_files(&programs)?;
            list(&registry, json, (!programs.is_empty()).then_some(&names))
        }
        TasksCommand::Sample(a) => sample(a),
        TasksCommand::Verify => verify_stdin(&registry),
        TasksCommand::Export(a) => export(a),
        TasksCommand::Import(a) => import(&registry, a),
        TasksCommand::Check(a) => check(&a.file),
        TasksCommand::Evolve(a) => evolve(a),
    }
}

/// The built-in registry with the families of `files` registered, and their names.
fn with_program_files(files: &[PathBuf]) -> anyhow::Result<(Registry, Vec<String>)> {
    for path in files {
        // Checked here first, so that an error names the file rather than a config key.
        tasks::program::ProgramFile::load(path)?;
    }
    let entries = files
        .iter()
        .map(|path| FamilyConfig {
            name: String::new(),
            programs: Some(path.clone()),
            levels: [0, 0],
            ..FamilyConfig::default()
        })
        .collect();
    with_entries(entries)
}

/// The built-in registry with program `entries` registered, and their families' names.
fn with_entries(entries: Vec<FamilyConfig>) -> anyhow::Result<(Registry, Vec<String>)> {
    let mut registry = Registry::builtin();
    if entries.is_empty() {
        return Ok((registry, Vec::new()));
    }
    let cfg = TasksConfig {
        families: entries,
        ..TasksConfig::default()
    };
    let expanded = registry.register_programs(&cfg)?;
    let names = expanded.families.into_iter().map(|f| f.name).collect();
    Ok((registry, names))
}

fn list(registry: &Registry, json: bool, only: Option<&Vec<String>>) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for fam in registry.iter() {
        if only.is_some_and(|names| !names.iter().any(|n| n == fam.name())) {
            continue;
        }
        let levels: Vec<serde_json::Value> = fam
            .ladder()
            .iter()
            .enumerate()
            .map(|(i, k)| serde_json::json!({ "level": i + 1, "knobs": k }))
            .collect();
        if json {
            let formats: Vec<&str> = fam.formats().iter().map(|f| f.as_str()).collect();
            let obj = serde_json::json!({
                "name": fam.name(), "doc": fam.doc(), "knobs": fam.knobs(), "levels": levels, "formats": formats,
            });
            writeln!(out, "{obj}")?;
            continue;
        }
        writeln!(out, "{}: {}", fam.name(), fam.doc())?;
        for k in fam.knobs() {
            let range = match k.range {
                tasks::KnobRange::Int { min, max } => format!("{min}..={max}"),
                tasks::KnobRange::Real { min, max } => format!("{min}..={max}"),
            };
            writeln!(
                out,
                "  --knob {}=<{range}> (default {}, harder: {:?}) {}",
                k.name, k.default, k.harder, k.doc
            )?;
        }
        for (i, k) in fam.ladder().iter().enumerate() {
            writeln!(out, "  level {}: {}", i + 1, k.label())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn parse_knobs(specs: &[String]) -> anyhow::Result<Knobs> {
    let mut knobs = Knobs::new();
    for spec in specs {
        let (name, value) = spec
            .split_once('=')
            .with_context(|| format!("--knob {spec:?}: expected NAME=VALUE"))?;
        let value: f64 = value
            .trim()
            .parse()
            .with_context(|| format!("--knob {spec:?}: {value:?} is not a number"))?;
        knobs.set(name.trim().to_string(), value);
    }
    Ok(knobs)
}

fn sample(a: SampleArgs) -> anyhow::Result<()> {
    let knobs = parse_knobs(&a.knobs)?;
    let (registry, family) = match &a.program {
        Some(text) => {
            let entry = FamilyConfig {
                name: String::new(),
                program: Some(text.clone()),
                mode: a.mode,
                solve: a.solve.clone(),
                levels: [0, 0],
                ..FamilyConfig::default()
            };
            let (registry, names) =
                with_entries(vec![entry]).with_context(|| format!("--program {text:?}"))?;
            let name = names.into_iter().next().context("no family registered")?;
            (registry, name)
        }
        None => {
            if a.mode.is_some() {
                bail!("--mode applies to --program (a file's programs have their own mode)");
            }
            let (registry, _) = with_program_files(&a.programs)?;
            (
                registry,
                a.family
                    .clone()
                    .context("a family or --program is needed")?,
            )
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..a.n as u64 {
        let seed = a.seed.wrapping_add(i);
        let task = match a.level {
            Some(level) => {
                registry.generate_level(&family, level, &knobs, a.style, a.format, seed)?
            }
            None => registry.generate(&family, &knobs, a.style, a.format, seed)?,
        };
        writeln!(out, "{}", serde_json::to_string(&task)?)?;
    }
    out.flush()?;
    Ok(())
}

/// What `rlvr tasks check` prints for one program.
#[derive(serde::Serialize)]
struct Checked {
    name: String,
    program: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<tasks::program::Fingerprint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<tasks::program::Type>,
    #[serde(skip_serializing_if = "Option::is_none")]
    depth: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    levels: Option<usize>,
    /// Share of the probes giving the most common answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    skew: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    same_family_as: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One JSON line per program of `file`: kept (fingerprint, mode, levels) or rejected (why).
fn check(file: &std::path::Path) -> anyhow::Result<()> {
    use tasks::Family;
    let specs = read_specs(file)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut rejected = 0;
    let mut seen: Vec<(tasks::program::Fingerprint, String)> = Vec::new();
    for spec in &specs {
        let mut line = Checked {
            name: spec.name.clone(),
            program: spec.program.clone(),
            ok: false,
            fingerprint: None,
            mode: None,
            output: None,
            depth: None,
            levels: None,
            skew: None,
            same_family_as: None,
            error: None,
        };
        match spec.family() {
            Ok(family) => {
                let p = family.program();
                let fingerprint = p.fingerprint()?;
                line.same_family_as = seen
                    .iter()
                    .find(|(f, _)| *f == fingerprint)
                    .map(|(_, n)| n.clone());
                seen.push((fingerprint, spec.name.clone()));
                line.program = p.to_string();
                line.ok = true;
                line.fingerprint = Some(fingerprint);
                line.mode = Some(family.mode());
                line.output = Some(p.output_type());
                line.depth = Some(p.depth());
                line.levels = Some(family.ladder().len());
                line.skew = Some(p.skew()?);
            }
            Err(e) => {
                rejected += 1;
                line.error = Some(e.to_string());
            }
        }
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    out.flush()?;
    if rejected > 0 {
        bail!(
            "{}: {rejected} of {} programs rejected",
            file.display(),
            specs.len()
        );
    }
    eprintln!("{}: {} programs, all valid", file.display(), specs.len());
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyLine {
    task: Task,
    completion: String,
}

fn verify_stdin(registry: &Registry) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    verify_lines(registry, std::io::stdin().lock(), &mut out)?;
    out.flush()?;
    Ok(())
}

/// One verdict line per non-blank input line; a malformed line gets an `invalid_input` verdict
/// naming its line number, and the rest go on.
fn verify_lines(
    registry: &Registry,
    input: impl BufRead,
    mut out: impl Write,
) -> anyhow::Result<()> {
    for (i, line) in input.lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let verdict = match serde_json::from_str::<VerifyLine>(&line) {
            Ok(v) => registry.verify(&v.task, &v.completion),
            Err(e) => Verdict::fail(None, Reason::InvalidInput, format!("line {}: {e}", i + 1)),
        };
        writeln!(out, "{}", serde_json::to_string(&verdict)?)?;
    }
    Ok(())
}

fn export(a: ExportArgs) -> anyhow::Result<()> {
    let (registry, programs) = with_program_files(&a.programs)?;
    for name in &a.families {
        registry.get(name)?;
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for fam in registry.iter() {
        if !a.families.is_empty() && !a.families.iter().any(|f| f == fam.name()) {
            continue;
        }
        if !a.programs.is_empty() && !programs.iter().any(|p| p == fam.name()) {
            continue;
        }
        let (format, n, overrides) = if fam.name() == "addition" {
            (
                NumberFormat::FixedWidthLsbFirst,
                a.addition,
                Knobs::from_static(&[("width", 8.0)]),
            )
        } else {
            (NumberFormat::Natural, a.others, Knobs::new())
        };
        for level in 1..=fam.ladder().len() as u32 {
            let set = EvalSet::generate(
                &registry,
                fam.name(),
                level,
                &overrides,
                PromptStyle::Bare,
                format,
                n,
            )?;
            let path = a
                .out
                .join(eval_file_name(fam.name(), PromptStyle::Bare, format, level));
            set.write(&path)?;
            writeln!(out, "{} {}", path.display(), set.tasks.len())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn import(registry: &Registry, a: ImportArgs) -> anyhow::Result<()> {
    let verifier = ExternalVerifier::from_name(&a.verifier)?;
    let tasks = import_jsonl(&a.file, verifier)?;
    let bad: Vec<&Task> = tasks
        .iter()
        .filter(|t| !registry.verify(t, &t.answer).correct)
        .collect();
    if let Some(t) = bad.first() {
        bail!(
            "{} of {} imported reference answers fail the {} verifier, e.g. {:?}",
            bad.len(),
            tasks.len(),
            a.verifier,
            t.answer
        );
    }
    let mut w: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    for t in &tasks {
        writeln!(w, "{}", serde_json::to_string(t)?)?;
    }
    w.flush()?;
    tracing::info!(tasks = tasks.len(), verifier = %a.verifier, "imported");
    Ok(())
}

fn evolve(a: EvolveArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let start = std::time::Instant::now();
    let mut config = EvolveConfig::default();
    config.validity.max_skew = a.max_skew;
    let mut evolver = Evolver::new(config, a.seed).with_threads(a.threads);
    let bar = indicatif::ProgressBar::new(a.proposals);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} proposals {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    // About 400 points on the plot, each after whole batches (so that a shorter run's archive
    // is a prefix of a longer one's).
    let batch = evolver.config().batch.max(1) as u64;
    let every = (a.proposals / 400).div_ceil(batch).max(1) * batch;
    let mut points = vec![EvolvePoint {
        proposals: 0,
        valid: 0,
        distinct: 0,
    }];
    while evolver.stats().proposals < a.proposals {
        let target = (evolver.stats().proposals + every).min(a.proposals);
        evolver.run(target);
        let s = evolver.stats();
        points.push(EvolvePoint {
            proposals: s.proposals,
            valid: s.valid,
            distinct: s.distinct,
        });
        bar.set_position(s.proposals);
        bar.set_message(format!("{} distinct", s.distinct));
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let archive_path = a.out.join("archive.jsonl");
    evolver.archive().write_jsonl(&archive_path)?;
    let plot_path = a.out.join("distinct.png");
    trainer::report::write_evolution_plot(&points, &plot_path)?;
    let s = evolver.stats();
    let archive = evolver.archive();
    let summary = serde_json::json!({
        "proposals": s.proposals,
        "valid": s.valid,
        "distinct": s.distinct,
        "distinct_expressions": archive.distinct_expressions(),
        "cells_filled": archive.cells_filled(),
        "cells_total": Cell::TOTAL,
        "coverage": archive.coverage(),
        "duplicates": s.duplicates,
        "redundant": s.redundant,
        "failed": s.failed,
        "max_skew": a.max_skew,
        "found_by": s.found_by,
        "seconds": seconds,
        "proposals_per_second": s.proposals as f64 / seconds.max(1e-9),
        "archive": archive_path,
        "plot": plot_path,
    });
    println!("{summary}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knob_specs_parse_and_reject_garbage() {
        let k = parse_knobs(&["digits=3".into(), " width = 8".into()]).unwrap();
        assert_eq!((k.int("digits", 0), k.int("width", 0)), (3, 8));
        assert!(parse_knobs(&["digits".into()])
            .unwrap_err()
            .to_string()
            .contains("NAME=VALUE"));
        assert!(parse_knobs(&["digits=three".into()])
            .unwrap_err()
            .to_string()
            .contains("three"));
        assert_eq!(parse_style("tagged"), Ok(PromptStyle::Tagged));
        assert!(parse_format("lsb").is_err());
    }

    #[test]
    fn verify_lines_keeps_going_after_a_bad_line() {
        let registry = Registry::builtin();
        let task = registry
            .generate_level(
                "addition",
                2,
                &Knobs::new(),
                PromptStyle::Bare,
                NumberFormat::FixedWidthLsbFirst,
                5,
            )
            .unwrap();
        let t = serde_json::to_string(&task).unwrap();
        let input = format!(
            "{{\"task\": {t}, \"completion\": {:?}}}\nnot json\n\n{{\"task\": {t}, \"completion\": \"1\"}}\n",
            task.answer
        );
        let mut out = Vec::new();
        verify_lines(&registry, input.as_bytes(), &mut out).unwrap();
        let verdicts: Vec<Verdict> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(verdicts.len(), 3);
        assert!(verdicts[0].correct);
        assert_eq!(verdicts[1].reason, Reason::InvalidInput);
        assert!(verdicts[1]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("line 2:"));
        assert_eq!(verdicts[2].reason, Reason::Wrong);
    }
}
