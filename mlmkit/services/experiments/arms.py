"""The data of an A/B test, aggregated in the store: cells per arm, paired tables, histograms."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import polars as pl

from mlmkit.values import ABTestConfig, TimeRange

if TYPE_CHECKING:
    from mlmkit.store.engines import StatisticsEngine

__all__ = ["paired_arms", "score_histograms", "split_arms"]

HIST_BINS = 1000


class Arms(TypedDict):
    """What the test reads per arm: ``(tp, fp, tn, fn)`` cells, served rows, paired table."""

    counts_a: tuple[int, ...]
    counts_b: tuple[int, ...]
    table: list[list[int]] | None  # 2x2 agreement table (paired data only)
    n_a: int
    n_b: int


def split_arms(engine: StatisticsEngine, config: ABTestConfig, time_range: TimeRange | None
               ) -> Arms:
    """Confusion cells and served rows per arm when the versions split the traffic."""
    a, b = str(config.version_a), str(config.version_b)
    frame = engine.confusion_counts(config.model_name, versions=[a, b],
                                    time_range=time_range)
    rows = {r["version"]: r for r in frame.iter_rows(named=True)}
    empty = {"n": 0, "tp": 0, "fp": 0, "tn": 0, "fn": 0}

    def cells(version: str) -> tuple[int, int, int, int]:
        row = rows.get(version, empty)
        return int(row["tp"]), int(row["fp"]), int(row["tn"]), int(row["fn"])

    return {"counts_a": cells(a), "counts_b": cells(b), "table": None,
            "n_a": int(rows.get(a, empty)["n"]), "n_b": int(rows.get(b, empty)["n"])}

def paired_arms(engine: StatisticsEngine, config: ABTestConfig, time_range: TimeRange | None
                ) -> Arms:
    """Cells per arm and the 2x2 agreement table when both versions scored the same units."""
    frame = engine.paired_counts(config.model_name, str(config.version_a),
                              str(config.version_b), time_range)
    ca = [0, 0, 0, 0]
    cb = [0, 0, 0, 0]
    table = [[0, 0], [0, 0]]
    total = 0
    for pa, pb, actual, n in frame.iter_rows():
        total += int(n)
        if actual is None:
            continue
        for cells, pred in ((ca, pa), (cb, pb)):
            cells[{(True, True): 0, (True, False): 1, (False, False): 2,
                   (False, True): 3}[(bool(pred), bool(actual))]] += int(n)
        table[0 if pa == actual else 1][0 if pb == actual else 1] += int(n)
    return {"counts_a": tuple(ca), "counts_b": tuple(cb),
            "table": table if sum(map(sum, table)) else None, "n_a": total, "n_b": total}

def score_histograms(engine: StatisticsEngine, config: ABTestConfig, time_range: TimeRange | None,
                     paired: bool) -> list[list[int]]:
    """Dense positive / negative score histograms of A then B (for ROC AUC tests)."""
    a, b = str(config.version_a), str(config.version_b)
    frame = engine.score_histogram(config.model_name, versions=[a, b],
                                   time_range=time_range, bins=HIST_BINS,
                                   role=None if paired else "served")
    out: list[list[int]] = []
    for version in (a, b):
        part = frame.filter(pl.col("version") == version)
        for col in ("pos", "neg"):
            dense = [0] * HIST_BINS
            for bin_, count in zip(part["bin"].to_list(), part[col].to_list(), strict=True):
                dense[int(bin_)] = int(count)
            out.append(dense)
    return out
