"""HBM-bandwidth floor of a rollout_* workload's decoding, and a measured rate as a fraction of it.

Each decode step of a batch of B rows must read every weight once (the tied LM head reads the
whole embedding matrix) and each layer's K and V cache up to the current position. Summed over
the workload's decode steps (prefill counted as one read of the weights), those bytes over the
GPU's measured copy bandwidth give the shortest possible rollout time, hence the highest possible
tokens/s. A measured tokens/s divided by that ceiling is the fraction of the floor reached
(1.0 = at the floor; the issue's goal is >= 0.5, i.e. within 2x).

    python decode_floor.py rollout_medium --workloads ../cuda-workloads.toml --measure-bandwidth \
        --measured rlvr=12345.6 --measured torch=23456.7

Copy bandwidth is measured with torch (device-to-device copy of 1 GiB, bytes read + written over
the time, best of 20): the same convention as the device notes' "~3.0 TB/s" for the H100.
Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import sys

from common import load_workload


def measure_copy_bandwidth(device: str = "cuda", nbytes: int = 1 << 30, iters: int = 20) -> float:
    """Bytes per second moved (read + written) by a device-to-device copy."""
    import torch

    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize(device)
    best = float("inf")
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return 2 * nbytes / best


def params_of(cfg: dict) -> int:
    """Parameter count of the workloads' Llama-style model (tied embeddings, no biases)."""
    d, h, f, n = cfg["d_model"], cfg["n_heads"], cfg["ffn_hidden"], cfg["n_layers"]
    kvh = cfg.get("n_kv_heads", h)
    hd = d // h
    per_layer = d * (h + 2 * kvh) * hd + h * hd * d + 3 * d * f + 2 * d
    return cfg["vocab_size"] * d + n * per_layer + d


def floor(wl: dict, cfg: dict, dtype_bytes: int, bandwidth: float) -> dict:
    """Bytes read by the rollout and the tokens/s ceiling they allow at `bandwidth` bytes/s."""
    rows = wl["tasks"] * wl["group_size"]
    prompt, new = wl["prompt_tokens"], wl["new_tokens"]
    kvh = cfg.get("n_kv_heads", cfg["n_heads"])
    hd = cfg["d_model"] // cfg["n_heads"]
    weight_bytes = params_of(cfg) * dtype_bytes
    kv_bytes_per_pos = cfg["n_layers"] * 2 * rows * kvh * hd * dtype_bytes
    # new_tokens - 1 decode steps (the first token comes from the prefill logits); step t attends
    # to prompt + t positions.
    kv_read = sum(kv_bytes_per_pos * (prompt + t) for t in range(1, new))
    total = weight_bytes * new + kv_read  # prefill + (new - 1) decode steps read the weights
    seconds = total / bandwidth
    tokens = rows * new
    return {
        "rows": rows,
        "params": params_of(cfg),
        "dtype_bytes": dtype_bytes,
        "weight_bytes_per_step": weight_bytes,
        "kv_bytes_last_step": kv_bytes_per_pos * (prompt + new - 1),
        "bytes_total": total,
        "bandwidth_bytes_per_s": bandwidth,
        "floor_seconds": seconds,
        "floor_tokens_per_s": tokens / seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workload")
    p.add_argument("--workloads", required=True, help="workloads TOML holding the workload")
    p.add_argument("--dtype-bytes", type=int, default=4, help="4 for f32 (default), 2 for bf16")
    bw = p.add_mutually_exclusive_group(required=True)
    bw.add_argument("--bandwidth", type=float, help="copy bandwidth in bytes/s")
    bw.add_argument("--measure-bandwidth", action="store_true", help="measure it with torch on cuda")
    p.add_argument("--measured", action="append", default=[], metavar="IMPL=TOKENS_PER_S",
                   help="a measured rate to express as a fraction of the floor (repeatable)")
    args = p.parse_args()
    wl, cfg = load_workload(args.workloads, args.workload)
    if cfg is None or "new_tokens" not in wl:
        sys.exit(f"error: {args.workload!r} is not a rollout workload")
    bandwidth = measure_copy_bandwidth() if args.measure_bandwidth else args.bandwidth
    rec = {"workload": args.workload, **floor(wl, cfg, args.dtype_bytes, bandwidth)}
    for item in args.measured:
        impl, _, value = item.partition("=")
        rate = float(value)
        rec[f"fraction_of_floor/{impl}"] = rate / rec["floor_tokens_per_s"]
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
