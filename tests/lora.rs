//! LoRA as a user runs it (issue 21): `configs/lora.toml` trains an adapter on a trained base and
//! leaves a PEFT adapter directory in `model/`; `rlvr merge` folds it into a full model; a
//! random base is refused with what to do instead; `lora.dropout` acts in training only.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{read_jsonl, rlvr, run_ok};

/// A small base made as the README says (`rlvr train configs/quickstart.toml --max-steps 0`:
/// the quickstart's warm start, no RL), shrunk to take seconds: d64, 2 layers, 80 warm-start
/// steps. Made once per test run for this module's tests, under cargo's test scratch directory.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lora-base");
        if out.exists() {
            std::fs::remove_dir_all(&out).unwrap();
        }
        run_ok(&[
            "train",
            "configs/quickstart.toml",
            "--max-steps",
            "0",
            "--out",
            out.to_str().unwrap(),
            "--set",
            "model.hidden_size=64",
            "--set",
            "model.intermediate_size=128",
            "--set",
            "model.num_hidden_layers=2",
            "--set",
            "warm_start.steps=80",
            "--set",
            "warm_start.batch_size=32",
            "--set",
            "warm_start.warmup_steps=5",
            "--set",
            "warm_start.lr=3e-3",
            "--set",
            "warm_start.lr_schedule=\"constant\"",
            "--set",
            "eval.max_per_level=8",
        ]);
        out.join("model")
    })
}

/// `configs/lora.toml` as shipped but for its base and the eval set size, `steps` RL steps.
fn lora_run(out: &Path, seed: u64, steps: u64, extra: &[&str]) -> Value {
    let (seed, steps) = (seed.to_string(), steps.to_string());
    let model_path = format!("model.path={}", base().display());
    let mut args = vec![
        "train",
        "configs/lora.toml",
        "--seed",
        &seed,
        "--max-steps",
        &steps,
        "--out",
        out.to_str().unwrap(),
        "--set",
        &model_path,
        "--set",
        "eval.max_per_level=16",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(run_ok(&args).trim()).unwrap()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `rlvr generate --greedy --json` of one prompt: (prompt ids, completion ids, log-probs).
fn greedy(model: &Path, adapter: Option<&Path>) -> (Value, Value, Vec<f64>) {
    let model = model.to_str().unwrap();
    let mut args = vec!["generate", "--model", model, "--greedy", "--json"];
    args.extend(["--prompt", "12+34=", "--max-new-tokens", "10"]);
    if let Some(a) = adapter {
        args.extend(["--adapter", a.to_str().unwrap()]);
    }
    let row: Value = serde_json::from_str(run_ok(&args).lines().next().unwrap()).unwrap();
    let logprobs = serde_json::from_value(row["logprobs"].clone()).unwrap();
    (
        row["prompt_tokens"].clone(),
        row["tokens"].clone(),
        logprobs,
    )
}

#[test]
fn shipped_lora_config_trains_a_peft_adapter_at_two_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let base = base();
    for seed in [0, 1] {
        let out = dir.path().join(format!("lora-s{seed}"));
        let summary = lora_run(&out, seed, 2, &[]);
        assert_eq!(summary["steps"], 2, "seed {seed}: {summary}");
        // model/ is the PEFT adapter directory, not a copy of the frozen base.
        let model = out.join("model");
        assert!(!model.join("model.safetensors").exists());
        let c = json_file(&model.join("adapter_config.json"));
        assert_eq!(
            c["base_model_name_or_path"].as_str().map(PathBuf::from),
            Some(std::fs::canonicalize(base).unwrap())
        );
        assert_eq!(
            (&c["peft_type"], &c["task_type"]),
            (&"LORA".into(), &"CAUSAL_LM".into())
        );
        assert_eq!((&c["r"], &c["lora_alpha"]), (&8.into(), &16.0.into()));
        assert_eq!(c["target_modules"].as_array().map(Vec::len), Some(7));
        let tensors = candle_core::safetensors::load(
            model.join("adapter_model.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        // 2 layers x 7 projections x (A, B); A (r, in), B (out, r) as PEFT stores them.
        assert_eq!(tensors.len(), 2 * 7 * 2);
        let a = &tensors["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"];
        let b = &tensors["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"];
        assert_eq!((a.dims(), b.dims()), (&[8, 64][..], &[64, 8][..]));
        // Base + adapter is the model the run evaluated last (greedy: deterministic).
        let eval: Value = serde_json::from_str(
            run_ok(&[
                "eval",
                "--model",
                base.to_str().unwrap(),
                "--adapter",
                model.to_str().unwrap(),
                "--config",
                out.join("config.toml").to_str().unwrap(),
            ])
            .trim(),
        )
        .unwrap();
        let evals = read_jsonl(&out.join("eval.jsonl"));
        assert_eq!(eval["pass"], evals.last().unwrap()["pass"]);
    }

    // rlvr merge (base from base_model_name_or_path): the merged model continues a prompt as
    // base + adapter does, token for token, with the same log-probs.
    let adapter = dir.path().join("lora-s0/model");
    let merged = dir.path().join("merged");
    let (m, a) = (merged.to_str().unwrap(), adapter.to_str().unwrap());
    run_ok(&["merge", "--adapter", a, "--out", m]);
    let (p1, t1, l1) = greedy(&merged, None);
    let (p2, t2, l2) = greedy(base, Some(&adapter));
    assert_eq!((p1, t1), (p2, t2));
    let worst = l1
        .iter()
        .zip(&l2)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "merged vs base + adapter log-probs: {worst}");
    // ... and it is not the base: the adapter changed the log-probs.
    let (_, _, l0) = greedy(base, None);
    assert_ne!(l0, l2);
    // merge refuses to overwrite a model; a model command on the adapter says what it is.
    let again = rlvr()
        .args(["merge", "--adapter", a, "--out", m])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("already holds a model"),
        "{err}"
    );
    let wrong = rlvr()
        .args(["generate", "--model", a, "--prompt", "1+1="])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && err.contains("LoRA adapter"),
        "{err}"
    );
}

