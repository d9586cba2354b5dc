"""Timing and result-row helpers shared by the ``bench_*.py`` modules (not a benchmark)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_run(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Call ``fn`` ``repeats`` times; return the fastest wall time (s) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def best_seconds(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Fastest wall time (s) of ``repeats`` calls of ``fn``."""
    return best_run(fn, repeats)[0]


def row(name: str, mlmkit_s: float, baseline: str, baseline_s: float | None, target: str,
        need: float) -> dict[str, Any]:
    """One result row for benchmarks/run.py; ``ok`` when ``baseline_s / mlmkit_s >= need``.

    Without a baseline time (``baseline_s=None``) ``ratio`` and ``ok`` are None.
    """
    ratio = None if baseline_s is None else baseline_s / mlmkit_s
    return {"benchmark": name, "mlmkit_s": mlmkit_s, "baseline": baseline,
            "baseline_s": baseline_s, "ratio": ratio, "target": target,
            "ok": None if ratio is None else ratio >= need}
