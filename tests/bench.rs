//! `rlvr bench` on a workloads file with toy shapes (the real ones take seconds in a debug build).

use serde_json::Value;

use crate::util::{rlvr, run_ok};

/// The standard workloads' keys with a 2-layer d16 model and 16 short sequences.
const TOY: &str = r#"
[model.tiny]
vocab_size = 64
d_model = 16
n_layers = 2
n_heads = 2
n_kv_heads = 2
ffn_hidden = 32
max_seq_len = 32
rope_theta = 10000.0
norm_eps = 1e-5
tie_embeddings = true

[workload.step_tiny]
model = "tiny"
sequences = 16
prompt_tokens = 4
completion_tokens = 4
kl_coef = 0.04
clip_eps = 0.2
max_grad_norm = 1.0
lr = 1e-3
seed = 0

[workload.rollout_tiny]
model = "tiny"
tasks = 2
group_size = 4
prompt_tokens = 4
new_tokens = 4
temperature = 1.0
seed = 0
"#;

fn bench(workloads: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "bench",
        "step_tiny",
        "--repeat",
        "1",
        "--workloads",
        workloads.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(run_ok(&args).trim()).expect("one JSON line")
}

#[test]
fn step_bench_trains_only_the_adapters_under_lora() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workloads.toml");
    std::fs::write(&path, TOY).unwrap();
    let full = bench(&path, &[]);
    let lora = bench(&path, &["--lora-rank", "2"]);
    assert_eq!(full["impl"], "rlvr");
    assert_eq!(full["unit"], "s/step");
    assert!(full["value"].as_f64().unwrap() > 0.0);
    assert_eq!(full["extra"]["trainable"], full["extra"]["params"]);
    assert_eq!(lora["extra"]["lora_rank"], 2);
    // Rank 2 on 7 projections of 2 layers: 2 * (in + out) per projection.
    let (d, ff) = (16, 32);
    let per_layer = 2 * ((d + d) * 4 + (d + ff) * 3);
    assert_eq!(lora["extra"]["trainable"], 2 * per_layer);

    let out = rlvr()
        .args(["bench", "rollout_tiny", "--lora-rank", "2", "--workloads"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--lora-rank") && err.contains("rollout_tiny"),
        "{err}"
    );
}

#[test]
fn taskgen_program_generates_and_verifies_a_program_family() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workloads.toml");
    std::fs::write(
        &path,
        format!(
            "{TOY}\n[workload.taskgen_program]\nfamily = \"program\"\nprogram = \"sort(digits(add(a, b))); a:int[3]; b:int[3]\"\ncount = 2000\nseed = 0\n"
        ),
    )
    .unwrap();
    let out: Value = serde_json::from_str(
        run_ok(&[
            "bench",
            "taskgen_program",
            "--repeat",
            "1",
            "--workloads",
            path.to_str().unwrap(),
        ])
        .trim(),
    )
    .unwrap();
    assert_eq!(out["unit"], "items/s");
    assert!(out["value"].as_f64().unwrap() > 0.0);
    assert_eq!(
        out["extra"]["knobs"],
        serde_json::json!({ "a_digits": 3, "b_digits": 3 })
    );
    assert_eq!(
        out["extra"]["program"],
        "sort(digits(add(a, b))); a:int[3]; b:int[3]"
    );
}
