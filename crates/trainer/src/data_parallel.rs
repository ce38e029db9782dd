//! Synchronous data parallelism over the ranks of a [`Collective`]: which share of a step's work
//! is this rank's, and how the shares are put back together, so that N ranks compute what one
//! process computes (up to the order of float sums) and every rank holds the same state.
//!
//! - **Rollouts.** Every rank draws the same tasks from its copy of the curriculum; rank r
//!   samples the groups of its contiguous share, each task with the random stream it gets in one
//!   process; then the groups are all-gathered, so that every rank observes every verdict (one
//!   curriculum state everywhere), buffers the same informative groups and builds the same batch.
//! - **Update.** Each micro-batch is cut in `ranks × train.shards` slices (as one process cuts it
//!   in `train.shards`); rank r runs slices `r·shards ..`. The loss is normalised by the whole
//!   batch's token and group counts, which every rank knows (it holds the batch). The gradients
//!   are summed over the ranks after the backward, flattened into buckets; the loss statistics
//!   too; then every rank clips on the same global norm and takes the same AdamW step. Under
//!   LoRA only the adapter's gradients exist, so only they travel.
//! - **Replicas.** A digest of the trainable weights is compared across ranks every
//!   `train.replica_check_every` steps and at the end.
//!
//! With [`crate::collective::Single`] every function here is the single-process path.

use std::ops::Range;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

use crate::collective::Collective;
use crate::config::{Overlong, SamplingConfig};
use crate::error::{Error, Result};
use crate::rollout::{self, Group};

/// Floats per gradient all-reduce (16 MiB of f32): large enough that a message's latency is
/// small against its transfer, small enough not to double the memory of a big model's gradients
/// at once.
const BUCKET_FLOATS: usize = 1 << 22;

/// The index range of `rank`'s share of `n` items cut in `size × shards` contiguous slices whose
/// lengths differ by at most one (longer ones first, as [`crate::update`] cuts a micro-batch):
/// slices `rank·shards .. (rank+1)·shards`. Empty when there are fewer items than slices before
/// it.
pub(crate) fn share_range(n: usize, rank: usize, size: usize, shards: usize) -> Range<usize> {
    let slices = (size * shards).clamp(1, n.max(1));
    let (len, extra) = (n / slices, n % slices);
    let start_of = |slice: usize| {
        let slice = slice.min(slices);
        slice * len + slice.min(extra)
    };
    start_of(rank * shards)..start_of((rank + 1) * shards)
}

/// This rank's share of `items` ([`share_range`]).
pub(crate) fn share<'a, T>(items: &'a [T], coll: &dyn Collective, shards: usize) -> &'a [T] {
    &items[share_range(items.len(), coll.rank(), coll.size(), shards)]
}

/// The groups of `tasks`, every rank's share sampled by that rank and gathered in task order,
/// and the seconds the gathering took. `rng` ends where one process's sampling of all `tasks`
/// leaves it, and task i's completions are drawn from the stream it has there: the sampler seeds
/// prompt i's stream with the i-th `u64` it draws from `rng`
/// ([`policy::Policy::sample`]), so a rank skips the draws of the shares before and after its
/// own.
pub(crate) fn sample_groups(
    coll: &dyn Collective,
    policy: &policy::Policy,
    registry: &tasks::Registry,
    tasks: Vec<tasks::Task>,
    cfg: &SamplingConfig,
    overlong: Overlong,
    rng: &mut StdRng,
) -> Result<(Vec<Group>, f64)> {
    if coll.size() == 1 {
        let groups = rollout::sample_groups(policy, registry, tasks, cfg, overlong, rng)?;
        return Ok((groups, 0.0));
    }
    let n = tasks.len();
    let mine = share_range(n, coll.rank(), coll.size(), 1);
    for _ in 0..mine.start {
        rng.random::<u64>();
    }
    let (start, len) = (mine.start, mine.len());
    let tasks: Vec<tasks::Task> = tasks.into_iter().skip(start).take(len).collect();
    let groups = rollout::sample_groups(policy, registry, tasks, cfg, overlong, rng)?;
    for _ in mine.end..n {
        rng.random::<u64>();
    }
    let t = Instant::now();
    let gathered = gather_groups(coll, &groups)?;
    Ok((gathered, t.elapsed().as_secs_f64()))
}

/// Every rank's `groups`, concatenated in rank order; every rank (this one included) gets the
/// same deserialised values.
fn gather_groups(coll: &dyn Collective, groups: &[Group]) -> Result<Vec<Group>> {
    let bytes = serde_json::to_vec(groups).map_err(|e| Error::Collective {
        op: "all-gather of rollouts",
        reason: format!("serialising this rank's groups: {e}"),
    })?;
    let mut all = Vec::new();
    for (rank, part) in coll.all_gather_bytes(&bytes)?.iter().enumerate() {
        let part: Vec<Group> = serde_json::from_slice(part).map_err(|e| Error::Collective {
            op: "all-gather of rollouts",
            reason: format!("rank {rank}'s groups: {e}"),
        })?;
        all.extend(part);
    }
    Ok(all)
}

