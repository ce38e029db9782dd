//! The `taskgen_*` workloads: generate `count` tasks of a family at the workload's knobs and
//! verify each gold answer (it must be accepted), on `--threads` threads. Figure: tasks per second.
//! Bare style, natural format (the peers' closest setting: `Calculate a + b.`). A workload with
//! `program = "..."` generates that task program's tasks (output mode, declared sizes).

use std::time::Instant;

use tasks::{Knobs, NumberFormat, PromptStyle, Registry};

use super::workloads::TaskgenWorkload;
use super::{BenchArgs, BenchResult, Error, Result, Workloads};

/// Runs a `taskgen_*` workload.
pub fn run(workloads: &Workloads, args: &BenchArgs) -> Result<BenchResult> {
    let mut w: TaskgenWorkload = workloads.get(&args.workload)?;
    let mut registry = Registry::builtin();
    if let Some(text) = &w.program {
        // A program family named after the workload, at the program's declared sizes.
        let bad = |message: String| Error::Workload {
            name: args.workload.clone(),
            message: format!("program = {text:?}: {message}"),
        };
        let program = tasks::program::Program::parse(text).map_err(|e| bad(e.to_string()))?;
        let family = tasks::program::ProgramFamily::new(
            &args.workload,
            program,
            tasks::program::Mode::Output,
        )
        .map_err(|e| bad(e.to_string()))?;
        registry.register(Box::new(family));
        w.family = args.workload.clone();
    }
    let mut overrides = Knobs::new();
    for (name, value) in &w.knobs {
        let v = match value {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            other => {
                return Err(Error::Workload {
                    name: args.workload.clone(),
                    message: format!("knob {name} = {other}: expected a number"),
                })
            }
        };
        overrides.set(name.clone(), v);
    }
    let format = NumberFormat::Natural;
    let knobs = registry
        .resolve(&w.family, &overrides, format)
        .map_err(|e| Error::Workload {
            name: args.workload.clone(),
            message: e.to_string(),
        })?;
    let threads = args.threads.max(1);
    let pass = |count: usize| -> Result<f64> {
        let start = Instant::now();
        let chunk = count.div_ceil(threads);
        let failures: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (registry, knobs, family) = (&registry, &knobs, &w.family);
                    let lo = (t * chunk).min(count);
                    let hi = ((t + 1) * chunk).min(count);
                    s.spawn(move || generate_and_verify(registry, family, knobs, w.seed, lo, hi))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(usize::MAX))
                .sum()
        });
        if failures > 0 {
            return Err(Error::Rejected {
                workload: args.workload.clone(),
                rejected: failures,
            });
        }
        Ok(count as f64 / start.elapsed().as_secs_f64())
    };
    pass(w.count.min(10_000))?; // untimed warm-up
    let runs = (0..args.repeat.max(1))
        .map(|_| pass(w.count))
        .collect::<Result<Vec<f64>>>()?;
    let extra = serde_json::json!({
        "family": w.family, "program": w.program, "knobs": knobs, "count": w.count, "threads": threads,
        "style": "bare", "format": format.as_str(),
    });
    Ok(BenchResult::new(&args.workload, "items/s", runs, extra))
}

/// Generates tasks with seeds `seed + lo .. seed + hi` and verifies each gold answer; returns
/// how many were rejected.
fn generate_and_verify(
    registry: &Registry,
    family: &str,
    knobs: &Knobs,
    seed: u64,
    lo: usize,
    hi: usize,
) -> usize {
    let Ok(fam) = registry.get(family) else {
        return hi - lo;
    };
    let mut rejected = 0;
    for i in lo..hi {
        let task = fam.generate(
            knobs,
            PromptStyle::Bare,
            NumberFormat::Natural,
            seed.wrapping_add(i as u64),
        );
        rejected += !fam.verify(&task, &task.answer).correct as usize;
    }
    rejected
}
