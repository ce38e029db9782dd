//! CUDA against the CPU on one tiny model: logits, cached greedy decoding and log-prob gradients,
//! with the GPU in f32 and in bf16 (f32 master weights; the CPU side is always f32).
//! They need a GPU and a `--features cuda` build: ignored by default, run by
//! `scripts/cuda-run.sh` (every ignored test whose name contains `cuda`). The f32 tolerances
//! allow for cuBLAS summing in another order; the bf16 ones for bf16's 8-bit mantissa (a relative
//! step of 2^-8 = 0.4 % per rounding) over two layers.

use candle_core::{DType, Device, Tensor};
use policy::{AdapterMode, ModelConfig, Policy, SampleParams, Tokenizer};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::api::prompts;

/// The same weights on the CPU and on CUDA device 0 (saved once, loaded on each), the GPU's
/// forwards in `dtype`.
fn pair(dtype: DType) -> (Policy, Policy) {
    let config = ModelConfig {
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        max_position_embeddings: 64,
        ..ModelConfig::default()
    };
    let cpu = Policy::init(&config, Tokenizer::builtin(), 3, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    cpu.save(dir.path()).unwrap();
    let gpu = Device::new_cuda(0).expect("a CUDA device (build with --features cuda)");
    let mut gpu = Policy::load(dir.path(), &gpu).unwrap();
    gpu.set_dtype(dtype).unwrap();
    (cpu, gpu)
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.to_device(&Device::Cpu).unwrap().flatten_all().unwrap();
    let b = b.to_device(&Device::Cpu).unwrap().flatten_all().unwrap();
    let scale: f32 = b.abs().unwrap().max(0).unwrap().to_scalar().unwrap();
    let diff: f32 = (a - &b)
        .unwrap()
        .abs()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap();
    diff / scale.max(1e-6)
}

fn logits_case(dtype: DType, tol: f32) {
    let (cpu, gpu) = pair(dtype);
    let ids = &prompts(&cpu)[2];
    let diff = max_rel_diff(&gpu.logits(ids).unwrap(), &cpu.logits(ids).unwrap());
    assert!(diff < tol, "{dtype:?}: logits differ by {diff} (relative)");
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_logits_match_cpu() {
    logits_case(DType::F32, 1e-4);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_bf16_logits_match_cpu() {
    logits_case(DType::BF16, 3e-2);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_cached_greedy_decoding_matches_cpu() {
    let (cpu, gpu) = pair(DType::F32);
    let params = SampleParams {
        max_new_tokens: 16,
        greedy: true,
        stop_at_eos: false,
        ..SampleParams::default()
    };
    let run = |p: &Policy| {
        p.sample(&prompts(p), 2, &params, &mut StdRng::seed_from_u64(0))
            .unwrap()
    };
    let (c, g) = (run(&cpu), run(&gpu));
    assert_eq!(g.tokens, c.tokens);
    for (gl, cl) in g.logprobs.iter().flatten().zip(c.logprobs.iter().flatten()) {
        assert!((gl - cl).abs() < 1e-3, "sampling log-prob {gl} vs {cl}");
    }
}

/// bf16 greedy picks may part from f32 where two logits are close, so the GPU's own tokens are
/// scored by the CPU: the cached bf16 decode's log-probs must match teacher-forced f32 ones.
#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_bf16_cached_decoding_matches_cpu_scoring() {
    let (cpu, gpu) = pair(DType::BF16);
    let params = SampleParams {
        max_new_tokens: 16,
        greedy: true,
        stop_at_eos: false,
        ..SampleParams::default()
    };
    let pr = prompts(&gpu);
    let g = gpu
        .sample(&pr, 1, &params, &mut StdRng::seed_from_u64(0))
        .unwrap();
    let pr: Vec<&[u32]> = pr.iter().map(|p| p.as_slice()).collect();
    let co: Vec<&[u32]> = g.tokens.iter().map(|t| t.as_slice()).collect();
    let lp = cpu
        .completion_logprobs(&pr, &co, AdapterMode::Active)
        .unwrap()
        .logp
        .to_vec2::<f32>()
        .unwrap();
    for (row, (gl, cl)) in g.logprobs.iter().zip(&lp).enumerate() {
        for (j, (a, b)) in gl.iter().zip(cl).enumerate() {
            assert!(
                (a - b).abs() < 0.1,
                "row {row} token {j}: bf16 {a} vs f32 {b}"
            );
        }
    }
}

fn gradients_case(dtype: DType, tol: f32) {
    let (cpu, gpu) = pair(dtype);
    let grads = |p: &Policy| {
        let pr: Vec<&[u32]> = vec![&[1, 20, 30, 40], &[1, 50]];
        let co: Vec<&[u32]> = vec![&[5, 6, 7], &[8, 9, 2]];
        let lp = p
            .completion_logprobs(&pr, &co, AdapterMode::Active)
            .unwrap();
        let w = Tensor::new(&[[0.3f32, -1.0, 0.7], [1.1, 0.4, -0.6]], p.device()).unwrap();
        let loss = ((lp.logp + (lp.entropy * 0.1).unwrap()).unwrap() * lp.mask)
            .unwrap()
            .mul(&w)
            .unwrap()
            .sum_all()
            .unwrap();
        let g = loss.backward().unwrap();
        p.trainable_vars()
            .into_iter()
            .map(|(name, v)| (name, g.get(v.as_tensor()).unwrap().clone()))
            .collect::<Vec<_>>()
    };
    for ((name, g), (_, c)) in grads(&gpu).iter().zip(grads(&cpu).iter()) {
        assert_eq!(g.dtype(), DType::F32, "{name}: master gradients are f32");
        let diff = max_rel_diff(g, c);
        assert!(
            diff < tol,
            "{dtype:?} {name}: gradient differs by {diff} (relative)"
        );
    }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_logprob_gradients_match_cpu() {
    gradients_case(DType::F32, 1e-3);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn cuda_bf16_logprob_gradients_match_cpu() {
    gradients_case(DType::BF16, 1e-1);
}