/// Sums `grads` (of `vars`) over the ranks, flattened into buckets of at most
/// [`BUCKET_FLOATS`]: afterwards every rank holds the sum, as the gradient of each variable that
/// had one on some rank (a rank without one adds zeros). A no-op for one rank.
pub(crate) fn all_reduce_grads(
    coll: &dyn Collective,
    grads: &mut GradStore,
    vars: &[(String, Var)],
) -> Result<()> {
    if coll.size() == 1 || vars.is_empty() {
        return Ok(());
    }
    let mut buckets: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    while start < vars.len() {
        let mut end = start + 1;
        let mut floats = vars[start].1.elem_count();
        while end < vars.len() && floats + vars[end].1.elem_count() <= BUCKET_FLOATS {
            floats += vars[end].1.elem_count();
            end += 1;
        }
        buckets.push(start..end);
        start = end;
    }
    let mut summed = Vec::with_capacity(buckets.len());
    for (b, range) in buckets.iter().enumerate() {
        let mut parts = Vec::with_capacity(range.len() + 1);
        for (_, var) in &vars[range.clone()] {
            parts.push(match grads.get(var.as_tensor()) {
                Some(g) => g.flatten_all()?.to_dtype(DType::F32)?,
                None => Tensor::zeros(var.elem_count(), DType::F32, var.device())?,
            });
        }
        if b + 1 == buckets.len() {
            // How many ranks have each variable's gradient, riding with the last bucket.
            let present: Vec<f32> = vars
                .iter()
                .map(|(_, v)| f32::from(u8::from(grads.get(v.as_tensor()).is_some())))
                .collect();
            parts.push(Tensor::from_vec(present, vars.len(), vars[0].1.device())?);
        }
        summed.push(coll.all_reduce_sum(&Tensor::cat(&parts, 0)?)?);
    }
    let present = match summed.last() {
        Some(last) => last
            .narrow(0, last.elem_count() - vars.len(), vars.len())?
            .to_vec1::<f32>()?,
        None => return Ok(()),
    };
    for (range, flat) in buckets.into_iter().zip(summed) {
        let mut offset = 0;
        for i in range {
            let var = &vars[i].1;
            let n = var.elem_count();
            if present[i] > 0.0 {
                let dtype = grads
                    .get(var.as_tensor())
                    .map_or(var.dtype(), |g| g.dtype());
                let g = flat.narrow(0, offset, n)?.reshape(var.shape())?;
                grads.insert(var.as_tensor(), g.to_dtype(dtype)?);
            }
            offset += n;
        }
    }
    Ok(())
}

/// A digest of `vars`' names and values (bit for bit).
pub(crate) fn weights_digest(vars: &[(String, Var)]) -> Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    for (name, var) in vars {
        hasher.update(name.as_bytes());
        let t = var.as_tensor().flatten_all()?;
        let bytes: Vec<u8> = match t.dtype() {
            DType::F64 => t
                .to_vec1::<f64>()?
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
            _ => t
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        };
        hasher.update(&bytes);
    }
    Ok(hasher.finalize())
}

