//! The typed grammar as a generator: random programs and random edits of programs (swap, wrap,
//! replace, crossover, knob), every result well typed by construction and within a depth limit.
//! Inputs are renamed canonically after each edit (first use order; ints `a b c ..`, lists
//! `l m n ..`, bools `p q ..`), so programs equal up to input names print the same.

use serde::{Deserialize, Serialize};

use super::syntax::MAX_DEPTH;
use super::tree::{Expr, Program};
use super::types::{
    Input, InputKind, Prim, Type, MAX_INPUTS, MAX_INT, MAX_INT_DIGITS, MAX_LIST_LEN, PRIMS,
};
use crate::rng::TaskRng;

/// What the grammar may generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrammarConfig {
    /// Deepest program generated (a bare input is depth 1).
    pub max_depth: usize,
    /// Most inputs of a generated program.
    pub max_inputs: usize,
    /// Digits of a new `int` input: `[min, max]`.
    pub int_digits: [u32; 2],
    /// Length of a new `list` input: `[min, max]`.
    pub list_len: [u32; 2],
    /// Digits of a new `list` input's elements: `[min, max]`.
    pub list_digits: [u32; 2],
    /// Integer literals are drawn from `0..=max_literal`.
    pub max_literal: i64,
}

impl Default for GrammarConfig {
    fn default() -> Self {
        Self {
            max_depth: 6,
            max_inputs: 3,
            int_digits: [1, 6],
            list_len: [2, 8],
            list_digits: [1, 2],
            max_literal: 9,
        }
    }
}

impl GrammarConfig {
    /// The config with every field inside the language's limits (depth <= 32, inputs <= 8,
    /// digits 1..=18, list length 1..=64, literals within the value bound), ranges ordered.
    pub fn clamped(&self) -> GrammarConfig {
        let range = |[lo, hi]: [u32; 2], max: u32| {
            let (lo, hi) = (lo.min(hi).clamp(1, max), lo.max(hi).clamp(1, max));
            [lo, hi]
        };
        GrammarConfig {
            max_depth: self.max_depth.clamp(1, MAX_DEPTH),
            max_inputs: self.max_inputs.clamp(1, MAX_INPUTS),
            int_digits: range(self.int_digits, MAX_INT_DIGITS),
            list_len: range(self.list_len, MAX_LIST_LEN as u32),
            list_digits: range(self.list_digits, MAX_INT_DIGITS),
            max_literal: self.max_literal.clamp(0, MAX_INT),
        }
    }
}

/// Canonical names by type, in first-use order.
const INT_NAMES: [&str; MAX_INPUTS] = ["a", "b", "c", "d", "e", "f", "g", "h"];
const LIST_NAMES: [&str; MAX_INPUTS] = ["l", "m", "n", "o", "r", "s", "t", "u"];
const BOOL_NAMES: [&str; MAX_INPUTS] = ["p", "q", "v", "w", "x", "y", "z", "k"];

/// Primitives returning each type (`if` included), for sampling calls.
fn prims_returning(ty: Type) -> &'static [Prim] {
    use Prim::*;
    match ty {
        Type::Int => &[
            Add, Sub, Mul, Div, Mod, Neg, Abs, Min, Max, Square, If, Sum, Len, Head, Last, Count,
            MaxOf, MinOf, Undigits,
        ],
        Type::Bool => &[Eq, Lt, Gt, Not, And, Or, Xor, Even, If],
        Type::List => &[
            Sort, Rev, Take, Drop, Concat, Digits, FilterEven, FilterOdd, Cumsum, If,
        ],
    }
}

/// Primitives with the same signature as `p` (other than `p`).
fn same_signature(p: Prim) -> impl Iterator<Item = Prim> {
    PRIMS
        .iter()
        .filter(move |q| q.0 != p && q.0 != Prim::If && q.2 == p.args() && q.3 == p.result())
        .map(|q| q.0)
}

/// The typed generator: config plus the inputs of the program being built.
pub(crate) struct Grammar<'a> {
    pub(crate) config: &'a GrammarConfig,
    pub(crate) inputs: Vec<Input>,
}

impl<'a> Grammar<'a> {
    pub(crate) fn new(config: &'a GrammarConfig, inputs: Vec<Input>) -> Self {
        Self { config, inputs }
    }

