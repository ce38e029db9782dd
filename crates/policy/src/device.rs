//! Devices (`cpu`, `cuda`, `cuda:N`), forward dtypes (`f32`, `bf16`) and the CPU thread count.

use candle_core::{DType, Device};

use crate::error::{Error, Result};

/// Where a model runs: `cpu`, `cuda` (= `cuda:0`) or `cuda:N`; written as text in configs and
/// on the command line. CUDA needs the `cuda` cargo feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    /// The CPU.
    #[default]
    Cpu,
    /// The CUDA GPU of this ordinal.
    Cuda(usize),
}

impl DeviceSpec {
    /// Opens the device; an error when CUDA is asked of a build without it or the GPU is absent.
    pub fn open(self) -> Result<Device> {
        let ordinal = match self {
            DeviceSpec::Cpu => return Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => n,
        };
        let err = |message: String| Error::Device {
            spec: self.to_string(),
            message,
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

    /// Whether this is a CUDA device.
    pub fn is_cuda(self) -> bool {
        matches!(self, DeviceSpec::Cuda(_))
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        let err = |message: String| Error::Device {
            spec: spec.into(),
            message,
        };
        match spec.trim() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            s => match s.strip_prefix("cuda:") {
                Some(n) => n
                    .parse::<usize>()
                    .map(DeviceSpec::Cuda)
                    .map_err(|e| err(format!("bad ordinal {n:?}: {e}"))),
                None => Err(err("expected cpu, cuda or cuda:N".into())),
            },
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl serde::Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The dtype of a model's forwards (weights as read, activations, KV cache): `f32`, or `bf16`
/// on CUDA (see [`Policy::set_dtype`](crate::Policy::set_dtype) for where each runs). Master
/// weights, gradients and optimizer state are f32 either way.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats: every device.
    #[default]
    #[serde(alias = "float32")]
    F32,
    /// bfloat16 forwards: CUDA only.
    #[serde(alias = "bfloat16")]
    Bf16,
}

impl Precision {
    /// candle's dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;

    fn from_str(spec: &str) -> Result<Self> {
        match spec.trim() {
            "f32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            other => Err(Error::Dtype { spec: other.into() }),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// Sets the number of CPU threads candle's kernels use, and builds rayon's global pool (the
/// pool they run on) with that many workers if it is not built yet. Call it at start-up, before
/// any tensor work; a later call changes the kernels' split but not the pool's size.
///
/// Run configs default to 2 (`threads`). On the idle 2-core box (`rlvr bench`, 2026-11-23) a
/// second thread took rollout_tiny from 44-46k to 72-89k tokens/s (sampling decodes one shard of
/// prompts per thread) and rollout_small from 2.7k to 3.9k. rayon's pool does not spin like
/// OpenMP, so a busy machine costs a second thread little, where PyTorch at 2 threads collapsed
/// 10-25x under the same load. candle's own pool (its elementwise ops) is set to one thread
/// unless `CANDLE_NUM_THREADS` says otherwise. No environment variable is written (the counts go
/// to candle through `vendor/patches/0004`): `set_var` races with threads reading the
/// environment.
pub fn set_num_threads(n: usize) {
    let n = n.max(1);
    candle_core::utils::set_num_threads(n);
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        tracing::debug!("rayon's global pool was already built: {e}");
    }
    // candle's elementwise ops run on its own pool of spinning threads unless it has one
    // thread; ours run on rayon's pool, and a training step runs its slices side by side on it,
    // so candle's pool would only compete for the same cores (step_tiny at 2 threads: 0.21 s
    // with it, 0.18 s without). With 1, those ops run on the calling (rayon) thread. A
    // `CANDLE_NUM_THREADS` the user set wins.
    candle_core::utils::set_candle_num_threads(1);
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
        let parse = |s: &str| s.parse::<DeviceSpec>();
        assert!(matches!(parse("cpu").unwrap().open().unwrap(), Device::Cpu));
        assert_eq!(parse(" cuda ").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(parse("cuda:3").unwrap().to_string(), "cuda:3");
        assert!(parse("tpu").unwrap_err().to_string().contains("tpu"));
        assert!(parse("cuda:x").unwrap_err().to_string().contains("ordinal"));
        if !cfg!(feature = "cuda") {
            let msg = parse("cuda:1").unwrap().open().unwrap_err().to_string();
            assert!(msg.contains("--features cuda"), "{msg}");
        }
    }

    #[test]
    fn precisions_read_and_print_their_names() {
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!("float32".parse::<Precision>().unwrap().dtype(), DType::F32);
        assert_eq!(Precision::Bf16.to_string(), "bf16");
        let e = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(e.contains("\"fp8\"") && e.contains("bf16"), "{e}");
        // In a config: text both ways.
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct C {
            device: DeviceSpec,
            dtype: Precision,
        }
        let c: C = serde_json::from_str(r#"{"device": "cuda", "dtype": "bf16"}"#).unwrap();
        assert_eq!(c.device, DeviceSpec::Cuda(0));
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"device":"cuda:0","dtype":"bf16"}"#
        );
        let e = serde_json::from_str::<C>(r#"{"device": "tpu", "dtype": "f32"}"#).unwrap_err();
        assert!(
            e.to_string().contains("expected cpu, cuda or cuda:N"),
            "{e}"
        );
    }
}
