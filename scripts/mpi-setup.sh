#!/usr/bin/env bash
# Installs what the `mpi` feature needs on Debian or Ubuntu, if it is missing: Open MPI (the
# `mpirun` launcher and its headers and libraries) and libclang (rsmpi's build generates its
# bindings with bindgen). Needs root (CI and the dev containers run as root) or sudo.
#
#   scripts/mpi-setup.sh    # then: cargo build --release --features mpi (docs/distributed.md)
set -euo pipefail
packages=(openmpi-bin libopenmpi-dev libclang-dev)
if command -v mpirun >/dev/null && dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    echo "mpi: ${packages[*]} present ($(mpirun --version | head -n 1))" >&2
    exit 0
fi
sudo=()
if ((EUID != 0)); then
    sudo=(sudo)
fi
echo "mpi: installing ${packages[*]}" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null
echo "mpi: $(mpirun --version | head -n 1)" >&2
