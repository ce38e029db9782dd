//! Data-parallel training over MPI ranks (issue 18): two ranks, each with half of every step's
//! tasks and half of every update, against one process with all of them. Built with
//! `--features mpi` and run under Open MPI's `mpirun` (`.ci/run` installs it):
//! `cargo test --workspace --features rlvr/mpi,trainer/mpi --test cli distributed::`.
//! A run resumes on any number of ranks that divides `sampling.tasks_per_step`.
//!
//! One process cuts an update's micro-batch in `train.shards` slices whose gradients it adds in
//! order; two ranks with one slice each compute the same two slices, and MPI adds the same two
//! sums (a + b = b + a exactly), so with one micro-batch per update the runs agree bit for bit.
//! With several micro-batches the order of the float sums differs (one process adds slice by
//! slice within each micro-batch, then the micro-batches; a rank adds its micro-batches first,
//! then MPI adds the ranks), so the gradients differ by a few f32 roundings (~1e-7 relative).
//! AdamW's step divides the first moment by the root of the second, which turns a rounding-level
//! difference in a gradient element near zero into a difference of up to 2·lr in its step, so
//! the weights are compared against the learning rate, not the weights' size: per element
//! |Δw| <= `lr` × steps (the bound is far from reached: see the figures the test prints).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Device, Tensor};

use crate::util::{read_jsonl, run_ok};

/// `mpirun --oversubscribe -np 2 rlvr ARGS` with the variables Open MPI needs to run as root in
/// a container; asserts success.
fn mpirun_ok(args: &[&str]) {
    let mut cmd = Command::new("mpirun");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args(["--oversubscribe", "-np", "2", env!("CARGO_BIN_EXE_rlvr")])
        .args(args);
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot start mpirun ({e}): install Open MPI \
             (apt-get install openmpi-bin libopenmpi-dev libclang-dev, docs/distributed.md)"
        )
    });
    assert!(
        out.status.success(),
        "mpirun -np 2 rlvr {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `rlvr train configs/smoke.toml --out DIR` with `sets`, on one process or two ranks.
fn smoke(dir: &Path, ranks: usize, sets: &[&str]) {
    let out = dir.to_str().expect("utf-8 path");
    let mut args = vec!["train", "configs/smoke.toml", "--out", out];
    for s in sets {
        args.extend(["--set", s]);
    }
    match ranks {
        1 => {
            run_ok(&args);
        }
        _ => mpirun_ok(&args),
    }
}

/// The largest relative difference of each numeric metric between two runs' `metrics.jsonl`
/// (wall times excluded); every other value must be equal.
fn metric_differences(a: &Path, b: &Path) -> HashMap<String, f64> {
    let (ra, rb) = (
        read_jsonl(&a.join("metrics.jsonl")),
        read_jsonl(&b.join("metrics.jsonl")),
    );
    assert_eq!(ra.len(), rb.len(), "steps in {a:?} and {b:?}");
    let mut worst = HashMap::new();
    for (x, y) in ra.iter().zip(&rb) {
        let (x, y) = (x.as_object().unwrap(), y.as_object().unwrap());
        let keys: Vec<&String> = x.keys().collect();
        assert_eq!(keys, y.keys().collect::<Vec<_>>(), "metric names");
        for (k, v) in x {
            if k.starts_with("time/") || k == "train_seconds" {
                continue;
            }
            match (v.as_f64(), y[k].as_f64()) {
                (Some(p), Some(q)) if v.is_f64() => {
                    let d = (p - q).abs() / p.abs().max(1e-12);
                    let e = worst.entry(k.clone()).or_insert(0.0f64);
                    *e = e.max(d);
                }
                _ => assert_eq!(v, &y[k], "{k} at step {}", x["step"]),
            }
        }
    }
    worst
}

fn weights(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The largest element-wise |a - b| over every tensor of two safetensors files.
fn weight_difference(a: &Path, b: &Path) -> f32 {
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    let mut worst = 0f32;
    for (name, ta) in &wa {
        let tb = &wb[name];
        let d = (ta - tb)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        worst = worst.max(d);
    }
    worst
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// One process with 2 threads and 2 slices per micro-batch; two ranks with 1 and 1.
const ONE: &[&str] = &["threads=2", "train.shards=2"];
const TWO: &[&str] = &["threads=1", "train.shards=1"];

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

#[test]
fn two_ranks_equal_one_process_bit_for_bit_with_one_micro_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    smoke(&one, 1, ONE);
    smoke(&two, 2, TWO);
    let diffs = metric_differences(&one, &two);
    assert!(diffs.values().all(|&d| d == 0.0), "{diffs:?}");
    let model = |d: &PathBuf| d.join("model/model.safetensors");
    assert!(same_bytes(&model(&one), &model(&two)), "weights differ");
    for f in ["eval.jsonl", "warm_start.jsonl", "samples.jsonl"] {
        let strip = |d: &PathBuf| {
            let mut rows = read_jsonl(&d.join(f));
            for r in &mut rows {
                if let Some(o) = r.as_object_mut() {
                    o.retain(|k, _| !k.ends_with("seconds"));
                }
            }
            rows
        };
        assert_eq!(strip(&one), strip(&two), "{f}");
    }
    // The collectives' share of the phases is logged, and only with two ranks is it > 0.
    let last = |d: &PathBuf| read_jsonl(&d.join("metrics.jsonl")).pop().unwrap();
    assert_eq!(last(&one)["time/all_reduce"], 0.0);
    assert!(last(&two)["time/all_reduce"].as_f64().unwrap() > 0.0);
}

#[test]
fn two_ranks_match_one_process_within_rounding_and_repeat_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    // Micro-batches of 16 sequences: an update takes 2-4 of them, summed in another order.
    let mb = ["train.micro_batch=16"];
    smoke(&dir("one"), 1, &with(ONE, &mb));
    smoke(&dir("two"), 2, &with(TWO, &mb));
    smoke(&dir("again"), 2, &with(TWO, &mb));
    let model = |n: &str| dir(n).join("model/model.safetensors");
    assert!(
        same_bytes(&model("two"), &model("again")),
        "the same ranks and seed repeat bit for bit"
    );
    assert!(metric_differences(&dir("two"), &dir("again"))
        .values()
        .all(|&d| d == 0.0));
    let diffs = metric_differences(&dir("one"), &dir("two"));
    let dw = weight_difference(&model("one"), &model("two"));
    eprintln!("full, 1 process vs 2 ranks: metrics {diffs:?}, weights max |dw| {dw:e}");
    check_rounding(&diffs, dw, 1e-3, 6);
}

/// Metrics within 1e-4 relative (sums of a few hundred f32 terms in another order), weights
/// within `lr × steps` per element (see the module doc).
fn check_rounding(diffs: &HashMap<String, f64>, dw: f32, lr: f32, steps: u32) {
    for (k, &d) in diffs {
        assert!(d <= 1e-4, "{k}: relative difference {d:e}");
    }
    assert!(dw <= lr * steps as f32, "weights differ by {dw:e}");
}

#[test]
fn lora_on_two_ranks_matches_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    // The base: the smoke model after its warm start.
    smoke(&dir("base"), 1, &["train.max_steps=0"]);
    let base = format!("model.path={}", dir("base").join("model").display());
    let lora = [
        base.as_str(),
        "lora.r=4",
        "lora.alpha=8",
        "warm_start.steps=0",
        "train.micro_batch=16",
    ];
    smoke(&dir("one"), 1, &with(ONE, &lora));
    smoke(&dir("two"), 2, &with(TWO, &lora));
    let adapter = |n: &str| dir(n).join("model/adapter_model.safetensors");
    let diffs = metric_differences(&dir("one"), &dir("two"));
    let dw = weight_difference(&adapter("one"), &adapter("two"));
    eprintln!("LoRA, 1 process vs 2 ranks: metrics {diffs:?}, adapter max |dw| {dw:e}");
    check_rounding(&diffs, dw, 1e-3, 6);
}

