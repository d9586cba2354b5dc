"""Charts tell the truth: dates on time axes, deploys at their real times, every period shown."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl
import pytest

from mlmkit.viz import charts, data, render


def _layers(spec: dict) -> list[dict]:
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "mark" in node:
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    return found


def _values(spec: dict, layer: dict) -> list[dict]:
    ref = layer.get("data", spec.get("data", {}))
    return ref["values"] if "values" in ref else spec["datasets"][ref["name"]]


def test_trend_has_dated_time_axis_and_deploys_at_registry_times(demo_ws):
    ws = demo_ws
    trend = ws.monitor.get_performance_trend("n1-detector", None, "30d", "1d")
    history = ws.registry.history("n1-detector")
    spec = charts.metric_trend(trend, deployments=history).to_dict()
    line = next(la for la in _layers(spec) if la["mark"].get("type", la["mark"]) == "line"
                or la["mark"] == {"type": "line", "point": True})
    x = line["encoding"]["x"] if "x" in line.get("encoding", {}) else spec["layer"][0][
        "encoding"]["x"]
    assert x["type"] == "temporal" and x["axis"]["format"] == "%b %d"
    rules = [la for la in _layers(spec) if la["mark"].get("type") == "rule"
             and la.get("encoding", {}).get("x", {}).get("field") == "event_at"]
    assert rules
    drawn = sorted(row["event_at"] for row in _values(spec, rules[0]))
    deploys = history.filter(pl.col("action") == "deploy")
    expected = sorted(t.isoformat() for t in deploys["event_at"]
                      if trend["bucket"].min() <= t <= trend["bucket_end"].max())
    assert [d.replace(" ", "T")[:19] for d in drawn] == [e[:19] for e in expected]
    # the demo deployed 1.1.0 twelve days in: its marker is not at the right edge
    assert deploys["event_at"][-1] < trend["bucket_end"].max() - timedelta(days=10)


def test_deploy_label_at_the_right_edge_stays_clear_of_the_legend():
    """The version legend sits below the plot and a late deploy's label is drawn left of its
    rule, so "deploy 1.1.0" no longer runs into the legend title beside the plot."""
    from datetime import UTC, datetime

    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    trend = pl.DataFrame({"version": ["1.0.0"] * 4 + ["1.1.0"] * 4,
                          "bucket": [t0 + timedelta(days=d) for d in range(8)],
                          "accuracy": [0.9 - 0.01 * d for d in range(8)]})
    history = pl.DataFrame({"event_at": [t0 + timedelta(days=1), t0 + timedelta(days=6, hours=20)],
                            "action": ["deploy", "deploy"], "version": ["1.0.1", "1.1.0"],
                            "environment": ["production"] * 2})
    spec = charts.metric_trend(trend, deployments=history).to_dict(validate=True)
    legends = [la["encoding"]["color"]["legend"] for la in _layers(spec)
               if "legend" in la.get("encoding", {}).get("color", {})]
    legends += [spec["encoding"]["color"]["legend"]] if "encoding" in spec else []
    layer_enc = [la.get("encoding", {}).get("color", {}).get("legend")
                 for la in spec.get("layer", [])]
    assert {"orient": "bottom", "direction": "horizontal"} in [*legends, *layer_enc]
    labels = {row["label"]: la["mark"] for la in _layers(spec)
              if la["mark"].get("type") == "text" and la.get("encoding", {}).get("text", {})
              .get("field") == "label" for row in _values(spec, la)}
    assert labels["deploy 1.1.0"]["align"] == "right" and labels["deploy 1.1.0"]["dx"] < 0
    assert labels["deploy 1.0.1"]["align"] == "left" and labels["deploy 1.0.1"]["dx"] > 0


def test_short_trend_shows_hours(demo_ws):
    trend = demo_ws.monitor.get_performance_trend("n1-detector", None, "24h", "1h")
    spec = charts.metric_trend(trend).to_dict()
    assert json.dumps(spec).count('"format": "%b %d %H:%M"') >= 1


def test_alert_and_threshold_overlays(demo_ws):
    ws = demo_ws
    ws.alerts.fire("degradation", "critical", "n1-detector", "1.1.0", "accuracy dropped 26%")
    trend = ws.monitor.get_performance_trend("n1-detector", None, "30d", "1d")
    spec = charts.metric_trend(trend, alerts=ws.alerts.list("n1-detector"), baseline=0.88,
                               threshold=0.05).to_dict(validate=True)
    text = json.dumps(spec)
    assert "baseline 0.880" in text and "warning 0.836" in text and "critical 0.792" in text
    assert "accuracy dropped 26%" in text  # the alert marker carries its message


def test_heatmap_has_a_cell_for_every_period_and_feature(demo_ws):
    drift = data.drift_over_time(demo_ws, "waf-behavioral", "2.0.0", periods=7,
                                 progress=False)
    # a period whose tests gave nothing still gets its cells ("n/a")
    first = drift["period"].min()
    drift = drift.with_columns(
        pl.when(pl.col("period") == first).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("statistic", "p_value", "adjusted_p_value"))
    spec = charts.drift_heatmap(drift).to_dict(validate=True)
    cells = _values(spec, spec["layer"][0])
    periods, features = drift["period"].n_unique(), drift["feature"].n_unique()
    assert periods == 7
    assert len(cells) == periods * features
    assert len({c["period"] for c in cells}) == 7
    assert sum(c["cell_label"] == "n/a" for c in cells) == features


def test_drift_bars_never_share_an_axis_between_statistics(demo_ws):
    drift = demo_ws.monitor.data_drift("waf-behavioral", "2.0.0", reference="14d",
                                       current="3d")
    spec = charts.drift_bars(drift).to_dict(validate=True)
    panels = spec["vconcat"]
    methods = drift["method"].drop_nulls().unique().to_list()
    assert len(panels) == len(methods) >= 2
    titles = [p["encoding"]["x"]["title"] for p in panels]
    assert len(set(titles)) == len(titles)  # one statistic per axis
    for panel in panels:
        assert len({row["method"] for row in _values(spec, panel)}) == 1


def test_threshold_labels_do_not_overlap_and_follow_a_selection(demo_ws):
    tuned = demo_ws.tuning.optimize_threshold("n1-detector", "1.1.0", window="30d",
                                              threshold_range=(0.05, 0.95), step=0.01)
    spec = charts.threshold_curve(tuned, current=0.50, optimal=0.51, selected=0.7).to_dict()
    marks = next(la["data"]["values"] for la in spec["layer"] if "data" in la
                 and "values" in la["data"])
    assert {m["name"] for m in marks} == {"current", "optimal", "selected"}
    assert len({m["row"] for m in marks}) == 3  # one text row per label
    assert next(m for m in marks if m["name"] == "current")["align"] == "right"


def test_theme_is_transparent_and_pngs_are_rendered_at_scale_2():
    chart = charts.confusion_matrix({"tp": 1, "fp": 2, "tn": 3, "fn": 4})
    spec = chart.to_dict()
    assert spec["config"]["background"] == "transparent"
    one = render.png_size(render.to_png(chart, scale=1))
    two = render.png_size(render.to_png(chart))
    assert two == (one[0] * 2, one[1] * 2)
    tag = render.to_html(chart)
    assert f"width='{one[0]}'" in tag  # shown at its CSS size: crisp on HiDPI
    import altair as alt

    assert "mlmkit" in alt.theme.names()
    with pytest.raises(Exception, match="fmt"):
        render.StaticChart(chart, fmt="gif")
