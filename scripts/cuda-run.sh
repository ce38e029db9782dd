#!/usr/bin/env bash
# What runs on the GPU machine (CUDA driver, PyTorch with its CUDA 13 libraries, Python; no Rust,
# no network), from the repository root, with the binary that scripts/cuda-build.sh made here:
#
#   1. environment: nvidia-smi, torch version, the libraries the binary loads;
#   2. the CUDA tests carried in .cuda/dist/tests/ (built with CUDA_TESTS=1 scripts/cuda-build.sh):
#      the ignored tests whose names contain "cuda" (CUDA against CPU: logits, cached decoding,
#      log-prob gradients);
#   3. `rlvr bench` rollout_* and step_* on the GPU beside the PyTorch peer (scripts/peers/) on the
#      same GPU in the same call, for benches/workloads.toml and the ~100M model of
#      scripts/cuda-workloads.toml, plus the HBM-bandwidth floor of decoding (decode_floor.py);
#   4. a short training run of configs/quickstart.toml with device = "cuda".
#
#   scripts/cuda-run.sh [OUT_DIR]        # default: $OUT if set (device tool), else runs/cuda-run
#
# Environment: RLVR_BIN (default: .cuda/dist/rlvr.gz unpacked to /tmp/rlvr-cuda), PYTHON (default python3), REPEAT (5),
# TRAIN_SECONDS (120: the quickstart's RL time budget), SKIP_TRAIN=1, SKIP_BENCH=1.
# Writes at most 8 files into OUT_DIR: run.log, env.txt, tests.log, bench.jsonl, floor.jsonl,
# train_metrics.jsonl, train_eval.jsonl, summary.md. Exit status: non-zero if a step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

out="${1:-${OUT:-runs/cuda-run}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
bin="${RLVR_BIN:-}"
if [[ -z "$bin" && -f .cuda/dist/rlvr.gz ]]; then
    bin=/tmp/rlvr-cuda/rlvr
    mkdir -p /tmp/rlvr-cuda
    gzip -dc .cuda/dist/rlvr.gz >"$bin" && chmod +x "$bin"
fi
bin="${bin:-.cuda/dist/rlvr}"
py="${PYTHON:-python3}"
repeat="${REPEAT:-5}"
train_seconds="${TRAIN_SECONDS:-120}"
failed=()

exec > >(tee -a "$out/run.log") 2>&1
log() { echo "== $(date -u +%H:%M:%S) $*"; }
fail() {
    failed+=("$1")
    log "FAILED: $1"
}

# --- 1. environment --------------------------------------------------------------------------
log "environment"
[[ -x "$bin" ]] || {
    echo "cuda-run: no binary at $bin: build it with scripts/cuda-build.sh and carry .cuda/dist" >&2
    exit 1
}
{
    date -u
    nvidia-smi || echo "nvidia-smi: not available"
    "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
} >"$out/env.txt" 2>&1
cat "$out/env.txt"
"$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' || {
    echo "cuda-run: $py's torch sees no CUDA GPU: run this on the GPU machine" >&2
    exit 1
}

# The binary links libcuda.so.1 (the driver) and CUDA 13 libcudart, libcublas, libcublasLt,
# libcurand, libnvrtc. Take them from PyTorch's nvidia-* wheels (same CUDA major) unless the
# system already provides them.
libdirs="$("$py" - <<'EOF'
import os, sys
want = {"libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libnvrtc.so.13"}
dirs = []
try:
    import nvidia
    roots = list(nvidia.__path__)
except ImportError:
    roots = []
for root in roots + ["/usr/local/cuda/lib64", "/usr/local/nvidia/lib64"]:
    for d, _, files in os.walk(root):
        if want.intersection(files) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))
