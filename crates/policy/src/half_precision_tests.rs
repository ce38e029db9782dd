//! The half-precision forward (bf16 on CUDA) checked on the CPU with f16, the half type that
//! candle's CPU matmul has: the same casts, f32 statistics and f32 master weights, against the
//! f32 forward of the same weights. `tests/cuda.rs` repeats the comparisons in bf16 on a GPU.

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::kernels::tests::{max_abs, max_diff, randn};
use crate::{AdapterMode, LoraConfig, ModelConfig, Policy, SampleParams, Tokenizer};

fn policy(lora: bool) -> Policy {
    let config = ModelConfig {
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        max_position_embeddings: 64,
        ..ModelConfig::default()
    };
    let mut p = Policy::init(&config, Tokenizer::builtin(), 5, &Device::Cpu).unwrap();
    if lora {
        let c = LoraConfig {
            target_modules: LoraConfig::all_modules(),
            ..LoraConfig::default()
        };
        p.add_adapter("a", &c, 1).unwrap();
        // B starts at zero: give it values so that the branch (and A's gradient) matters.
        for (i, (name, v)) in p.trainable_vars().into_iter().enumerate() {
            if name.contains("lora_B") {
                let t = randn(v.dims(), i as u64, 0.05);
                v.set(&t).unwrap();
            }
        }
    }
    p
}

/// Log-probs and every trainable gradient of a weighted log-prob + entropy loss.
fn logprobs_and_grads(p: &Policy) -> (Tensor, Vec<(String, Tensor)>) {
    let pr: Vec<&[u32]> = vec![&[1, 20, 30, 40], &[1, 50]];
    let co: Vec<&[u32]> = vec![&[5, 6, 7], &[8, 9, 2]];
    let lp = p
        .completion_logprobs(&pr, &co, AdapterMode::Active)
        .unwrap();
    assert_eq!(lp.logp.dtype(), DType::F32, "log-probs come back in f32");
    let w = Tensor::new(&[[0.3f32, -1.0, 0.7], [1.1, 0.4, -0.6]], p.device()).unwrap();
    let loss = ((&lp.logp + (&lp.entropy * 0.1).unwrap()).unwrap() * &lp.mask)
        .unwrap()
        .mul(&w)
        .unwrap()
        .sum_all()
        .unwrap();
    let g = loss.backward().unwrap();
    let grads = p
        .trainable_vars()
        .into_iter()
        .map(|(name, v)| {
            let g = g
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient"));
            assert_eq!(g.dtype(), DType::F32, "{name}: the master gradient is f32");
            (name, g.clone())
        })
        .collect();
    (lp.logp, grads)
}

/// `max |a - b| / max |b|`.
fn rel(a: &Tensor, b: &Tensor) -> f32 {
    max_diff(a, b) / max_abs(b).max(1e-6)
}

#[test]
fn a_half_forward_tracks_f32_and_hands_f32_gradients_to_the_master_weights() {
    for lora in [false, true] {
        let mut p = policy(lora);
        let (lp32, g32) = logprobs_and_grads(&p);
        p.model.compute = DType::F16;
        let (lp16, g16) = logprobs_and_grads(&p);
        let r = rel(&lp16, &lp32);
        // not 0: the forward did run in f16
        assert!(r > 0.0 && r < 1e-2, "lora {lora}: log-probs off by {r}");
        for ((name, a), (_, b)) in g16.iter().zip(&g32) {
            let r = rel(a, b);
            assert!(
                r < 1e-2,
                "lora {lora}, {name}: gradient off by {r} (relative)"
            );
        }
        // every master weight is still f32
        for (name, v) in p.model.named_vars() {
            assert_eq!(v.dtype(), DType::F32, "{name}");
        }
    }
}

#[test]
fn half_sampling_and_logits_track_f32() {
    let mut p = policy(false);
    let ids = [1u32, 20, 30, 40, 50, 7];
    let l32 = p.logits(&ids).unwrap();
    let params = SampleParams {
        max_new_tokens: 6,
        greedy: true,
        stop_at_eos: false,
        ..SampleParams::default()
    };
    let prompts = vec![vec![1u32, 20, 30], vec![1, 50]];
    let run = |p: &Policy| {
        p.sample(&prompts, 2, &params, &mut StdRng::seed_from_u64(0))
            .unwrap()
    };
    let r32 = run(&p);
    p.model.compute = DType::F16;
    let l16 = p.logits(&ids).unwrap();
    assert_eq!(l16.dtype(), DType::F32);
    let r = rel(&l16, &l32);
    assert!(r > 0.0 && r < 1e-2, "logits off by {r}");
    let r16 = run(&p);
    // the KV cache and decode attention ran in f16; greedy picks agree with f32 on this model
    assert_eq!(r16.tokens, r32.tokens);
    for (a, b) in r16
        .logprobs
        .iter()
        .flatten()
        .zip(r32.logprobs.iter().flatten())
    {
        assert!((a - b).abs() < 2e-2, "sampling log-prob {a} vs {b}");
    }
}

#[test]
fn bf16_needs_cuda_and_other_dtypes_are_refused() {
    let mut p = policy(false);
    let err = p.set_dtype(DType::BF16).unwrap_err().to_string();
    assert!(err.contains("bf16") && err.contains("CUDA"), "{err}");
    assert!(p.set_dtype(DType::F16).is_err());
    assert_eq!(p.dtype(), DType::F32, "a refused dtype changes nothing");
    p.set_dtype(DType::F32).unwrap();
}
