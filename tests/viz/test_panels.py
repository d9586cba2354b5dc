"""Panels driven from Python: widget values and button clicks update outputs and the registry."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")

from mlmkit.viz.panels import ABReviewPanel, MonitorPanel, RegistryBrowser, ThresholdPanel


def test_threshold_slider_reads_precomputed_curve(demo_ws, monkeypatch):
    panel = ThresholdPanel(demo_ws, "n1-detector", "1.1.0", window="30d")
    queries = []
    monkeypatch.setattr(demo_ws.db, "connection", lambda *a, **k: queries.append(1))
    for value in (0.2, 0.35, 0.6, 0.8):
        panel.slider.value = value
        row = panel.row()
        assert row["threshold"] == pytest.approx(value)
        assert f"<td>{row['tp']}</td>" in panel.table.value
        assert row["tp"] + row["fn"] == panel.result.positive_count
    assert queries == []  # no query per slider move
    monkeypatch.undo()
    low, high = panel.row(0.2), panel.row(0.8)
    assert low["recall"] >= high["recall"]


def test_threshold_apply_asks_then_registers_new_version(demo_ws):
    panel = ThresholdPanel(demo_ws, "n1-detector", "1.1.0", window="30d")
    panel.slider.value = round(panel.result.optimal_threshold, 2)
    before = demo_ws.registry.get_version_count("n1-detector")
    panel.apply.button.click()
    assert panel.apply.armed and demo_ws.registry.get_version_count("n1-detector") == before
    panel.apply.cancel.click()
    assert not panel.apply.armed
    panel.apply.button.click()
    panel.apply.confirm.click()
    new = demo_ws.registry.get("n1-detector", "1.1.1")
    assert new is not None
    assert new.configuration["threshold"] == pytest.approx(panel.slider.value)
    assert "registered n1-detector 1.1.1" in panel.static_html()


def test_ab_panel_dropdowns_and_actions_write_registry(demo_ws):
    panel = ABReviewPanel(demo_ws, "queue-anomaly", window="30d")
    assert panel.version_a.value == "1.2.0" and panel.version_b.value == "1.3.0"
    assert "A/B test" in panel.result_html.value and "<img" in panel.chart.value
    panel.window.value = "7d"
    panel.run.click()
    assert panel.result.config.version_b == panel.version_b.value
    start = panel.actions["start"]
    start.button.click()
    assert demo_ws.ab.active_rollout("queue-anomaly") is None  # not before confirmation
    start.confirm.click()
    rollout = demo_ws.ab.active_rollout("queue-anomaly")
    assert rollout is not None and "started" in panel.status.value
    hist = demo_ws.registry.history("queue-anomaly")
    assert "rollout_start" in hist["action"].to_list()
    panel.actions["rollback"].button.click()
    panel.actions["rollback"].confirm.click()
    assert rollout.refresh().status == "rolled_back"
    panel.actions["deploy"].button.click()
    panel.actions["deploy"].confirm.click()
    assert str(demo_ws.registry.deployed_version("queue-anomaly")) == "1.3.0"
    last = demo_ws.registry.history("queue-anomaly").row(-1, named=True)
    assert last["action"] == "deploy" and "ABReviewPanel" in last["reason"]


def test_ab_panel_reports_refusals(demo_ws):
    panel = ABReviewPanel(demo_ws, "queue-anomaly", window="30d")
    panel.actions["advance"].button.click()
    panel.actions["advance"].confirm.click()
    assert "refused" in panel.status.value and "no running rollout" in panel.status.value


def test_monitor_panel_follows_dropdowns(demo_ws):
    panel = MonitorPanel(demo_ws, window="7d")
    assert panel.model.value == "n1-detector"
    panel.model.value = "waf-behavioral"
    assert "waf-behavioral 2.0.0" in panel.metrics.value
    assert "request_rate" not in panel.metrics.value and "<img" in panel.drift.value
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "waf-behavioral" in bundle["text/html"]


def test_registry_browser(demo_ws):
    panel = RegistryBrowser(demo_ws)
    panel.model.value = "queue-anomaly"
    html = panel._repr_html_()
    assert "1.2.0" in html and "1.3.0" in html and "challenger" in html
