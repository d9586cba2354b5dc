"""ipywidgets panels for review in JupyterLab; each also renders as static HTML.

Display a panel as a cell's last expression. Action buttons ask for confirmation and write
through the services (registry history, rollouts, new tuned versions). Every panel's
``static_html()`` (also its ``text/html`` output) keeps the current content readable in
papermill / nbconvert output, where widgets are not live.

Every button and dropdown reports its errors in the panel's status line, reopens a workspace
file closed since the panel was built, and keeps mlmkit's log records (an alert fired by a
rollback, say) out of the notebook unless the panel was built with ``verbose=True``.
"""

from __future__ import annotations

import dataclasses
import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mlmkit._html import dict_table
from mlmkit._validation import invalid
from mlmkit.catalogue import Task, Use, select, spec
from mlmkit.services.monitor import model_verdict
from mlmkit.viz import charts, data
from mlmkit.viz._panel_base import ConfirmAction, Panel, frame_html, widgets
from mlmkit.viz.render import to_html
from mlmkit.viz.tables import task_metrics_rows, verdicts_html

if TYPE_CHECKING:
    from mlmkit.values import ABTestConfig
    from mlmkit.workspace import Workspace

__all__ = ["ABReviewPanel", "MonitorPanel", "RegistryBrowser", "ThresholdPanel"]

WINDOWS = ("24h", "7d", "30d")


class ThresholdPanel(Panel):
    """Threshold slider over a pre-computed curve, with "apply as new version".

    The curve is computed once (``ws.tuning.optimize_threshold`` on a 0.01 grid); moving
    the slider only looks up the nearest grid row, with no query per move.

    Parameters
    ----------
    ws : Workspace
    model, version : str
    window : str
        Labelled predictions used for the curve.
    metric : str
        The metric the optimum maximises.
    verbose : bool
        Also show the mlmkit log records an action emits in the status line.
    """

    #: The tuning result behind the curve (``None`` when the model was refused).
    result: Any

    def __init__(self, ws: Workspace, model: str, version: Any, *, window: str = "7d",
                 metric: str = "f1_score", step: float = 0.01, verbose: bool = False) -> None:
        w = widgets()
        self._setup(ws, verbose=verbose)
        self.model, self.version, self.title = model, str(version), \
            f"Threshold: {model} {version}"
        if ws.registry.task(model) is Task.REGRESSION:
            self._refuse(model)
            return
        self.result = ws.tuning.optimize_threshold(model, version, metric, (0.0, 1.0), step,
                                                   window)
        self.curve = self.result.curve.sort("threshold")
        self._thresholds = self.curve["threshold"].to_numpy()
        self.applied: Any = None
        self.slider = w.FloatSlider(value=float(self.result.current_threshold), min=0.0,
                                    max=1.0, step=step, description="threshold",
                                    continuous_update=True, readout_format=".2f",
                                    layout=w.Layout(width="420px"))
        self.table = w.HTML()
        self.chart = w.HTML(to_html(charts.threshold_curve(self.result)))
        self.apply = ConfirmAction(self, "Apply as new version", self._apply)
        self.observe(self.slider, "threshold", self._update)
        self._update()
        self.widget = w.VBox([w.HTML(f"<h3>{html.escape(self.title)}</h3>"), self.slider,
                              w.HBox([self.table, self.chart]), self.apply.box, self.status])

    def _refuse(self, model: str) -> None:
        """A regression model: no curve, no slider; the reason in the status line."""
        w = widgets()
        self.result = None
        self.applied = None
        self.table, self.chart = w.HTML(), w.HTML()

        def refuse() -> str:
            raise invalid("model", "a model with a decision threshold (binary; a regression "
                          "model's numeric predictions have none: retrain or recalibrate it)",
                          f"{model} (task regression)")

        self.act("Threshold tuning", refuse)
        self.widget = w.VBox([w.HTML(f"<h3>{html.escape(self.title)}</h3>"), self.status])

    def row(self, threshold: float | None = None) -> dict[str, Any]:
        """The curve row nearest to ``threshold`` (default: the slider's value)."""
        t = float(self.slider.value if threshold is None else threshold)
        i = int(np.clip(np.searchsorted(self._thresholds, t - 1e-9), 0, self.curve.height - 1))
        return self.curve.row(i, named=True)

    def _update(self) -> None:
        r = self.row()
        cm = (f"<table class='mlmkit'><tr><th></th><th>pred +</th><th>pred -</th></tr>"
              f"<tr><th>actual +</th><td>{r['tp']}</td><td>{r['fn']}</td></tr>"
              f"<tr><th>actual -</th><td>{r['fp']}</td><td>{r['tn']}</td></tr></table>")
        rates = dict_table({"threshold": r["threshold"], **{
            spec(k).label: r[k] for k in select(use=Use.HEADLINE) if k in r}})
        self.table.value = cm + rates
        # the chart follows the slider: re-drawn from the pre-computed curve, no query
        self.chart.value = to_html(charts.threshold_curve(self.result, selected=r["threshold"]))

    def _apply(self) -> str:
        r = self.row()
        current = self.result.current_value
        value = float(r[self.result.metric])
        improvement = (value - current) / abs(current) * 100 if current else math.nan
        chosen = dataclasses.replace(self.result, optimal_threshold=float(r["threshold"]),
                                     optimal_value=value, improvement_percent=improvement)
        self.applied = self.ws.tuning.apply(
            chosen, min_improvement_percent=0.0,
            reason=f"ThresholdPanel: threshold {r['threshold']:.2f} chosen by a reviewer")
        return (f"registered {self.model} {self.applied.version} with threshold "
                f"{r['threshold']:.2f} ({improvement:+.2f}% {self.result.metric})")

    def static_html(self) -> str:
        """Current threshold, confusion matrix, rates and the curve as an image."""
        return self._frame([self.table.value, self.chart.value, self.status.value])


