"""Cells of the widget notebooks (02 A/B review, 04 threshold tuning)."""

from __future__ import annotations

from make_notebooks import DB_PARAM, OPEN_WS, closing, code, md, params

AB_REVIEW = [
    md("""
# A/B review with widgets

Pick the versions and the window, read the test, then start / advance / roll back a guarded
rollout or deploy B. Every action asks for confirmation and lands in the registry history.
In the demo, the challenger 1.3.0 has taken 20 % of the traffic for the last ten days.
"""),
    params(f"""
{DB_PARAM}
model_name = "queue-anomaly"
version_a = "1.2.0"
version_b = "1.3.0"
share_a = 0.8  # the experiment's traffic split: the sample-ratio check expects it
window = "7d"
per_model = 3000
"""),
    code("""
from pathlib import Path

from mlmkit.values import ABTestConfig
from mlmkit.viz import charts, data, show, use_offline_renderer
from mlmkit.viz.panels import ABReviewPanel, RegistryBrowser
from mlmkit.viz.report import demo_workspace

use_offline_renderer()  # a chart as a cell's last expression is interactive, with no network
""" + OPEN_WS + """
config = ABTestConfig.create(model_name, version_a, version_b, traffic_split=share_a)
result = ws.ab.run_test(config, window)
result
"""),
    code("""
show(charts.ab_comparison(result, arms=data.ab_arms(ws, result, window=window)))
"""),
    md("Always-valid sequential test, evaluated once a day (safe to peek):"),
    code("""
show(charts.sequential_path(data.sequential_frame(ws, config, window=window)))
"""),
    md("""
The review panel (live in JupyterLab; a static copy in exported HTML) runs the same experiment
(`config`: versions, split, metric). Errors appear in its status line; `verbose=True` also
shows the log records an action emits, such as the alert a rollback fires.
"""),
    code("""
panel = ABReviewPanel(ws, model_name, window=window, config=config)
panel
"""),
    md("The same actions from code (what the buttons do after confirmation):"),
    code("""
panel.actions["start"].button.click()
panel.actions["start"].confirm.click()
rollout = ws.ab.active_rollout(model_name)
print(panel.status.value)
rollout
"""),
    code("""
rollout.advance()
show(charts.rollout_progress(rollout.history()))
"""),
    code("""
panel.actions["rollback"].button.click()
panel.actions["rollback"].confirm.click()
print(panel.status.value)
ws.registry.history(model_name).select("event_at", "action", "version", "environment", "reason")
"""),
    md("Versions, environments and the deployment history, one model at a time:"),
    code("""
browser = RegistryBrowser(ws)
browser.model.value = model_name
browser
"""),
    *closing(),
]

THRESHOLD = [
    md("""
# Threshold tuning

The curve is computed once from the prediction log; the slider only reads it. "Apply as new
version" registers a new patch version carrying the chosen threshold (never edits one).
"""),
    params(f"""
{DB_PARAM}
model_name = "n1-detector"
version = "1.1.0"
window = "30d"
per_model = 3000
"""),
    code("""
from pathlib import Path

from mlmkit.exceptions import MlmkitError
from mlmkit.viz import charts, data, show, use_offline_renderer
from mlmkit.viz.panels import ThresholdPanel
from mlmkit.viz.report import demo_workspace

use_offline_renderer()  # a chart as a cell's last expression is interactive, with no network
""" + OPEN_WS + """
tuned = ws.tuning.optimize_threshold(model_name, version, "f1_score", (0.05, 0.95), 0.01, window)
tuned
"""),
    code("""
show(charts.threshold_curve(tuned))
"""),
    code("""
curve = data.threshold_curve(ws, model_name, version, window=window)
show(charts.roc_curve(curve) | charts.pr_curve(curve) | charts.calibration(
    data.calibration_frame(ws, model_name, version, window=window)))
"""),
    code("""
panel = ThresholdPanel(ws, model_name, version, window=window)
panel
"""),
    code("""
panel.slider.value = round(tuned.optimal_threshold, 2)
panel.row()
"""),
    code("""
try:
    new = ws.tuning.apply(tuned)
    print(f"applied: {new.model_name} {new.version} threshold {new.configuration['threshold']}")
except MlmkitError as err:  # below the minimum improvement, or already applied
    print(f"not applied: {err}")
"""),
    code("""
ws.tuning.history(model_name).tail(5)
"""),
    *closing(),
]

NOTEBOOKS = {"02_ab_review.ipynb": AB_REVIEW, "04_threshold_tuning.ipynb": THRESHOLD}
