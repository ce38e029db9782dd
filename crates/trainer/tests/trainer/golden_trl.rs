//! The loss, advantages and d loss / d logp against 25 cases computed by TRL 1.16's own code
//! (`fixtures/grpo_trl.json`; provenance and formulas in `fixtures/README.md`).
//!
//! The main test runs in **f64** (candle's CPU ops support it), at the fixture's f64 tolerances:
//! |x − ref| ≤ 1e-12 + 1e-9·|ref| for advantages, loss and gradient. The clip ratios are compared
//! with atol 1e-6 (TRL computes them in f32), and `kl` with rtol 1e-6 because `LossParts`
//! reports metrics as f32. A second test runs the same cases in **f32** (what training uses),
//! inputs rounded to f32, at the fixture's f32 tolerances.

use candle_core::{DType, Device, Tensor, Var};
use serde::Deserialize;
use trainer::{
    advantages, advantages_f64, policy_loss, AdvantageKind, Aggregation, LossConfig, LossNorm,
    LossParts,
};

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Clone, Deserialize)]
struct Metrics {
    clip_ratio_low: f64,
    clip_ratio_high: f64,
    clip_ratio_region: f64,
    mean_kl: Option<f64>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    loss_type: String,
    beta: f64,
    epsilon_low: f64,
    epsilon_high: f64,
    scale_rewards: String,
    max_completion_length: usize,
    num_generations: usize,
    use_bias_correction_kl: bool,
    micro_batches: usize,
    rewards: Vec<f64>,
    completion_mask: Vec<Vec<f64>>,
    logp: Vec<Vec<f64>>,
    old_logp: Option<Vec<Vec<f64>>>,
    ref_logp: Option<Vec<Vec<f64>>>,
    advantages: Vec<f64>,
    num_items_in_batch: usize,
    loss: f64,
    grad_logp: Vec<Vec<f64>>,
    clip_ratio_low: Option<f64>,
    clip_ratio_high: Option<f64>,
    clip_ratio_region: Option<f64>,
    mean_kl: Option<f64>,
    micro_batch_losses: Option<Vec<f64>>,
    micro_batch_metrics: Option<Vec<Metrics>>,
}

const RTOL: f64 = 1e-9;
const ATOL: f64 = 1e-12;

/// Tolerances (atol, rtol) for one precision.
struct Tolerance {
    value: (f64, f64),
    grad: (f64, f64),
}

const F64_TOL: Tolerance = Tolerance {
    value: (ATOL, RTOL),
    grad: (ATOL, RTOL),
};

const F32_TOL: Tolerance = Tolerance {
    value: (1e-6, 1e-4),
    grad: (1e-7, 1e-4),
};

fn close(what: &str, case: &str, got: f64, want: f64, atol: f64, rtol: f64) {
    assert!(
        (got - want).abs() <= atol + rtol * want.abs(),
        "{case}: {what}: got {got:e}, want {want:e} (diff {:e})",
        (got - want).abs()
    );
}

fn load() -> Vec<Case> {
    let text = include_str!("../fixtures/grpo_trl.json");
    let fixture: Fixture = serde_json::from_str(text).expect("fixture parses");
    assert_eq!(fixture.cases.len(), 25, "the fixture holds 25 cases");
    fixture.cases
}

fn tensor2(rows: &[Vec<f64>], dtype: DType) -> Tensor {
    let t = Tensor::new(rows.to_vec(), &Device::Cpu).expect("rectangular fixture rows");
    t.to_dtype(dtype).unwrap()
}

