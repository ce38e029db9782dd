//! Devices (`cpu`, `cuda`, `cuda:N`), forward dtypes (`f32`, `bf16`) and the CPU thread count.

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// Parses `"cpu"`, `"cuda"` (= `cuda:0`) or `"cuda:N"`; CUDA needs the `cuda` cargo feature.
pub fn parse_device(spec: &str) -> Result<Device> {
    let err = |message: String| Error::Device {
        spec: spec.into(),
        message,
    };
    let ordinal = match spec.trim() {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        s => match s.strip_prefix("cuda:") {
            Some(n) => n
                .parse::<usize>()
                .map_err(|e| err(format!("bad ordinal {n:?}: {e}")))?,
            None => return Err(err("expected cpu, cuda or cuda:N".into())),
        },
    };
    if cfg!(feature = "cuda") {
        Device::new_cuda(ordinal).map_err(|e| {
            err(format!(
                "cannot open CUDA device {ordinal} ({e}); `nvidia-smi` lists this machine's GPUs"
            ))
        })
    } else {
        Err(err(
            "this build has no CUDA support (rebuild with `--features cuda`: scripts/cuda-build.sh)"
                .into(),
        ))
    }
}

/// Parses a forward dtype: `"f32"` or `"bf16"` (see [`Policy::set_dtype`](crate::Policy::set_dtype)
/// for where each runs).
pub fn parse_dtype(spec: &str) -> Result<DType> {
    match spec.trim() {
        "f32" | "float32" => Ok(DType::F32),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        other => Err(Error::Invalid(format!(
            "dtype {other:?}: expected f32, or bf16 (CUDA only)"
        ))),
    }
}

/// Sets the number of CPU threads candle's kernels use (`RAYON_NUM_THREADS`, read by candle at
/// each matmul and by rayon when its global pool is first built). Call it at start-up, before
/// any tensor work.
///
/// Run configs default to 2 (`threads`). On the idle 2-core box (`rlvr bench`, 2026-11-23) a
/// second thread took rollout_tiny from 44-46k to 72-89k tokens/s (sampling decodes one shard of
/// prompts per thread) and rollout_small from 2.7k to 3.9k. rayon's pool does not spin like
/// OpenMP, so a busy machine costs a second thread little, where PyTorch at 2 threads collapsed
/// 10-25x under the same load. candle's own pool (its elementwise ops) is set to one thread
/// unless `CANDLE_NUM_THREADS` says otherwise.
pub fn set_num_threads(n: usize) {
    let n = n.max(1);
    // Edition 2021: `set_var` is safe; it is called at start-up before other threads read it.
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    // candle's elementwise ops run on its own pool of spinning threads unless it has one
    // thread; ours run on rayon's pool, and a training step runs its slices side by side on it,
    // so candle's pool would only compete for the same cores (step_tiny at 2 threads: 0.21 s
    // with it, 0.18 s without). With 1, those ops run on the calling (rayon) thread. A value
    // the user set is kept.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Runs `f` on a worker of rayon's global pool (the pool candle's CPU kernels use).
///
/// Called from an ordinary thread, every parallel candle op (softmax, RMSNorm, RoPE, elementwise
/// maps) hands its work to a pool thread and sleeps until it is done: two context switches per
/// op, ~13 % of a tiny rollout at 1 thread (perf). On a worker the same ops run inline. Sampling
/// uses this internally; wrap a training step in it for the same gain.
pub fn run_in_thread_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let mut out = None;
    rayon::scope(|_| out = Some(f()));
    match out {
        Some(r) => r,
        None => unreachable!("rayon::scope runs its closure before returning"),
    }
}

/// Number of CPU threads candle uses now.
pub fn num_threads() -> usize {
    candle_core::utils::get_num_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_junk() {
        assert!(matches!(parse_device("cpu").unwrap(), Device::Cpu));
        assert!(parse_device("tpu").unwrap_err().to_string().contains("tpu"));
        assert!(parse_device("cuda:x")
            .unwrap_err()
            .to_string()
            .contains("ordinal"));
        if !cfg!(feature = "cuda") {
            let msg = parse_device("cuda:1").unwrap_err().to_string();
            assert!(msg.contains("--features cuda"), "{msg}");
        }
    }
}
