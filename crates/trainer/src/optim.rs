//! AdamW with savable state, global-norm gradient clipping and a NaN/Inf check.
//!
//! candle's own `AdamW` keeps its moments private, so a run could not resume exactly; this one
//! follows `torch.optim.AdamW` (decoupled weight decay, bias correction, per-parameter step count):
//!
//! ```text
//! θ ← θ·(1 − lr·wd)
//! m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
//! θ ← θ − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
//! ```
//! A parameter without a gradient in a step is left alone (no decay, no step), as in torch.
//! State = per named parameter: `step.NAME` (i64), `exp_avg.NAME`, `exp_avg_sq.NAME`, saved
//! bit for bit as safetensors.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// AdamW hyper-parameters except the learning rate (which the schedule sets every step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to √v̂ to avoid division by zero.
    pub eps: f64,
    /// Decoupled weight decay (multiplied by lr).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        // torch.optim.AdamW's defaults.
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

impl AdamWConfig {
    /// Checks 0 ≤ β < 1, ε > 0, weight decay ≥ 0; errors name the run config's key
    /// (`train.beta1`: the RL optimizer's; the warm start's uses the defaults).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, value: f64, reason: &str| Error::InvalidConfig {
            key: format!("train.{key}"),
            value: value.to_string(),
            reason: reason.into(),
        };
        for (key, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(bad(key, beta, "must be in [0, 1)"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(bad("eps", self.eps, "must be finite and > 0"));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(bad(
                "weight_decay",
                self.weight_decay,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }
}

/// One parameter's optimizer state.
#[derive(Debug)]
struct Slot {
    step: u64,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// AdamW over named candle `Var`s, with state that saves and loads exactly.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<(String, Var)>,
    slots: Vec<Slot>,
    cfg: AdamWConfig,
    lr: f64,
}

impl AdamW {
    /// An optimizer with zero moments for `vars` (names must be unique), starting at `lr`.
    pub fn new(vars: Vec<(String, Var)>, cfg: AdamWConfig, lr: f64) -> Result<Self> {
        cfg.validate()?;
        let mut seen = HashSet::new();
        let mut slots = Vec::with_capacity(vars.len());
        for (name, var) in &vars {
            if !seen.insert(name.as_str()) {
                return Err(Error::InvalidConfig {
                    key: "optimizer parameters".into(),
                    value: name.clone(),
                    reason: "parameter name given twice".into(),
                });
            }
            slots.push(Slot {
                step: 0,
                exp_avg: var.zeros_like()?,
                exp_avg_sq: var.zeros_like()?,
            });
        }
        Ok(Self {
            vars,
            slots,
            cfg,
            lr,
        })
    }

    /// The current learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate used by the next [`AdamW::step`].
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// The parameters, by name, in the order given to [`AdamW::new`].
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// The largest per-parameter step count (= steps taken when every parameter had gradients).
    pub fn step_count(&self) -> u64 {
        self.slots.iter().map(|s| s.step).max().unwrap_or(0)
    }

    /// One AdamW update of every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        for ((_, var), slot) in self.vars.iter().zip(self.slots.iter_mut()) {
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            let grad = grad.to_dtype(var.dtype())?;
            slot.step += 1;
            let t = slot.step as i32;
            let theta = if self.cfg.weight_decay != 0.0 {
                var.as_tensor()
                    .affine(1.0 - self.lr * self.cfg.weight_decay, 0.0)?
            } else {
                var.as_tensor().clone()
            };
            slot.exp_avg = (slot.exp_avg.affine(b1, 0.0)? + grad.affine(1.0 - b1, 0.0)?)?;
            slot.exp_avg_sq =
                (slot.exp_avg_sq.affine(b2, 0.0)? + grad.sqr()?.affine(1.0 - b2, 0.0)?)?;
            let bias1 = 1.0 - b1.powi(t);
            let bias2_sqrt = (1.0 - b2.powi(t)).sqrt();
            let denom = slot
                .exp_avg_sq
                .sqrt()?
                .affine(1.0 / bias2_sqrt, self.cfg.eps)?;
            let update = slot.exp_avg.div(&denom)?.affine(self.lr / bias1, 0.0)?;
            var.set(&(theta - update)?)?;
        }
        Ok(())
    }

    /// The optimizer state as named tensors (`step.NAME`, `exp_avg.NAME`, `exp_avg_sq.NAME`).
    pub fn state_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::with_capacity(3 * self.vars.len());
        for ((name, var), slot) in self.vars.iter().zip(&self.slots) {
            let step = Tensor::new(&[slot.step as i64], var.device())?;
            out.insert(format!("step.{name}"), step);
            out.insert(format!("exp_avg.{name}"), slot.exp_avg.clone());
            out.insert(format!("exp_avg_sq.{name}"), slot.exp_avg_sq.clone());
        }
        Ok(out)
    }

    /// Replaces the state with `tensors` (as made by [`AdamW::state_tensors`]); every parameter
    /// must be present with its shape and dtype, and nothing else. `origin` names the source in
    /// errors.
    pub fn load_state_tensors(
        &mut self,
        mut tensors: HashMap<String, Tensor>,
        origin: &Path,
    ) -> Result<()> {
        let err = |key: &str, reason: String| Error::OptimizerState {
            path: origin.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let mut slots = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            let mut take = |prefix: &str| {
                let key = format!("{prefix}.{name}");
                tensors
                    .remove(&key)
                    .ok_or_else(|| err(&key, "missing".into()))
                    .map(|t| (key, t))
            };
            let (step_key, step) = take("step")?;
            let step = step
                .to_dtype(DType::I64)?
                .flatten_all()?
                .to_vec1::<i64>()?
                .first()
                .copied()
                .filter(|&s| s >= 0)
                .ok_or_else(|| err(&step_key, "expected one non-negative step count".into()))?;
            let mut moment = |prefix: &str| -> Result<Tensor> {
                let (key, t) = take(prefix)?;
                if t.dims() != var.dims() || t.dtype() != var.dtype() {
                    return Err(err(
                        &key,
                        format!(
                            "has {:?} {:?}, the parameter has {:?} {:?}",
                            t.dtype(),
                            t.dims(),
                            var.dtype(),
                            var.dims()
                        ),
                    ));
                }
                Ok(t.to_device(var.device())?)
            };
            let exp_avg = moment("exp_avg")?;
            let exp_avg_sq = moment("exp_avg_sq")?;
            slots.push(Slot {
                step: step as u64,
                exp_avg,
                exp_avg_sq,
            });
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(err(extra, "not a parameter of this optimizer".into()));
        }
        self.slots = slots;
        Ok(())
    }

    /// Writes the state to a safetensors file (via a temporary file and a rename, so that an
    /// interrupted save leaves the previous file intact).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("safetensors.tmp");
        candle_core::safetensors::save(&self.state_tensors()?, &tmp)
            .map_err(|e| state_file_error(path, format!("cannot write: {e}")))?;
        std::fs::rename(&tmp, path).map_err(|error| Error::Io {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Reads the state from a safetensors file written by [`AdamW::save`].
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let device = match self.vars.first() {
            Some((_, var)) => var.device().clone(),
            None => candle_core::Device::Cpu,
        };
        let tensors = candle_core::safetensors::load(path, &device)
            .map_err(|e| state_file_error(path, format!("cannot read: {e}")))?;
        self.load_state_tensors(tensors, path)
    }
}

fn state_file_error(path: &Path, reason: String) -> Error {
    Error::OptimizerState {
        path: path.to_path_buf(),
        key: "*".into(),
        reason,
    }
}

/// Scales the gradients of `vars` so that their global L2 norm is at most `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`: factor max_norm / (norm + 1e-6) when below 1) and returns
/// the norm before clipping. Fails naming the first parameter whose gradient holds NaN or Inf.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[(String, Var)], max_norm: f64) -> Result<f32> {
    let mut sum_sq = 0.0f64;
    for (name, var) in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            let sq = g
                .to_dtype(DType::F64)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f64>()?;
            if !sq.is_finite() {
                return Err(Error::NonFinite {
                    what: "gradient",
                    name: name.clone(),
                });
            }
            sum_sq += sq;
        }
    }
    let norm = sum_sq.sqrt();
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for (_, var) in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let clipped = g.affine(scale, 0.0)?;
                grads.insert(var.as_tensor(), clipped);
            }
        }
    }
    Ok(norm as f32)
}