class ABReviewPanel(Panel):
    """Pick versions and a window, see the A/B result and charts, act on a rollout.

    Buttons (each with confirmation): start a rollout of B, advance it, roll back, deploy B.

    Parameters
    ----------
    ws : Workspace
    model : str
    window : str
        The window of the first test (a dropdown changes it).
    config : ABTestConfig, optional
        The experiment as configured: its versions are preselected, and its traffic split
        (the "A share" field), primary metric and levels are used by every test, so the
        sample-ratio check expects the configured split. Default: the serving version
        against the newest, 50/50, with the default metric.
    verbose : bool
        Also show the mlmkit log records an action emits in the status line.
    """

    def __init__(self, ws: Workspace, model: str, *, window: str = "30d",
                 config: ABTestConfig | None = None, verbose: bool = False) -> None:
        from mlmkit.values import ABTestConfig

        w = widgets()
        self._setup(ws, verbose=verbose)
        self.model, self.title = model, f"A/B review: {model}"
        if config is not None and (not isinstance(config, ABTestConfig)
                                   or config.model_name != model):
            raise invalid("config", f"an ABTestConfig of model {model!r}", config)
        self.base_config = config
        versions = [str(m.version) for m in ws.registry.get_all(model)]
        serving = ws.registry.deployed_version(model)
        first = str(serving) if serving is not None else versions[0]
        a, b = (first, versions[-1]) if config is None else \
            (str(config.version_a), str(config.version_b))
        self.version_a = w.Dropdown(options=versions, value=a, description="A")
        self.version_b = w.Dropdown(options=versions, value=b, description="B")
        self.split_a = w.BoundedFloatText(
            value=0.5 if config is None else config.traffic_split_a, min=0.0, max=1.0,
            step=0.05, description="A share", layout=w.Layout(width="160px"))
        self.window = w.Dropdown(options=sorted({*WINDOWS, window}), value=window,
                                 description="window")
        self.run = w.Button(description="Run test", button_style="primary")
        self.result_html = w.HTML()
        self.chart = w.HTML()
        self.result: Any = None
        self.on_click(self.run, "Run test", self.refresh)
        self.actions = {
            "start": ConfirmAction(self, "Start rollout", self._start),
            "advance": ConfirmAction(self, "Advance rollout", self._advance),
            "rollback": ConfirmAction(self, "Roll back", self._rollback),
            "deploy": ConfirmAction(self, "Deploy B", self._deploy, style="success"),
        }
        self.widget = w.VBox([w.HTML(f"<h3>{html.escape(self.title)}</h3>"),
                              w.HBox([self.version_a, self.version_b, self.split_a,
                                      self.window, self.run]),
                              self.result_html, self.chart,
                              *[a.box for a in self.actions.values()], self.status])
        if self.version_a.value != self.version_b.value:
            self.refresh()

    def config(self) -> ABTestConfig:
        """The experiment of the selected versions, at the "A share" traffic split."""
        from mlmkit.values import ABTestConfig

        if self.base_config is None:
            return ABTestConfig.create(self.model, self.version_a.value, self.version_b.value,
                                       self.split_a.value)
        return dataclasses.replace(self.base_config, version_a=self.version_a.value,
                                   version_b=self.version_b.value,
                                   traffic_split_a=self.split_a.value)

    def refresh(self) -> None:
        """Run the test for the selected versions and window; redraw."""
        self.result = self.ws.ab.run_test(self.config(), self.window.value)
        self.result_html.value = self.result._repr_html_()
        arms = data.ab_arms(self.ws, self.result, window=self.window.value)
        self.chart.value = to_html(charts.ab_comparison(self.result, arms=arms))

    def _start(self) -> str:
        rollout = self.ws.ab.start_rollout(self.config())
        return f"started {rollout!r}"

    def _rollout(self) -> Any:
        from mlmkit.exceptions import StateError

        rollout = self.ws.ab.active_rollout(self.model)
        if rollout is None:
            raise StateError(f"no running rollout of {self.model}")
        return rollout

    def _advance(self) -> str:
        decision = self._rollout().advance()
        return f"{decision.action}: step {decision.step}, share_b {decision.share_b:g}"

    def _rollback(self) -> str:
        rollout = self.ws.ab.active_rollout(self.model)
        if rollout is not None:
            return rollout.rollback(reason="ABReviewPanel: reviewer rolled back").reason
        now = self.ws.registry.rollback(self.model, reason="ABReviewPanel: reviewer rolled back")
        return f"rolled back {self.model} to {now}"

    def _deploy(self) -> str:
        b = self.version_b.value
        why = self.result.recommendation if self.result is not None else "ABReviewPanel"
        self.ws.registry.deploy(self.model, b, reason=f"ABReviewPanel: {why}")
        return f"deployed {self.model} {b} to production"

    def static_html(self) -> str:
        """The last test result and chart, and the last action's status."""
        return self._frame([self.result_html.value, self.chart.value, self.status.value])


