//! The MPI collective on host buffers (rsmpi over Open MPI or MPICH): works on the CPU, and on a
//! GPU through host copies.
//!
//! MPI is initialised with `MPI_THREAD_SERIALIZED`: the update calls it from a worker of rlvr's
//! thread pool, not from the thread that initialised it, and a mutex keeps the calls one at a
//! time.

use std::sync::{Arc, Mutex, MutexGuard};

use ::mpi::collective::{CommunicatorCollectives, SystemOperation};
use ::mpi::datatype::PartitionMut;
use ::mpi::environment::Universe;
use ::mpi::topology::{Communicator, SimpleCommunicator};
use ::mpi::{Count, Threading};

use super::Collective;
use crate::error::{Error, Result};

/// The ranks of `MPI_COMM_WORLD`, as `mpirun -np N` or `srun` started them.
#[derive(Clone)]
pub struct Mpi {
    inner: Arc<Inner>,
    rank: usize,
    size: usize,
    local_rank: usize,
}

struct Inner {
    /// Finalises MPI when the last handle goes.
    _universe: Universe,
    /// Serialises the calls (`MPI_THREAD_SERIALIZED`).
    lock: Mutex<()>,
}

impl Mpi {
    /// Initialises MPI (once per process) and reads this process's place in the world.
    pub fn init() -> Result<Self> {
        let (universe, threading) = ::mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| Error::Collective {
                op: "MPI_Init_thread",
                reason: "MPI is already initialised in this process".into(),
            })?;
        if threading < Threading::Serialized {
            return Err(Error::Collective {
                op: "MPI_Init_thread",
                reason: format!(
                    "the MPI library offers {threading:?} threading; rlvr needs Serialized"
                ),
            });
        }
        let world = SimpleCommunicator::world();
        let node = world.split_shared(world.rank());
        let count = |n: i32| usize::try_from(n).unwrap_or(0);
        Ok(Self {
            rank: count(world.rank()),
            size: count(world.size()),
            local_rank: count(node.rank()),
            inner: Arc::new(Inner {
                _universe: universe,
                lock: Mutex::new(()),
            }),
        })
    }

    /// Holds the lock for one MPI call and hands out the world communicator (a handle to a
    /// constant; rsmpi's handle is not `Send`, so none is kept).
    fn world(&self) -> (MutexGuard<'_, ()>, SimpleCommunicator) {
        let guard = self
            .inner
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (guard, SimpleCommunicator::world())
    }
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mpi (rank {} of {})", self.rank, self.size)
    }
}

/// `n` as an MPI count, or an error naming the operation.
fn count(op: &'static str, n: usize) -> Result<Count> {
    Count::try_from(n).map_err(|_| Error::Collective {
        op,
        reason: format!("{n} elements exceed MPI's count limit ({})", Count::MAX),
    })
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn name(&self) -> &'static str {
        "mpi"
    }

    fn local_rank(&self) -> usize {
        self.local_rank
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        count("MPI_Allreduce", buf.len())?;
        let send = buf.to_vec();
        let (_guard, world) = self.world();
        world.all_reduce_into(&send[..], buf, SystemOperation::sum());
        Ok(())
    }

    fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let len = count("MPI_Allgatherv", mine.len())?;
        let (_guard, world) = self.world();
        let mut counts: Vec<Count> = vec![0; self.size];
        world.all_gather_into(&len, &mut counts[..]);
        let mut displs = Vec::with_capacity(self.size);
        let mut total: usize = 0;
        for &c in &counts {
            displs.push(count("MPI_Allgatherv", total)?);
            total += usize::try_from(c).unwrap_or(0);
        }
        let mut all = vec![0u8; total];
        {
            let mut parts = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(mine, &mut parts);
        }
        let mut out = Vec::with_capacity(self.size);
        let mut rest = &all[..];
        for &c in &counts {
            let (head, tail) = rest.split_at(usize::try_from(c).unwrap_or(0));
            out.push(head.to_vec());
            rest = tail;
        }
        Ok(out)
    }

    fn barrier(&self) -> Result<()> {
        let (_guard, world) = self.world();
        world.barrier();
        Ok(())
    }

    #[cfg(feature = "nccl")]
    fn on_device(&self, device: &candle_core::Device) -> Result<Option<Arc<dyn Collective>>> {
        match device {
            candle_core::Device::Cuda(dev) => {
                Ok(Some(Arc::new(super::Nccl::new(self.clone(), dev)?)))
            }
            _ => Ok(None),
        }
    }

    fn abort(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }
}
