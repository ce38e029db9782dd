#!/usr/bin/env bash
# Compile-only check of the `cuda` feature, for CI: keeps the CUDA code paths from rotting on a
# machine without a GPU. Installs only the CUDA 13.0 compiler and headers from PyPI into the
# ignored venv `.cuda/` (no cuBLAS, no link), then type-checks every crate with CUDA enabled.
# candle's build script still runs nvcc on its kernels, which is most of the time.
#
#   scripts/cuda-check.sh                 # cargo check --workspace --all-targets with cuda
#   scripts/cuda-check.sh -p policy       # one package: cargo check --features cuda -p policy
#   scripts/cuda-check.sh --workspace --all-targets --features nccl   # CI: cuda and nccl at once
#
# Needs: x86-64 Linux, python3 with venv, g++ (<= 14), Rust, PyPI and crates.io.
# Figures measured on the 2-core dev box are in docs/cuda.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cuda-env.sh
source scripts/cuda-env.sh

cuda_env compiler

if (($# > 0)); then
    args=(--features cuda "$@")
else
    args=(--workspace --all-targets --features rlvr/cuda,policy/cuda,trainer/cuda)
fi

cuda_log "cargo check ${args[*]}"
start=$SECONDS
cargo check "${args[@]}" ||
    cuda_die "cargo check with the cuda feature failed (see above)"
cuda_log "cargo check took $((SECONDS - start)) s"
