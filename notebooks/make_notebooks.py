"""Write the example notebooks (outputs empty) and ship the report notebook in the package.

Run ``python notebooks/make_notebooks.py`` after editing the cells below; a test checks that
``mlmkit/notebooks/03_monitoring_report.ipynb`` equals ``notebooks/03_monitoring_report.ipynb``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "mlmkit" / "notebooks"


def params(source: str):
    cell = new_code_cell(source.strip())
    cell.metadata["tags"] = ["parameters"]
    return cell


def code(source: str):
    return new_code_cell(source.strip())


def md(source: str):
    return new_markdown_cell(source.strip())


#: The ``db_path`` parameter of notebooks 02-04: the file docs/NOTEBOOKS.md names.
DB_PARAM = 'db_path = "data/demo.duckdb"  # a relative path starts at the repository root'

#: Opens ``db_path`` (built as a small demo workspace if missing) from the repository root,
#: found from the working directory (JupyterLab starts kernels in the notebook's folder).
OPEN_WS = """
here = Path.cwd()
root = next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), here)
ws = demo_workspace(root / db_path, per_model=per_model)
""".strip()


def closing() -> list:
    """The optional last cells of the notebooks with panels (fresh cells for each notebook)."""
    return [md("Optional: release the workspace file now (the panels above reopen it on their "
               "next action; an idle workspace lets other processes in after two seconds "
               "anyway)."), code("ws.close()")]


QUICKSTART = [
    md("""
# mlmkit quickstart: the complete workflow

Register model versions, deploy, log predictions and delayed labels, monitor, compare two
versions with an A/B test, tune the decision threshold, roll back — in one in-memory
workspace (use `mlmkit.open("file.duckdb")` to keep it).
"""),
    params("""
n_predictions = 3000  # per version
seed = 7
"""),
    code("""
from datetime import timedelta

import numpy as np
import polars as pl
from tqdm.auto import tqdm

import mlmkit
from mlmkit.values import ABTestConfig, utcnow
from mlmkit.viz import charts, show, use_offline_renderer

use_offline_renderer()  # a chart as a cell's last expression is interactive, with no network
ws = mlmkit.open()
rng = np.random.default_rng(seed)
"""),
    md("## 1. Register and deploy"),
    code("""
v1 = mlmkit.ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.5, "window_size": 100})
v2 = mlmkit.ModelMetadata.for_n1_detector("1.1.0", {"threshold": 0.5, "window_size": 120})
for meta in (v1, v2):
    ws.registry.register(meta)
ws.registry.deploy("n1-detector", "1.0.0", reason="initial release")
ws.registry.get_all("n1-detector")
"""),
    md("## 2. Log predictions, then the labels as they arrive"),
    code("""
now = utcnow()
frames = []
for version, quality in tqdm([("1.0.0", 1.0), ("1.1.0", 1.3)], desc="simulate"):
    x = rng.normal(0, 1, n_predictions)
    logit = quality * 1.5 * x - 0.3
    actual = rng.random(n_predictions) < 1 / (1 + np.exp(-logit))
    score = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.4, n_predictions))))
    frames.append(pl.DataFrame({
        "prediction_id": [f"{version}-{i}" for i in range(n_predictions)],
        "model_name": "n1-detector", "version": version, "prediction": score >= 0.5,
        "score": score, "query_count": x, "unit_id": [f"u{i}" for i in range(n_predictions)],
        "timestamp": [now - timedelta(minutes=int(m)) for m in rng.integers(1, 2 * 24 * 60, n_predictions)],
        "actual": actual}))
log = pl.concat(frames)
ws.log.track_batch(log.drop("actual"))
ws.log.record_actuals(log["prediction_id"], log["actual"])
ws.log.predictions("n1-detector", window="24h").head()
"""),
    md("## 3. Monitor"),
    code("""
metrics = ws.monitor.get_current_metrics("n1-detector", "1.0.0", "48h")
metrics
"""),
    code("""
show(charts.confusion_matrix(metrics))
"""),
    code("""
trend = ws.monitor.get_performance_trend("n1-detector", None, "48h", "6h")
# interactive (hover for values); show(chart) would give a static PNG instead
charts.metric_trend(trend, deployments=ws.registry.history("n1-detector"))
"""),
    code("""
