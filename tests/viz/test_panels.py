"""Panels driven from Python: widget values and button clicks update outputs and the registry."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")

from mlmkit.exceptions import ValidationError
from mlmkit.values import ABTestConfig
from mlmkit.viz import charts
from mlmkit.viz.panels import ABReviewPanel, MonitorPanel, RegistryBrowser, ThresholdPanel
from mlmkit.viz.render import to_html


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
        charted = charts.threshold_curve(panel.result, selected=row["threshold"])
        assert panel.chart.value == to_html(charted)  # the chart follows the slider
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


def test_panels_reopen_a_closed_workspace(demo_ws):
    """A notebook's last cell closes the workspace; "Run All" must leave the panels usable."""
    browser = RegistryBrowser(demo_ws)
    ab = ABReviewPanel(demo_ws, "queue-anomaly", window="30d")
    demo_ws.close()
    browser.model.value = "waf-behavioral"
    assert browser.last_error is None and "2.0.0" in browser.versions.value
    ab.window.value = "7d"
    ab.run.click()
    assert ab.last_error is None and ab.result.config.version_b == ab.version_b.value
    ab.actions["start"].button.click()
    ab.actions["start"].confirm.click()
    assert "started" in ab.status.value
    assert demo_ws.ab.active_rollout("queue-anomaly") is not None


def test_error_in_a_button_callback_reaches_the_status_line(demo_ws):
    panel = ABReviewPanel(demo_ws, "queue-anomaly", window="30d")
    before = panel.result
    panel.version_b.value = panel.version_a.value
    panel.run.click()                                  # A = B: refused, shown, not lost
    assert isinstance(panel.last_error, ValidationError)
    assert "Run test refused" in panel.status.value
    assert "version_b must be a version other than version_a" in panel.status.value
    assert panel.result is before and "refused" in panel.static_html()
    panel.version_b.value = "1.3.0"
    panel.run.click()                                  # the next success clears the error
    assert panel.last_error is None and "refused" not in panel.status.value


def test_unexpected_error_in_an_observer_shows_type_and_message(demo_ws, monkeypatch):
    panel = MonitorPanel(demo_ws, window="7d")

    def broken(*args, **kwargs):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(demo_ws.monitor, "get_current_metrics", broken)
    panel.model.value = "waf-behavioral"               # the setter does not raise
    assert isinstance(panel.last_error, ZeroDivisionError)
    assert "model failed: ZeroDivisionError: float division by zero" in panel.status.value


def test_ab_panel_uses_the_configured_split(demo_ws):
    """The demo's queue-anomaly challenger takes 20 % of traffic: no SRM at 80/20."""
    config = ABTestConfig.for_challenger("queue-anomaly", "1.2.0", "1.3.0")
    expected = demo_ws.ab.run_test(config, "7d")  # 1.3.0 joined 10 days ago
    assert expected.srm is not None and not expected.srm.details["mismatch"]
    panel = ABReviewPanel(demo_ws, "queue-anomaly", window="7d", config=config)
    assert panel.split_a.value == pytest.approx(0.8)
    assert panel.config() == config
    assert not panel.result.srm.details["mismatch"]
    assert panel.result.srm.p_value == pytest.approx(expected.srm.p_value)
    assert "Sample ratio mismatch" not in panel.result_html.value
    default = ABReviewPanel(demo_ws, "queue-anomaly", window="7d")  # no config: 50/50 shown
    assert default.split_a.value == 0.5 and default.result.srm.details["mismatch"]
    with pytest.raises(ValidationError, match="config must be an ABTestConfig of model"):
        ABReviewPanel(demo_ws, "n1-detector", config=config)


def test_rollback_alert_stays_out_of_the_notebook_unless_verbose(demo_ws, capfd):
    for verbose in (False, True):
        panel = ABReviewPanel(demo_ws, "queue-anomaly", window="30d", verbose=verbose)
        for name in ("start", "rollback"):
            panel.actions[name].button.click()
            panel.actions[name].confirm.click()
        assert panel.last_error is None and "rollback at step 1" in panel.status.value
        shown = "CRITICAL mlmkit.alerts: [critical] alert" in panel.status.value
        assert shown is verbose
    assert capfd.readouterr().err == ""
