"""Shared helpers for the reference peers: workload loading, timing, JSON output.

Each peer prints exactly one JSON line on stdout:
    {"workload": ..., "impl": ..., "value": ..., "unit": ..., "runs": [...], "extra": {...}}
`value` is the median of `runs`. Everything else (warnings, progress) goes to stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import tomllib
from pathlib import Path

# The project copy of the workloads (scripts/peers/ -> benches/workloads.toml).
DEFAULT_WORKLOADS = Path(__file__).resolve().parent.parent.parent / "benches" / "workloads.toml"


def parse_args(description: str, extra=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("workload", help="name of a [workload.*] table in workloads.toml")
    p.add_argument("--workloads", default=str(DEFAULT_WORKLOADS), help="path to workloads.toml")
    p.add_argument("--repeat", type=int, default=5, help="timed repetitions after the untimed warm-up")
    if extra is not None:
        extra(p)
    return p.parse_args()


def load_workload(path: str, name: str) -> tuple[dict, dict | None]:
    """Return (workload table, model table or None)."""
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    try:
        wl = dict(doc["workload"][name])
    except KeyError:
        sys.exit(f"error: workload {name!r} not found in {path} (have: {', '.join(doc.get('workload', {}))})")
    model = dict(doc["model"][wl["model"]]) if "model" in wl else None
    return wl, model


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def emit(workload: str, impl: str, unit: str, runs: list[float], extra: dict | None = None) -> None:
    """Print the one JSON result line on the real stdout."""
    rec = {
        "workload": workload,
        "impl": impl,
        "value": statistics.median(runs),
        "unit": unit,
        "runs": runs,
    }
    if extra:
        rec["extra"] = extra
    sys.__stdout__.write(json.dumps(rec) + "\n")
    sys.__stdout__.flush()


@contextlib.contextmanager
def quiet_stdout():
    """Send anything a library prints on stdout to stderr, so stdout holds only the JSON line."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
