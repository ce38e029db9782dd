//! Behaviour of the public API on tiny models: sampling, log-probs and gradients, LoRA, files.

use std::collections::HashMap;

use candle_core::{Device, Tensor, Var};
use policy::{AdapterMode, LoraConfig, ModelConfig, Policy, SampleParams, StopReason, Tokenizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn tiny_config() -> ModelConfig {
    ModelConfig {
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        max_position_embeddings: 64,
        ..ModelConfig::default()
    }
}

/// A tiny policy whose weights are large enough (std 0.3) that outputs depend on every weight.
fn tiny_policy(seed: u64) -> Policy {
    let p = Policy::init(&tiny_config(), Tokenizer::builtin(), seed, &Device::Cpu).unwrap();
    let mut rng = StdRng::seed_from_u64(seed + 100);
    for (name, v) in p.trainable_vars() {
        if name.contains("norm") {
            continue;
        }
        randomize(&v, 0.3, &mut rng);
    }
    p
}

fn randomize(v: &Var, std: f32, rng: &mut StdRng) {
    let n = v.elem_count();
    let data: Vec<f32> = (0..n)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * std * 1.7)
        .collect();
    v.set(&Tensor::from_vec(data, v.shape(), &Device::Cpu).unwrap())
        .unwrap();
}

/// Three prompts of different lengths (BOS first: the tokenizer's post-processor adds it).
pub(crate) fn prompts(p: &Policy) -> Vec<Vec<u32>> {
    let t = p.tokenizer();
    ["12+7=", "3*4=", "(a|b)&c ="]
        .iter()
        .map(|s| t.encode_prompt(s).unwrap())
        .collect()
}

fn to_vec2(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2::<f32>().unwrap()
}

#[test]
fn same_seed_same_rollouts_and_different_seed_differs() {
    let p = tiny_policy(1);
    let params = SampleParams {
        max_new_tokens: 12,
        ..SampleParams::default()
    };
    let a = p
        .sample(&prompts(&p), 4, &params, &mut StdRng::seed_from_u64(5))
        .unwrap();
    let b = p
        .sample(&prompts(&p), 4, &params, &mut StdRng::seed_from_u64(5))
        .unwrap();
    let c = p
        .sample(&prompts(&p), 4, &params, &mut StdRng::seed_from_u64(6))
        .unwrap();
    assert_eq!(
        (&a.tokens, &a.logprobs, &a.stop),
        (&b.tokens, &b.logprobs, &b.stop)
    );
    assert_ne!(a.tokens, c.tokens);
    assert_eq!(a.tokens.len(), 12);
}

#[test]
fn shards_do_not_change_what_is_sampled() {
    // `sample` splits the prompts into one shard per thread; every prompt has its own RNG, so 1,
    // 2 or 3 shards draw the same tokens. Log-probs agree to float rounding only: a shard pads
    // its prompts to its own longest one, which regroups the attention sums.
    let p = tiny_policy(4);
    let params = SampleParams {
        max_new_tokens: 12,
        ..SampleParams::default()
    };
    let all = prompts(&p);
    let run = |shards| {
        p.sample_sharded(&all, 4, &params, &mut StdRng::seed_from_u64(9), shards)
            .unwrap()
    };
    let one = run(1);
    for shards in [2, 3, 8] {
        let many = run(shards);
        assert_eq!(
            (&one.tokens, &one.stop),
            (&many.tokens, &many.stop),
            "{shards} shards"
        );
        for (a, b) in one
            .logprobs
            .iter()
            .flatten()
            .zip(many.logprobs.iter().flatten())
        {
            assert!((a - b).abs() < 1e-5, "{shards} shards: {a} vs {b}");
        }
    }
}

