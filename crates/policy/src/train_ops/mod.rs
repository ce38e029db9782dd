//! Fused CPU training ops with their own backward (candle custom ops with `bwd`), one file each:
//! RMSNorm (`rms_norm.rs`), `silu(g) * u` on stacked `[g | u]` rows (`silu_mul_cat.rs`), causal
//! softmax with the mask folded in (`causal_softmax.rs`) and per-token log-prob + entropy over
//! the vocabulary (`token_logprob.rs`); causal attention (RoPE folded in) is
//! `../causal_attention.rs`, the helpers they share (AVX2 dispatch, `exp`) `../cpu.rs`. Each replaces a chain of composite ops whose backward
//! made the GRPO step slow (many small kernels, zero-filled gradient buffers, scalar libm `exp`).
//! f32 on the CPU only; callers go through [`Kernels`](crate::kernels::Kernels), which keeps the
//! composite ops as the test oracle and for other dtypes/devices.
//!
//! Work is split in fixed-size row blocks (independent of the thread count), and reductions over
//! rows (the RMSNorm weight gradient) add block partials in block order: results are identical
//! at any number of threads.

mod causal_softmax;
mod rms_norm;
mod silu_mul_cat;
mod token_logprob;

pub(crate) use causal_softmax::CausalSoftmax;
pub(crate) use rms_norm::RmsNorm;
pub(crate) use silu_mul_cat::SiluMulCat;
pub(crate) use token_logprob::TokenLogProb;

/// Rows per parallel block (fixed, so that results do not depend on the thread count).
const BLOCK: usize = 64;

#[cfg(test)]
pub(crate) mod tests {
    use candle_core::{Device, Tensor, Var};

    use crate::config::ModelConfig;
    use crate::kernels::tests::{max_abs, randn};
    use crate::kernels::Kernels;
    use crate::lora::Adapter;
    use crate::model::Model;

    /// Tolerance: max |fused - composite| <= TOL * max |composite| (f32 rounding, vectorised exp).
    const TOL: f32 = 2e-5;

    /// Tolerance of the whole model under LoRA: the fused projection merges each pair into its
    /// weight (`x (W + s B A)^T`, the composite sums `x W^T + s (x A^T) B^T`), and the test's
    /// random adapters, 40x the base weights, amplify that rounding (seen: 2e-4). A dropped or
    /// misrouted gradient is off by O(1).
    const LORA_TOL: f32 = 1e-3;

    fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
        assert_within(what, got, want, TOL)
    }

    fn assert_within(what: &str, got: &Tensor, want: &Tensor, tol: f32) {
        assert_eq!(got.dims(), want.dims(), "{what}: shapes");
        let diff = max_abs(&(got - want).unwrap());
        let scale = max_abs(want).max(1e-6);
        assert!(
            diff <= tol * scale,
            "{what}: max diff {diff} vs scale {scale}"
        );
    }

    /// Runs `f` with `Trained` and with `Composite` kernels on fresh `Var`s of `inputs`; compares
    /// the outputs and the gradients of `sum(out * W)` (W random) for every input.
    pub(crate) fn check(name: &str, inputs: &[Tensor], f: impl Fn(Kernels, &[Tensor]) -> Tensor) {
        let run = |k: Kernels| {
            let vars: Vec<Var> = inputs
                .iter()
                .map(|t| Var::from_tensor(t).unwrap())
                .collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let out = f(k, &ts);
            let w = randn(out.dims(), 99, 1.0);
            let grads = (&out * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let g: Vec<Tensor> = vars
                .iter()
                .map(|v| grads.get(v).expect("every input gets a gradient").clone())
                .collect();
            (out, g)
        };
        let (out_f, g_f) = run(Kernels::Trained);
        let (out_c, g_c) = run(Kernels::Composite);
        assert_close(&format!("{name} forward"), &out_f, &out_c);
        for (i, (a, b)) in g_f.iter().zip(&g_c).enumerate() {
            assert_close(&format!("{name} grad {i}"), a, b);
        }
    }

    #[test]
    fn results_are_bit_identical_at_one_and_two_threads() {
        let x = randn(&[300, 37], 1, 1.0);
        let w = randn(&[37], 2, 1.0);
        let run = |threads: usize| -> Vec<Vec<f32>> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
                let y = Kernels::Trained
                    .rms_norm(xv.as_tensor(), wv.as_tensor(), 1e-5)
                    .unwrap();
                let s = Kernels::Trained
                    .causal_softmax(&y.reshape((3, 100, 37)).unwrap().narrow(1, 0, 37).unwrap())
                    .unwrap();
                // Attention on y's first 32 columns as q | k | v rows: 2 heads, 1 kv head of 8.
                let heads = crate::causal_attention::Heads { h: 2, kvh: 1, d: 8 };
                let (cos, sin) = (randn(&[100, 4], 6, 1.0), randn(&[100, 4], 7, 1.0));
                let att = crate::kernels::causal_attention(
                    Kernels::Trained,
                    &y.narrow(1, 0, 32).unwrap().reshape((3, 100, 32)).unwrap(),
                    (&cos, &sin),
                    heads,
                    0.5,
                )
                .unwrap();
                // A LoRA projection of y's rows (37 -> 5, rank 3) on a frozen base.
                let av = Var::from_tensor(&randn(&[3, 37], 3, 1.0)).unwrap();
                let (base, b) = (randn(&[5, 37], 4, 1.0), randn(&[5, 3], 5, 1.0));
                let ll =
                    crate::lora_linear::lora_linear(&y, &base, av.as_tensor(), &b, 0.5).unwrap();
                // A dense projection with a trained weight (its gradient splits the 300 rows).
                let dv = Var::from_tensor(&randn(&[6, 37], 8, 1.0)).unwrap();
                let dn = crate::dense::dense(&y, dv.as_tensor()).unwrap();
                let loss = (s.sqr().unwrap().sum_all().unwrap()
                    + dn.sqr().unwrap().sum_all().unwrap()
                    + y.sum_all().unwrap()
                    + att.sqr().unwrap().sum_all().unwrap()
                    + ll.sqr().unwrap().sum_all().unwrap())
                .unwrap();
                let g = loss.backward().unwrap();
                [
                    g.get(&xv).unwrap(),
                    g.get(&wv).unwrap(),
                    g.get(&av).unwrap(),
                    g.get(&dv).unwrap(),
                    &y,
                ]
                .iter()
                .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect()
            })
        };
        let (one, two) = (run(1), run(2));
        for (a, b) in one.iter().zip(&two) {
            let (a, b): (Vec<u32>, Vec<u32>) = (
                a.iter().map(|v| v.to_bits()).collect(),
                b.iter().map(|v| v.to_bits()).collect(),
            );
            assert_eq!(a, b);
        }
    }

    /// Every trainable tensor of a whole model (GQA, q/k/v biases, untied head) gets the
    /// composite oracle's gradient through the fused path, and the losses agree.
    #[test]
    fn whole_model_gradients_match_the_composite_oracle() {
        whole_model_case(false);
    }

    #[test]
    fn whole_model_lora_gradients_match_the_composite_oracle() {
        whole_model_case(true);
    }

    /// Adapters on some of the projections that share a stacked matmul (q and v, not k; up,
    /// not gate): the block-diagonal branch routes each gradient to its own pair.
    #[test]
    fn whole_model_partial_lora_gradients_match_the_composite_oracle() {
        let targets = ["q_proj", "v_proj", "up_proj"].map(String::from).to_vec();
        whole_model_targets(Some(targets));
    }

    fn whole_model_case(lora: bool) {
        whole_model_targets(lora.then(crate::LoraConfig::all_modules));
    }

    /// Every trainable tensor gets the composite oracle's gradient: all weights, or the
    /// adapter's A/B on the `lora` targets with the base frozen (and then no base gradient).
    fn whole_model_targets(lora: Option<Vec<String>>) {
        let (lora, targets) = (lora.is_some(), lora.unwrap_or_default());
        let config = ModelConfig {
            model_type: "qwen2".into(),
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            tie_word_embeddings: false,
            vocab_size: 50,
            max_position_embeddings: 32,
            ..ModelConfig::default()
        };
        let model = Model::init(&config, 3, &Device::Cpu).unwrap();
        let lora_config = crate::LoraConfig {
            r: 3,
            target_modules: targets,
            ..crate::LoraConfig::default()
        };
        let adapter = lora.then(|| Adapter::random(&model, &lora_config, 9).unwrap());
        let trained: Vec<(String, &Var)> = match &adapter {
            Some(a) => a.named_vars(),
            None => model.named_vars(),
        };
        let ids = Tensor::new(
            &[[1u32, 7, 9, 30, 2, 11, 45], [3, 4, 5, 6, 7, 8, 9]],
            &Device::Cpu,
        )
        .unwrap();
        let tg = Tensor::new(
            &[4u32, 8, 0, 49, 12, 13, 14, 1, 2, 3, 5, 6, 7, 8],
            &Device::Cpu,
        )
        .unwrap();
        let run = |k: Kernels| {
            let h = model.hidden_with(k, &ids, adapter.as_ref(), !lora).unwrap();
            let logits = model
                .logits(k, &h, !lora)
                .unwrap()
                .reshape((14, 50))
                .unwrap();
            let both = k.token_logprob(&logits, &tg).unwrap();
            let w = randn(&[14, 2], 5, 1.0);
            let loss = (both * w).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            for (n, v) in model.named_vars() {
                assert!(
                    !lora || grads.get(v).is_none(),
                    "{n}: frozen, yet has a gradient"
                );
            }
            let g: Vec<(String, Tensor)> = trained
                .iter()
                .map(|(n, v)| {
                    let g = grads
                        .get(v)
                        .unwrap_or_else(|| panic!("{n}: no gradient"))
                        .clone();
                    (n.clone(), g)
                })
                .collect();
            (loss.to_scalar::<f32>().unwrap(), g)
        };
        let (lf, gf) = run(Kernels::Trained);
        let (lc, gc) = run(Kernels::Composite);
        assert!(
            (lf - lc).abs() <= 1e-5 * lc.abs().max(1.0),
            "loss {lf} vs {lc}"
        );
        assert_eq!(gf.len(), gc.len());
        let tol = if lora { LORA_TOL } else { TOL };
        for ((n, a), (_, b)) in gf.iter().zip(&gc) {
            assert_within(n, a, b, tol);
        }
    }
}
