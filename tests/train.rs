//! `rlvr train`, `rlvr eval` and `rlvr report` end to end on the smoke config (a model of ~13k
//! parameters; every run here takes a few seconds).

use std::path::Path;

use serde_json::Value;

use crate::util::{read_jsonl, rlvr, run_ok};

/// A one-layer model of ~10k parameters on one thread: the program-family runs below.
const TINY_MODEL: &str = r#"threads = 1
[model]
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 1
num_attention_heads = 2
num_key_value_heads = 2
max_position_embeddings = 64
"#;

/// Metrics with the wall-clock fields removed: what must repeat exactly.
fn deterministic(lines: Vec<Value>) -> Vec<Value> {
    lines
        .into_iter()
        .map(|mut v| {
            if let Some(map) = v.as_object_mut() {
                map.retain(|k, _| {
                    !k.starts_with("time/") && k != "train_seconds" && k != "eval_seconds"
                });
            }
            v
        })
        .collect()
}

fn train(out: &Path, extra: &[&str]) -> String {
    let out = out.to_str().expect("utf-8 path");
    let mut args = vec!["train", "configs/smoke.toml", "--out", out];
    args.extend_from_slice(extra);
    run_ok(&args)
}

#[test]
fn smoke_run_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let summary: Value = serde_json::from_str(train(&out, &[]).trim()).unwrap();
    assert_eq!(summary["steps"], 6);
    for file in [
        "config.toml",
        "metrics.jsonl",
        "eval.jsonl",
        "samples.jsonl",
        "warm_start.jsonl",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(out.join("checkpoint/state.json").is_file());
    assert!(out.join("model/model.safetensors").is_file());
    let metrics = read_jsonl(&out.join("metrics.jsonl"));
    assert_eq!(metrics.len(), 6);
    for key in [
        "reward",
        "reward_std",
        "frac_reward_zero_std",
        "completions/mean_length",
        "kl",
        "entropy",
        "grad_norm",
        "learning_rate",
        "informative_fraction",
    ] {
        assert!(metrics[0].get(key).is_some(), "metrics lack {key}");
    }
    // Evaluations at steps 0, 3 and 6 (eval_every = 3), each with pass rates for levels 1 and 2.
    let evals = read_jsonl(&out.join("eval.jsonl"));
    let steps: Vec<u64> = evals.iter().map(|e| e["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![0, 3, 6]);
    assert!(
        evals[0]["pass"]["boolean_eval"]["1"].is_number(),
        "{}",
        evals[0]
    );
    // The resolved config round-trips as a config, and `rlvr eval` on the final model gives the
    // run's last evaluation (greedy, deterministic).
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(resolved.contains("group_size = 8"), "{resolved}");
    let eval: Value = serde_json::from_str(
        run_ok(&[
            "eval",
            "--model",
            out.join("model").to_str().unwrap(),
            "--config",
            out.join("config.toml").to_str().unwrap(),
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(eval["pass"], evals[2]["pass"]);
}

#[test]
fn same_seed_same_run_and_resume_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let again = dir.path().join("again");
    train(&straight, &[]);
    train(&again, &[]);
    train(&split, &["--max-steps", "3"]);
    run_ok(&[
        "train",
        "--resume",
        split.to_str().unwrap(),
        "--max-steps",
        "6",
    ]);
    let a = deterministic(read_jsonl(&straight.join("metrics.jsonl")));
    let b = deterministic(read_jsonl(&split.join("metrics.jsonl")));
    let c = deterministic(read_jsonl(&again.join("metrics.jsonl")));
    assert_eq!(a.len(), 6);
    assert_eq!(a, c, "the same seed must give the same run");
    assert_eq!(
        a, b,
        "3 steps + resume + 3 steps must equal 6 steps straight"
    );
    let w1 = std::fs::read(straight.join("model/model.safetensors")).unwrap();
    let w2 = std::fs::read(split.join("model/model.safetensors")).unwrap();
    assert!(w1 == w2, "final weights differ after resume");
}

/// `sampling.informative_target`: the temperature rises while the fraction is below the target,
/// every step records the temperature it sampled at, and a resumed run continues the controller
/// exactly (its state is in the checkpoint).
#[test]
fn the_adaptive_temperature_rises_below_its_target_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let adaptive = [
        "--set",
        "sampling.informative_target=0.95",
        "--set",
        "sampling.max_temperature=3",
    ];
    train(&straight, &adaptive);
    train(&split, &[&adaptive[..], &["--max-steps", "3"]].concat());
    run_ok(&["train", "--resume", path(&split), "--max-steps", "6"]);
    let a = deterministic(read_jsonl(&straight.join("metrics.jsonl")));
    let b = deterministic(read_jsonl(&split.join("metrics.jsonl")));
    assert_eq!(
        a, b,
        "3 steps + resume + 3 steps must equal 6 steps straight"
    );
    let t: Vec<f64> = a
        .iter()
        .map(|m| m["temperature"].as_f64().unwrap())
        .collect();
    assert_eq!(
        t[0], 1.0,
        "the first step samples at sampling.temperature: {t:?}"
    );
    assert!(t.windows(2).all(|w| w[1] >= w[0]), "{t:?}");
    assert!(t[5] > t[0], "the temperature never rose: {t:?}");
    assert_eq!(weights(&straight), weights(&split));
}

/// The final weights of a run.
fn weights(run: &Path) -> Vec<u8> {
    std::fs::read(run.join("model/model.safetensors")).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Issue 21: a finished run, whether it stopped at `max_steps` or on its time budget, extended
/// on resume equals (metrics and weights) a run that went that far from the start; a cosine
/// schedule's length is its own key, so the extension does not bend it (and a run from before
/// that key resumes with the length it had, its `max_steps`).
#[test]
fn a_finished_run_extended_on_resume_equals_a_longer_run() {
    let dir = tempfile::tempdir().unwrap();
    let cosine = [
        "--set",
        "train.lr_schedule=cosine",
        "--set",
        "train.decay_steps=6",
    ];
    let (straight, stepped, timed, legacy) = (
        dir.path().join("straight"),
        dir.path().join("stepped"),
        dir.path().join("timed"),
        dir.path().join("legacy"),
    );
    train(&straight, &cosine);
    let mut args = cosine.to_vec();
    args.extend(["--max-steps", "4"]);
    let first: Value = serde_json::from_str(train(&stepped, &args).trim()).unwrap();
    assert_eq!(
        (first["steps"].as_u64(), first["stopped"].as_str()),
        (Some(4), Some("max_steps"))
    );
    let mut args = cosine.to_vec();
    args.extend(["--set", "train.max_seconds=0"]);
    let first: Value = serde_json::from_str(train(&timed, &args).trim()).unwrap();
    assert_eq!(
        (first["steps"].as_u64(), first["stopped"].as_str()),
        (Some(0), Some("time_budget"))
    );

    // A run written before `train.decay_steps`, cut short at step 3: its cosine ran over its
    // max_steps, and a resume keeps it so.
    let mut args = cosine.to_vec();
    args.extend(["--max-steps", "3"]);
    train(&legacy, &args);
    let config = legacy.join("config.toml");
    let old: Vec<String> = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("decay_steps"))
        .map(|l| match l.starts_with("max_steps") {
            true => "max_steps = 6".to_string(),
            false => l.to_string(),
        })
        .collect();
    std::fs::write(&config, old.join("\n")).unwrap();

    run_ok(&["train", "--resume", path(&stepped), "--max-steps", "6"]);
    run_ok(&["train", "--resume", path(&legacy)]);
    run_ok(&[
        "train",
        "--resume",
        path(&timed),
        "--set",
        "train.max_seconds=inf",
    ]);
    let want = deterministic(read_jsonl(&straight.join("metrics.jsonl")));
    assert_eq!(want.len(), 6);
    for run in [&stepped, &timed, &legacy] {
        let got = deterministic(read_jsonl(&run.join("metrics.jsonl")));
        assert_eq!(got, want, "{}: extended run differs", run.display());
        assert!(
            weights(run) == weights(&straight),
            "{}: weights differ",
            run.display()
        );
    }
    // The extension is written into the run's config.
    let resolved = std::fs::read_to_string(stepped.join("config.toml")).unwrap();
    assert!(resolved.contains("max_steps = 6"), "{resolved}");
    let resolved = std::fs::read_to_string(timed.join("config.toml")).unwrap();
    assert!(resolved.contains("max_seconds = inf"), "{resolved}");
}

/// Issue 21: a resume refuses a key that changes what a step computes, naming it.
#[test]
fn a_cached_warm_start_is_the_one_the_run_would_compute() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_arg = ["--warm-start-cache", path(&cache)];
    let entries = || std::fs::read_dir(&cache).unwrap().count();
    // Stored by the first run, taken by the second; the third computes it without the cache.
    let (first, second, plain) = (
        dir.path().join("first"),
        dir.path().join("second"),
        dir.path().join("plain"),
    );
    train(&first, &cache_arg);
    assert_eq!(entries(), 1);
    let out = rlvr()
        .env("RUST_LOG", "info")
        .args(["train", "configs/smoke.toml", "--out", path(&second)])
        .args(cache_arg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("taken from the cache"), "{stderr}");
    train(&plain, &[]);
    assert_eq!(weights(&second), weights(&plain));
    assert_eq!(
        deterministic(read_jsonl(&second.join("metrics.jsonl"))),
        deterministic(read_jsonl(&plain.join("metrics.jsonl")))
    );
    assert_eq!(
        std::fs::read(second.join("warm_start.jsonl")).unwrap(),
        std::fs::read(first.join("warm_start.jsonl")).unwrap()
    );
    // Anything the warm start depends on misses: its settings, the seed, the data.
    let missed = [
        ["--set", "warm_start.lr=0.002"],
        ["--seed", "7"],
        ["--set", "warm_start.levels=[1, 1]"],
    ];
    for (i, change) in missed.iter().enumerate() {
        train(
            &dir.path().join(format!("miss{i}")),
            &[&cache_arg[..], &change[..]].concat(),
        );
        assert_eq!(entries(), 2 + i, "{change:?} took a cached warm start");
    }
    // What only the RL steps read does not.
    train(
        &dir.path().join("hit"),
        &[&cache_arg[..], &["--set", "train.lr=0.0005"][..]].concat(),
    );
    assert_eq!(entries(), 4);
}

#[test]
fn resume_refuses_a_change_that_alters_the_math_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, &["--max-steps", "1"]);
    let refused = rlvr()
        .args(["train", "--resume", path(&out), "--set", "train.lr=0.5"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("--resume: `train.lr` cannot change on resume"),
        "{err}"
    );
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        !resolved.contains("lr = 0.5"),
        "a refused change is not written: {resolved}"
    );
}