ws.monitor.get_performance_degradation_info("n1-detector", "1.0.0", 0.05, window="48h")
"""),
    md("## 4. A/B test the new version"),
    code("""
config = ABTestConfig.create("n1-detector", "1.0.0", "1.1.0")
result = ws.ab.run_test(config, "48h")
result
"""),
    code("""
show(charts.ab_comparison(result))
"""),
    code("""
print("deploy B?", result.should_deploy_version_b(), "-", result.recommendation)
# deploy B either way here, so that step 6 has something to roll back
ws.registry.deploy("n1-detector", "1.1.0", reason=result.recommendation)
ws.registry.deployed_version("n1-detector")
"""),
    md("## 5. Tune the threshold"),
    code("""
tuned = ws.tuning.optimize_threshold("n1-detector", "1.1.0", window="48h",
                                     threshold_range=(0.2, 0.8), step=0.01)
show(charts.threshold_curve(tuned))
"""),
    code("""
tuned
"""),
    md("## 6. Roll back and read the history"),
    code("""
ws.registry.rollback("n1-detector", reason="quickstart: practise a rollback")
ws.registry.history("n1-detector").select("event_at", "action", "version", "previous_version", "reason")
"""),
    md("""
## 7. Review with panels

Live in JupyterLab (a static copy in exported HTML). Errors appear in a panel's status line;
`verbose=True` also shows the log records an action emits, such as a fired alert. This
in-memory workspace lives as long as the kernel (`ws.close()` would discard it).
"""),
    code("""
from mlmkit.viz.panels import MonitorPanel, RegistryBrowser

MonitorPanel(ws, window="7d")
"""),
    code("""
RegistryBrowser(ws)
"""),
]

REPORT = [  # the report opens with the verdicts; the evidence follows (tables via viz.tables)
    params(f"""
{DB_PARAM}
model_name = "n1-detector"
window = "7d"
per_model = 3000  # demo size if db_path does not exist yet
as_of = ""  # the instant the report describes (ISO 8601); empty: now
"""),
    code("""
# Run unattended with `mlmkit report --db PATH --model NAME --window 7d --out report.html`:
# papermill fills the parameters cell; the exported HTML needs no kernel, no JavaScript and
# no network (charts are PNG images, tables plain HTML).
import warnings
from contextlib import ExitStack
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

from IPython.display import HTML, display

from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.services.monitor import model_verdict, model_verdicts
from mlmkit.values import parse_window, utcnow
from mlmkit.viz import charts, data, show, tables
from mlmkit.viz.report import demo_workspace

warnings.filterwarnings("ignore", category=UserWarning)
kernel = ExitStack()  # every cell reads one instant: windows, verdicts and alerts agree
if as_of:
    kernel.enter_context(use_clock(SimulatedClock(datetime.fromisoformat(as_of))))
""" + OPEN_WS + """
span = parse_window(window)
interval = "1d" if span >= timedelta(days=3) else "1h"
versions = [str(m.version) for m in ws.registry.get_all(model_name)]
task = str(ws.registry.task(model_name))  # binary, multiclass, regression or score-only
binary = task == "binary"
deployed = ws.registry.deployed_version(model_name)
version = str(deployed) if deployed is not None else versions[-1]
verdict = model_verdict(ws, model_name, version)
others = [v for v in model_verdicts(ws) if v.model_name != model_name]


def figure(chart):  # inline SVG: crisp at any zoom, a fraction of a 2x PNG's size
    return show(chart, fmt="svg")


def section(title):
    anchor = title.lower().replace(" ", "-")
    display(HTML(f"<h2 class='mlmkit-section' id='{anchor}'>{escape(title)}</h2>"))


display(HTML(f"<h1>Monitoring report: {escape(model_name)}</h1>"
             + tables.verdicts_html([verdict, *others])
             + f"<p class='mlmkit-meta'>Evidence for {escape(model_name)} {escape(version)} "
             f"({escape(task)} model) "
             f"over the last {escape(window)}; versions {escape(', '.join(versions))}; "
             f"generated {utcnow():%Y-%m-%d %H:%M} UTC.</p>"))
