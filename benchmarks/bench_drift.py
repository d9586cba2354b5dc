"""Drift benchmark: 20 numeric + 2 categorical features, 1e6 vs 1e6 rows at scale 1.0.

Compares ``mlmkit.analysis.drift.detect_drift`` (default ``method="auto"``) with

- a scipy loop (``ks_2samp`` per numeric feature, ``chi2_contingency`` per categorical one),
- NannyML ``UnivariateDriftCalculator`` (KS + JS continuous, chi2 + JS categorical, one chunk),
- Evidently 0.7 ``Report([DataDriftPreset()])``.

NannyML and Evidently are never project dependencies: they run in a separate virtualenv
(``MLMKIT_BENCH_VENV``, default ``/tmp/benchvenv``; create it with
``python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install -e . evidently 'pandas<3'
nannyml``) on the same frames written to parquet. When that venv or a package is missing, or
``scale < 0.1`` (unless ``MLMKIT_BENCH_EXTERNAL=1``), their rows have ``ok=None``.

Accuracy: features ``num_00, num_03, num_06, num_09, num_12`` (five different distribution
families) are shifted by 0.15, 0.25, 0.5, 0.75 and 1.0 standard deviations; the default method
must flag exactly those five and nothing else.

Run: ``.venv/bin/python benchmarks/bench_drift.py [scale]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from mlmkit.analysis import drift

SHIFTS = {"num_00": 0.15, "num_03": 0.25, "num_06": 0.5, "num_09": 0.75, "num_12": 1.0}
NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = ["cat_a", "cat_b"]


def _draw(rng: np.random.Generator, family: int, n: int) -> tuple[np.ndarray, float]:
    """A sample of one of five families and the family's standard deviation."""
    if family == 0:
        return rng.normal(10.0, 2.0, n), 2.0
    if family == 1:
        return rng.lognormal(0.0, 0.5, n), float(np.sqrt((np.exp(0.25) - 1) * np.exp(0.25)))
    if family == 2:
        return rng.exponential(3.0, n), 3.0
    if family == 3:
        return rng.uniform(-1.0, 1.0, n), float(np.sqrt(4.0 / 12.0))
    return rng.standard_t(5, n), float(np.sqrt(5.0 / 3.0))


