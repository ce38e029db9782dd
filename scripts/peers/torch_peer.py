"""Hand-written PyTorch peer for the rollout_* and step_* workloads of workloads.toml.

Model: Llama-style decoder (token embedding, pre-norm RMSNorm, rotary position embedding,
multi-head causal self-attention, SwiGLU MLP, no biases, final RMSNorm, LM head tied to the
embedding), float32 on the CPU. RoPE rotates (even, odd) pairs with one complex multiply (Meta's
layout): the same model as Hugging Face's rotate-half LlamaForCausalLM up to a fixed permutation
of each head's q/k projection rows (logits agree to 1e-6 after that permutation), and much
cheaper through forward + backward. QKV and gate/up projections are fused (same FLOPs).

Rollout (rollout_*): batched temperature sampling over the full vocabulary with a preallocated KV
cache. The `tasks` prompts are prefilled once each and their cache rows are copied to the
`group_size` completions of the group (pass --per-row-prefill to prefill all
tasks * group_size rows, as `model.generate` does). Exactly `new_tokens` tokens are generated per
completion (no EOS). Figure: generated tokens / second.

Step (step_*): one GRPO update: policy forward with gradients, reference forward under no_grad,
per-token log-probs of the completion tokens (log_softmax + gather), ratio against the old
log-probs (the detached current ones: one update per batch), clipped surrogate with group-relative
advantages from random 0/1 rewards in groups of 16, k3 KL to the reference, token mean over the
completion tokens, backward, clip_grad_norm_, AdamW. Figure: seconds / update.

Usage: python torch_peer.py WORKLOAD [--workloads PATH] [--repeat N] [--threads N]
       [--decode-attn {matmul,sdpa}] [--per-row-prefill] [--optim {fused,foreach,forloop}]
       [--device cpu|cuda|cuda:N]

Device: --device cuda runs the same model in float32 on a GPU (rlvr's copy of the team's peer,
extended for scripts/cuda-run.sh); every timed call ends with torch.cuda.synchronize() so that the
figure covers the GPU work, not only the kernel launches. The default (cpu) is unchanged.
"""
from __future__ import annotations

import copy
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import emit, load_workload, parse_args, quiet_stdout, timed