/// Our configuration and whole-batch normaliser for one TRL `loss_type`. `slice_tokens` is the
/// active-token count of the micro-batch, which only TRL's `bnpo` normalises by.
fn config_for(case: &Case, slice_tokens: usize) -> (LossConfig, LossNorm) {
    let rows = case.rewards.len();
    let (aggregation, tokens) = match case.loss_type.as_str() {
        "grpo" => (Aggregation::SeqMeanTokenMean, 0),
        "dr_grpo" => (Aggregation::SeqMeanTokenSumNorm, 0),
        "dapo" => (Aggregation::TokenMean, case.num_items_in_batch),
        // bnpo = each micro-batch's own token mean, divided by the accumulation steps.
        "bnpo" => (Aggregation::TokenMean, slice_tokens * case.micro_batches),
        other => panic!("{}: unknown loss_type {other}", case.name),
    };
    let cfg = LossConfig {
        aggregation,
        epsilon_low: case.epsilon_low,
        epsilon_high: case.epsilon_high,
        beta: case.beta,
        kl_bias_correction: case.use_bias_correction_kl,
        // TRL's GRPO loss has no entropy term.
        entropy_coef: 0.0,
    };
    let norm = LossNorm::new(aggregation, rows, tokens, case.max_completion_length).unwrap();
    (cfg, norm)
}

#[test]
fn golden_advantages_match_trl() {
    for case in load() {
        let kind = match case.scale_rewards.as_str() {
            "group" => AdvantageKind::Grpo,
            "none" => AdvantageKind::DrGrpo,
            other => panic!("{}: unknown scale_rewards {other}", case.name),
        };
        let ours = advantages_f64(&case.rewards, case.num_generations, kind).unwrap();
        assert_eq!(ours.len(), case.advantages.len());
        for (i, (&a, &b)) in ours.iter().zip(&case.advantages).enumerate() {
            close(&format!("advantage[{i}]"), &case.name, a, b, ATOL, RTOL);
        }
    }
}

#[test]
fn golden_loss_metrics_and_gradient_match_trl_in_f64() {
    check_loss_cases(DType::F64, &F64_TOL);
}

#[test]
fn golden_loss_metrics_and_gradient_match_trl_in_f32() {
    check_loss_cases(DType::F32, &F32_TOL);
}