    fn range(rng: &mut TaskRng, [lo, hi]: [u32; 2]) -> u32 {
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        lo + rng.below((hi - lo + 1) as u64) as u32
    }

    fn new_kind(&self, ty: Type, rng: &mut TaskRng) -> InputKind {
        let c = self.config;
        match ty {
            Type::Int => InputKind::Int {
                digits: Self::range(rng, c.int_digits).clamp(1, 18),
            },
            Type::List => InputKind::List {
                len: Self::range(rng, c.list_len).clamp(1, 64),
                digits: Self::range(rng, c.list_digits).clamp(1, 18),
            },
            Type::Bool => InputKind::Bool,
        }
    }

    /// An input leaf of type `ty`: an existing input (3:1 over a new one while there is room).
    fn input_leaf(&mut self, ty: Type, rng: &mut TaskRng) -> Option<Expr> {
        let existing: Vec<usize> = (0..self.inputs.len())
            .filter(|&i| self.inputs[i].kind.ty() == ty)
            .collect();
        let room = self.inputs.len() < self.config.max_inputs.min(MAX_INPUTS);
        let pick_new = room && (existing.is_empty() || rng.below(4) == 0);
        if pick_new {
            let kind = self.new_kind(ty, rng);
            self.inputs.push(Input {
                name: format!("_{}", self.inputs.len()),
                kind,
            });
            return Some(Expr::Input(self.inputs.len() - 1));
        }
        if existing.is_empty() {
            return None;
        }
        Some(Expr::Input(
            existing[rng.below(existing.len() as u64) as usize],
        ))
    }

    /// A leaf of type `ty`: an input, or (ints mostly, bools rarely) a literal.
    fn leaf(&mut self, ty: Type, rng: &mut TaskRng) -> Option<Expr> {
        let literal = match ty {
            Type::Int => rng.below(4) == 0,
            Type::Bool => rng.below(16) == 0,
            Type::List => false,
        };
        if literal {
            return Some(match ty {
                Type::Bool => Expr::Bool(rng.below(2) == 1),
                _ => Expr::Int(rng.below(self.config.max_literal.max(0) as u64 + 1) as i64),
            });
        }
        self.input_leaf(ty, rng).or_else(|| match ty {
            Type::Int => Some(Expr::Int(rng.below(10) as i64)),
            Type::Bool => Some(Expr::Bool(rng.below(2) == 1)),
            Type::List => None,
        })
    }

    /// A random expression of type `ty` at most `depth` deep; `None` when none fits (a list with
    /// no list input, no room for one and no depth left for `digits`).
    pub(crate) fn sample(&mut self, ty: Type, depth: usize, rng: &mut TaskRng) -> Option<Expr> {
        if depth == 0 {
            return None;
        }
        // Leaves more likely as the depth budget runs out.
        let leaf = depth == 1 || rng.below(depth as u64 + 1) == 0;
        if leaf {
            if let Some(e) = self.leaf(ty, rng) {
                return Some(e);
            }
            if depth == 1 {
                return None;
            }
        }
        let prims = prims_returning(ty);
        let mut p = prims[rng.below(prims.len() as u64) as usize];
        if p == Prim::If && rng.below(2) == 0 {
            // `if` has three subtrees: halve its share.
            p = prims[rng.below(prims.len() as u64) as usize];
        }
        let sig = p.signature_at(ty);
        let mut args = Vec::with_capacity(p.arity());
        for &t in &sig[..p.arity()] {
            args.push(self.sample(t, depth - 1, rng)?);
        }
        Some(Expr::Call(p, args))
    }

    /// A fresh program of a random output type.
    pub(crate) fn program(config: &GrammarConfig, rng: &mut TaskRng) -> Option<Program> {
        let ty = Type::ALL[rng.below(3) as usize];
        let mut g = Grammar::new(config, Vec::new());
        let depth = 2 + rng.below(config.max_depth.max(2) as u64 - 1) as usize;
        let e = g.sample(ty, depth, rng)?;
        Some(normalize(e, &g.inputs))
    }
}