THREADS = 2
GROUP = 16  # GRPO group size for the step workloads (rewards are normalised within groups of 16)


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------
class Block(nn.Module):
    """One pre-norm decoder layer with fused QKV and fused gate/up projections."""

    def __init__(self, d: int, n_heads: int, n_kv_heads: int, ffn: int, eps: float):
        super().__init__()
        self.h, self.kvh, self.hd = n_heads, n_kv_heads, d // n_heads
        self.eps = eps
        self.attn_norm = nn.Parameter(torch.ones(d))
        self.qkv = nn.Linear(d, (n_heads + 2 * n_kv_heads) * self.hd, bias=False)
        self.o = nn.Linear(n_heads * self.hd, d, bias=False)
        self.mlp_norm = nn.Parameter(torch.ones(d))
        self.gate_up = nn.Linear(d, 2 * ffn, bias=False)
        self.down = nn.Linear(ffn, d, bias=False)

    def _qkv(self, x, cis):
        """x (B,T,D) -> q (B,H,T,hd), k, v (B,KVH,T,hd) with RoPE applied to q and k."""
        B, T, _ = x.shape
        qkv = self.qkv(F.rms_norm(x, (x.shape[-1],), self.attn_norm, self.eps))
        qkv = qkv.view(B, T, self.h + 2 * self.kvh, self.hd)
        # RoPE on q and k in one complex multiply over (even, odd) pairs; cis (T,1,hd/2) complex
        qk = torch.view_as_complex(qkv[:, :, : self.h + self.kvh].unflatten(-1, (self.hd // 2, 2)))
        qk = torch.view_as_real(qk * cis).flatten(-2)
        q = qk[:, :, : self.h].transpose(1, 2)
        k = qk[:, :, self.h :].transpose(1, 2)
        v = qkv[:, :, self.h + self.kvh :].transpose(1, 2)
        return q, k, v

    def _mlp(self, x):
        g, u = self.gate_up(F.rms_norm(x, (x.shape[-1],), self.mlp_norm, self.eps)).chunk(2, dim=-1)
        # in-place multiply when no graph is recorded (sampling); out-of-place under autograd
        return self.down(F.silu(g).mul_(u) if not torch.is_grad_enabled() else F.silu(g) * u)

    def forward(self, x, cis):
        """Full causal self-attention over x (training / scoring path)."""
        B, T, D = x.shape
        q, k, v = self._qkv(x, cis)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.h != self.kvh)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, D))
        return x + self._mlp(x)

    def forward_cached(self, x, cis, kc, vc, start: int, decode_attn: str):
        """x (B,T,D) at positions start..start+T; writes k/v into the preallocated cache views."""
        B, T, D = x.shape
        q, k, v = self._qkv(x, cis)
        end = start + T
        kc[:, :, start:end] = k
        vc[:, :, start:end] = v
        if start == 0:  # prefill: causal attention within the prompt
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.h != self.kvh)
        else:  # decode: the one new query attends to every cached position (no mask needed)
            assert T == 1, "decode steps take one token per row"
            kk, vv = kc[:, :, :end], vc[:, :, :end]
            if decode_attn == "sdpa":
                a = F.scaled_dot_product_attention(q, kk, vv, enable_gqa=self.h != self.kvh)
            else:  # explicit q.k^T, softmax, .v: faster than SDPA's CPU kernel for one query
                if self.h != self.kvh:
                    kk = kk.repeat_interleave(self.h // self.kvh, 1)
                    vv = vv.repeat_interleave(self.h // self.kvh, 1)
                sc = torch.matmul(q, kk.transpose(-1, -2)).mul_(self.hd ** -0.5)
                a = torch.matmul(torch.softmax(sc, dim=-1), vv)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, D))
        return x + self._mlp(x)


class Decoder(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        d, nh = cfg["d_model"], cfg["n_heads"]
        nkv = cfg.get("n_kv_heads", nh)
        self.eps = cfg["norm_eps"]
        self.embed = nn.Embedding(cfg["vocab_size"], d)
        self.layers = nn.ModuleList(
            Block(d, nh, nkv, cfg["ffn_hidden"], self.eps) for _ in range(cfg["n_layers"])
        )
        self.norm = nn.Parameter(torch.ones(d))
        assert cfg.get("tie_embeddings", True), "only tied embeddings are benchmarked"
        hd = d // nh
        inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = torch.arange(cfg["max_seq_len"], dtype=torch.float64)[:, None] * inv[None]
        # (T, 1, hd/2) complex rotations, broadcast over heads in the (B, T, heads, hd/2) layout
        cis = torch.polar(torch.ones_like(ang), ang).to(torch.complex64)[:, None]
        self.register_buffer("cis", cis, persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def hidden(self, ids):
        """ids (B,T) -> final-normed hidden states (B,T,D), full causal attention."""
        T = ids.shape[1]
        cis = self.cis[:T]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cis)
        return F.rms_norm(x, (x.shape[-1],), self.norm, self.eps)

    def logits(self, h):
        return h @ self.embed.weight.T  # tied head

    def alloc_cache(self, batch: int, length: int):
        c = self.cfg
        nkv = c.get("n_kv_heads", c["n_heads"])
        hd = c["d_model"] // c["n_heads"]
        shape = (len(self.layers), 2, batch, nkv, length, hd)
        w = self.embed.weight
        return torch.empty(shape, dtype=w.dtype, device=w.device)

    def step_cached(self, ids, cache, start: int, decode_attn: str = "matmul"):
        """ids (B,T) at positions start.. -> logits of the last position (B,V); fills cache."""
        T = ids.shape[1]
        cis = self.cis[start : start + T]
        x = self.embed(ids)
        for i, layer in enumerate(self.layers):
            x = layer.forward_cached(x, cis, cache[i, 0], cache[i, 1], start, decode_attn)
        h = F.rms_norm(x[:, -1], (x.shape[-1],), self.norm, self.eps)
        return self.logits(h)


# --------------------------------------------------------------------------------------------
# Rollout
# --------------------------------------------------------------------------------------------
def sample_next(logits, temperature: float, gen: torch.Generator):
    if temperature != 1.0:
        logits = logits / temperature
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=gen).squeeze(1)


