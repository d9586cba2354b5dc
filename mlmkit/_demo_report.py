"""Fallback demo report: used until the papermill report (mlmkit.viz.report) is available."""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

import mlmkit


def write_report(db: Path, out: Path) -> None:
    """Write the monitoring report for the demo workspace to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("mlmkit.viz.report") is not None:
        from mlmkit.viz.report import render_report

        render_report(db, out)
        return
    rows = []
    with mlmkit.open(db) as ws:
        for name in ws.registry.get_all_model_names():
            for meta in ws.registry.get_all(name):
                rows.append(f"<tr><td>{html.escape(name)}</td><td>{meta.version}</td>"
                            f"<td>{meta.environment or '-'}</td>"
                            f"<td>{ws.log.count(name)}</td></tr>")
    out.write_text("<html><body><h1>mlmkit demo</h1><table><tr><th>model</th><th>version</th>"
                   "<th>environment</th><th>predictions (model)</th></tr>"
                   + "".join(rows) + "</table></body></html>")