/// Pre-order nodes of `e`: (index, type, depth position with the root at 1, subtree depth).
pub(crate) fn nodes(e: &Expr, inputs: &[Input]) -> Vec<(Type, usize, usize)> {
    fn walk(e: &Expr, inputs: &[Input], at: usize, out: &mut Vec<(Type, usize, usize)>) -> usize {
        let slot = out.len();
        out.push((e.ty(inputs), at, 1));
        let mut d = 1;
        if let Expr::Call(_, args) = e {
            for a in args {
                d = d.max(1 + walk(a, inputs, at + 1, out));
            }
        }
        out[slot].2 = d;
        d
    }
    let mut out = Vec::new();
    walk(e, inputs, 1, &mut out);
    out
}

/// The node at pre-order index `i`.
pub(crate) fn node_at(e: &Expr, i: usize) -> Option<&Expr> {
    fn walk<'e>(e: &'e Expr, i: &mut usize) -> Option<&'e Expr> {
        if *i == 0 {
            return Some(e);
        }
        *i -= 1;
        if let Expr::Call(_, args) = e {
            for a in args {
                if let Some(found) = walk(a, i) {
                    return Some(found);
                }
            }
        }
        None
    }
    let mut i = i;
    walk(e, &mut i)
}

/// The node at pre-order index `i`, mutably.
pub(crate) fn node_at_mut(e: &mut Expr, i: usize) -> Option<&mut Expr> {
    fn walk<'e>(e: &'e mut Expr, i: &mut usize) -> Option<&'e mut Expr> {
        if *i == 0 {
            return Some(e);
        }
        *i -= 1;
        if let Expr::Call(_, args) = e {
            for a in args {
                if let Some(found) = walk(a, i) {
                    return Some(found);
                }
            }
        }
        None
    }
    let mut i = i;
    walk(e, &mut i)
}

/// Drops unused inputs, orders the rest by first use and names them canonically.
pub(crate) fn normalize(mut e: Expr, inputs: &[Input]) -> Program {
    fn collect(e: &Expr, order: &mut Vec<usize>) {
        match e {
            Expr::Input(i) if !order.contains(i) => order.push(*i),
            Expr::Call(_, args) => args.iter().for_each(|a| collect(a, order)),
            _ => {}
        }
    }
    fn renumber(e: &mut Expr, map: &[usize]) {
        match e {
            Expr::Input(i) => *i = map.get(*i).copied().unwrap_or(0),
            Expr::Call(_, args) => args.iter_mut().for_each(|a| renumber(a, map)),
            _ => {}
        }
    }
    let mut order = Vec::new();
    collect(&e, &mut order);
    let mut map = vec![0; inputs.len()];
    let mut counts = [0usize; 3];
    let mut out = Vec::with_capacity(order.len());
    for (new, &old) in order.iter().enumerate() {
        if let (Some(slot), Some(d)) = (map.get_mut(old), inputs.get(old)) {
            *slot = new;
            let (names, c) = match d.kind.ty() {
                Type::Int => (&INT_NAMES, &mut counts[0]),
                Type::List => (&LIST_NAMES, &mut counts[1]),
                Type::Bool => (&BOOL_NAMES, &mut counts[2]),
            };
            let name = names
                .get(*c)
                .map_or_else(|| format!("x{new}"), |n| n.to_string());
            *c += 1;
            out.push(Input { name, kind: d.kind });
        }
    }
    renumber(&mut e, &map);
    Program::new_unchecked(e, out)
}

