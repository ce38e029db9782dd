//! A batch's work in slices: `f` of each slice side by side on the CPU's threads (the policy
//! update's micro-batches and the warm start's batches), their gradients summed in slice order,
//! and LoRA dropout switched on around a training pass only.

use candle_core::backprop::GradStore;
use candle_core::Var;
use rayon::prelude::*;

use crate::error::Result;

/// `f` of each of `items`' slices ([`split`] in `shards`), in order: side by side on the CPU's
/// threads, one after another under LoRA dropout (whose masks are drawn in call order); on a
/// GPU, whose one stream would only queue the slices, `items` whole.
pub(crate) fn side_by_side<T: Sync, R: Send>(
    policy: &policy::Policy,
    items: &[T],
    shards: usize,
    f: impl Fn(&[T]) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    if !policy.device().is_cpu() {
        return Ok(vec![f(items)?]);
    }
    let slices = split(items, shards);
    if policy.lora_dropout_on() {
        return slices.into_iter().map(f).collect();
    }
    policy::run_in_thread_pool(|| slices.into_par_iter().map(&f).collect())
}

/// Runs `f` (a training pass) with LoRA dropout switched on, its masks seeded by `seed`, and
/// switches it off again whatever `f` returns: sampling, evaluation and the old/reference
/// log-probs never see dropout. A no-op for adapters with `dropout = 0` and without LoRA.
pub(crate) fn with_lora_dropout<R>(
    policy: &policy::Policy,
    seed: u64,
    f: impl FnOnce() -> Result<R>,
) -> Result<R> {
    policy.set_lora_dropout(Some(seed))?;
    let out = f();
    policy.set_lora_dropout(None)?;
    out
}

/// `items` in at most `shards` contiguous slices whose sizes differ by at most one.
pub(crate) fn split<T>(items: &[T], shards: usize) -> Vec<&[T]> {
    let n = shards.clamp(1, items.len().max(1));
    let (size, extra) = (items.len() / n, items.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut rest = items;
    for i in 0..n {
        let (head, tail) = rest.split_at(size + usize::from(i < extra));
        out.push(head);
        rest = tail;
    }
    out
}

/// Adds `other`'s gradients of `vars` to `acc`'s.
pub(crate) fn add_grads(
    acc: &mut GradStore,
    other: &GradStore,
    vars: &[(String, Var)],
) -> Result<()> {
    for (_, var) in vars {
        if let Some(g) = other.get(var.as_tensor()) {
            let sum = match acc.get(var.as_tensor()) {
                Some(prev) => (prev + g)?,
                None => g.clone(),
            };
            acc.insert(var.as_tensor(), sum);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_balances_contiguous_slices() {
        let s: Vec<usize> = (0..7).collect();
        let sizes = |n: usize| split(&s, n).iter().map(|x| x.len()).collect::<Vec<_>>();
        assert_eq!(sizes(1), [7]);
        assert_eq!(sizes(2), [4, 3]);
        assert_eq!(sizes(3), [3, 2, 2]);
        assert_eq!(sizes(9), [1; 7]);
        assert_eq!(split(&s, 3)[1], [3, 4], "slices keep the batch's order");
        assert!(split(&s[..0], 3).iter().all(|x| x.is_empty()));
    }
}
