#!/usr/bin/env bash
# Side-by-side benchmark: `rlvr bench` against the PyTorch peer (scripts/peers/torch_peer.py) on
# the same workloads, at the same thread counts, interleaved (rlvr, torch, rlvr, torch, ...) so
# that a drifting machine hits both alike. Prints one table row per workload and thread count:
# medians over ROUNDS of each implementation's own median, their ratio, and how close rlvr came to
# the physical limit (matmul FLOPs at the gemm's measured peak).
#
# Usage: scripts/bench-vs-torch.sh [ROUNDS] [WORKLOAD ...]
#   ROUNDS defaults to 3; workloads default to rollout_tiny rollout_small step_tiny step_small.
#   THREADS="1 2" (default) picks the thread counts; PYTHON picks an interpreter with torch.
# Needs: a release build (cargo build --release) and PyTorch for the peer.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
shift || true
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(rollout_tiny rollout_small step_tiny step_small)
threads=${THREADS:-1 2}
python=${PYTHON:-python3}
rlvr=target/release/rlvr
[ -x "$rlvr" ] || { echo "build first: cargo build --release" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "$python has no torch (set PYTHON)" >&2; exit 1; }

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for w in "${workloads[@]}"; do
  for t in $threads; do
    for _ in $(seq "$rounds"); do
      "$rlvr" bench "$w" --threads "$t" | tail -n 1 >>"$lines"
      OMP_NUM_THREADS=$t "$python" scripts/peers/torch_peer.py "$w" --threads "$t" | tail -n 1 >>"$lines"
    done
  done
done

"$python" - "$lines" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    key = (d["workload"], d["extra"]["threads"])
    rows.setdefault(key, {}).setdefault(d["impl"], []).append(d)
print("| workload | threads | rlvr | PyTorch | rlvr / PyTorch | rlvr at % of gemm peak |")
print("|---|---:|---:|---:|---:|---:|")
for (w, t), by in rows.items():
    r = statistics.median(d["value"] for d in by["rlvr"])
    p = statistics.median(d["value"] for d in by["torch"])
    unit = by["rlvr"][0]["unit"]
    # tokens/s: higher is better, ratio rlvr/torch; s/step: lower is better, ratio rlvr/torch too
    peak = statistics.median(d["extra"]["limit"]["of_peak"] for d in by["rlvr"])
    fmt = (lambda v: f"{v:,.0f} {unit}") if unit == "tokens/s" else (lambda v: f"{v:.3f} {unit}")
    print(f"| {w} | {t} | {fmt(r)} | {fmt(p)} | {r / p:.2f}x | {100 * peak:.0f} % |")
EOF