/// Whether the tree holds a redundant pattern that a smaller program says as well: a call on
/// literals only (`add(1, 2)`), an `if` on a literal or with equal branches, `x op x` for an op
/// where that is trivial (`sub eq lt gt min max div mod and or xor`), an identity or annihilator
/// literal (`add(x, 0)`, `sub(x, 0)`, `mul(x, 1)`, `mul(x, 0)`, `div(x, 1)`, `mod(x, 1)`,
/// `take`/`drop` by 0) or a doubled involution or idempotent (`neg(neg(x))`, `not(not(x))`,
/// `rev(rev(l))`, `abs(abs(x))`, `abs(neg(x))`, `sort(sort(l))`, `sort(rev(l))`). The evolver
/// skips such proposals: they would only be longer spellings of simpler families.
pub(crate) fn redundant(e: &Expr) -> bool {
    let Expr::Call(p, args) = e else {
        return false;
    };
    let literal = |e: &Expr| matches!(e, Expr::Int(_) | Expr::Bool(_));
    let is_int = |e: &Expr, v: i64| matches!(e, Expr::Int(x) if *x == v);
    let inner = |q: Prim| matches!(args.first(), Some(Expr::Call(r, _)) if *r == q);
    use Prim::*;
    let bad = args.iter().all(literal)
        || match (p, args.as_slice()) {
            (If, [c, t, f]) => literal(c) || t == f,
            (Sub | Eq | Lt | Gt | Min | Max | Div | Mod | And | Or | Xor, [x, y]) if x == y => true,
            (Add, [x, y]) => is_int(x, 0) || is_int(y, 0),
            (Sub, [_, y]) => is_int(y, 0),
            (Mul, [x, y]) => is_int(x, 0) || is_int(y, 0) || is_int(x, 1) || is_int(y, 1),
            (Div | Mod, [_, y]) => is_int(y, 1) || is_int(y, 0),
            (Take | Drop, [_, k]) => is_int(k, 0),
            (Neg, _) => inner(Neg),
            (Not, _) => inner(Not),
            (Rev, _) => inner(Rev),
            (Abs, _) => inner(Abs) || inner(Neg),
            (Sort, _) => inner(Sort) || inner(Rev),
            _ => false,
        };
    bad || args.iter().any(redundant)
}

/// Picks a random element.
fn pick<T: Copy>(xs: &[T], rng: &mut TaskRng) -> Option<T> {
    if xs.is_empty() {
        None
    } else {
        Some(xs[rng.below(xs.len() as u64) as usize])
    }
}

/// Swaps one primitive for another with the same signature.
pub(crate) fn swap(p: &Program, rng: &mut TaskRng) -> Option<Program> {
    let n = p.size();
    let candidates: Vec<usize> = (0..n)
        .filter(|&i| match node_at(&p.expr, i) {
            Some(Expr::Call(q, _)) => same_signature(*q).next().is_some(),
            _ => false,
        })
        .collect();
    let i = pick(&candidates, rng)?;
    let mut e = p.expr.clone();
    if let Some(Expr::Call(q, _)) = node_at_mut(&mut e, i) {
        let others: Vec<Prim> = same_signature(*q).collect();
        *q = pick(&others, rng)?;
    }
    Some(normalize(e, &p.inputs))
}

/// Replaces a random subtree with a fresh one of the same type.
pub(crate) fn replace(p: &Program, config: &GrammarConfig, rng: &mut TaskRng) -> Option<Program> {
    let ns = nodes(&p.expr, &p.inputs);
    let i = rng.below(ns.len() as u64) as usize;
    let (ty, at, _) = ns[i];
    let mut g = Grammar::new(config, p.inputs.clone());
    let budget = (config.max_depth + 1).saturating_sub(at).max(1);
    let fresh = g.sample(ty, budget, rng)?;
    let mut e = p.expr.clone();
    *node_at_mut(&mut e, i)? = fresh;
    Some(normalize(e, &g.inputs))
}

/// Wraps a random subtree in a primitive taking its type (result type kept unless at the root).
pub(crate) fn wrap(p: &Program, config: &GrammarConfig, rng: &mut TaskRng) -> Option<Program> {
    let ns = nodes(&p.expr, &p.inputs);
    let fits: Vec<usize> = (0..ns.len())
        .filter(|&i| ns[i].1 + ns[i].2 <= config.max_depth)
        .collect();
    let i = pick(&fits, rng)?;
    let (ty, at, _) = ns[i];
    // Primitives with an argument of type `ty`; below the root the result must stay `ty`.
    let mut options: Vec<(Prim, Type)> = Vec::new();
    for &(q, _, _, _) in PRIMS {
        for result in Type::ALL {
            if (i != 0 && result != ty) || (q != Prim::If && result != q.result()) {
                continue;
            }
            let sig = q.signature_at(result);
            if sig[..q.arity()].contains(&ty) {
                options.push((q, result));
            }
        }
    }
    let (q, result) = pick(&options, rng)?;
    let sig = q.signature_at(result);
    let slots: Vec<usize> = (0..q.arity()).filter(|&k| sig[k] == ty).collect();
    let slot = pick(&slots, rng)?;
    let mut g = Grammar::new(config, p.inputs.clone());
    let budget = config.max_depth.saturating_sub(at).max(1);
    let mut e = p.expr.clone();
    let target = node_at_mut(&mut e, i)?;
    let inner = std::mem::replace(target, Expr::Int(0));
    let mut args = Vec::with_capacity(q.arity());
    let mut inner = Some(inner);
    for (k, &t) in sig[..q.arity()].iter().enumerate() {
        if k == slot {
            args.push(inner.take()?);
        } else {
            args.push(g.sample(t, budget, rng)?);
        }
    }
    *target = Expr::Call(q, args);
    Some(normalize(e, &g.inputs))
}