/// Fails naming the first parameter whose gradient holds NaN or Inf.
pub fn check_finite_grads(grads: &GradStore, vars: &[(String, Var)]) -> Result<()> {
    for (name, var) in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            ensure_finite("gradient", name, g)?;
        }
    }
    Ok(())
}

/// Fails with [`Error::NonFinite`] naming `what` and `name` if `t` holds NaN or Inf.
pub fn ensure_finite(what: &'static str, name: &str, t: &Tensor) -> Result<()> {
    // NaN and ±Inf survive a sum (Inf − Inf = NaN), so one reduction decides.
    let total = t.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    if total.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what,
            name: name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn var(values: &[f64], shape: &[usize]) -> Var {
        Var::from_tensor(&Tensor::from_slice(values, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn grads_for(vars: &[(String, Var)], values: &[&[f64]]) -> GradStore {
        let mut grads = GradStore::default();
        for ((_, v), g) in vars.iter().zip(values) {
            let g = Tensor::from_slice(g, v.shape(), &Device::Cpu).unwrap();
            grads.insert(v.as_tensor(), g);
        }
        grads
    }

    /// Reference from torch 2.15 (float64):
    /// ```python
    /// import torch; torch.set_default_dtype(torch.float64)
    /// a = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    /// b = torch.tensor([[0.1, 0.2], [0.3, -0.4]], requires_grad=True)
    /// opt = torch.optim.AdamW([a, b], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    /// grads = [([0.3, -0.1, 0.0], [[1.0, -2.0], [0.5, 0.25]]),
    ///          ([0.2, 0.4, -0.6], [[-1.0, 0.0], [0.5, 3.0]]),
    ///          ([-0.5, 0.1, 0.2], [[0.1, 0.1], [-0.2, 0.0]])]
    /// for (ga, gb), lr in zip(grads, [1e-2, 1e-2, 5e-3]):
    ///     for g in opt.param_groups: g['lr'] = lr
    ///     a.grad = torch.tensor(ga); b.grad = torch.tensor(gb); opt.step()
    /// print(a.tolist(), b.tolist())
    /// ```
    #[test]
    fn adamw_matches_torch_over_three_steps_with_an_lr_change() {
        let vars = vec![
            ("a".to_string(), var(&[0.5, -1.0, 2.0], &[3])),
            ("b".to_string(), var(&[0.1, 0.2, 0.3, -0.4], &[2, 2])),
        ];
        let cfg = AdamWConfig {
            weight_decay: 0.1,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(vars.clone(), cfg, 1e-2).unwrap();
        let steps: [(&[f64], &[f64], f64); 3] = [
            (&[0.3, -0.1, 0.0], &[1.0, -2.0, 0.5, 0.25], 1e-2),
            (&[0.2, 0.4, -0.6], &[-1.0, 0.0, 0.5, 3.0], 1e-2),
            (&[-0.5, 0.1, 0.2], &[0.1, 0.1, -0.2, 0.0], 5e-3),
        ];
        for (ga, gb, lr) in steps {
            opt.set_learning_rate(lr);
            opt.step(&grads_for(&vars, &[ga, gb])).unwrap();
        }
        let a = vars[0].1.as_tensor().to_vec1::<f64>().unwrap();
        let b = vars[1]
            .1
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let want_a = [0.47946641403894436, -0.9959639581407163, 2.00415950961997];
        let want_b = [
            0.09026870163178304,
            0.2186095208512419,
            0.2764216095482428,
            -0.42003482250150265,
        ];
        for (got, want) in a.iter().chain(&b).zip(want_a.iter().chain(&want_b)) {
            assert!((got - want).abs() < 1e-14, "got {got}, torch {want}");
        }
        assert_eq!(opt.step_count(), 3);
    }

    #[test]
    fn first_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        // With bias correction the first Adam step is lr·g/(|g| + ε) ≈ lr·sign(g).
        let vars = vec![("w".to_string(), var(&[1.0, 1.0], &[2]))];
        let cfg = AdamWConfig {
            weight_decay: 0.0,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(vars.clone(), cfg, 0.1).unwrap();
        opt.step(&grads_for(&vars, &[&[5.0, -0.01]])).unwrap();
        let w = vars[0].1.as_tensor().to_vec1::<f64>().unwrap();
        assert!(
            (w[0] - 0.9).abs() < 1e-9 && (w[1] - 1.1).abs() < 1e-6,
            "{w:?}"
        );
    }

    #[test]
    fn parameters_without_gradient_are_untouched() {
        let vars = vec![
            ("a".to_string(), var(&[1.0], &[1])),
            ("b".to_string(), var(&[2.0], &[1])),
        ];
        let mut opt = AdamW::new(vars.clone(), AdamWConfig::default(), 0.1).unwrap();
        opt.step(&grads_for(&vars[..1], &[&[1.0]])).unwrap();
        assert_eq!(vars[1].1.as_tensor().to_vec1::<f64>().unwrap(), vec![2.0]);
        assert_ne!(vars[0].1.as_tensor().to_vec1::<f64>().unwrap(), vec![1.0]);
        let state = opt.state_tensors().unwrap();
        assert_eq!(state["step.a"].to_vec1::<i64>().unwrap(), vec![1]);
        assert_eq!(state["step.b"].to_vec1::<i64>().unwrap(), vec![0]);
    }

    #[test]
    fn clip_grad_norm_scales_to_max_and_reports_the_pre_clip_norm() {
        let vars = vec![
            ("a".to_string(), var(&[0.0, 0.0], &[2])),
            ("b".to_string(), var(&[0.0], &[1])),
        ];
        // Global norm of (3, 0) and (4) is 5.
        let mut grads = grads_for(&vars, &[&[3.0, 0.0], &[4.0]]);
        let norm = clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        let a = grads
            .get(vars[0].1.as_tensor())
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let b = grads
            .get(vars[1].1.as_tensor())
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let scale = 1.0 / (5.0 + 1e-6);
        assert_eq!(a, vec![3.0 * scale, 0.0]);
        assert_eq!(b, vec![4.0 * scale]);
        // Below the limit nothing changes.
        let mut grads = grads_for(&vars, &[&[0.3, 0.0], &[0.4]]);
        clip_grad_norm(&mut grads, &vars, 1.0).unwrap();
        assert_eq!(
            grads
                .get(vars[1].1.as_tensor())
                .unwrap()
                .to_vec1::<f64>()
                .unwrap(),
            vec![0.4]
        );
    }

    #[test]
    fn non_finite_gradients_are_reported_by_parameter_name() {
        let vars = vec![
            ("model.ok".to_string(), var(&[0.0], &[1])),
            ("model.layers.0.bad".to_string(), var(&[0.0, 0.0], &[2])),
        ];
        let mut grads = grads_for(&vars, &[&[1.0], &[f64::INFINITY, 1.0]]);
        let err = clip_grad_norm(&mut grads, &vars, 1.0).unwrap_err();
        assert!(err.to_string().contains("model.layers.0.bad"), "{err}");
        let grads = grads_for(&vars, &[&[f64::NAN], &[1.0, 1.0]]);
        let err = check_finite_grads(&grads, &vars).unwrap_err();
        assert!(
            matches!(err, Error::NonFinite { ref name, .. } if name == "model.ok"),
            "{err}"
        );
    }

    #[test]
    fn loading_state_rejects_missing_and_foreign_keys() {
        let vars = vec![("a".to_string(), var(&[1.0], &[1]))];
        let mut opt = AdamW::new(vars.clone(), AdamWConfig::default(), 0.1).unwrap();
        let mut state = opt.state_tensors().unwrap();
        state.remove("exp_avg.a");
        let err = opt
            .load_state_tensors(state, Path::new("x.safetensors"))
            .unwrap_err();
        assert!(err.to_string().contains("exp_avg.a"), "{err}");
        let mut state = opt.state_tensors().unwrap();
        state.insert(
            "exp_avg.z".into(),
            Tensor::new(&[0.0f64], &Device::Cpu).unwrap(),
        );
        let err = opt
            .load_state_tensors(state, Path::new("x.safetensors"))
            .unwrap_err();
        assert!(err.to_string().contains("exp_avg.z"), "{err}");
    }

    /// Issue 21: every message names the run config's key (`train.beta1`, not `optimizer.*`).
    #[test]
    fn config_rejects_out_of_range_values_naming_the_key() {
        let message = |cfg: AdamWConfig| cfg.validate().unwrap_err().to_string();
        let d = AdamWConfig::default;
        assert_eq!(
            message(AdamWConfig { beta1: -0.1, ..d() }),
            "invalid config value train.beta1 = -0.1: must be in [0, 1)"
        );
        assert_eq!(
            message(AdamWConfig { beta2: 1.0, ..d() }),
            "invalid config value train.beta2 = 1: must be in [0, 1)"
        );
        assert_eq!(
            message(AdamWConfig { eps: 0.0, ..d() }),
            "invalid config value train.eps = 0: must be finite and > 0"
        );
        assert_eq!(
            message(AdamWConfig {
                weight_decay: -1.0,
                ..d()
            }),
            "invalid config value train.weight_decay = -1: must be finite and >= 0"
        );
    }
}
