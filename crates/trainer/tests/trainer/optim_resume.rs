//! Resuming: N AdamW steps straight give bit-identical weights and optimizer state to k steps,
//! save (weights + optimizer state to safetensors), load into fresh objects, and N − k steps.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};
use trainer::{clip_grad_norm, AdamW, AdamWConfig, LrSchedule};

const TOTAL: u64 = 6;

fn random(rng: &mut StdRng, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// A linear regression small enough to run in milliseconds, with weights from a fixed seed.
struct Problem {
    x: Tensor,
    y: Tensor,
    schedule: LrSchedule,
}

impl Problem {
    fn new() -> (Self, Vec<(String, Var)>) {
        let mut rng = StdRng::seed_from_u64(7);
        let problem = Problem {
            x: random(&mut rng, &[8, 4]),
            y: random(&mut rng, &[8, 3]),
            schedule: LrSchedule::WarmupCosine {
                lr: 0.05,
                warmup_steps: 2,
                total_steps: TOTAL,
                min_lr: 0.005,
            },
        };
        let vars = vec![
            (
                "w".to_string(),
                Var::from_tensor(&random(&mut rng, &[4, 3])).unwrap(),
            ),
            (
                "b".to_string(),
                Var::from_tensor(&random(&mut rng, &[3])).unwrap(),
            ),
        ];
        (problem, vars)
    }

    fn steps(&self, opt: &mut AdamW, range: std::ops::Range<u64>) {
        for step in range {
            let (w, b) = (opt.vars()[0].1.clone(), opt.vars()[1].1.clone());
            let pred = self
                .x
                .matmul(w.as_tensor())
                .unwrap()
                .broadcast_add(b.as_tensor())
                .unwrap();
            let loss = (pred - &self.y).unwrap().sqr().unwrap().sum_all().unwrap();
            let mut grads = loss.backward().unwrap();
            let vars = opt.vars().to_vec();
            clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
            opt.set_learning_rate(self.schedule.lr_at(step));
            opt.step(&grads).unwrap();
        }
    }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

#[test]
fn resumed_adamw_is_bit_identical_to_straight_run() {
    let cfg = AdamWConfig::default();
    let (problem, vars) = Problem::new();
    let mut straight = AdamW::new(vars, cfg.clone(), 0.0).unwrap();
    problem.steps(&mut straight, 0..TOTAL);

    let dir = tempfile::tempdir().unwrap();
    let (problem, vars) = Problem::new();
    let mut first = AdamW::new(vars.clone(), cfg.clone(), 0.0).unwrap();
    problem.steps(&mut first, 0..TOTAL / 2);
    let weights: HashMap<String, Tensor> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&weights, dir.path().join("model.safetensors")).unwrap();
    first
        .save(&dir.path().join("optimizer.safetensors"))
        .unwrap();
    drop(first);

    // Fresh parameters zeroed, then overwritten from disk; a fresh optimizer loaded from disk.
    let (problem, fresh) = Problem::new();
    let loaded =
        candle_core::safetensors::load(dir.path().join("model.safetensors"), &Device::Cpu).unwrap();
    for (name, var) in &fresh {
        var.set(&var.zeros_like().unwrap()).unwrap();
        var.set(&loaded[name]).unwrap();
    }
    let mut resumed = AdamW::new(fresh, cfg, 0.0).unwrap();
    resumed
        .load(&dir.path().join("optimizer.safetensors"))
        .unwrap();
    assert_eq!(resumed.step_count(), TOTAL / 2);
    problem.steps(&mut resumed, TOTAL / 2..TOTAL);

    assert_eq!(resumed.step_count(), TOTAL);
    for ((name, a), (_, b)) in straight.vars().iter().zip(resumed.vars()) {
        assert_eq!(
            bits(a.as_tensor()),
            bits(b.as_tensor()),
            "weights {name} differ"
        );
    }
    let (sa, sb) = (
        straight.state_tensors().unwrap(),
        resumed.state_tensors().unwrap(),
    );
    assert_eq!(sa.len(), 6);
    for (key, a) in &sa {
        let b = &sb[key];
        if a.dtype() == DType::I64 {
            assert_eq!(
                a.to_vec1::<i64>().unwrap(),
                b.to_vec1::<i64>().unwrap(),
                "{key}"
            );
        } else {
            assert_eq!(bits(a), bits(b), "optimizer state {key} differs");
        }
    }
    // The run actually moved the weights (the equality above is not vacuous).
    let (_, initial) = Problem::new();
    assert_ne!(
        bits(initial[0].1.as_tensor()),
        bits(straight.vars()[0].1.as_tensor())
    );
}

#[test]
fn loading_a_missing_file_names_it() {
    let (_, vars) = Problem::new();
    let mut opt = AdamW::new(vars, AdamWConfig::default(), 1e-3).unwrap();
    let err = opt
        .load(std::path::Path::new("/nonexistent/opt.safetensors"))
        .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/opt.safetensors"),
        "{err}"
    );
}
