"""Unattended monitoring reports: papermill runs the notebook, nbconvert writes static HTML.

The report notebook (``mlmkit/notebooks/03_monitoring_report.ipynb``, shipped with the
package; the same file as ``notebooks/03_monitoring_report.ipynb`` in the repository) has a
cell tagged ``parameters`` (``db_path``, ``model_name``, ``window``). Its charts are emitted as
PNG images, and the HTML is exported without any script tag, so the report reads in a browser
with no kernel, no JavaScript and no network.
"""

from __future__ import annotations

import html
import os
import tempfile
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from mlmkit import clock
from mlmkit._lazy import require
from mlmkit._validation import check_name, invalid
from mlmkit.values import utc

__all__ = ["REPORT_NOTEBOOK", "demo_workspace", "export_html", "render_report",
           "report_notebook"]

REPORT_NOTEBOOK = "03_monitoring_report.ipynb"

#: The page around nbconvert's ``basic`` output (cells only): no JupyterLab CSS and its inline
#: SVG icons, no script, no external link; light and dark colour schemes.
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ color-scheme: light dark; }}
body {{ max-width: 1100px; margin: 0 auto; padding: 0 16px;
       font: 14px/1.45 DejaVu Sans, Helvetica, Arial, sans-serif; }}
h1 {{ font-size: 1.6em; margin: 0.6em 0 0.3em; }}
h2.mlmkit-section {{ font-size: 1.25em; margin: 1.4em 0 0.4em; border-bottom: 1px solid #8884; }}
table.mlmkit {{ border-collapse: collapse; margin: 0.5em 0; }}
table.mlmkit th, table.mlmkit td {{ border: 1px solid #8886; padding: 2px 8px;
                                   text-align: left; vertical-align: top; }}
table.mlmkit caption {{ text-align: left; font-weight: bold; padding: 2px 0; }}
img.mlmkit-chart, .output_png img {{ max-width: 100%; height: auto; }}
.mlmkit-meta {{ color: #888; }}
</style></head>
<body>
{body}
</body></html>
"""


def report_notebook() -> Path:
    """Path of the report notebook shipped inside the package."""
    ref = resources.files("mlmkit") / "notebooks" / REPORT_NOTEBOOK
    path = Path(str(ref))
    if not path.is_file():  # pragma: no cover - broken install
        raise FileNotFoundError(f"{REPORT_NOTEBOOK} is missing from the mlmkit package")
    return path


def demo_workspace(db_path: str | os.PathLike[str], *, per_model: int = 3_000,
                   progress: bool = False) -> Any:
    """Open the workspace at ``db_path``, building a small demo workspace if it is missing.

    Notebooks call this so they run top to bottom on a fresh machine.
    """
    import mlmkit
    from mlmkit.demo import build_demo

    path = Path(db_path)
    fresh = not path.exists()
    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
    ws = mlmkit.open(path)
    if fresh:
        summary = build_demo(ws, per_model=per_model)
        if progress:
            print(f"built demo workspace {path}: {summary}")
    return ws


def _report_model(db_path: Path, model: str | None) -> str:
    """``model`` checked against the registry (before the notebook runs), or the default."""
    import mlmkit

    with mlmkit.open(db_path) as ws:
        known = sorted(ws.registry.get_all_model_names())
        production = sorted(m.model_name for m in ws.registry.get_production_models())
    if not known:
        raise invalid("db_path", "a workspace with at least one registered model", str(db_path))
    if model is None:
        return str((production or known)[0])
    if model not in known:
        raise invalid("model", f"a model registered in {db_path.name} ({', '.join(known)})",
                      model)
    return model


def _check_not_input(name: str, out: str | os.PathLike[str] | None, db: Path) -> None:
    """Refuse an output path that is the workspace file itself (or its WAL)."""
    if out is None:
        return
    target = Path(out)
    for source in (db, Path(f"{db}.wal")):
        same = target.resolve() == source or (
            target.exists() and source.exists() and os.path.samefile(target, source))
        if same:
            raise invalid(name, f"a file other than the workspace {str(db)!r}", os.fspath(out))


def export_html(notebook: Any, out_path: str | os.PathLike[str], *,
                title: str = "mlmkit report", exclude_input: bool = True) -> Path:
    """Write an executed notebook (a path or a ``NotebookNode``) as script-free HTML."""
    nbformat = require("nbformat", "report")
    nbconvert = require("nbconvert", "report")
    node = notebook if not isinstance(notebook, (str, os.PathLike)) else nbformat.read(
        str(notebook), as_version=4)
    node.metadata.pop("widgets", None)
    exporter = nbconvert.HTMLExporter(
        template_name="basic", exclude_input=exclude_input, exclude_input_prompt=True,
        exclude_output_prompt=True)
    cells, _ = exporter.from_notebook_node(node)
    body = _PAGE.format(title=html.escape(title), body=cells)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out


def _instant(as_of: datetime | None) -> datetime:
    return clock.now() if as_of is None else utc(as_of, "as_of")  # (naive: UTC)


def render_report(db_path: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                  model: str | None = None, window: str = "7d", progress: bool = True,
                  keep_notebook: str | os.PathLike[str] | None = None,
                  timeout: int = 600, as_of: datetime | None = None) -> Path:
    """Execute the monitoring notebook with papermill and export it as static HTML.

    Parameters
    ----------
    db_path
        The workspace file (must exist).
    out_path
        Where the HTML goes (never the workspace file itself).
    model
        The model to report on (checked against the registry before anything runs);
        default: the first production model (by name).
    window
        The monitoring window (``"24h"``, ``"7d"`` ...).
    progress
        Show papermill's per-cell progress bar (tqdm).
    keep_notebook
        Also save the executed notebook here.
    timeout
        Seconds a cell may run.
    as_of
        The instant the report describes (naive: UTC); default: now, from
        [`mlmkit.clock`][mlmkit.clock] (a simulated clock installed with ``use_clock`` reaches
        the notebook's kernel). Every cell reads this one instant, so the windows, verdicts
        and alerts of the report agree with each other and with the same calls made in
        process as of that instant.

    Returns
    -------
    pathlib.Path
        ``out_path``.
    """
    papermill = require("papermill", "report")
    from mlmkit.values import parse_window

    instant = _instant(as_of)

    db = Path(db_path).resolve()
    if not db.is_file():
        raise invalid("db_path", "an existing workspace file", str(db_path))
    parse_window(window, "window")
    _check_not_input("out_path", out_path, db)
    _check_not_input("keep_notebook", keep_notebook, db)
    model_name = _report_model(db, check_name("model", model) if model is not None else None)
    with tempfile.TemporaryDirectory(prefix="mlmkit-report-") as tmp:
        executed = Path(keep_notebook) if keep_notebook else Path(tmp) / REPORT_NOTEBOOK
        papermill.execute_notebook(
            str(report_notebook()), str(executed),
            parameters={"db_path": str(db), "model_name": model_name, "window": window,
                        "as_of": instant.isoformat()},
            kernel_name="python3", progress_bar=progress, cwd=tmp,
            execution_timeout=timeout)
        return export_html(executed, out_path,
                           title=f"mlmkit monitoring report: {model_name} ({window})")