#[test]
fn lora_on_a_random_base_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let res = rlvr()
        .args(["train", "configs/smoke.toml", "--set", "lora.r=8"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success());
    assert!(
        err.contains("model.path")
            && err.contains("randomly initialised")
            && err.contains("rlvr train configs/quickstart.toml --max-steps 0"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for a refused run");
    // The shipped config before its base exists: the missing path and the command that makes it.
    let res = rlvr()
        .args(["train", "configs/lora.toml", "--set"])
        .arg(format!("model.path={}", dir.path().join("nope").display()))
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!res.status.success());
    assert!(
        err.contains("model.path") && err.contains("nope") && err.contains("--max-steps 0"),
        "{err}"
    );
}

#[test]
fn lora_dropout_changes_training_only_and_repeats_with_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, dropout: &str| {
        let out = dir.path().join(name);
        let set = format!("lora.dropout={dropout}");
        lora_run(&out, 0, 2, &["--set", &set]);
        let metrics = read_jsonl(&out.join("metrics.jsonl"));
        let evals = read_jsonl(&out.join("eval.jsonl"));
        (metrics, evals)
    };
    let (plain, plain_eval) = run("plain", "0.0");
    let (drop, drop_eval) = run("drop", "0.3");
    let (again, _) = run("again", "0.3");
    // Step 1 samples from base + zero adapter either way: same rollouts, same reward (dropout
    // never touches sampling) and the same evaluation before training.
    assert_eq!(plain[0]["reward"], drop[0]["reward"]);
    assert_eq!(plain[0]["tokens_total"], drop[0]["tokens_total"]);
    assert_eq!(plain_eval[0]["pass"], drop_eval[0]["pass"]);
    // The update's forward drops the adapter branch's inputs: another gradient.
    assert_ne!(plain[0]["grad_norm"], drop[0]["grad_norm"]);
    // Seeded masks: the same run again is the same run.
    let strip = |m: &[Value]| -> Vec<Value> {
        m.iter()
            .map(|v| {
                let mut v = v.clone();
                if let Some(map) = v.as_object_mut() {
                    map.retain(|k, _| !k.starts_with("time/") && k != "train_seconds");
                }
                v
            })
            .collect()
    };
    assert_eq!(strip(&drop), strip(&again));
}