#[test]
fn batched_rows_of_different_prompt_lengths_equal_their_unpadded_runs() {
    let p = tiny_policy(2);
    let params = SampleParams {
        max_new_tokens: 10,
        greedy: true,
        stop_at_eos: false,
        ..SampleParams::default()
    };
    let all = prompts(&p);
    let batched = p
        .sample(&all, 2, &params, &mut StdRng::seed_from_u64(0))
        .unwrap();
    for (i, prompt) in all.iter().enumerate() {
        let alone = p
            .sample(
                std::slice::from_ref(prompt),
                1,
                &params,
                &mut StdRng::seed_from_u64(0),
            )
            .unwrap();
        for g in 0..2 {
            let row = i * 2 + g;
            assert_eq!(batched.tokens[row], alone.tokens[0], "prompt {i} row {row}");
            for (x, y) in batched.logprobs[row].iter().zip(&alone.logprobs[0]) {
                assert!((x - y).abs() < 1e-4, "prompt {i}: {x} vs {y}");
            }
        }
    }
}

/// Issue 21: the sampler draws from softmax(logits / T), so its log-probs, and the teacher-forced
/// ones the loss uses, are those of the tempered distribution (TRL: logits / T before the
/// log-softmax); at T = 0.7 they differ from the T = 1 ones.
#[test]
fn sampling_logprobs_equal_teacher_forced_logprobs() {
    let p = tiny_policy(3);
    let params = SampleParams {
        max_new_tokens: 9,
        temperature: 0.7,
        top_k: Some(20),
        ..SampleParams::default()
    };
    let all = prompts(&p);
    let out = p
        .sample(&all, 3, &params, &mut StdRng::seed_from_u64(1))
        .unwrap();
    let rows_p: Vec<&[u32]> = (0..out.tokens.len())
        .map(|r| all[r / 3].as_slice())
        .collect();
    let rows_c: Vec<&[u32]> = out.tokens.iter().map(Vec::as_slice).collect();
    let lp = p
        .completion_logprobs_tempered(&rows_p, &rows_c, AdapterMode::Active, 0.7)
        .unwrap();
    let untempered = to_vec2(
        &p.completion_logprobs(&rows_p, &rows_c, AdapterMode::Active)
            .unwrap()
            .logp,
    );
    let (logp, mask) = (to_vec2(&lp.logp), to_vec2(&lp.mask));
    let mut largest_gap = 0f32;
    for (r, toks) in out.tokens.iter().enumerate() {
        for j in 0..logp[r].len() {
            assert_eq!(mask[r][j], if j < toks.len() { 1.0 } else { 0.0 });
            if j < toks.len() {
                assert!(
                    (logp[r][j] - out.logprobs[r][j]).abs() < 1e-4,
                    "row {r} tok {j}: teacher-forced {} vs sampled {}",
                    logp[r][j],
                    out.logprobs[r][j]
                );
                largest_gap = largest_gap.max((untempered[r][j] - out.logprobs[r][j]).abs());
            }
        }
    }
    assert!(
        largest_gap > 1e-2,
        "the T = 1 log-probs should differ from the T = 0.7 ones (largest gap {largest_gap})"
    );
}

#[test]
fn eos_stops_a_row_and_pad_bos_are_never_sampled() {
    let p = tiny_policy(4);
    let eos = p.tokenizer().eos_id();
    // Make EOS very likely by raising its embedding row (tied head): logit = h . e_eos.
    let emb = p
        .trainable_vars()
        .into_iter()
        .find(|(n, _)| n == "model.embed_tokens.weight")
        .unwrap()
        .1;
    let mut rows = to_vec2(emb.as_tensor());
    let mut rng = StdRng::seed_from_u64(0);
    for x in rows[eos as usize].iter_mut() {
        *x *= 1.0 + rng.random::<f32>() * 0.1;
    }
    emb.set(&Tensor::new(rows, &Device::Cpu).unwrap()).unwrap();
    let params = SampleParams {
        max_new_tokens: 40,
        temperature: 2.0,
        ..SampleParams::default()
    };
    let out = p
        .sample(&prompts(&p), 8, &params, &mut StdRng::seed_from_u64(9))
        .unwrap();
    let (pad, bos) = (p.tokenizer().pad_id(), p.tokenizer().bos_id().unwrap());
    for (toks, stop) in out.tokens.iter().zip(&out.stop) {
        assert!(!toks.contains(&pad) && !toks.contains(&bos));
        match stop {
            StopReason::Eos => {
                assert_eq!(toks.last(), Some(&eos));
                assert_eq!(toks.iter().filter(|&&t| t == eos).count(), 1);
            }
            StopReason::Length => assert_eq!(toks.len(), 40),
        }
    }
    // stop_at_eos = false: every row has exactly max_new_tokens.
    let fixed = SampleParams {
        stop_at_eos: false,
        ..params
    };
    let out = p
        .sample(&prompts(&p), 2, &fixed, &mut StdRng::seed_from_u64(9))
        .unwrap();
    assert!(out.tokens.iter().all(|t| t.len() == 40));
    assert!(out.stop.iter().all(|s| *s == StopReason::Length));
}