class MonitorPanel(Panel):
    """Production models: current metrics, alerts, trend and drift of the selected model."""

    def __init__(self, ws: Workspace, *, window: str = "7d", verbose: bool = False) -> None:
        w = widgets()
        self._setup(ws, verbose=verbose)
        self.title = "Monitor"
        names = sorted({m.model_name for m in ws.registry.get_production_models()}) \
            or ws.registry.get_all_model_names()
        self.model = w.Dropdown(options=names, description="model")
        self.window = w.Dropdown(options=sorted({*WINDOWS, window}), value=window,
                                 description="window")
        self.verdict = w.HTML()  # the same verdict as the report, `mlmkit demo` and Prometheus
        self.metrics = w.HTML()
        self.task_chart = w.HTML()  # confusion heatmap / residuals / scores (non-binary)
        self.alerts = w.HTML()
        self.trend = w.HTML()
        self.drift = w.HTML()
        self.observe(self.model, "model", self.refresh)
        self.observe(self.window, "window", self.refresh)
        self.widget = w.VBox([w.HTML("<h3>Monitor</h3>"), w.HBox([self.model, self.window]),
                              self.verdict,
                              w.HBox([self.metrics, self.trend]), self.task_chart, self.drift,
                              self.alerts, self.status])
        self.refresh()

    def refresh(self) -> None:
        """Recompute everything for the selected model and window."""
        ws, model, window = self.ws, self.model.value, self.window.value
        if model is None:
            return
        version = ws.registry.deployed_version(model) or ws.registry.get_all(model)[-1].version
        self.verdict.value = verdicts_html([model_verdict(ws, model, version)])
        m = ws.monitor.get_current_metrics(model, version, window, ci=False)
        binary = getattr(m, "task", "binary") == "binary"
        self.metrics.value = dict_table(
            {spec(k).label: getattr(m, k) for k in select(use=Use.WINDOW, task=Task.BINARY)}
            if binary else {"predictions": m.sample_count, "labelled": m.labelled_count,
                            **task_metrics_rows(m)}, title=f"{model} {version} ({window})")
        interval = "1h" if window == "24h" else "1d"
        trend = ws.monitor.get_performance_trend(model, None, window, interval)
        metric = {"regression": "mae", "score-only": "flag_rate"}.get(
            str(getattr(m, "task", "binary")), "accuracy")
        self.trend.value = to_html(charts.metric_trend(
            trend, metric=metric, deployments=ws.registry.history(model)))
        self.task_chart.value = "" if binary else to_html(_task_chart(ws, m, window))
        drift = ws.monitor.data_drift(model, version, reference=window, current="24h")
        self.drift.value = "<h4>Data drift (last 24h)</h4>" + to_html(charts.drift_bars(drift))
        alerts = ws.alerts.list(model)
        keep = [c for c in ("created_at", "rule", "severity", "version", "status", "message")
                if c in alerts.columns]
        self.alerts.value = "<h4>Alerts</h4>" + frame_html(alerts.select(keep))

    def static_html(self) -> str:
        """Metrics, trend, drift and alerts of the selected model."""
        return self._frame([self.verdict.value, self.metrics.value, self.trend.value,
                            self.task_chart.value, self.drift.value, self.alerts.value,
                            self.status.value])