@torch.inference_mode()
def rollout(model: Decoder, prompts, group: int, new_tokens: int, temperature: float,
            gen: torch.Generator, per_row_prefill: bool = False, decode_attn: str = "matmul"):
    """prompts (tasks, P) -> completions (tasks*group, new_tokens); exactly new_tokens each."""
    tasks, P = prompts.shape
    B = tasks * group
    cache = model.alloc_cache(B, P + new_tokens)
    out = torch.empty(B, new_tokens, dtype=torch.long, device=prompts.device)
    if per_row_prefill:
        logits = model.step_cached(prompts.repeat_interleave(group, 0), cache, 0)
    else:
        # prefill each prompt once, then copy its cache rows to the group's completions
        pcache = model.alloc_cache(tasks, P)
        logits = model.step_cached(prompts, pcache, 0).repeat_interleave(group, 0)
        cache.view(cache.shape[0], 2, tasks, group, *cache.shape[3:])[..., :P, :].copy_(
            pcache[:, :, :, None]
        )
    tok = sample_next(logits, temperature, gen)
    out[:, 0] = tok
    for t in range(1, new_tokens):
        logits = model.step_cached(tok[:, None], cache, P + t - 1, decode_attn)
        tok = sample_next(logits, temperature, gen)
        out[:, t] = tok
    return out


def timed_on(device: torch.device, fn) -> float:
    """Seconds for fn(), including the GPU work it queued."""
    if device.type != "cuda":
        return timed(fn)
    torch.cuda.synchronize(device)
    return timed(lambda: (fn(), torch.cuda.synchronize(device)))


def run_rollout(name, wl, cfg, repeat, per_row_prefill, decode_attn, device):
    torch.manual_seed(wl["seed"])
    model = Decoder(cfg).eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(wl["seed"])
    prompts = torch.randint(0, cfg["vocab_size"], (wl["tasks"], wl["prompt_tokens"]), generator=g)
    if device.type != "cpu":  # sampling needs a generator on the model's device
        prompts = prompts.to(device)
        g = torch.Generator(device=device).manual_seed(wl["seed"])
    assert wl["prompt_tokens"] + wl["new_tokens"] <= cfg["max_seq_len"]
    n_tokens = wl["tasks"] * wl["group_size"] * wl["new_tokens"]
    args = (model, prompts, wl["group_size"], wl["new_tokens"], wl["temperature"], g, per_row_prefill,
            decode_attn)
    out = rollout(*args)  # untimed warm-up
    assert out.shape == (wl["tasks"] * wl["group_size"], wl["new_tokens"])
    runs = [n_tokens / timed_on(device, lambda: rollout(*args)) for _ in range(repeat)]
    extra = {"prefill": "per-row" if per_row_prefill else "per-prompt", "decode_attn": decode_attn,
             "device": str(device),
             "threads": torch.get_num_threads(),
             "params": sum(p.numel() for p in model.parameters())}
    emit(name, "torch", "tokens/s", runs, extra)


# --------------------------------------------------------------------------------------------
# GRPO step
# --------------------------------------------------------------------------------------------
def completion_logprobs(model: Decoder, seq, prompt_len: int):
    """Per-token log-probs (B, C) of the completion tokens seq[:, prompt_len:]."""
    h = model.hidden(seq)  # forward over the whole prompt+completion sequence
    h = h[:, prompt_len - 1 : -1]  # positions that predict the completion tokens
    logp = torch.log_softmax(model.logits(h), dim=-1)
    return logp.gather(-1, seq[:, prompt_len:, None]).squeeze(-1)