/// `rlvr train --resume DIR --max-steps 6`, on one process or two ranks.
fn resume_to_6(dir: &Path, ranks: usize) {
    let args = [
        "train",
        "--resume",
        dir.to_str().expect("utf-8 path"),
        "--max-steps",
        "6",
    ];
    match ranks {
        1 => {
            run_ok(&args);
        }
        _ => mpirun_ok(&args),
    }
}

#[test]
fn a_two_rank_run_resumes_exactly_on_two_ranks_and_within_rounding_on_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n);
    smoke(&dir("straight"), 2, TWO);
    for (name, ranks) in [("on_two", 2), ("on_one", 1)] {
        smoke(&dir(name), 2, &with(TWO, &["train.max_steps=3"]));
        resume_to_6(&dir(name), ranks);
    }
    let model = |n: &str| dir(n).join("model/model.safetensors");
    assert!(
        same_bytes(&model("straight"), &model("on_two")),
        "3 steps + resume to 6 on the same ranks must equal 6 steps straight"
    );
    assert!(metric_differences(&dir("straight"), &dir("on_two"))
        .values()
        .all(|&d| d == 0.0));
    // One process adds the two halves of a micro-batch in one backward, the ranks in two.
    let diffs = metric_differences(&dir("straight"), &dir("on_one"));
    let dw = weight_difference(&model("straight"), &model("on_one"));
    eprintln!("resumed on 1 process vs 2 ranks: metrics {diffs:?}, weights max |dw| {dw:e}");
    check_rounding(&diffs, dw, 1e-3, 3);
}