def _task_chart(ws: Workspace, m: Any, window: str) -> Any:
    """The chart of a non-binary window: confusion heatmap, residuals or score distribution."""
    if m.task == "multiclass":
        return charts.class_confusion_matrix(m)
    if m.task == "regression":
        return charts.residual_histogram(data.residual_histogram(
            ws, m.model_name, m.version, window=window), m)
    meta = ws.registry.get(m.model_name, m.version)
    threshold = None if meta is None else meta.configuration.get("threshold")
    return charts.score_distribution(data.score_histogram(ws, m.model_name, m.version,
                                                          window=window),
                                     threshold=threshold, flag_rate=m.flag_rate)


class RegistryBrowser(Panel):
    """Versions, environments and deployment history of one model at a time."""

    def __init__(self, ws: Workspace, *, verbose: bool = False) -> None:
        w = widgets()
        self._setup(ws, verbose=verbose)
        self.title = "Registry"
        self.model = w.Dropdown(options=ws.registry.get_all_model_names(), description="model")
        self.versions = w.HTML()
        self.history = w.HTML()
        self.observe(self.model, "model", self.refresh)
        self.widget = w.VBox([w.HTML("<h3>Registry</h3>"), self.model, self.versions,
                              self.history, self.status])
        self.refresh()

    def refresh(self) -> None:
        """Reload the selected model's versions and history."""
        import polars as pl

        name = self.model.value
        if name is None:
            return
        rows = [{"version": str(m.version), "type": str(getattr(m.model_type, "value",
                                                                m.model_type)),
                 "environment": m.environment or "", "threshold":
                 m.configuration.get("threshold"), "created_at": m.created_at}
                for m in self.ws.registry.get_all(name)]
        self.versions.value = "<h4>Versions</h4>" + frame_html(pl.DataFrame(rows))
        hist = self.ws.registry.history(name)
        keep = [c for c in ("event_at", "action", "version", "environment", "previous_version",
                            "reason", "actor") if c in hist.columns]
        self.history.value = "<h4>History</h4>" + frame_html(hist.select(keep).reverse())

    def static_html(self) -> str:
        """Versions and history of the selected model."""
        return self._frame([self.versions.value, self.history.value, self.status.value])