/// Runs every case through `policy_loss` + backward in `dtype` and compares at `tol`.
fn check_loss_cases(dtype: DType, tol: &Tolerance) {
    let cases = load();
    // Worst deviations seen, printed with `--nocapture`: (loss relative, gradient absolute).
    let (mut worst_loss, mut worst_grad) = (0.0f64, 0.0f64);
    for case in &cases {
        let rows = case.rewards.len();
        let kind = if case.scale_rewards == "group" {
            AdvantageKind::Grpo
        } else {
            AdvantageKind::DrGrpo
        };
        let adv = if dtype == DType::F64 {
            let adv = advantages_f64(&case.rewards, case.num_generations, kind).unwrap();
            Tensor::new(adv, &Device::Cpu).unwrap()
        } else {
            let rewards: Vec<f32> = case.rewards.iter().map(|&r| r as f32).collect();
            let adv = advantages(&rewards, case.num_generations, kind).unwrap();
            assert_eq!(
                adv.len(),
                case.advantages.len(),
                "{}: advantages",
                case.name
            );
            for (i, (&a, &b)) in adv.iter().zip(&case.advantages).enumerate() {
                let (atol, rtol) = tol.value;
                close(
                    &format!("f32 advantage[{i}]"),
                    &case.name,
                    a.into(),
                    b,
                    atol,
                    rtol,
                );
            }
            Tensor::new(adv, &Device::Cpu).unwrap()
        };
        let logp = Var::from_tensor(&tensor2(&case.logp, dtype)).unwrap();
        assert_eq!(logp.dtype(), dtype);
        let mask = tensor2(&case.completion_mask, dtype);
        let old = case.old_logp.as_deref().map(|t| tensor2(t, dtype));
        let reference = case.ref_logp.as_deref().map(|t| tensor2(t, dtype));

        // Contiguous row slices, one backward each, gradients summed: what the trainer does.
        assert_eq!(rows % case.micro_batches, 0, "{}: uneven slices", case.name);
        if let Some(losses) = &case.micro_batch_losses {
            assert_eq!(losses.len(), case.micro_batches, "{}: losses", case.name);
        }
        let slice_rows = rows / case.micro_batches;
        let mut total_loss = 0.0;
        let mut grad = Tensor::zeros(logp.shape(), dtype, &Device::Cpu).unwrap();
        let mut parts_per_slice: Vec<LossParts> = Vec::new();
        for k in 0..case.micro_batches {
            let start = k * slice_rows;
            let cut = |t: &Tensor| t.narrow(0, start, slice_rows).unwrap();
            let logp_s = cut(logp.as_tensor());
            let mask_s = cut(&mask);
            // On-policy cases: TRL uses logp.detach() as the old log-probs.
            let old_s = old.as_ref().map(cut).unwrap_or_else(|| logp_s.detach());
            let ref_s = reference.as_ref().map(cut);
            let slice_tokens = mask_s.to_dtype(DType::F64).unwrap().sum_all().unwrap();
            let slice_tokens = slice_tokens.to_scalar::<f64>().unwrap() as usize;
            let (cfg, norm) = config_for(case, slice_tokens);
            let parts = policy_loss(
                &logp_s,
                &old_s,
                ref_s.as_ref(),
                &adv.narrow(0, start, slice_rows).unwrap(),
                &mask_s,
                &cfg,
                &norm,
            )
            .unwrap();
            let value = parts
                .loss
                .to_dtype(DType::F64)
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            if let Some(losses) = &case.micro_batch_losses {
                let (atol, rtol) = tol.value;
                close("micro-batch loss", &case.name, value, losses[k], atol, rtol);
            }
            total_loss += value;
            let grads = parts.loss.backward().unwrap();
            let g = grads.get(logp.as_tensor()).expect("logp has a gradient");
            grad = (grad + g).unwrap();
            parts_per_slice.push(parts);
        }
        let (atol, rtol) = tol.value;
        close("loss", &case.name, total_loss, case.loss, atol, rtol);
        if case.loss != 0.0 {
            worst_loss = worst_loss.max(((total_loss - case.loss) / case.loss).abs());
        }

        let grad = grad.to_dtype(DType::F64).unwrap().to_vec2::<f64>().unwrap();
        let (atol, rtol) = tol.grad;
        assert_eq!(
            grad.len(),
            case.grad_logp.len(),
            "{}: gradient rows",
            case.name
        );
        for (i, (row, want_row)) in grad.iter().zip(&case.grad_logp).enumerate() {
            assert_eq!(row.len(), want_row.len(), "{}: gradient row {i}", case.name);
            for (t, (&g, &w)) in row.iter().zip(want_row).enumerate() {
                close(&format!("grad[{i}][{t}]"), &case.name, g, w, atol, rtol);
                worst_grad = worst_grad.max((g - w).abs());
            }
        }

        let expected: Vec<Metrics> = match &case.micro_batch_metrics {
            Some(m) => m.clone(),
            None => vec![Metrics {
                clip_ratio_low: case.clip_ratio_low.unwrap(),
                clip_ratio_high: case.clip_ratio_high.unwrap(),
                clip_ratio_region: case.clip_ratio_region.unwrap(),
                mean_kl: case.mean_kl,
            }],
        };
        assert_eq!(
            parts_per_slice.len(),
            expected.len(),
            "{}: metrics per micro-batch",
            case.name
        );
        for (parts, want) in parts_per_slice.iter().zip(&expected) {
            let n = &case.name;
            close(
                "clip low",
                n,
                parts.clip_ratio_low.into(),
                want.clip_ratio_low,
                1e-6,
                0.0,
            );
            close(
                "clip high",
                n,
                parts.clip_ratio_high.into(),
                want.clip_ratio_high,
                1e-6,
                0.0,
            );
            let region = parts.clip_ratio_region.into();
            close("clip region", n, region, want.clip_ratio_region, 1e-6, 0.0);
            match want.mean_kl {
                Some(kl) => close(
                    "kl",
                    n,
                    parts.kl.into(),
                    kl,
                    1e-9,
                    1e-6_f64.max(tol.value.1),
                ),
                None => assert_eq!(parts.kl, 0.0, "{n}: no reference, kl must be 0"),
            }
        }
    }
    eprintln!("{dtype:?}: worst loss relative error {worst_loss:.1e}, worst gradient absolute error {worst_grad:.1e}");
}
