//! Every config in `configs/` runs as shipped (issue 21): at seeds 0 and 1 each one warm-starts
//! exactly as a user's run does, passes preflight on that real start and trains 2 steps.
//! `lora.toml` is left out: it needs a trained base model (`model.path`).
//!
//! The real warm starts (up to 1,000 steps of a 0.8M-parameter model) take about a minute each
//! (the test build optimises the compute crates: `Cargo.toml`'s dev profile), so the run test is
//! ignored by default: `cargo test --workspace --test cli configs:: -- --ignored` runs it (CI
//! does, in the build it tests with: without `--workspace` the features resolve differently and
//! candle is rebuilt). The runs share a warm-start cache (`--warm-start-cache`): configs whose
//! warm starts are identical (quickstart and curriculum-vs-uniform, mixture and
//! open-ended-mixture) compute it once, and the second gets the same weights bit for bit. That
//! every shipped config reads and validates is checked in every run of the tests
//! (`src/config.rs`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{read_jsonl, rlvr};

/// The shipped configs this test covers, sorted.
fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| p.file_name().is_some_and(|n| n != "lora.toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 5, "{configs:?}");
    configs
}

/// `rlvr train CONFIG --seed SEED --max-steps 2`, evaluating only at the start and the end, on
/// fewer tasks, taking identical warm starts from `cache`; nothing else changed (the warm start,
/// the model and the sampling are the config's, so preflight sees what a user's run sees).
fn run_shipped(config: &Path, seed: u64, out: &Path, cache: &Path) -> std::process::Output {
    rlvr()
        .env("RUST_LOG", "info")
        .args(["train"])
        .arg(config)
        .args(["--seed", &seed.to_string(), "--max-steps", "2", "--out"])
        .arg(out)
        .args([
            "--set",
            "train.eval_every=0",
            "--set",
            "eval.max_per_level=16",
            "--warm-start-cache",
        ])
        .arg(cache)
        .output()
        .unwrap()
}

#[test]
#[ignore = "real warm starts, ~6 min: cargo test --workspace --test cli configs:: -- --ignored"]
fn every_shipped_config_runs_at_seeds_0_and_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for config in shipped() {
        for seed in [0, 1] {
            let name = config.file_stem().unwrap().to_string_lossy().into_owned();
            let out = dir.path().join(format!("{name}-s{seed}"));
            let run = run_shipped(&config, seed, &out, &dir.path().join("warm-starts"));
            let stderr = String::from_utf8_lossy(&run.stderr);
            let preflight: Vec<&str> = stderr.lines().filter(|l| l.contains("preflight")).collect();
            let cached = if stderr.contains("taken from the cache") {
                " (warm start from the cache)"
            } else {
                ""
            };
            eprintln!("{name} seed {seed}{cached}: {}", preflight.join(" | "));
            if !run.status.success() {
                failures.push(format!("{name} seed {seed}:\n{stderr}"));
                continue;
            }
            let summary: Value =
                serde_json::from_str(String::from_utf8_lossy(&run.stdout).trim()).unwrap();
            let steps = summary["steps"].as_u64().unwrap();
            assert_eq!(steps, 2, "{name} seed {seed}: {summary}");
            assert_eq!(read_jsonl(&out.join("metrics.jsonl")).len(), 2);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