/// Issue 21: a crash between the two renames of a checkpoint swap leaves only
/// `checkpoint.old/`; the resume recovers it and continues exactly.
#[test]
fn a_crash_mid_checkpoint_swap_resumes_from_checkpoint_old() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, crashed) = (dir.path().join("straight"), dir.path().join("crashed"));
    train(&straight, &[]);
    train(&crashed, &["--max-steps", "3"]);
    // The crash state by hand: the new checkpoint half-written in checkpoint.tmp/, the old one
    // already renamed away.
    std::fs::rename(crashed.join("checkpoint"), crashed.join("checkpoint.old")).unwrap();
    std::fs::create_dir(crashed.join("checkpoint.tmp")).unwrap();
    std::fs::write(crashed.join("checkpoint.tmp/state.json"), "{\"ste").unwrap();
    run_ok(&["train", "--resume", path(&crashed), "--max-steps", "6"]);
    assert_eq!(
        deterministic(read_jsonl(&crashed.join("metrics.jsonl"))),
        deterministic(read_jsonl(&straight.join("metrics.jsonl")))
    );
    assert!(weights(&crashed) == weights(&straight));
    assert!(!crashed.join("checkpoint.old").exists());
    assert!(!crashed.join("checkpoint.tmp").exists());
}

/// Issue 21: checkpoints hold a digest of the eval ids, not the ids; a resume with changed eval
/// sets is refused with a message that says so.
#[test]
fn resume_refuses_changed_eval_sets() {
    let dir = tempfile::tempdir().unwrap();
    let eval = dir.path().join("eval");
    std::fs::create_dir(&eval).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for level in [1, 2] {
        let name = format!("boolean_eval-bare-natural-L{level}.jsonl");
        std::fs::copy(repo.join("tasks/eval").join(&name), eval.join(&name)).unwrap();
    }
    let out = dir.path().join("run");
    let set_dir = format!("eval.dir={}", path(&eval));
    train(&out, &["--max-steps", "1", "--set", &set_dir]);
    let state = std::fs::read_to_string(out.join("checkpoint/state.json")).unwrap();
    let first_id = read_jsonl(&eval.join("boolean_eval-bare-natural-L1.jsonl"))[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !state.contains(&first_id),
        "eval ids copied into the checkpoint"
    );
    assert!(state.contains("eval_digest"), "no digest in the checkpoint");
    // Drop one task from an eval set.
    let file = eval.join("boolean_eval-bare-natural-L2.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let rest: Vec<&str> = text.lines().skip(1).collect();
    std::fs::write(&file, rest.join("\n")).unwrap();
    let refused = rlvr()
        .args(["train", "--resume", path(&out), "--max-steps", "2"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("eval sets under"), "{err}");
    assert!(err.contains("changed since the run started"), "{err}");
}

/// Issue 21: a run stops when every level the curriculum can draw from is mastered. With
/// `promote = 0` every level counts as mastered after `min_groups` groups, whatever the model
/// does: 2 levels x 8 groups, at 8 tasks a step, are seen by step 3 at the latest.
#[test]
fn a_run_stops_when_every_level_is_mastered_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let easy = [
        "--set",
        "tasks.curriculum={ type = \"frontier\", promote = 0.0, min_groups = 8, replay = 0.0 }",
        "--set",
        "train.eval_every=0",
    ];
    let out = dir.path().join("stops");
    let summary: Value = serde_json::from_str(train(&out, &easy).trim()).unwrap();
    assert_eq!(summary["stopped"], "mastered", "{summary}");
    let steps = summary["steps"].as_u64().unwrap();
    assert!((2..=3).contains(&steps), "{summary}");
    assert_eq!(read_jsonl(&out.join("metrics.jsonl")).len() as u64, steps);

    let mut args = easy.to_vec();
    args.extend(["--set", "train.stop_when_mastered=false"]);
    let out = dir.path().join("goes_on");
    let summary: Value = serde_json::from_str(train(&out, &args).trim()).unwrap();
    assert_eq!(
        (summary["steps"].as_u64(), summary["stopped"].as_str()),
        (Some(6), Some("max_steps"))
    );
}

#[test]
fn unknown_config_key_is_named() {
    let out = rlvr()
        .args([
            "train",
            "configs/smoke.toml",
            "--set",
            "train.lrr=1e-4",
            "--out",
            "/nonexistent/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("train.lrr"), "{err}");
    assert!(err.contains("smoke.toml"), "{err}");
}

#[test]
fn bad_value_is_named_with_key_and_value() {
    let out = rlvr()
        .args([
            "train",
            "configs/smoke.toml",
            "--set",
            "sampling.group_size=1",
            "--out",
            "/nonexistent/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sampling.group_size = 1"), "{err}");
}

#[test]
fn report_writes_plots_for_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(&out, &["--max-steps", "3"]);
    run_ok(&["report", out.to_str().unwrap()]);
    for file in [
        "pass_rate.png",
        "training.png",
        "jaggedness.png",
        "summary.md",
    ] {
        let path = out.join("report").join(file);
        assert!(
            path.is_file() && std::fs::metadata(&path).unwrap().len() > 0,
            "{file} missing"
        );
    }
}

/// The must-learn test: after a 20-step warm start that teaches only the answer format (greedy pass
/// 0.5 on level 1, chance), 80 GRPO steps on boolean formulas must raise the sampled reward from
/// about 0.3 to about 0.7. Measured with seed 0: first 10 steps 0.28, last 20 steps 0.68. The run is
/// deterministic (one seed, one thread), so this cannot fail by chance; it fails when learning breaks.
#[test]
fn reward_rises_during_a_short_training_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(
        &out,
        &[
            "--max-steps",
            "80",
            "--set",
            "train.eval_every=0",
            "--set",
            "train.checkpoint_every=0",
        ],
    );
    let rewards: Vec<f64> = read_jsonl(&out.join("metrics.jsonl"))
        .iter()
        .map(|m| m["reward"].as_f64().unwrap())
        .collect();
    assert_eq!(rewards.len(), 80);
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(&rewards[..10]), mean(&rewards[60..]));
    assert!(
        first < 0.45,
        "the warm start alone should leave room to learn: first 10 steps {first:.3}"
    );
    assert!(
        last > 0.55 && last > first + 0.2,
        "reward did not rise: first 10 steps {first:.3}, last 20 {last:.3}"
    );
}

