#!/usr/bin/env bash
# vendor/candle-core is candle-core 0.11.1 from crates.io plus vendor/patches/*.patch, nothing else.
#
#   scripts/vendor-candle.sh check   rebuild it from upstream + patches in a temp dir and compare
#                                    with vendor/candle-core (CI runs this); also checks the count
#                                    of patched accumulation sites that vendor/README.md states
#   scripts/vendor-candle.sh apply   rewrite vendor/candle-core from upstream + patches (after
#                                    editing a patch, or to start a candle upgrade: change VERSION,
#                                    then fix the patches that no longer apply)
#
# Needs cargo and network access to crates.io (it downloads the published .crate through cargo).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.11.1
mode=${1:-check}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Let cargo download the published crate into its registry cache (no build).
mkdir -p "$work/fetch/src"
touch "$work/fetch/src/lib.rs"
cat >"$work/fetch/Cargo.toml" <<EOF
[package]
name = "vendor-fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
candle-core = "=$VERSION"
EOF
cargo fetch --quiet --manifest-path "$work/fetch/Cargo.toml"
crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/candle-core-$VERSION.crate | head -n 1)

# Upstream as published, without what a dependency never builds.
tar xzf "$crate" -C "$work"
tree="$work/candle-core-$VERSION"
rm -rf "$tree"/{tests,examples,benches} "$tree"/{Cargo.lock,Cargo.toml.orig}
for p in vendor/patches/*.patch; do
    patch --quiet --no-backup-if-mismatch -p1 -d "$tree" <"$p" || {
        echo "vendor-candle: $p does not apply to candle-core $VERSION" >&2
        exit 1
    }
done

case "$mode" in
check)
    if ! diff -r "$tree" vendor/candle-core >"$work/diff"; then
        echo "vendor-candle: vendor/candle-core differs from candle-core $VERSION + vendor/patches:" >&2
        head -n 40 "$work/diff" >&2
        echo "(edit the code, then regenerate the patch; or run '$0 apply' to rebuild from the patches)" >&2
        exit 1
    fi
    # The one place the number of patched sites is stated is vendor/README.md.
    stated=$(grep -oE '[0-9]+ accumulation sites call' vendor/README.md | grep -oE '[0-9]+')
    found=$(grep -cE 'grads\.accumulate(_neg)?\(' vendor/candle-core/src/backprop.rs)
    if [ "$stated" != "$found" ]; then
        echo "vendor-candle: vendor/README.md states $stated accumulation sites, backprop.rs has $found" >&2
        exit 1
    fi
    echo "vendor-candle: vendor/candle-core = candle-core $VERSION + $(ls vendor/patches/*.patch | wc -l) patches ($found accumulation sites)"
    ;;
apply)
    rm -rf vendor/candle-core
    cp -r "$tree" vendor/candle-core
    echo "vendor-candle: vendor/candle-core rebuilt from candle-core $VERSION + vendor/patches"
    ;;
*)
    echo "usage: $0 check|apply" >&2
    exit 2
    ;;
esac