def group_advantages(rewards, group: int, eps: float = 1e-4):
    r = rewards.view(-1, group)
    return ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + eps)).view(-1)


def grpo_update(policy, ref, opt, seq, mask, adv, P, wl):
    opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        ref_lp = completion_logprobs(ref, seq, P)
    lp = completion_logprobs(policy, seq, P)
    old_lp = lp.detach()  # one update per batch: old policy == current policy
    ratio = torch.exp(lp - old_lp)
    a = adv[:, None]
    eps = wl["clip_eps"]
    surrogate = torch.minimum(ratio * a, torch.clamp(ratio, 1 - eps, 1 + eps) * a)
    d = ref_lp - lp
    kl = torch.exp(d) - d - 1  # k3 estimator of KL(policy || ref)
    per_token = -surrogate + wl["kl_coef"] * kl
    loss = (per_token * mask).sum() / mask.sum()  # token mean over completion tokens
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), wl["max_grad_norm"], foreach=True)
    opt.step()
    return loss.detach()


def run_step(name, wl, cfg, repeat, optim_impl, device):
    torch.manual_seed(wl["seed"])
    policy = Decoder(cfg).train().to(device)
    ref = copy.deepcopy(policy).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    opt_kw = {"fused": True} if optim_impl == "fused" else {"foreach": optim_impl == "foreach"}
    opt = torch.optim.AdamW(policy.parameters(), lr=wl["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.0, **opt_kw)
    g = torch.Generator().manual_seed(wl["seed"])
    P, C, N = wl["prompt_tokens"], wl["completion_tokens"], wl["sequences"]
    assert N % GROUP == 0 and P + C <= cfg["max_seq_len"]
    seq = torch.randint(0, cfg["vocab_size"], (N, P + C), generator=g)
    mask = torch.ones(N, C)  # every completion has exactly C tokens
    rewards = torch.randint(0, 2, (N,), generator=g).float()
    adv = group_advantages(rewards, GROUP)
    seq, mask, adv = seq.to(device), mask.to(device), adv.to(device)
    args = (policy, ref, opt, seq, mask, adv, P, wl)
    loss = grpo_update(*args)  # untimed warm-up
    assert torch.isfinite(loss)
    runs = [timed_on(device, lambda: grpo_update(*args)) for _ in range(repeat)]
    extra = {"optimizer": f"AdamW({optim_impl})", "threads": torch.get_num_threads(),
             "device": str(device),
             "params": sum(p.numel() for p in policy.parameters())}
    emit(name, "torch", "s/step", runs, extra)


def main():
    def extra(p):
        p.add_argument("--per-row-prefill", action="store_true",
                       help="rollout: prefill every completion row instead of once per prompt")
        p.add_argument("--decode-attn", choices=["matmul", "sdpa"], default="matmul",
                       help="rollout: attention kernel for the one-query decode steps (default: matmul)")
        p.add_argument("--optim", choices=["fused", "foreach", "forloop"], default="fused",
                       help="step: AdamW implementation (default: fused)")
        p.add_argument("--threads", type=int, default=THREADS, help="torch intra-op threads")
        p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")

    args = parse_args(__doc__.splitlines()[0], extra)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    wl, cfg = load_workload(args.workloads, args.workload)
    if cfg is None:
        sys.exit(f"error: workload {args.workload!r} has no model (torch_peer runs rollout_* and step_*)")
    with quiet_stdout():
        if "new_tokens" in wl:
            run_rollout(args.workload, wl, cfg, args.repeat, args.per_row_prefill, args.decode_attn,
                        device)
        elif "sequences" in wl:
            run_step(args.workload, wl, cfg, args.repeat, args.optim, device)
        else:
            sys.exit(f"error: workload {args.workload!r} is neither a rollout nor a step workload")


if __name__ == "__main__":
    main()
