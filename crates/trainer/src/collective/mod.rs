//! The collective seam: how the processes of a data-parallel run (its ranks) sum gradients and
//! share what each sampled. One process alone is [`Single`], whose operations do nothing (the
//! single-process path); processes launched by `mpirun` or `srun` talk through MPI (`Mpi`,
//! cargo feature `mpi`), and on a GPU through NCCL (`Nccl`, feature `nccl`). What the trainer
//! does with it is in `data_parallel.rs`; how to launch, in `docs/distributed.md`.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "nccl")]
mod nccl;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
#[cfg(feature = "nccl")]
pub use self::nccl::Nccl;

/// Collective operations over the ranks of a run. Every rank calls the same operations in the
/// same order (each one blocks until all ranks have called it), and every rank gets the same
/// result. Four methods are required; the rest have defaults built on them.
pub trait Collective: Send + Sync {
    /// This process's rank, `0..size()`; rank 0 writes the run's files.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// Sums `buf` elementwise over the ranks, in place.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;

    /// Every rank's `mine`, in rank order (lengths may differ).
    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;

    /// A short name for logs (`single`, `mpi`, `nccl`).
    fn name(&self) -> &'static str {
        "custom"
    }

    /// This rank's index among the ranks on its machine (which GPU it takes).
    fn local_rank(&self) -> usize {
        self.rank()
    }

    /// The elementwise sum over the ranks of `t` (any shape, a float dtype), on `t`'s device. By
    /// default through host memory and [`Collective::all_reduce_sum_f32`]; NCCL sums on the GPU.
    fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
        let dtype = t.dtype();
        let mut host = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        self.all_reduce_sum_f32(&mut host)?;
        Ok(Tensor::from_vec(host, t.shape(), t.device())?.to_dtype(dtype)?)
    }

    /// Sums `buf` elementwise over the ranks, in place, adding in rank order (so the result does
    /// not depend on the transport's reduction order): for the step's scalar statistics.
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> Result<()> {
        let mine: Vec<u8> = buf.iter().flat_map(|x| x.to_le_bytes()).collect();
        let all = self.all_gather_bytes(&mine)?;
        buf.fill(0.0);
        for (rank, bytes) in all.iter().enumerate() {
            let values = f64s(bytes)
                .filter(|v| v.len() == buf.len())
                .ok_or_else(|| Error::Collective {
                    op: "all_reduce_sum_f64",
                    reason: format!(
                        "rank {rank} sent {} bytes, expected {}",
                        bytes.len(),
                        8 * buf.len()
                    ),
                })?;
            for (acc, v) in buf.iter_mut().zip(values) {
                *acc += v;
            }
        }
        Ok(())
    }

    /// Rank 0's `x`, on every rank (rank 0's clock decides the time budget).
    fn broadcast_f64(&self, x: f64) -> Result<f64> {
        let all = self.all_gather_bytes(&x.to_le_bytes())?;
        all.first()
            .and_then(|b| f64s(b))
            .and_then(|v| v.first().copied())
            .ok_or_else(|| Error::Collective {
                op: "broadcast_f64",
                reason: "rank 0 sent no value".into(),
            })
    }

    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()> {
        self.all_gather_bytes(&[]).map(|_| ())
    }

    /// A collective that sums `device`'s buffers where they are, if this one has one (MPI built
    /// with `nccl` on a CUDA device gives NCCL); `None`: use this one.
    fn on_device(&self, device: &Device) -> Result<Option<Arc<dyn Collective>>> {
        let _ = device;
        Ok(None)
    }

    /// Ends every rank's process with `code` (after an error on one of them: the others would
    /// wait for it forever). One process alone just exits.
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

impl std::fmt::Debug for dyn Collective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (rank {} of {})",
            self.name(),
            self.rank(),
            self.size()
        )
    }
}

/// Little-endian f64s of `bytes`, if they are whole.
fn f64s(bytes: &[u8]) -> Option<Vec<f64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    let values = bytes.chunks_exact(8).map(|c| {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        f64::from_le_bytes(a)
    });
    Some(values.collect())
}

/// One process, no communication: every operation leaves its input as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<()> {
        Ok(())
    }

    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![mine.to_vec()])
    }

    fn name(&self) -> &'static str {
        "single"
    }

    fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.clone())
    }

    fn all_reduce_sum_f64(&self, _buf: &mut [f64]) -> Result<()> {
        Ok(())
    }

    fn broadcast_f64(&self, x: f64) -> Result<f64> {
        Ok(x)
    }
}

/// How this process was launched, as the launcher's environment variables say (before MPI is
/// initialised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The variable that gave it away (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, `PMIX_RANK`).
    pub variable: &'static str,
    /// This process's rank.
    pub rank: usize,
    /// Number of processes, when the launcher says (PMIx alone does not).
    pub size: Option<usize>,
}

