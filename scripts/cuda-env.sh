# Sourced by cuda-build.sh and cuda-check.sh (not run on its own): puts the CUDA 13.0 toolkit
# pieces from PyPI into the ignored venv `.cuda/` and exports what candle's `cuda` build reads.
#
#   cuda_env compiler   # nvcc, its headers and the runtime headers: enough for `cargo check`
#   cuda_env full       # plus cuBLAS, cuRAND, NVRTC and the link-time libcuda stub: `cargo build`
#
# Why 13.0: the lent GPU machines run driver 580 (CUDA 13.0), which rejects PTX from a newer nvcc;
# cudarc 0.19 also panics on toolkits it does not know (it knows up to 13.4).
# Why a stub libcuda: cudarc links `-lcuda` (the driver), which only a GPU machine has. The stub
# defines the driver's symbols so the link succeeds; at run time the real libcuda.so.1 is used
# (the stub lives in lib/stubs, never on LD_LIBRARY_PATH).

CUDA_VENV="${CUDA_VENV:-$PWD/.cuda}"
CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

# Versions that match each other and the GPU machine's driver (CUDA 13.0). cuBLAS/cuRAND are only
# needed at link time here (sonames libcublas.so.13, libcurand.so.10); the GPU machine uses its own.
CUDA_PIP_COMPILER=(
    "nvidia-cuda-nvcc==13.0.88"
    "nvidia-nvvm==13.0.88"
    "nvidia-cuda-crt==13.0.88"
    "nvidia-cuda-runtime==13.0.96"
    "nvidia-cuda-cccl==13.0.85"
)
CUDA_PIP_LINK=(
    "nvidia-cuda-nvrtc==13.0.88"
    "nvidia-cublas==13.0.2.14"
    "nvidia-curand==10.4.0.35"
)

cuda_die() {
    echo "cuda: error: $*" >&2
    exit 1
}

cuda_log() {
    echo "cuda: $*" >&2
}

# Installs the missing pip pieces into the venv; a second run finds them and installs nothing.
cuda_pip_install() {
    local missing=() spec name want have
    for spec in "$@"; do
        name="${spec%%==*}"
        want="${spec#*==}"
        have="$("$CUDA_VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null || true)"
        [[ "$have" == "$want" ]] || missing+=("$spec")
    done
    if ((${#missing[@]} == 0)); then
        cuda_log "pip pieces present in $CUDA_VENV"
        return 0
    fi
    cuda_log "installing ${missing[*]} into $CUDA_VENV"
    "$CUDA_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}" ||
        cuda_die "pip could not install ${missing[*]} (needs PyPI access)"
}

# `libX.so` -> `libX.so.N`: the wheels ship only the versioned names, the linker asks for the bare one.
cuda_link_symlinks() {
    local lib="$CUDA_HOME/lib" f base
    for f in "$lib"/lib*.so.[0-9]*; do
        [[ -e "$f" ]] || continue
        base="${f##*/}"
        base="${base%%.so.*}.so"
        [[ "$base" == *.alt.so || "$base" == libnvrtc-builtins* ]] && continue
        [[ -e "$lib/$base" ]] || ln -s "${f##*/}" "$lib/$base"
    done
}

# A link-time stand-in for the driver library: one empty function per `cu*` symbol that cudarc
# declares. The soname is the real one, so the binary asks for libcuda.so.1 when it starts.
cuda_libcuda_stub() {
    local stubs="$CUDA_HOME/lib/stubs" src
    [[ -e "$stubs/libcuda.so" ]] && return 0
    src="$(cuda_cudarc_dir)/src/driver/sys/mod.rs"
    [[ -f "$src" ]] || cuda_die "cannot find cudarc's driver bindings ($src); run \`cargo fetch\` first"
    command -v cc >/dev/null || cuda_die "no C compiler (cc) to build the libcuda link stub"
    mkdir -p "$stubs"
    grep -oE '^\s*fn cu[A-Za-z0-9_]+\(' "$src" | sed -E 's/^\s*fn (cu[A-Za-z0-9_]+)\(/void \1(void) {}/' |
        sort -u >"$stubs/libcuda_stub.c"
    [[ -s "$stubs/libcuda_stub.c" ]] || cuda_die "found no cu* functions in $src"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so" "$stubs/libcuda_stub.c" ||
        cuda_die "could not build the libcuda link stub"
    cuda_log "built link-time stub $stubs/libcuda.so ($(wc -l <"$stubs/libcuda_stub.c") symbols)"
}

# The cudarc source that Cargo.lock pins (cargo fetch puts it in the registry).
cuda_cudarc_dir() {
    local version
    version="$(grep -A1 '^name = "cudarc"' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"
    [[ -n "$version" ]] || cuda_die "cudarc is not in Cargo.lock"
    ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"cudarc-$version" 2>/dev/null | head -n1
}

# Usage: cuda_env compiler|full
cuda_env() {
    local mode="$1"
    [[ -f Cargo.toml && -f Cargo.lock ]] || cuda_die "run from the repository root"
    command -v python3 >/dev/null || cuda_die "python3 (3.9+) is needed to install the CUDA toolkit from PyPI"
    [[ "$(uname -m)" == x86_64 ]] || cuda_die "the PyPI CUDA wheels used here are x86-64 only (this is $(uname -m))"
    if [[ ! -x "$CUDA_VENV/bin/python" ]]; then
        cuda_log "creating venv $CUDA_VENV"
        python3 -m venv "$CUDA_VENV" || cuda_die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    fi
    case "$mode" in
    compiler) cuda_pip_install "${CUDA_PIP_COMPILER[@]}" ;;
    full) cuda_pip_install "${CUDA_PIP_COMPILER[@]}" "${CUDA_PIP_LINK[@]}" ;;
    *) cuda_die "cuda_env: unknown mode '$mode'" ;;
    esac

    CUDA_HOME="$("$CUDA_VENV/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')" ||
        cuda_die "cannot locate the nvidia/cu13 tree in $CUDA_VENV"
    [[ -x "$CUDA_HOME/bin/nvcc" ]] || cuda_die "no nvcc in $CUDA_HOME/bin"
    export CUDA_HOME CUDA_PATH="$CUDA_HOME" CUDA_ROOT="$CUDA_HOME"
    export PATH="$CUDA_HOME/bin:$PATH"
    export CUDA_COMPUTE_CAP
    # nvcc compiles candle's kernels one file at a time unless told otherwise.
    export CUDAFORGE_THREADS="${CUDAFORGE_THREADS:-$(nproc)}"
    nvcc --version >/dev/null || cuda_die "nvcc does not run ($CUDA_HOME/bin/nvcc)"

    if [[ "$mode" == full ]]; then
        cargo fetch >/dev/null || cuda_die "cargo fetch failed"
        cuda_link_symlinks
        cuda_libcuda_stub
    fi
    cuda_log "CUDA_HOME=$CUDA_HOME CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP ($(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
}