EOF
)"
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" | tee -a "$out/env.txt"
ldd "$bin" | grep -E 'cuda|cublas|curand|nvrtc|not found' | tee -a "$out/env.txt"
if ldd "$bin" | grep -q 'not found'; then
    echo "cuda-run: $bin cannot find the libraries above ('not found'); is this a GPU machine with CUDA 13?" >&2
    exit 1
fi
"$bin" --version || {
    echo "cuda-run: $bin does not start" >&2
    exit 1
}

# --- 2. CUDA tests ---------------------------------------------------------------------------
: >"$out/tests.log"
if compgen -G ".cuda/dist/tests/*.gz" >/dev/null; then
    mkdir -p /tmp/rlvr-cuda/tests
    for gz in .cuda/dist/tests/*.gz; do
        t="/tmp/rlvr-cuda/tests/$(basename "$gz" .gz)"
        gzip -dc "$gz" >"$t" && chmod +x "$t"
        log "tests: $t --ignored cuda"
        timeout 300 "$t" --ignored --test-threads 1 cuda >>"$out/tests.log" 2>&1 || fail "tests $t"
    done
    tail -n 40 "$out/tests.log"
else
    log "tests: none carried (.cuda/dist/tests/ is empty: build with CUDA_TESTS=1 scripts/cuda-build.sh)"
    echo "no CUDA test binaries carried" >"$out/tests.log"
fi

# --- 3. benchmarks ---------------------------------------------------------------------------
bench_line() { # impl (torch, rlvr, rlvr-bf16) workload workloads_file -> a line of bench.jsonl
    local impl="$1" wl="$2" file="$3" line
    if [[ "$impl" == torch ]]; then
        line="$(timeout 300 "$py" scripts/peers/torch_peer.py "$wl" --workloads "$file" \
            --device cuda --threads 4 --repeat "$repeat" | tail -n 1)"
    elif [[ "$impl" == rlvr-bf16 ]]; then
        # bf16 forwards, f32 master weights (the peer has no bf16 mode: compare with care)
        line="$(timeout 300 "$bin" bench "$wl" --workloads "$file" --device cuda --dtype bf16 \
            --repeat "$repeat" | tail -n 1 | sed 's/"impl":"rlvr"/"impl":"rlvr-bf16"/')"
    else
        line="$(timeout 300 "$bin" bench "$wl" --workloads "$file" --device cuda \
            --repeat "$repeat" | tail -n 1)"
    fi
    if [[ "$line" == "{"* ]]; then
        echo "$line" | tee -a "$out/bench.jsonl"
    else
        fail "bench $impl $wl"
    fi
}
: >"$out/bench.jsonl"
: >"$out/floor.jsonl"
if [[ "${SKIP_BENCH:-0}" != 1 ]]; then
    rlvr_has_device=0
    "$bin" bench --help 2>/dev/null | grep -q -- '--device' && rlvr_has_device=1
    ((rlvr_has_device)) || log "rlvr bench has no --device option: its GPU rows are skipped (torch rows still run)"
    for spec in benches/workloads.toml:rollout_tiny benches/workloads.toml:rollout_small \
        scripts/cuda-workloads.toml:rollout_medium benches/workloads.toml:step_tiny \
        benches/workloads.toml:step_small scripts/cuda-workloads.toml:step_medium; do
        file="${spec%%:*}"
        wl="${spec#*:}"
        log "bench $wl (torch, cuda)"
        bench_line torch "$wl" "$file"
        if ((rlvr_has_device)); then
            log "bench $wl (rlvr, cuda)"
            bench_line rlvr "$wl" "$file"
            log "bench $wl (rlvr, cuda, bf16)"
            bench_line rlvr-bf16 "$wl" "$file"
        fi
    done
    # Decode floor for each rollout workload, with the rates just measured.
    for spec in benches/workloads.toml:rollout_small scripts/cuda-workloads.toml:rollout_medium; do
        file="${spec%%:*}"
        wl="${spec#*:}"
        measured=()
        while read -r m; do measured+=(--measured "$m"); done < <("$py" - "$out/bench.jsonl" "$wl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["workload"] == sys.argv[2]:
        print(f'{r["impl"]}={r["value"]}')
EOF
)
        (cd scripts/peers && "$py" decode_floor.py "$wl" --workloads "../../$file" \
            --measure-bandwidth "${measured[@]}") | tee -a "$out/floor.jsonl" || fail "floor $wl"
        # the bf16 floor: half the bytes per weight and per cached key/value
        (cd scripts/peers && "$py" decode_floor.py "$wl" --workloads "../../$file" --dtype-bytes 2 \
            --measure-bandwidth "${measured[@]}") | tee -a "$out/floor.jsonl" || fail "floor $wl bf16"
    done
fi

# --- 4. training -----------------------------------------------------------------------------
if [[ "${SKIP_TRAIN:-0}" != 1 ]]; then
    run_dir="$(mktemp -d)/quickstart-cuda"
    log "train configs/quickstart.toml on cuda (${train_seconds} s of RL) -> $run_dir"
    start=$SECONDS
    timeout $((train_seconds + 300)) "$bin" train configs/quickstart.toml --out "$run_dir" \
        --set device=cuda --set "train.max_seconds=$train_seconds" || fail "train quickstart"
    log "train took $((SECONDS - start)) s (warm start, RL, evals)"
    cp "$run_dir/metrics.jsonl" "$out/train_metrics.jsonl" 2>/dev/null || true
    cp "$run_dir/eval.jsonl" "$out/train_eval.jsonl" 2>/dev/null || true
fi

# --- summary ---------------------------------------------------------------------------------
"$py" - "$out" "${failed[@]}" >"$out/summary.md" <<'EOF'
import json, os, sys
out, failed = sys.argv[1], sys.argv[2:]
def lines(name):
    p = os.path.join(out, name)
    return [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []
env = open(os.path.join(out, "env.txt")).read().splitlines()
print("# CUDA run\n")
print("```\n" + "\n".join(l for l in env if "torch" in l or "H100" in l or "H200" in l or "Driver" in l) + "\n```\n")
rows = {}
for r in lines("bench.jsonl"):
    rows.setdefault(r["workload"], {})[r["impl"]] = r
print("| workload | unit | rlvr | torch | rlvr / torch (higher is better) | rlvr bf16 | bf16 / torch |\n|---|---|---|---|---|---|---|")
for wl, by in rows.items():
    unit = next(iter(by.values()))["unit"]
    rv, tv = by.get("rlvr", {}).get("value"), by.get("torch", {}).get("value")
    bv = by.get("rlvr-bf16", {}).get("value")
    gain = lambda v: "" if v is None or tv is None else f"{(v / tv if unit == 'tokens/s' else tv / v):.2f}x"
    fmt = lambda v: "-" if v is None else f"{v:.4g}"
    print(f"| {wl} | {unit} | {fmt(rv)} | {fmt(tv)} | {gain(rv)} | {fmt(bv)} | {gain(bv)} |")
print()
for f in lines("floor.jsonl"):
    fr = ", ".join(f"{k.split('/')[1]} {v:.2f}" for k, v in f.items() if k.startswith("fraction_of_floor/"))
    print(f"- {f['workload']} ({f['dtype_bytes']}-byte weights): copy bandwidth {f['bandwidth_bytes_per_s'] / 1e12:.2f} TB/s, decode floor "
          f"{f['floor_tokens_per_s']:.4g} tokens/s; fraction of the floor reached: {fr or '-'}")
ev = lines("train_eval.jsonl")
if ev:
    print(f"- quickstart on cuda: {len(lines('train_metrics.jsonl'))} RL steps; last eval: {json.dumps(ev[-1])}")
print(f"\nfailed steps: {', '.join(failed) if failed else 'none'}")
EOF
cat "$out/summary.md"
((${#failed[@]} == 0)) || exit 1