"""),
    code("""
section("Summary")
metrics = ws.monitor.get_current_metrics(model_name, version, window)
display(HTML(tables.summary_table(metrics, verdict)))
"""),
    code("""
section("Performance trend")
trend = ws.monitor.get_performance_trend(model_name, None, window, interval)
figure(charts.metric_trend(trend, metric=verdict.degradation.metric,
                           deployments=ws.registry.history(model_name),
                           alerts=ws.alerts.list(model_name),
                           baseline=verdict.degradation.baseline_value,
                           threshold=verdict.degradation.threshold))
"""),
    code("""
if binary:
    section("Confusion matrix")
    display(figure(charts.confusion_matrix(metrics, title=f"Confusion matrix {version}")))
elif task == "multiclass":  # counts and share of each actual class, each with its own scale
    section("Confusion matrix")
    both = charts.class_confusion_matrix(metrics) | charts.class_confusion_matrix(
        metrics, normalize=True)
    display(figure(both.resolve_scale(color="independent")))
    section("Per-class metrics")
    if metrics.labelled_count:  # (a window without labels has no class to show)
        display(figure(charts.class_metrics(metrics)))
    else:
        display(HTML("<p>No labelled prediction in this window.</p>"))
"""),
    code("""
if task == "regression":
    section("Residuals")
    sample = data.residual_sample(ws, model_name, version, window=window)
    hist = data.residual_histogram(ws, model_name, version, window=window)
    display(figure(charts.residual_scatter(sample) | charts.residual_histogram(hist, metrics)))
elif task == "score-only":
    section("Score distribution")
    threshold = ws.registry.get(model_name, version).configuration.get("threshold")
    hist = data.score_histogram(ws, model_name, version, window=window)
    display(figure(charts.score_distribution(hist, threshold=threshold,
                                             flag_rate=metrics.flag_rate)))
"""),
    code("""
if binary:  # a decision threshold's curves and calibration: binary models only
    section("ROC and precision-recall")
    curve = data.threshold_curve(ws, model_name, None, window=window)
    display(figure(charts.roc_curve(curve) | charts.pr_curve(curve)))
    section("Calibration")
    calib = data.calibration_frame(ws, model_name, version, window=window)
    display(figure(charts.calibration(calib)))
"""),
    code("""
section("Version comparison")
display(HTML(tables.versions_table(ws.monitor.compare_versions(model_name, versions, window))))
"""),
    code("""
section("Data drift")
drift = ws.monitor.data_drift(model_name, version, reference=window, current="24h")
display(HTML(tables.drift_table(drift)))
figure(charts.drift_bars(drift, title="Drift: last 24h vs the window before"))
"""),
    code("""
periods = max(2, min(7, span.days))
figure(charts.drift_heatmap(data.drift_over_time(ws, model_name, version, periods=periods,
                                                 reference=window, progress=False)))
"""),
    code("""
if task != "score-only":  # concept drift runs on the error stream: a score has none
    section("Concept drift")
    concept = ws.monitor.detect_concept_drift(model_name, version, window)
    display(HTML(tables.concept_table(concept)))
"""),
    code("""
section("Alerts")
display(HTML(tables.alerts_table(ws.alerts.list(model_name))))
"""),
    code("""
section("Deployment history")
display(HTML(tables.history_table(ws.registry.history(model_name))))
"""),
    code("""
ws.close()
"""),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = f"{Path(name).stem[:2]}-{i:02d}"  # stable ids: no churn on regeneration
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    path = HERE / name
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


def main() -> None:
    import sys

    sys.path.insert(0, str(HERE))
    sys.modules.setdefault("make_notebooks", sys.modules[__name__])
    import _more_notebooks  # the widget notebooks (02, 04)

    write("01_quickstart.ipynb", QUICKSTART)
    report = write("03_monitoring_report.ipynb", REPORT)
    for name, cells in _more_notebooks.NOTEBOOKS.items():
        write(name, cells)
    PACKAGE.mkdir(exist_ok=True)
    shutil.copyfile(report, PACKAGE / report.name)


if __name__ == "__main__":
    main()