/// Compares the trainable weights' digest across the ranks and fails on every rank, naming the
/// ranks that differ from rank 0, if any does. A no-op for one rank.
pub(crate) fn check_replicas(
    coll: &dyn Collective,
    vars: &[(String, Var)],
    step: u64,
) -> Result<()> {
    if coll.size() == 1 {
        return Ok(());
    }
    let digest = weights_digest(vars)?;
    let all = coll.all_gather_bytes(digest.as_bytes())?;
    let root = all.first().cloned().unwrap_or_default();
    let ranks: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, d)| **d != root)
        .map(|(r, _)| r)
        .collect();
    if ranks.is_empty() {
        tracing::debug!(step, digest = %digest, "replicas agree");
        Ok(())
    } else {
        Err(Error::ReplicasDiverged {
            step,
            ranks,
            size: coll.size(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_the_slices_one_process_cuts() {
        // 7 items in 2 ranks × 2 shards: slices 2, 2, 2, 1 (longer first, as `slices::split`).
        assert_eq!(share_range(7, 0, 2, 2), 0..4);
        assert_eq!(share_range(7, 1, 2, 2), 4..7);
        // 16 tasks over 4 ranks.
        let ranges: Vec<_> = (0..4).map(|r| share_range(16, r, 4, 1)).collect();
        assert_eq!(ranges, [0..4, 4..8, 8..12, 12..16]);
        // Fewer items than slices: the last ranks get nothing, nothing is lost.
        assert_eq!(share_range(3, 0, 4, 1), 0..1);
        assert_eq!(share_range(3, 2, 4, 1), 2..3);
        assert_eq!(share_range(3, 3, 4, 1), 3..3);
        assert_eq!(share_range(0, 1, 2, 2), 0..0);
        // Every item in exactly one share, in order, for many shapes.
        for n in 0..40 {
            for size in 1..6 {
                for shards in 1..4 {
                    let mut next = 0;
                    for r in 0..size {
                        let s = share_range(n, r, size, shards);
                        assert_eq!(s.start, next, "n {n} size {size} shards {shards}");
                        next = s.end;
                    }
                    assert_eq!(next, n);
                }
            }
        }
    }

    /// Rank 0 of two, the other rank simulated: its flattened buffer is added to ours.
    struct Pair {
        other: Vec<f32>,
    }

    impl Collective for Pair {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            2
        }
        fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
            assert_eq!(buf.len(), self.other.len(), "one bucket, same layout");
            for (x, y) in buf.iter_mut().zip(&self.other) {
                *x += y;
            }
            Ok(())
        }
        fn all_gather_bytes(&self, _mine: &[u8]) -> Result<Vec<Vec<u8>>> {
            unreachable!("not used by the gradient sum")
        }
    }

    #[test]
    fn gradients_are_summed_and_a_missing_one_counts_as_zero() {
        let dev = candle_core::Device::Cpu;
        let var = |n: usize| Var::zeros(n, DType::F32, &dev).unwrap();
        let vars = vec![
            ("a".to_string(), var(2)),
            ("b".to_string(), var(3)),
            ("c".to_string(), var(1)),
        ];
        // This rank has a gradient for a only; the other for a and b; nobody for c.
        let mut grads = GradStore::default();
        let t = |v: &[f32]| Tensor::new(v, &dev).unwrap();
        grads.insert(vars[0].1.as_tensor(), t(&[1.0, 2.0]));
        let other = vec![
            10.0, 20.0, 1.0, 2.0, 3.0, 0.0, /* present: */ 1.0, 1.0, 0.0,
        ];
        all_reduce_grads(&Pair { other }, &mut grads, &vars).unwrap();
        let get = |i: usize| {
            grads
                .get(vars[i].1.as_tensor())
                .map(|g| g.to_vec1::<f32>().unwrap())
        };
        assert_eq!(get(0), Some(vec![11.0, 22.0]));
        assert_eq!(get(1), Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(get(2), None, "no rank had it: AdamW leaves it alone");
    }

    #[test]
    fn a_digest_sees_one_changed_bit() {
        let dev = candle_core::Device::Cpu;
        let var = |x: f32| Var::from_tensor(&Tensor::new(&[1.0f32, x], &dev).unwrap()).unwrap();
        let a = vec![("w".to_string(), var(2.0))];
        let b = vec![("w".to_string(), var(f32::from_bits(2.0f32.to_bits() + 1)))];
        let renamed = vec![("v".to_string(), var(2.0))];
        let d = weights_digest(&a).unwrap();
        assert_eq!(d, weights_digest(&a).unwrap());
        assert_ne!(d, weights_digest(&b).unwrap());
        assert_ne!(d, weights_digest(&renamed).unwrap());
    }
    /// Rank 0 of several: the all-gather returns its own bytes, then `others`.
    struct Gathered {
        others: Vec<Vec<u8>>,
    }

    impl Collective for Gathered {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            1 + self.others.len()
        }
        fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<()> {
            unreachable!("not used by the replica check")
        }
        fn all_gather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
            Ok(std::iter::once(mine.to_vec())
                .chain(self.others.iter().cloned())
                .collect())
        }
    }

    #[test]
    fn replicas_that_differ_stop_the_run_naming_the_ranks() {
        let dev = candle_core::Device::Cpu;
        let vars = vec![(
            "w".to_string(),
            Var::from_tensor(&Tensor::new(&[1.0f32, 2.0], &dev).unwrap()).unwrap(),
        )];
        let same = weights_digest(&vars).unwrap().as_bytes().to_vec();
        let agree = Gathered {
            others: vec![same.clone(), same.clone()],
        };
        check_replicas(&agree, &vars, 7).unwrap();
        let one_off = Gathered {
            others: vec![same, vec![0; 32]],
        };
        match check_replicas(&one_off, &vars, 7) {
            Err(Error::ReplicasDiverged { step, ranks, size }) => {
                assert_eq!((step, ranks, size), (7, vec![2], 3));
            }
            other => panic!("expected ReplicasDiverged, got {other:?}"),
        }
    }
}
