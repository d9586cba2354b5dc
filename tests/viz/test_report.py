"""The papermill report, the notebook shipped in the package, and the CLI command."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mlmkit.exceptions import ValidationError

pytest.importorskip("papermill")
pytest.importorskip("nbconvert")

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ["Summary", "Performance trend", "Confusion matrix", "ROC and precision-recall",
            "Calibration", "Version comparison", "Data drift", "Concept drift", "Alerts",
            "Deployment history"]


def test_packaged_report_notebook_matches_repository_copy():
    from mlmkit.viz.report import report_notebook

    shipped = report_notebook()
    assert shipped.read_bytes() == (ROOT / "notebooks" / shipped.name).read_bytes()
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(str(shipped), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("db_path", "model_name", "window"):
        assert re.search(rf"^{name} = ", tagged[0].source, re.M)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_report_refuses_missing_file(tmp_path):
    from mlmkit.viz.report import render_report

    with pytest.raises(ValidationError, match="db_path"):
        render_report(tmp_path / "nope.duckdb", tmp_path / "r.html")


@pytest.mark.slow
def test_cli_report_writes_static_html(demo_path, tmp_path, capsys):
    from mlmkit.cli import main

    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_path, db)
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--model", "waf-behavioral", "--window", "7d",
                 "--out", str(out), "--quiet"]) == 0
    assert "report written to" in capsys.readouterr().out
    html = out.read_text()
    found = re.findall(r'class="mlmkit-section" id="[^"]+">([^<]+)<', html)
    assert found == SECTIONS
    assert "Monitoring report: waf-behavioral" in html
    assert len(re.findall(r"<img[^>]+src=\"data:image/png;base64,", html)) >= 6
    assert "<script" not in html  # readable with no JS and no network
    assert "Traceback" not in html
