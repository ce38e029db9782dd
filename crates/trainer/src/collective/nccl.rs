//! The NCCL collective: sums on the GPU, on candle's own CUDA stream (cudarc's NCCL bindings,
//! candle's `nccl` feature), one GPU per rank. The ranks are launched by MPI, and rank 0's NCCL
//! id reaches the others through MPI (NVIDIA's "one device per process" pattern); the host-side
//! operations (rollouts, statistics) stay on MPI.
//!
//! Compiled only with `--features nccl` (CUDA and NCCL libraries needed to link); not run on a
//! GPU yet (docs/distributed.md).

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::nccl::safe::{Comm, Id, ReduceOp};
use candle_core::{CudaDevice, CudaStorage, DType, InplaceOp1, Layout, Tensor};

use super::{Collective, Mpi};
use crate::error::{Error, Result};

/// MPI for the host, an NCCL communicator on the rank's GPU for tensors.
pub struct Nccl {
    host: Mpi,
    comm: Mutex<SendComm>,
}

/// cudarc's communicator holds a raw NCCL handle, so it is neither `Send` nor `Sync`.
struct SendComm(Comm);

// SAFETY: an NCCL communicator may be used from any thread as long as calls on it do not
// overlap; every use goes through `Nccl::comm`'s mutex.
unsafe impl Send for SendComm {}

impl Nccl {
    /// A communicator over `host`'s ranks on `device`'s stream: rank 0 makes the NCCL id, MPI
    /// carries it to the others.
    pub fn new(host: Mpi, device: &CudaDevice) -> Result<Self> {
        let nccl =
            |e: candle_core::cuda_backend::cudarc::nccl::result::NcclError| Error::Collective {
                op: "ncclCommInitRank",
                reason: format!("{e:?}"),
            };
        let mine: Vec<u8> = if host.rank() == 0 {
            Id::new()
                .map_err(nccl)?
                .internal()
                .iter()
                .map(|&c| c as u8)
                .collect()
        } else {
            Vec::new()
        };
        let all = host.all_gather_bytes(&mine)?;
        let root = all
            .first()
            .filter(|b| b.len() == 128)
            .ok_or_else(|| Error::Collective {
                op: "ncclCommInitRank",
                reason: "rank 0 sent no 128-byte NCCL id".into(),
            })?;
        let mut internal = [0 as std::ffi::c_char; 128];
        for (dst, &src) in internal.iter_mut().zip(root) {
            *dst = src as std::ffi::c_char;
        }
        let comm = Comm::from_rank(
            device.cuda_stream(),
            host.rank(),
            host.size(),
            Id::uninit(internal),
        )
        .map_err(nccl)?;
        Ok(Self {
            host,
            comm: Mutex::new(SendComm(comm)),
        })
    }
}

/// The in-place NCCL sum of a tensor's storage.
struct SumInPlace<'a>(&'a Comm);

impl InplaceOp1 for SumInPlace<'_> {
    fn name(&self) -> &'static str {
        "nccl-all-reduce-sum"
    }

    fn cpu_fwd(
        &self,
        _storage: &mut candle_core::CpuStorage,
        _layout: &Layout,
    ) -> candle_core::Result<()> {
        candle_core::bail!("the NCCL all-reduce needs a CUDA tensor")
    }

    fn cuda_fwd(&self, storage: &mut CudaStorage, layout: &Layout) -> candle_core::Result<()> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("the NCCL all-reduce needs a contiguous tensor")
        };
        let err = |e| candle_core::Error::Msg(format!("ncclAllReduce: {e:?}"));
        match storage.dtype() {
            DType::F32 => {
                let mut s = storage.as_cuda_slice_mut::<f32>()?.slice_mut(start..end);
                self.0
                    .all_reduce_in_place(&mut s, &ReduceOp::Sum)
                    .map_err(err)?;
            }
            DType::BF16 => {
                let mut s = storage
                    .as_cuda_slice_mut::<half::bf16>()?
                    .slice_mut(start..end);
                self.0
                    .all_reduce_in_place(&mut s, &ReduceOp::Sum)
                    .map_err(err)?;
            }
            other => candle_core::bail!("the NCCL all-reduce sums f32 or bf16, not {other:?}"),
        }
        Ok(())
    }
}

impl Collective for Nccl {
    fn rank(&self) -> usize {
        self.host.rank()
    }

    fn size(&self) -> usize {
        self.host.size()
    }

    fn name(&self) -> &'static str {
        "nccl"
    }

    fn local_rank(&self) -> usize {
        self.host.local_rank()
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.host.all_reduce_sum_f32(buf)
    }

    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.host.all_gather_bytes(mine)
    }

    fn all_reduce_sum(&self, t: &Tensor) -> Result<Tensor> {
        if !t.device().is_cuda() {
            return self.host.all_reduce_sum(t);
        }
        // A copy of its own: the sum overwrites the storage, which `t` may share.
        let out = t.contiguous()?.copy()?;
        let comm = self
            .comm
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        out.inplace_op1(&SumInPlace(&comm.0))?;
        Ok(out)
    }

    fn barrier(&self) -> Result<()> {
        self.host.barrier()
    }

    fn abort(&self, code: i32) -> ! {
        self.host.abort(code)
    }
}
