//! The `taskgen_*` workloads: generate `count` tasks of a family at the workload's knobs and
//! verify each gold answer (it must be accepted), on `--threads` threads. Figure: tasks per second.
//! Bare style, natural format (the peers' closest setting: `Calculate a + b.`). A workload with
//! `program = "..."` generates that task program's tasks (output mode, declared sizes).

use std::time::Instant;

use anyhow::{bail, Context};
use tasks::{Knobs, NumberFormat, PromptStyle, Registry};

use super::workloads::TaskgenWorkload;
use super::{BenchArgs, BenchResult, Workloads};

/// Runs a `taskgen_*` workload.
pub fn run(workloads: &Workloads, args: &BenchArgs) -> anyhow::Result<BenchResult> {
    let mut w: TaskgenWorkload = workloads.get(&args.workload)?;
    let mut registry = Registry::builtin();
    if let Some(text) = &w.program {
        // A program family named after the workload, at the program's declared sizes.
        let program = tasks::program::Program::parse(text)
            .with_context(|| format!("[workload.{}] program = {text:?}", args.workload))?;
        let family = tasks::program::ProgramFamily::new(
            &args.workload,
            program,
            tasks::program::Mode::Output,
        )
        .with_context(|| format!("[workload.{}]", args.workload))?;
        registry.register(Box::new(family));
        w.family = args.workload.clone();
    }
    let mut overrides = Knobs::new();
    for (name, value) in &w.knobs {
        let v = match value {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            other => bail!(
                "[workload.{}] knob {name} = {other}: expected a number",
                args.workload
            ),
        };
        overrides.set(name.clone(), v);
    }
    let format = NumberFormat::Natural;
    let knobs = registry
        .resolve(&w.family, &overrides, format)
        .with_context(|| format!("[workload.{}]", args.workload))?;
    let threads = args.threads.max(1);
    let pass = |count: usize| -> anyhow::Result<f64> {
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
            bail!("{failures} gold answers were rejected by the verifier");
        }
        Ok(count as f64 / start.elapsed().as_secs_f64())
    };
    pass(w.count.min(10_000))?; // untimed warm-up
    let runs = (0..args.repeat.max(1))
        .map(|_| pass(w.count))
        .collect::<anyhow::Result<Vec<f64>>>()?;
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