/// sum(logp * mask * w) for fixed pseudo-random weights w.
fn weighted_loss(p: &Policy, mode: AdapterMode) -> Tensor {
    let pr: Vec<&[u32]> = vec![&[1, 20, 30, 40], &[1, 50]];
    let co: Vec<&[u32]> = vec![&[5, 6, 7], &[8, 9, 2]];
    let lp = p.completion_logprobs(&pr, &co, mode).unwrap();
    let w = Tensor::new(&[[0.3f32, -1.0, 0.7], [1.1, 0.4, -0.6]], &Device::Cpu).unwrap();
    let ent = (lp.entropy.clone() * 0.1).unwrap();
    ((lp.logp + ent).unwrap() * lp.mask)
        .unwrap()
        .mul(&w)
        .unwrap()
        .sum_all()
        .unwrap()
}

fn check_finite_differences(p: &Policy, mode: AdapterMode) {
    let loss = weighted_loss(p, mode.clone());
    let grads = loss.backward().unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let h = 1e-2f32;
    for (name, var) in p.trainable_vars() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let base = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for _ in 0..3 {
            let i = rng.random_range(0..base.len());
            let eval = |delta: f32| {
                let mut w = base.clone();
                w[i] += delta;
                var.set(&Tensor::from_vec(w, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                weighted_loss(p, mode.clone()).to_scalar::<f32>().unwrap()
            };
            let fd = (eval(h) - eval(-h)) / (2.0 * h);
            var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let tol = 2e-2 * g[i].abs().max(fd.abs()) + 2e-3;
            assert!(
                (fd - g[i]).abs() < tol,
                "{name}[{i}]: backward {} vs finite difference {fd}",
                g[i]
            );
        }
    }
}

#[test]
fn logprob_gradients_agree_with_finite_differences() {
    check_finite_differences(&tiny_policy(5), AdapterMode::Active);
}

#[test]
fn every_trainable_var_gets_a_gradient_and_frozen_base_none() {
    let p = tiny_policy(6);
    let vars = p.trainable_vars();
    assert_eq!(
        vars.iter().map(|(_, v)| v.elem_count()).sum::<usize>(),
        p.num_parameters()
    );
    let grads = weighted_loss(&p, AdapterMode::Active).backward().unwrap();
    for (name, v) in &vars {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let norm: f32 = g.sqr().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(norm > 0.0, "{name}: zero gradient");
    }
    // Under LoRA only A/B are trainable and the base gets no gradient.
    let mut q = p.clone();
    let base: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
    let cfg = LoraConfig {
        r: 2,
        alpha: 4.0,
        target_modules: LoraConfig::all_modules(),
        ..LoraConfig::default()
    };
    q.add_adapter("a", &cfg, 0).unwrap();
    let lora = q.trainable_vars();
    assert_eq!(lora.len(), 2 * 7 * 2);
    assert!(lora
        .iter()
        .all(|(n, _)| n.starts_with("base_model.model.model.layers.") && n.contains(".lora_")));
    let grads = weighted_loss(&q, AdapterMode::Active).backward().unwrap();
    for (name, v) in &lora {
        assert!(grads.get(v.as_tensor()).is_some(), "{name}: no gradient");
    }
    assert!(base.iter().all(|v| grads.get(v.as_tensor()).is_none()));
}

#[test]
fn lora_gradients_agree_with_finite_differences() {
    let mut p = tiny_policy(7);
    let cfg = LoraConfig {
        r: 2,
        alpha: 2.0,
        target_modules: vec!["q_proj".into(), "down_proj".into()],
        ..LoraConfig::default()
    };
    p.add_adapter("a", &cfg, 1).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    for (_, v) in p.trainable_vars() {
        randomize(&v, 0.3, &mut rng);
    }
    check_finite_differences(&p, AdapterMode::Active);
}

fn logits_of(p: &Policy, mode: AdapterMode) -> Vec<Vec<f32>> {
    let pr: Vec<&[u32]> = vec![&[1, 20, 30, 40]];
    let co: Vec<&[u32]> = vec![&[5, 6, 7, 8, 9]];
    to_vec2(&p.completion_logprobs(&pr, &co, mode).unwrap().logp)
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn lora_zero_b_equals_base_off_equals_base_and_merge_equals_unmerged() {
    let mut p = tiny_policy(8);
    let base = logits_of(&p, AdapterMode::Active);
    let cfg = LoraConfig {
        r: 4,
        alpha: 8.0,
        target_modules: vec!["v_proj".into(), "up_proj".into(), "o_proj".into()],
        ..LoraConfig::default()
    };
    p.add_adapter("x", &cfg, 2).unwrap();
    assert_eq!(
        logits_of(&p, AdapterMode::Active),
        base,
        "B = 0 must equal the base"
    );
    let mut rng = StdRng::seed_from_u64(4);
    for (_, v) in p.trainable_vars() {
        randomize(&v, 0.2, &mut rng);
    }
    let adapted = logits_of(&p, AdapterMode::Active);
    assert!(
        max_diff(&adapted, &base) > 1e-3,
        "the adapter must change the output"
    );
    assert_eq!(
        logits_of(&p, AdapterMode::Off),
        base,
        "adapter off must equal the base"
    );
    // Sampling uses merged weights: greedy rollouts with the adapter equal those after merging.
    let params = SampleParams {
        max_new_tokens: 8,
        greedy: true,
        stop_at_eos: false,
        ..SampleParams::default()
    };
    let before = p
        .sample(&prompts(&p), 1, &params, &mut StdRng::seed_from_u64(0))
        .unwrap();
    // A second adapter, chosen per call, leaves the first untouched.
    p.add_adapter("y", &cfg, 3).unwrap();
    assert_eq!(logits_of(&p, AdapterMode::Named("x".into())), adapted);
    assert_eq!(
        logits_of(&p, AdapterMode::Active),
        base,
        "fresh adapter y has B = 0"
    );
    assert!(p
        .completion_logprobs(&[&[1]], &[&[2]], AdapterMode::Named("z".into()))
        .is_err());
    p.set_active_adapter("x").unwrap();
    p.merge_adapter("x").unwrap();
    assert!(
        max_diff(&logits_of(&p, AdapterMode::Off), &adapted) < 1e-4,
        "merged must equal unmerged"
    );
    let after = p
        .sample(&prompts(&p), 1, &params, &mut StdRng::seed_from_u64(0))
        .unwrap();
    assert_eq!(before.tokens, after.tokens);
}

#[test]
fn save_then_load_round_trips_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tiny_config();
    config.tie_word_embeddings = false;
    config.attention_bias = true;
    let p = Policy::init(&config, Tokenizer::builtin(), 9, &Device::Cpu).unwrap();
    p.save(dir.path()).unwrap();
    let q = Policy::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(
        q.config(),
        &ModelConfig {
            head_dim: Some(8),
            num_key_value_heads: Some(2),
            ..config
        }
    );
    let a: HashMap<String, Vec<f32>> = p
        .trainable_vars()
        .into_iter()
        .map(|(n, v)| (n, v.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    let b: HashMap<String, Vec<f32>> = q
        .trainable_vars()
        .into_iter()
        .map(|(n, v)| (n, v.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    assert_eq!(a.len(), b.len());
    for (name, x) in &a {
        let y = &b[name];
        assert!(
            x.iter().zip(y).all(|(u, v)| u.to_bits() == v.to_bits()),
            "{name} differs"
        );
    }
    assert_eq!(
        logits_of(&p, AdapterMode::Active),
        logits_of(&q, AdapterMode::Active)
    );
    // A broken weights file names the file and the tensor.
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(
            &ModelConfig {
                num_hidden_layers: 3,
                ..config_for_error()
            }
            .to_hf_json(),
        )
        .unwrap(),
    )
    .unwrap();
    let msg = Policy::load(dir.path(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("model.layers.2."),
        "{msg}"
    );
}

fn config_for_error() -> ModelConfig {
    ModelConfig {
        tie_word_embeddings: false,
        attention_bias: true,
        ..tiny_config()
    }
}

#[test]
fn adapter_save_load_round_trips_in_peft_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = tiny_policy(10);
    let cfg = LoraConfig {
        r: 2,
        alpha: 3.0,
        target_modules: vec!["k_proj".into(), "gate_proj".into()],
        ..LoraConfig::default()
    };
    p.add_adapter("a", &cfg, 5).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    for (_, v) in p.trainable_vars() {
        randomize(&v, 0.2, &mut rng);
    }
    p.save_adapter("a", dir.path(), Some("base/dir")).unwrap();
    let names =
        candle_core::safetensors::load(dir.path().join("adapter_model.safetensors"), &Device::Cpu)
            .unwrap();
    assert!(names.contains_key("base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight"));
    assert_eq!(names.len(), 2 * 2 * 2);
    let mut q = tiny_policy(10);
    q.load_adapter(dir.path(), "b").unwrap();
    assert_eq!(
        logits_of(&q, AdapterMode::Active),
        logits_of(&p, AdapterMode::Active)
    );
    // PEFT's keys, the base it belongs to, and its shapes: A (r, in), B (out, r).
    let c: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(policy::ADAPTER_CONFIG_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&c["peft_type"], &c["task_type"], &c["r"], &c["lora_alpha"]),
        (
            &serde_json::json!("LORA"),
            &serde_json::json!("CAUSAL_LM"),
            &serde_json::json!(2),
            &serde_json::json!(3.0)
        )
    );
    assert_eq!(
        c["target_modules"],
        serde_json::json!(["k_proj", "gate_proj"])
    );
    assert_eq!(c["lora_dropout"], serde_json::json!(0.0));
    assert_eq!(
        policy::adapter_base_model(dir.path()).unwrap().as_deref(),
        Some("base/dir")
    );
    let a = &names["base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight"];
    let b = &names["base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight"];
    // tiny_config: hidden 32, 2 kv heads of 8 (k_proj out 16), intermediate 64.
    assert_eq!((a.dims(), b.dims()), (&[2, 32][..], &[64, 2][..]));
    // An adapter directory is not a model: the error says what it is.
    let msg = Policy::load(dir.path(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("LoRA adapter") && msg.contains("base model"),
        "{msg}"
    );
}

#[test]
fn reference_snapshot_does_not_follow_training() {
    let p = tiny_policy(12);
    let reference = p.snapshot_reference().unwrap();
    let before = logits_of(&reference, AdapterMode::Active);
    let mut rng = StdRng::seed_from_u64(1);
    for (_, v) in p.trainable_vars() {
        randomize(&v, 0.3, &mut rng);
    }
    assert_eq!(logits_of(&reference, AdapterMode::Active), before);
    assert!(reference.trainable_vars().is_empty());
    let pr: Vec<&[u32]> = vec![&[1, 2]];
    let co: Vec<&[u32]> = vec![&[3]];
    let lp = reference
        .completion_logprobs(&pr, &co, AdapterMode::Active)
        .unwrap();
    assert!(
        !lp.logp.track_op(),
        "a reference forward must record no graph"
    );
}

#[test]
fn policy_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<policy::TokenLogProbs>();
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let p = tiny_policy(13);
    let params = SampleParams {
        max_new_tokens: 100,
        ..SampleParams::default()
    };
    let mut rng = StdRng::seed_from_u64(0);
    // 2 + 100 > max_position_embeddings (64); an empty prompt; a token outside the vocabulary.
    assert!(p.sample(&[vec![1, 5]], 2, &params, &mut rng).is_err());
    let short = SampleParams {
        max_new_tokens: 4,
        ..SampleParams::default()
    };
    assert!(p.sample(&[vec![]], 2, &short, &mut rng).is_err());
    assert!(p.sample(&[vec![1, 999]], 2, &short, &mut rng).is_err());
    assert!(p
        .completion_logprobs(&[&[1]], &[&[999]], AdapterMode::Active)
        .is_err());
    assert!(p
        .completion_logprobs(&[&[1], &[1]], &[&[3]], AdapterMode::Active)
        .is_err());
    // No rows or no tokens asked for: empty results, not errors.
    let none = p.sample(&[], 4, &short, &mut rng).unwrap();
    assert!(none.tokens.is_empty());
}

#[test]
fn lora_dropout_is_seeded_and_off_by_default() {
    let mut p = tiny_policy(14);
    let cfg = LoraConfig {
        r: 2,
        alpha: 2.0,
        dropout: 0.5,
        target_modules: vec!["q_proj".into(), "up_proj".into()],
    };
    p.add_adapter("a", &cfg, 1).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    for (_, v) in p.trainable_vars() {
        randomize(&v, 0.3, &mut rng);
    }
    let plain = logits_of(&p, AdapterMode::Active);
    let base = logits_of(&p, AdapterMode::Off);
    assert_eq!(
        logits_of(&p, AdapterMode::Active),
        plain,
        "dropout must be off by default"
    );
    p.set_lora_dropout(Some(7)).unwrap();
    assert_eq!(
        logits_of(&p, AdapterMode::Off),
        base,
        "no adapter, no dropout"
    );
    let a = logits_of(&p, AdapterMode::Active);
    let b = logits_of(&p, AdapterMode::Active);
    assert!(
        max_diff(&a, &plain) > 1e-4 && max_diff(&a, &b) > 1e-4,
        "masks must change per call"
    );
    p.set_lora_dropout(Some(7)).unwrap();
    assert_eq!(
        logits_of(&p, AdapterMode::Active),
        a,
        "the same seed gives the same masks"
    );
    p.set_lora_dropout(None).unwrap();
    assert_eq!(logits_of(&p, AdapterMode::Active), plain);
}

#[test]
fn rows_stopping_at_eos_equal_their_unbatched_runs() {
    // EOS made likely so that rows finish at different steps and leave the batch.
    let p = tiny_policy(15);
    let eos = p.tokenizer().eos_id();
    let emb = p
        .trainable_vars()
        .into_iter()
        .find(|(n, _)| n == "model.embed_tokens.weight")
        .unwrap()
        .1;
    let mut rows = to_vec2(emb.as_tensor());
    for x in rows[eos as usize].iter_mut() {
        *x *= 2.0;
    }
    emb.set(&Tensor::new(rows, &Device::Cpu).unwrap()).unwrap();
    let all: Vec<Vec<u32>> = ["1", "22+", "(a|b)&c = ", "7*8=", "x"]
        .iter()
        .map(|s| p.tokenizer().encode_prompt(s).unwrap())
        .collect();
    let params = SampleParams {
        max_new_tokens: 30,
        greedy: true,
        ..SampleParams::default()
    };
    let batched = p
        .sample(&all, 1, &params, &mut StdRng::seed_from_u64(0))
        .unwrap();
    let lengths: Vec<usize> = batched.tokens.iter().map(Vec::len).collect();
    // Three of five rows stopping early makes the finished rows leave the batch mid-way.
    assert!(
        lengths.iter().filter(|&&l| l < 30).count() >= 3,
        "rows should stop early: {lengths:?}"
    );
    for (i, prompt) in all.iter().enumerate() {
        let alone = p
            .sample(
                std::slice::from_ref(prompt),
                1,
                &params,
                &mut StdRng::seed_from_u64(0),
            )
            .unwrap();
        assert_eq!(batched.tokens[i], alone.tokens[0], "prompt {i}");
        assert_eq!(batched.stop[i], alone.stop[0]);
        for (x, y) in batched.logprobs[i].iter().zip(&alone.logprobs[0]) {
            assert!((x - y).abs() < 1e-4, "prompt {i}: {x} vs {y}");
        }
    }
}
