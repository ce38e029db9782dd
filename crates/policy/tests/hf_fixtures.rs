//! Directories written by Hugging Face `transformers` / PEFT (`scripts/hf_roundtrip.py
//! --write-fixtures`) load here and give transformers' logits for the same input.

use std::path::{Path, PathBuf};

use candle_core::Device;
use policy::Policy;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// (input ids, logits (t, V)) from a fixture's `logits.json`.
fn expected(dir: &Path) -> (Vec<u32>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(dir.join("logits.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = serde_json::from_value(v["input_ids"].clone()).unwrap();
    let logits = serde_json::from_value(v["logits"].clone()).unwrap();
    (ids, logits)
}

fn assert_logits_match(p: &Policy, dir: &Path) {
    let (ids, want) = expected(dir);
    let got = p.logits(&ids).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .flatten()
        .zip(want.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let scale = want.iter().flatten().map(|x| x.abs()).fold(0f32, f32::max);
    assert!(
        scale > 1.0,
        "fixture logits too flat to test anything: {scale}"
    );
    assert!(
        worst < 1e-4 * scale.max(1.0),
        "{}: max |diff| {worst} (max |logit| {scale})",
        dir.display()
    );
}

#[test]
fn transformers_llama_gqa_untied_gives_the_same_logits() {
    let dir = fixture("hf_llama");
    let p = Policy::load(&dir, &Device::Cpu).unwrap();
    assert!(!p.config().tie_word_embeddings);
    assert_eq!(
        (p.config().num_kv_heads(), p.config().rope_theta),
        (2, 50000.0)
    );
    assert_logits_match(&p, &dir);
}

#[test]
fn transformers_qwen2_with_biases_tied_gives_the_same_logits() {
    let dir = fixture("hf_qwen2");
    let p = Policy::load(&dir, &Device::Cpu).unwrap();
    assert!(p.config().qkv_bias() && p.config().tie_word_embeddings);
    assert_logits_match(&p, &dir);
}

#[test]
fn peft_adapter_loads_unchanged_and_gives_the_same_logits() {
    let mut p = Policy::load(fixture("hf_llama"), &Device::Cpu).unwrap();
    p.load_adapter(fixture("hf_llama_lora"), "peft").unwrap();
    assert_eq!(p.trainable_vars().len(), 2 * 3 * 2);
    assert_logits_match(&p, &fixture("hf_llama_lora"));
}

#[test]
fn transformers_directory_round_trips_through_rlvr_save() {
    let dir = tempfile::tempdir().unwrap();
    let p = Policy::load(fixture("hf_qwen2"), &Device::Cpu).unwrap();
    p.save(dir.path()).unwrap();
    let q = Policy::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(q.config(), p.config());
    assert_logits_match(&q, &fixture("hf_qwen2"));
}
