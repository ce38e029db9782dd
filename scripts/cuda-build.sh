#!/usr/bin/env bash
# Builds rlvr with CUDA (`cargo build --release --features cuda`) on a machine without a GPU or a
# CUDA install: the CUDA 13.0 toolkit pieces come from PyPI into the ignored venv `.cuda/`, kernels
# are compiled for sm_90 (H100/H200; override with CUDA_COMPUTE_CAP=80 etc.).
#
#   scripts/cuda-build.sh                 # the rlvr binary -> target/release/rlvr, .cuda/dist/rlvr.gz
#   CARGO_TARGET_DIR=target/cuda scripts/cuda-build.sh   # the same, keeping a CPU build in target/
#   scripts/cuda-build.sh -p policy       # only the policy crate (extra args go to cargo build)
#   CUDA_TESTS=1 scripts/cuda-build.sh    # also the policy test binary -> .cuda/dist/tests/ (its
#                                         # ignored `cuda` tests compare CUDA with CPU on the GPU)
#
# Needs: x86-64 Linux, python3 with venv, a C/C++ compiler (g++ <= 14), Rust, PyPI and crates.io.
# Idempotent: a second run installs nothing and cargo rebuilds only what changed.
# The result runs only where a driver (libcuda.so.1) and CUDA 13 libraries are: see docs/cuda.md
# and scripts/cuda-run.sh. `.cuda/dist/` holds a stripped, gzipped copy small enough to carry
# there (the binary is ~62 MB stripped, ~17 MB gzipped; a carried tree is limited to 64 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cuda-env.sh
source scripts/cuda-env.sh

cuda_env full

# Stripped and gzipped copy of an executable, to carry to a GPU machine.
cuda_dist_copy() {
    local tmp="$2.tmp"
    strip -o "$tmp" "$1" 2>/dev/null || cp "$1" "$tmp"
    gzip -6 -c "$tmp" >"$2" || cuda_die "gzip $1 failed"
    rm -f "$tmp"
}

args=("$@")
whole_binary=1
((${#args[@]} == 0)) || whole_binary=0
((whole_binary)) && args=(--bin rlvr)

cuda_log "cargo build --release --features cuda ${args[*]}"
start=$SECONDS
cargo build --release --features cuda "${args[@]}" ||
    cuda_die "cargo build --release --features cuda failed (see above)"
cuda_log "cargo build took $((SECONDS - start)) s"

if ((whole_binary)); then
    bin="${CARGO_TARGET_DIR:-target}/release/rlvr"
    [[ -x "$bin" ]] || cuda_die "cargo succeeded but $bin is missing"
    mkdir -p "$CUDA_VENV/dist"
    rm -f "$CUDA_VENV/dist/rlvr"
    cuda_dist_copy "$bin" "$CUDA_VENV/dist/rlvr.gz"
    needed="$(readelf -d "$bin" 2>/dev/null | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
    cuda_log "built $bin; stripped, gzipped copy $CUDA_VENV/dist/rlvr.gz ($(du -h "$CUDA_VENV/dist/rlvr.gz" | cut -f1))"
    cuda_log "it loads at run time: $needed"
    cuda_log "run it on a GPU machine with scripts/cuda-run.sh (here it cannot start: no libcuda.so.1)"
fi

if [[ "${CUDA_TESTS:-0}" == 1 ]]; then
    cuda_log "cargo test --release --features cuda -p policy --no-run"
    exes="$(cargo test --release --features cuda -p policy --no-run --message-format=json |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')" || cuda_die "building the policy tests with cuda failed"
    rm -rf "$CUDA_VENV/dist/tests"
    mkdir -p "$CUDA_VENV/dist/tests"
    for exe in $exes; do
        cuda_dist_copy "$exe" "$CUDA_VENV/dist/tests/${exe##*/}.gz"
    done
    cuda_log "test binaries in $CUDA_VENV/dist/tests: $(ls "$CUDA_VENV/dist/tests" | tr '\n' ' ')"
fi