/// The MPI launcher that started this process, if any: Open MPI's `mpirun`
/// (`OMPI_COMM_WORLD_*`), MPICH's Hydra or `srun --mpi=pmi2` (`PMI_*`), `srun --mpi=pmix`
/// (`PMIX_RANK`). Slurm's own `SLURM_*` variables are not enough: a batch script has them too.
pub fn launcher() -> Option<Launch> {
    launcher_from(|name| std::env::var(name).ok())
}

fn launcher_from(var: impl Fn(&str) -> Option<String>) -> Option<Launch> {
    let num = |name: &str| var(name).and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(size) = num("OMPI_COMM_WORLD_SIZE") {
        let rank = num("OMPI_COMM_WORLD_RANK").unwrap_or(0);
        return Some(Launch {
            variable: "OMPI_COMM_WORLD_SIZE",
            rank,
            size: Some(size),
        });
    }
    if let Some(size) = num("PMI_SIZE") {
        let rank = num("PMI_RANK").unwrap_or(0);
        return Some(Launch {
            variable: "PMI_SIZE",
            rank,
            size: Some(size),
        });
    }
    num("PMIX_RANK").map(|rank| Launch {
        variable: "PMIX_RANK",
        rank,
        size: None,
    })
}

/// The collective this process belongs to: [`Single`] when no MPI launcher started it; MPI
/// (initialised here, once per process) when one did and rlvr was built with the `mpi` feature;
/// an error naming the launcher's variable when one did and rlvr was built without it (every
/// rank would train alone and write the same run directory).
pub fn from_launcher() -> Result<Arc<dyn Collective>> {
    let Some(launch) = launcher() else {
        return Ok(Arc::new(Single));
    };
    #[cfg(feature = "mpi")]
    {
        let _ = launch;
        Ok(Arc::new(Mpi::init()?))
    }
    #[cfg(not(feature = "mpi"))]
    {
        if launch.size == Some(1) {
            return Ok(Arc::new(Single));
        }
        Err(Error::MpiNotBuilt {
            variable: launch.variable,
            size: launch
                .size
                .map_or_else(|| "several".to_string(), |n| n.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn launchers_are_recognised_by_their_variables() {
        assert_eq!(launcher_from(env(&[("SLURM_PROCID", "0")])), None);
        let ompi = launcher_from(env(&[
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_RANK", "3"),
        ]));
        assert_eq!(
            ompi,
            Some(Launch {
                variable: "OMPI_COMM_WORLD_SIZE",
                rank: 3,
                size: Some(4)
            })
        );
        let hydra = launcher_from(env(&[("PMI_SIZE", "2"), ("PMI_RANK", "1")])).unwrap();
        assert_eq!((hydra.rank, hydra.size), (1, Some(2)));
        let pmix = launcher_from(env(&[("PMIX_RANK", "5")])).unwrap();
        assert_eq!(
            (pmix.variable, pmix.rank, pmix.size),
            ("PMIX_RANK", 5, None)
        );
    }

    #[test]
    fn single_leaves_everything_as_it_is() {
        let s = Single;
        let mut x = [1.5f32, -2.0];
        s.all_reduce_sum_f32(&mut x).unwrap();
        assert_eq!(x, [1.5, -2.0]);
        let mut y = [0.25f64];
        s.all_reduce_sum_f64(&mut y).unwrap();
        assert_eq!(y, [0.25]);
        assert_eq!(s.broadcast_f64(7.0).unwrap(), 7.0);
        assert_eq!(s.all_gather_bytes(b"ab").unwrap(), vec![b"ab".to_vec()]);
    }

    /// Two ranks simulated in one process: the default f64 sum adds in rank order from the
    /// gathered bytes, and the broadcast takes rank 0's value.
    struct Two {
        rank: usize,
        other: Vec<u8>,
    }

    impl Collective for Two {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            2
        }
        fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<()> {
            unreachable!("not used here")
        }
        fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
            Ok(match self.rank {
                0 => vec![mine.to_vec(), self.other.clone()],
                _ => vec![self.other.clone(), mine.to_vec()],
            })
        }
    }

    #[test]
    fn default_f64_sum_and_broadcast_use_the_gathered_values() {
        let other: Vec<u8> = [1.0f64, 2.5].iter().flat_map(|x| x.to_le_bytes()).collect();
        let one = Two { rank: 1, other };
        let mut buf = [0.5f64, -1.0];
        one.all_reduce_sum_f64(&mut buf).unwrap();
        assert_eq!(buf, [1.5, 1.5]);
        assert_eq!(one.broadcast_f64(9.0).unwrap(), 1.0, "rank 0's value");
        let short = Two {
            rank: 0,
            other: vec![0; 8],
        };
        let err = short.all_reduce_sum_f64(&mut buf).unwrap_err().to_string();
        assert!(err.contains("rank 1 sent 8 bytes, expected 16"), "{err}");
    }
}