#[test]
fn preflight_stops_a_run_that_cannot_learn_and_says_why() {
    // A random model on 8-digit sums: no completion is right, so no group can give GRPO signal.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hopeless.toml");
    std::fs::write(
        &config,
        r#"
seed = 0
threads = 1
[model]
hidden_size = 32
intermediate_size = 64
num_hidden_layers = 1
num_attention_heads = 2
num_key_value_heads = 2
max_position_embeddings = 64
[[tasks.families]]
name = "addition"
levels = [8, 8]
start_level = 8
[tasks.curriculum]
type = "fixed"
[sampling]
group_size = 4
tasks_per_step = 4
max_new_tokens = 12
"#,
    )
    .unwrap();
    let out = rlvr()
        .args(["train", config.to_str().unwrap(), "--out"])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "a hopeless run must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("preflight:"), "{err}");
    assert!(
        err.contains("warm"),
        "the message should say how to fix it: {err}"
    );
    assert!(
        !dir.path().join("run/metrics.jsonl").exists()
            || read_jsonl(&dir.path().join("run/metrics.jsonl")).is_empty(),
        "no RL step should have run"
    );
}

#[test]
fn a_program_family_trains_evaluates_and_resumes_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("programs.toml");
    std::fs::write(
        &config,
        [
            "seed = 0\n",
            TINY_MODEL,
            r#"
[[tasks.families]]
program = "sum(digits(a)); a:int[2]"
name = "digit_sum"
[[tasks.families]]
programs = "tasks/programs/lists.toml"
name = "sorted_list"
levels = [1, 2]
[tasks.curriculum]
type = "uniform"
[sampling]
group_size = 4
tasks_per_step = 4
max_new_tokens = 12
[warm_start]
steps = 80
batch_size = 32
lr = 3e-3
levels = [1, 2]
[train]
max_steps = 2
eval_every = 0
checkpoint_every = 2
"#,
        ]
        .concat(),
    )
    .unwrap();
    let out = dir.path().join("run");
    run_ok(&[
        "train",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    // Both program families' cells took in groups.
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/state.json")).unwrap())
            .unwrap();
    for family in ["digit_sum", "sorted_list"] {
        let attempts: u64 = state["curriculum"]["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["family"] == family)
            .map(|c| c["attempts"].as_u64().unwrap())
            .sum();
        assert!(attempts > 0, "{family} has no observations");
    }
    // The run's config holds the programs inline: a resume does not read the file again.
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        resolved.contains("program = \"sort(l); l:list[10,2]\""),
        "{resolved}"
    );
    assert!(!resolved.contains("programs ="), "{resolved}");
    run_ok(&[
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--max-steps",
        "3",
    ]);
    assert_eq!(read_jsonl(&out.join("metrics.jsonl")).len(), 3);
    // Greedy pass@1 per program on fresh instances (a text file, one program per line; the
    // run's config for the sampling settings).
    let programs = dir.path().join("programs.txt");
    std::fs::write(
        &programs,
        "sum(digits(a)); a:int[2]\n\n# lists\nrev(l); l:list[3,1]\nlt(a, 1); a:int[2]\n",
    )
    .unwrap();
    let eval: Value = serde_json::from_str(
        run_ok(&[
            "eval",
            "--model",
            out.join("model").to_str().unwrap(),
            "--config",
            out.join("config.toml").to_str().unwrap(),
            "--programs",
            programs.to_str().unwrap(),
            "-n",
            "3",
        ])
        .trim(),
    )
    .unwrap();
    let rows = eval["programs"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{eval}");
    for r in rows {
        assert_eq!(r["n"], 3);
        let p = r["pass"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p), "{r}");
        let b = r["baseline"].as_f64().unwrap();
        let above = if b < 1.0 {
            ((p - b) / (1.0 - b)).max(0.0)
        } else {
            0.0
        };
        assert!(
            (r["above_chance"].as_f64().unwrap() - above).abs() < 1e-12,
            "{r}"
        );
    }
    assert_eq!(rows[1]["program"], "rev(l); l:list[3,1]");
    assert_eq!(rows[1]["name"], "line4");
    // Its three answers differ ([0,4,8], [9,7,5], [5,7,5]): one guess passes one of three.
    assert!((rows[1]["baseline"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12);
    // a < 1 is false for a = 88, 56, 59: guessing "false" passes all three, so no pass rate
    // is above it.
    assert_eq!(rows[2]["baseline"], 1.0);
    assert_eq!(rows[2]["above_chance"], 0.0);
}

/// Issue 20: an `evolve` run invents families, logs them, reports them, and a split run resumed
/// from its checkpoint equals the straight one (invented families re-registered from the state).
#[test]
fn an_evolve_run_invents_families_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("evolve.toml");
    std::fs::write(
        &config,
        [
            "seed = 3\n",
            TINY_MODEL,
            r#"
[[tasks.families]]
program = "max(a, b); a:int[1]; b:int[1]"
name = "p_max"
[[tasks.families]]
program = "rev(l); l:list[3,1]"
name = "p_rev"
[tasks.curriculum]
type = "evolve"
min_live = 12
proposals = 64
holdout = "tasks/eval/holdout.toml"
[sampling]
group_size = 4
tasks_per_step = 8
max_new_tokens = 10
[warm_start]
steps = 80
batch_size = 32
lr = 3e-3
levels = [1, 1]
[train]
max_steps = 6
eval_every = 3
checkpoint_every = 3
[eval]
max_per_level = 8
"#,
        ]
        .concat(),
    )
    .unwrap();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_ok(&args)
    };
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    run(&straight, &[]);
    run(&split, &["--max-steps", "3"]);
    run_ok(&[
        "train",
        "--resume",
        split.to_str().unwrap(),
        "--max-steps",
        "6",
    ]);
    let a = deterministic(read_jsonl(&straight.join("metrics.jsonl")));
    let b = deterministic(read_jsonl(&split.join("metrics.jsonl")));
    assert_eq!(a.len(), 6);
    assert_eq!(
        a, b,
        "3 steps + resume + 3 steps must equal 6 steps straight"
    );
    assert_eq!(
        read_jsonl(&straight.join("families.jsonl")),
        read_jsonl(&split.join("families.jsonl"))
    );
    assert_eq!(weights(&straight), weights(&split));

    // The learnable cells (2) were fewer than min_live (12): families were invented at once,
    // each logged with its program and lineage, and counted in the metrics.
    let open = &a[5]["open"];
    assert!(open["created"].as_u64().unwrap() >= 8, "{open}");
    let created: Vec<Value> = read_jsonl(&straight.join("families.jsonl"))
        .into_iter()
        .filter(|e| e["event"] == "created")
        .collect();
    assert_eq!(created.len() as u64, open["created"].as_u64().unwrap());
    let held_out = std::fs::read_to_string("tasks/eval/holdout.toml").unwrap();
    for e in &created {
        let program = e["program"].as_str().unwrap();
        assert!(e["family"].as_str().unwrap().starts_with("evo_"), "{e}");
        let expr = program.split(';').next().unwrap().trim();
        assert!(
            !held_out.contains(&format!("\"{expr};")),
            "{expr} is held out"
        );
    }
    // The made eval sets of the two program families are evaluated.
    let evals = read_jsonl(&straight.join("eval.jsonl"));
    assert!(evals[0]["pass"]["p_max"]["1"].is_number(), "{}", evals[0]);
    let report = dir.path().join("report");
    run_ok(&[
        "report",
        straight.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(report.join("archive.png").is_file());
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(summary.contains("## Open-ended archive"), "{summary}");
    assert!(summary.contains("## Jaggedness"), "{summary}");
}
