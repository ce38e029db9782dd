#!/usr/bin/env bash
# The open-ended comparison (docs/open-ended.md): three curricula at equal training wall time,
# from the same fresh model and the same warm start on tasks/programs/primitives.toml, each
# evaluated on the held-out grid tasks/eval/holdout.toml (compositions no arm trains on); then
# `rlvr compare` writes OUT/comparison.md and OUT/comparison.png, raw and above chance (each
# program's pass rate above what always giving its most common answer scores).
#
#   evolve    configs/open-ended.toml as shipped: invents program families at the frontier
#   uniform   the same starting families, drawn uniformly, nothing invented
#   ladders   the starting families plus the hand-written program files (arithmetic, digits,
#             lists, with their level ladders) under `learnability`, nothing invented
#
# Usage: scripts/open-ended-comparison.sh [--seeds "0 1 2"] [--seconds 600] [--out DIR] [-n N]
#            [--set KEY=VALUE ...]
# Each run trains for --seconds of wall time, its warm start included, on every core it is given
# (2 by default); the evolve and uniform arms of a seed share one warm start (computed once, in
# OUT/warm-starts, through --warm-start-cache; the second arm counts its seconds too).
# --set overrides a config key in every arm, e.g. `--set sampling.max_temperature=1.3` pins the
# sampling temperature (no arm's controller moves it), so the informative fractions compare the
# curricula alone.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds="0 1 2"
seconds=600
out=runs/comparison
n=100
common=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -n) n="$2"; shift 2 ;;
        --set) common+=(--set "$2"); shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

rlvr="${RLVR:-target/release/rlvr}"
if [ -z "${RLVR:-}" ]; then
    cargo build --release --locked --bin rlvr
fi
config=configs/open-ended.toml
holdout=tasks/eval/holdout.toml

arm_sets() {
    case "$1" in
        evolve) ;;
        uniform) printf '%s\n' --set 'tasks.curriculum={ type = "uniform" }' ;;
        ladders)
            printf '%s\n' --set 'tasks.curriculum={ type = "learnability" }'
            printf '%s\n' --set 'tasks.families=[{ programs = "tasks/programs/primitives.toml" }, { programs = "tasks/programs/arithmetic.toml" }, { programs = "tasks/programs/digits.toml" }, { programs = "tasks/programs/lists.toml" }]'
            ;;
    esac
}

for seed in $seeds; do
    for arm in evolve uniform ladders; do
        run="$out/$arm/s$seed"
        if [ -f "$run/holdout.json" ]; then
            echo "$run: done already" >&2
            continue
        fi
        rm -rf "$run"
        mkdir -p "$(dirname "$run")"
        mapfile -t sets < <(arm_sets "$arm")
        echo "== $arm, seed $seed: $seconds s of RL" >&2
        "$rlvr" train "$config" --seed "$seed" --out "$run" \
            --set "train.max_seconds=$seconds" --set train.stop_when_mastered=false \
            --warm-start-cache "$out/warm-starts" \
            "${common[@]}" "${sets[@]}" > "$run.summary.json"
        "$rlvr" eval --model "$run/model" --config "$run/config.toml" \
            --programs "$holdout" -n "$n" > "$run/holdout.json.tmp"
        mv "$run/holdout.json.tmp" "$run/holdout.json"
    done
done
"$rlvr" compare "$out"