def make_frames(n: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reference and current frames of ``n`` rows each (see the module docstring)."""
    rng = np.random.default_rng(seed)
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        ref[name], sd = _draw(rng, i % 5, n)
        cur[name], _ = _draw(rng, i % 5, n)
        cur[name] = cur[name] + SHIFTS.get(name, 0.0) * sd
    for name, k in (("cat_a", 5), ("cat_b", 30)):
        p = rng.dirichlet(np.full(k, 2.0))
        labels = np.array([f"{name}_{j}" for j in range(k)])
        ref[name] = labels[rng.choice(k, n, p=p)]
        cur[name] = labels[rng.choice(k, n, p=p)]
    return pl.DataFrame(ref), pl.DataFrame(cur)


def _scipy_loop(ref: pl.DataFrame, cur: pl.DataFrame) -> list[str]:
    flagged = []
    for name in NUMERIC:
        if stats.ks_2samp(ref[name].to_numpy(), cur[name].to_numpy()).pvalue < 0.05:
            flagged.append(name)
    for name in CATEGORICAL:
        table = pl.concat([ref[name].value_counts().with_columns(g=pl.lit(0)),
                           cur[name].value_counts().with_columns(g=pl.lit(1))])
        wide = table.pivot("g", index=name, values="count").fill_null(0)
        if stats.chi2_contingency(wide.select("0", "1").to_numpy().T).pvalue < 0.05:
            flagged.append(name)
    return flagged


_EXTERNAL = r"""
import json, os, sys, time
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
import pandas as pd
which, ref_path, cur_path, numeric, categorical = sys.argv[1:6]
numeric, categorical = numeric.split(","), categorical.split(",")
ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
if which == "nannyml":
    import nannyml as nml
    t = time.perf_counter()
    calc = nml.UnivariateDriftCalculator(
        column_names=numeric + categorical, treat_as_categorical=categorical,
        continuous_methods=["kolmogorov_smirnov", "jensen_shannon"],
        categorical_methods=["chi2", "jensen_shannon"], chunk_number=1)
    calc.fit(ref)
    calc.calculate(cur)
else:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    t = time.perf_counter()
    dd = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    r = Dataset.from_pandas(ref, data_definition=dd)
    c = Dataset.from_pandas(cur, data_definition=dd)
    Report([DataDriftPreset()]).run(c, r)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def _external(which: str, paths: tuple[str, str], python: Path) -> float | None:
    """Seconds taken by ``which`` in the benchmark venv, or None if unavailable."""
    module = "nannyml" if which == "nannyml" else "evidently"
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    if not python.exists() or subprocess.run([str(python), "-c", f"import {module}"], env=env,
                                             capture_output=True).returncode != 0:
        return None
    out = subprocess.run([str(python), "-c", _EXTERNAL, which, *paths, ",".join(NUMERIC),
                          ",".join(CATEGORICAL)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{which} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def _row(name: str, mlmkit_s: float, baseline: str, baseline_s: float | None, target: str,
         need: float) -> dict[str, Any]:
    ratio = baseline_s / mlmkit_s if baseline_s is not None else float("nan")
    return {"benchmark": name, "mlmkit_s": mlmkit_s, "baseline": baseline,
            "baseline_s": baseline_s if baseline_s is not None else float("nan"),
            "ratio": ratio, "target": target,
            "ok": None if baseline_s is None else bool(ratio >= need)}


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    """Time drift detection and check the 5-of-20 accuracy scenario (ratio = baseline/mlmkit)."""
    n = max(2000, int(1_000_000 * scale))
    ref, cur = make_frames(n)
    label = f"drift 20 num + 2 cat, {n:.0e} vs {n:.0e}"
    start = time.perf_counter()
    report = drift.detect_drift(ref, cur)
    mlmkit_s = time.perf_counter() - start
    start = time.perf_counter()
    ks_flags = _scipy_loop(ref, cur)
    scipy_s = time.perf_counter() - start
    flagged = report.drifted_features
    psi_flags = [c for c in NUMERIC if drift.psi(ref[c], cur[c]).drift_detected]
    rows = [_row(label, mlmkit_s, "scipy ks_2samp/chi2 loop", scipy_s, ">= 1x", 1.0)]
    accuracy = _row(f"drift accuracy 5 of 20 shifted, {n:.0e} rows", mlmkit_s,
                    "expected flags", None, "flags exactly the 5 shifted features", 1.0)
    accuracy["ok"] = sorted(flagged) == sorted(SHIFTS)
    accuracy["detail"] = (f"auto flagged {flagged}; PSI>=0.1 flags {psi_flags}; "
                          f"uncorrected KS p<0.05 flags {ks_flags}")
    venv = Path(os.environ.get("MLMKIT_BENCH_VENV", "/tmp/benchvenv")) / "bin" / "python"
    external = scale >= 0.1 or os.environ.get("MLMKIT_BENCH_EXTERNAL") == "1"
    with tempfile.TemporaryDirectory() as tmp:
        paths = (str(Path(tmp) / "ref.parquet"), str(Path(tmp) / "cur.parquet"))
        if external:
            ref.write_parquet(paths[0])
            cur.write_parquet(paths[1])
        for which, need in (("nannyml", 5.0), ("evidently", 50.0)):
            secs = _external(which, paths, venv) if external else None
            name = ("NannyML UnivariateDriftCalculator" if which == "nannyml"
                    else "Evidently DataDriftPreset")
            rows.append(_row(label, mlmkit_s, name, secs, f">= {need:g}x", need))
    return [*rows, accuracy]


if __name__ == "__main__":
    for row in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(row)