/// Replaces a subtree of `p` by a same-typed subtree of `q`; `q`'s inputs join `p`'s (an input
/// with the same name and kind is shared, others are added while there is room).
pub(crate) fn crossover(
    p: &Program,
    q: &Program,
    config: &GrammarConfig,
    rng: &mut TaskRng,
) -> Option<Program> {
    let np = nodes(&p.expr, &p.inputs);
    let nq = nodes(&q.expr, &q.inputs);
    for _ in 0..4 {
        let j = rng.below(nq.len() as u64) as usize;
        let (ty, _, dq) = nq[j];
        let fits: Vec<usize> = (0..np.len())
            .filter(|&i| np[i].0 == ty && np[i].1 - 1 + dq <= config.max_depth)
            .collect();
        let Some(i) = pick(&fits, rng) else { continue };
        let mut donor = node_at(&q.expr, j)?.clone();
        let mut inputs = p.inputs.clone();
        let mut map = vec![usize::MAX; q.inputs.len()];
        for (k, d) in q.inputs.iter().enumerate() {
            if !donor.uses_input(k) {
                continue;
            }
            map[k] = match inputs.iter().position(|x| x == d) {
                Some(x) => x,
                None if inputs.len() < config.max_inputs.min(MAX_INPUTS) => {
                    inputs.push(d.clone());
                    inputs.len() - 1
                }
                None => {
                    let same: Vec<usize> = (0..inputs.len())
                        .filter(|&x| inputs[x].kind.ty() == d.kind.ty())
                        .collect();
                    pick(&same, rng)?
                }
            };
        }
        remap(&mut donor, &map);
        let mut e = p.expr.clone();
        *node_at_mut(&mut e, i)? = donor;
        return Some(normalize(e, &inputs));
    }
    None
}

fn remap(e: &mut Expr, map: &[usize]) {
    match e {
        Expr::Input(i) => *i = map.get(*i).copied().unwrap_or(0),
        Expr::Call(_, args) => args.iter_mut().for_each(|a| remap(a, map)),
        _ => {}
    }
}

