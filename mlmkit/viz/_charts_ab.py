"""Drift, A/B test, sequential-test and rollout charts."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from mlmkit._validation import invalid
from mlmkit.viz._charts_perf import _data, _time_axis
from mlmkit.viz._theme import INK, SEVERITY_COLORS, altair, thin


def _need(frame: Any, name: str, columns: set[str]) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame) or not columns <= set(frame.columns):
        got = frame.columns if isinstance(frame, pl.DataFrame) else type(frame).__name__
        raise invalid(name, f"a polars frame with columns {', '.join(sorted(columns))}", got)
    return frame


#: The x-axis title of each drift statistic (one axis per statistic, never mixed).
STATISTIC_TITLES = {
    "wasserstein": "Wasserstein distance (normalised)",
    "jensen_shannon": "Jensen-Shannon distance",
    "ks": "Kolmogorov-Smirnov D",
    "psi": "population stability index",
    "chi2": "chi-square statistic",
    "chi_square": "chi-square statistic",
}


def drift_bars(drift: pl.DataFrame, *, title: str = "Feature drift") -> Any:
    """Per-feature drift statistic, one panel per statistic, coloured by the drift verdict.

    Different statistics (a Wasserstein distance, a Jensen-Shannon distance, ...) are not on
    one scale, so each method gets its own panel and x axis titled with the statistic.

    Parameters
    ----------
    drift : polars.DataFrame
        ``ws.monitor.data_drift(...)``: ``feature, method, statistic, p_value, drift``.
    """
    alt = altair()
    frame = _need(drift, "drift", {"feature", "statistic", "drift"})
    keep = [c for c in ("feature", "kind", "method", "statistic", "p_value", "adjusted_p_value",
                        "drift", "n_reference", "n_current") if c in frame.columns]
    data = frame.select(keep).with_columns(
        pl.when(pl.col("drift")).then(pl.lit("drift")).otherwise(pl.lit("no drift"))
        .alias("verdict"))
    if "method" not in data.columns:
        data = data.with_columns(pl.lit("statistic").alias("method"))
    data = data.with_columns(pl.col("method").fill_null("missing values only"))
    panels = []
    for (method,), part in data.group_by("method", maintain_order=True):
        panels.append(alt.Chart(_data(part)).mark_bar().encode(
            y=alt.Y("feature:N", sort="-x", title=None),
            x=alt.X("statistic:Q", title=STATISTIC_TITLES.get(str(method), str(method))),
            color=alt.Color("verdict:N", title="verdict",
                            scale=alt.Scale(domain=["drift", "no drift"],
                                            range=[SEVERITY_COLORS["critical"], INK])),
            tooltip=keep,
        ).properties(height=alt.Step(22), width=320))
    if not panels:
        panels.append(alt.Chart(_data(data)).mark_bar())
    return alt.vconcat(*panels).properties(title=title)


def _all_cells(frame: pl.DataFrame, value: str) -> pl.DataFrame:
    """Every (period, feature) pair, with ``value`` null where the period has no result."""
    periods = frame.select("period").unique()
    features = frame.select("feature").unique()
    grid = periods.join(features, how="cross")
    return grid.join(frame, on=["period", "feature"], how="left").with_columns(
        pl.col("drift").fill_null(False),
        pl.when(pl.col(value).cast(pl.Float64).fill_nan(None).is_null()).then(pl.lit("n/a"))
        .otherwise(pl.col(value).round(2).cast(pl.String)).alias("cell_label"))


def _drift_ratio(p_col: str | None) -> pl.Expr:
    """How far past its own drift line a test is (1 = at the threshold), capped at 5.

    Distances: ``statistic / threshold``; p-value tests: ``log p / log threshold``. Both put
    every method on one scale where drift starts at 1.
    """
    distance = pl.col("statistic") / pl.col("threshold")
    if p_col is None:
        ratio = distance
    else:
        by_p = pl.col(p_col).clip(1e-10, 1.0).log() / pl.col("threshold").clip(1e-10, 0.999).log()
        ratio = pl.when(pl.col(p_col).is_not_null()).then(by_p).otherwise(distance)
    return ratio.cast(pl.Float64).clip(0.0, 5.0)


def drift_heatmap(drift: pl.DataFrame, *, value: str = "drift_ratio",
                  title: str = "Drift over time") -> Any:
    """Heatmap per feature and period; cells where drift was flagged carry a dot.

    Every period of the frame has a cell for every feature: a period whose test gave no
    p-value (too few rows, no values) is a grey cell marked ``n/a``, never dropped.

    Parameters
    ----------
    drift : polars.DataFrame
        [`drift_over_time`][mlmkit.viz.data.drift_over_time]: ``period, feature, statistic,
        drift`` and ``p_value``.
    value : str
        Colour: ``"drift_ratio"`` (each test against its own drift line: distance over its
        threshold, or ``log p`` over ``log`` alpha; 1 is where drift starts; comparable across
        methods), ``"evidence"`` (``-log10`` of the adjusted p-value, capped at 10; ``n/a``
        for distance methods, which have none) or any numeric column such as
        ``"statistic"``.
    """
    alt = altair()
    frame = _need(drift, "drift", {"period", "feature", "drift"})
    p_col = "adjusted_p_value" if "adjusted_p_value" in frame.columns else "p_value"
    if value == "evidence":
        frame = _need(frame, "drift", {p_col}).with_columns(
            (-pl.col(p_col).cast(pl.Float64).clip(1e-10, 1.0).log10()).alias("evidence"))
    elif value == "drift_ratio":
        frame = _need(frame, "drift", {"statistic", "threshold"}).with_columns(
            _drift_ratio(p_col if p_col in frame.columns else None).alias("drift_ratio"))
    frame = _need(frame, "drift", {value})
    extra = [c for c in ("method", "statistic", "p_value") if c in frame.columns and c != value]
    cells = _all_cells(frame.select("period", "feature", value, "drift", *extra), value)
    order = sorted(cells["period"].unique().to_list())
    labels = [p.strftime("%b %d") if hasattr(p, "strftime") else str(p) for p in order]
    data = cells.with_columns(
        pl.col("period").replace_strict(order, labels, return_dtype=pl.String)).sort(
        "period", "feature")
    base = alt.Chart(_data(data)).encode(
        x=alt.X("period:O", title="period", sort=labels, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("feature:N", title=None))
    empty = base.mark_rect(color=INK, opacity=0.15)  # every cell, "n/a" ones stay grey
    rect = base.transform_filter(alt.datum.cell_label != "n/a").mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="orangered"),
                        title="vs drift line" if value == "drift_ratio" else value),
        tooltip=list(data.columns))
    missing = base.transform_filter(alt.datum.cell_label == "n/a").mark_text(
        fontSize=10, color=INK).encode(text="cell_label:N")
    marks = base.transform_filter(alt.datum.drift).mark_point(
        shape="circle", filled=True, color="black", size=25)
    return (empty + rect + missing + marks).properties(title=title, height=alt.Step(24),
                                                       width=alt.Step(52))


def _arm_frame(result: Any) -> pl.DataFrame:
    rows = []
    for metric, test in getattr(result, "tests", {}).items():
        for arm, key in (("A", "value_a"), ("B", "value_b")):
            value = test.details.get(key)
            if value is None or not math.isfinite(float(value)):
                continue
            rows.append({"metric": metric, "arm": arm, "estimate": float(value),
                         "low": None, "high": None})
    return pl.DataFrame(rows, schema={"metric": pl.String, "arm": pl.String,
                                      "estimate": pl.Float64, "low": pl.Float64,
                                      "high": pl.Float64})


def ab_comparison(result: Any, *, arms: pl.DataFrame | None = None,
                  title: str | None = None) -> Any:
    """Per-arm estimates (with intervals when given) and the B - A difference with its CI.

    Parameters
    ----------
    result : ABTestResult
        From ``ws.ab.run_test``; each metric's test gives the difference and its interval.
    arms : polars.DataFrame, optional
        ``metric, arm ("A"|"B"), estimate, low, high``, e.g.
        [`mlmkit.viz.data.ab_arms`][mlmkit.viz.data.ab_arms]; default: point estimates from the
        result.
    """
    alt = altair()
    tests = getattr(result, "tests", None)
    if not tests:
        raise invalid("result", "an ABTestResult with per-metric tests", type(result).__name__)
    arm_data = _arm_frame(result) if arms is None else _need(
        arms, "arms", {"metric", "arm", "estimate", "low", "high"})
    diff = pl.DataFrame([{"metric": m, "difference": float(t.effect),
                          "low": float(t.ci[0]) if t.ci else None,
                          "high": float(t.ci[1]) if t.ci else None,
                          "p_value": t.details.get("p_holm", t.p_value),
                          "significant": bool(t.details.get("significant", False))}
                         for m, t in tests.items()])
    diff = diff.with_columns([pl.col(c).fill_nan(None) for c in ("difference", "low", "high")])
    metric_order = list(tests)
    left = alt.Chart(_data(arm_data)).encode(
        y=alt.Y("metric:N", sort=metric_order, title=None),
        yOffset=alt.YOffset("arm:N"), color=alt.Color("arm:N", title="arm"))
    per_arm = (left.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title="estimate",
                                                             scale=alt.Scale(zero=False)),
                                                     x2="high:Q")
               + left.mark_point(filled=True, size=60).encode(
                   x="estimate:Q", tooltip=["metric", "arm", "estimate:Q", "low:Q", "high:Q"]))
    right = alt.Chart(_data(diff)).encode(y=alt.Y("metric:N", sort=metric_order, title=None))
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(color="#999").encode(x="x:Q")
    delta = (zero + right.mark_rule(strokeWidth=2).encode(
        x=alt.X("low:Q", title="difference B - A"), x2="high:Q",
        color=alt.Color("significant:N", scale=alt.Scale(domain=[True, False],
                                                          range=["#28a745", "#7f8c8d"])))
        + right.mark_point(filled=True, size=60, color="black").encode(
            x="difference:Q", tooltip=["metric", "difference:Q", "low:Q", "high:Q",
                                       "p_value:Q", "significant:N"]))
    config = getattr(result, "config", None)
    name = title or (f"A/B {config.model_name}: {config.version_a} vs {config.version_b}"
                     if config is not None else "A/B comparison")
    return alt.hconcat(per_arm.properties(width=240, title="per arm"),
                       delta.properties(width=240, title="difference with CI")
                       ).resolve_scale(color="independent").properties(title=name)


def sequential_path(path: pl.DataFrame, *, title: str = "Sequential test",
                    max_points: int = 500) -> Any:
    """Always-valid test path: effect (B - A) with its confidence sequence, per look.

    Parameters
    ----------
    path : polars.DataFrame
        [`sequential_path`][mlmkit.analysis.stats.sequential_path] output
        (``look, n_a, n_b, effect, p_value, ci_low, ci_high, reject``), optionally with a ``time``
        column.
    """
    alt = altair()
    frame = _need(path, "path", {"look", "effect", "ci_low", "ci_high", "p_value", "reject"})
    frame = thin(frame, max_rows=max_points).with_columns(
        (pl.col("n_a") + pl.col("n_b")).alias("n") if "n_a" in frame.columns
        else pl.col("look").alias("n"))
    x = _time_axis(alt, "time", frame) if "time" in frame.columns else \
        alt.X("n:Q", title="labelled units (both arms)")
    base = alt.Chart(_data(frame.drop([c for c in ("details",) if c in frame.columns]))
                     ).encode(x=x)
    band = base.mark_area(opacity=0.2, color="#3366cc").encode(
        y=alt.Y("ci_low:Q", title="difference B - A"), y2="ci_high:Q")
    line = base.mark_line(color="#3366cc").encode(y="effect:Q")
    pts = base.mark_point(filled=True).encode(
        y="effect:Q", color=alt.Color("reject:N", scale=alt.Scale(
            domain=[True, False], range=["#c0392b", "#3366cc"]), title="reject H0"),
        tooltip=["look:Q", "n:Q", "effect:Q", "ci_low:Q", "ci_high:Q", "p_value:Q"])
    zero = alt.Chart(alt.Data(values=[{"y": 0}])).mark_rule(color="#999").encode(y="y:Q")
    top = (band + line + pts + zero).properties(title=title, height=200)
    pval = base.mark_line(color="#8e44ad").encode(
        y=alt.Y("p_value:Q", title="always-valid p", scale=alt.Scale(domain=[0, 1])))
    return alt.vconcat(top, pval.properties(height=100))


def rollout_progress(history: pl.DataFrame, *, title: str = "Rollout progress") -> Any:
    """Share of traffic on B over time (step line), events coloured by action.

    Parameters
    ----------
    history : polars.DataFrame
        ``Rollout.history()``: ``event_at, action, step, share_b, reason``.
    """
    alt = altair()
    frame = _need(history, "history", {"event_at", "action", "share_b", "step"})
    data = frame.select("event_at", "action", "step", "share_b",
                        *[c for c in ("reason",) if c in frame.columns]).sort("event_at")
    base = alt.Chart(_data(data)).encode(
        x=_time_axis(alt, "event_at", data),
        y=alt.Y("share_b:Q", title="share of traffic on B", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])))
    return (base.mark_line(interpolate="step-after", color="#3366cc")
            + base.mark_point(filled=True, size=70).encode(
                color=alt.Color("action:N"), tooltip=list(data.columns))
            ).properties(title=title)