/// Moves one input's knob (int digits, list length or list digits) up or down by one, within
/// the config's ranges.
pub(crate) fn knob(p: &Program, config: &GrammarConfig, rng: &mut TaskRng) -> Option<Program> {
    let tunable: Vec<usize> = (0..p.inputs.len())
        .filter(|&i| p.inputs[i].kind != InputKind::Bool)
        .collect();
    let i = pick(&tunable, rng)?;
    let step = |v: u32, [lo, hi]: [u32; 2], rng: &mut TaskRng| -> Option<u32> {
        let up = rng.below(2) == 0;
        let w = if up {
            v.checked_add(1)?
        } else {
            v.checked_sub(1)?
        };
        (lo..=hi).contains(&w).then_some(w)
    };
    let mut inputs = p.inputs.clone();
    inputs[i].kind = match inputs[i].kind {
        InputKind::Int { digits } => InputKind::Int {
            digits: step(digits, config.int_digits, rng)?,
        },
        InputKind::List { len, digits } => {
            if rng.below(2) == 0 {
                InputKind::List {
                    len: step(len, config.list_len, rng)?,
                    digits,
                }
            } else {
                InputKind::List {
                    len,
                    digits: step(digits, config.list_digits, rng)?,
                }
            }
        }
        InputKind::Bool => return None,
    };
    Some(Program::new_unchecked(p.expr.clone(), inputs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sampled(seed: u64) -> Program {
        let config = GrammarConfig::default();
        let mut rng = TaskRng::new(seed);
        loop {
            if let Some(p) = Grammar::program(&config, &mut rng) {
                return p;
            }
        }
    }

    proptest! {
        #[test]
        fn sampled_programs_print_and_parse_back(seed in any::<u64>()) {
            let p = sampled(seed);
            let text = p.to_string();
            let q = Program::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert_eq!(&q, &p, "{}", text);
            prop_assert_eq!(q.to_string(), text);
            prop_assert!(p.depth() <= GrammarConfig::default().max_depth);
        }

        #[test]
        fn edited_programs_are_well_typed_and_within_limits(seed in any::<u64>()) {
            let config = GrammarConfig::default();
            let mut rng = TaskRng::new(seed);
            let (p, q) = (sampled(seed), sampled(seed ^ 1));
            let edits = [
                swap(&p, &mut rng),
                replace(&p, &config, &mut rng),
                wrap(&p, &config, &mut rng),
                crossover(&p, &q, &config, &mut rng),
                knob(&p, &config, &mut rng),
            ];
            for e in edits.into_iter().flatten() {
                let text = e.to_string();
                let back = Program::parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
                prop_assert_eq!(&back, &e);
                prop_assert!(e.depth() <= config.max_depth, "{}", text);
                prop_assert!(e.inputs().len() <= config.max_inputs, "{}", text);
                for (i, _) in e.inputs().iter().enumerate() {
                    prop_assert!(e.expr().uses_input(i), "{}", text);
                }
            }
        }
    }

    #[test]
    fn redundant_patterns_are_recognised() {
        for text in [
            "add(a, mul(2, 3)); a:int[2]",
            "if(true, a, b); a:int[1]; b:int[1]",
            "if(p, a, a); p:bool; a:int[1]",
            "sub(abs(a), abs(a)); a:int[1]",
            "add(a, 0); a:int[1]",
            "mul(1, a); a:int[1]",
            "take(l, 0); l:list[2,1]",
            "sum(rev(rev(l))); l:list[2,1]",
            "abs(neg(a)); a:int[1]",
            "sort(rev(l)); l:list[2,1]",
            "not(not(p)); p:bool",
        ] {
            assert!(redundant(Program::parse(text).unwrap().expr()), "{text}");
        }
        for text in [
            "add(a, a); a:int[1]",
            "mul(a, 2); a:int[1]",
            "if(p, a, b); p:bool; a:int[1]; b:int[1]",
            "rev(sort(l)); l:list[2,1]",
            "take(l, 1); l:list[2,1]",
        ] {
            assert!(!redundant(Program::parse(text).unwrap().expr()), "{text}");
        }
    }

    #[test]
    fn edits_do_what_they_say() {
        let config = GrammarConfig::default();
        let p = Program::parse("add(a, b); a:int[3]; b:int[2]").unwrap();
        let mut rng = TaskRng::new(1);
        let mut wrapped = 0;
        for _ in 0..20 {
            let s = swap(&p, &mut rng).unwrap();
            let Expr::Call(q, _) = s.expr() else { panic!() };
            assert_ne!(*q, Prim::Add);
            assert_eq!(
                (q.args(), q.result()),
                (Prim::Add.args(), Prim::Add.result())
            );
            let k = knob(&p, &config, &mut rng);
            if let Some(k) = k {
                assert_eq!(k.expr(), p.expr());
                let moved: Vec<_> = k
                    .inputs()
                    .iter()
                    .zip(p.inputs())
                    .filter(|(x, y)| x != y)
                    .collect();
                assert_eq!(moved.len(), 1);
            }
            // Wrapping the root or a leaf of a depth-2 tree makes it at least 3 deep.
            if let Some(w) = wrap(&p, &config, &mut rng) {
                wrapped += 1;
                assert!(w.depth() >= 3, "{w}");
            }
        }
        assert!(wrapped > 10, "{wrapped}");
        // Unused inputs are dropped and the rest renamed in first-use order.
        let e = Expr::Call(Prim::Sum, vec![Expr::Input(2)]);
        let inputs = p
            .inputs()
            .iter()
            .cloned()
            .chain([Input {
                name: "zz".into(),
                kind: InputKind::List { len: 3, digits: 1 },
            }])
            .collect::<Vec<_>>();
        assert_eq!(normalize(e, &inputs).to_string(), "sum(l); l:list[3,1]");
        let e = Expr::Call(Prim::Sub, vec![Expr::Input(1), Expr::Input(0)]);
        assert_eq!(
            normalize(e, p.inputs()).to_string(),
            "sub(a, b); a:int[2]; b:int[3]"
        );
    }
}
