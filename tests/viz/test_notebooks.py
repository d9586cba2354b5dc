"""Every notebook runs top to bottom with papermill on a small demo workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("papermill")
pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("name", ["01_quickstart.ipynb", "02_ab_review.ipynb",
                                  "03_monitoring_report.ipynb", "04_threshold_tuning.ipynb"])
def test_notebook_runs(name, demo_path, tmp_path):
    import nbformat
    import papermill

    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_path, db)
    params = {"n_predictions": 1500} if name.startswith("01") else {"db_path": str(db)}
    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=params,
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    nb = nbformat.read(str(out), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs  # the report draws inline SVG; the others PNG
              if {"image/png", "image/svg+xml"} & set(o.get("data", {}))]
    assert len(images) >= 2
    # nothing on stderr: notebook 02's rollback fires a critical alert, logged but not printed
    assert not [o.get("text") for o in outputs if o.get("name") == "stderr"]
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "Sample ratio mismatch" not in html  # 02: test and panel use the 80/20 split
    assert " refused:" not in html and " failed:" not in html  # no panel action failed


def test_notebooks_use_all_four_panels_and_close_optionally():
    import nbformat

    sources = {path.name: [c.source for c in nbformat.read(str(path), as_version=4).cells
                           if c.cell_type == "code"]
               for path in NOTEBOOKS.glob("*.ipynb")}
    text = "\n".join(s for cells in sources.values() for s in cells)
    for panel in ("MonitorPanel(", "ThresholdPanel(", "ABReviewPanel(", "RegistryBrowser("):
        assert panel in text
    assert "ws.close()" not in "\n".join(sources["01_quickstart.ipynb"])  # in-memory: kept
    for name in ("02_ab_review.ipynb", "03_monitoring_report.ipynb",
                 "04_threshold_tuning.ipynb"):
        assert 'db_path = "data/demo.duckdb"' in sources[name][0]  # as docs/NOTEBOOKS.md says


def test_panels_work_after_run_all_closed_the_workspace(demo_path, tmp_path):
    """Run All ends with ws.close(); a click afterwards (an extra cell here) still works."""
    import nbformat
    import papermill

    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_path, db)
    nb = nbformat.read(str(NOTEBOOKS / "02_ab_review.ipynb"), as_version=4)
    assert nb.cells[-1].source == "ws.close()"
    nb.cells.append(nbformat.v4.new_code_cell(
        "panel.window.value = '24h'\npanel.run.click()\n"
        "browser.model.value = 'n1-detector'\n"
        "assert panel.last_error is None and browser.last_error is None, panel.status.value\n"
        "assert not ws.closed and '1.1.0' in browser.versions.value"))
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, str(src))
    papermill.execute_notebook(str(src), str(out), parameters={"db_path": str(db)},
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path))


def test_default_db_path_is_data_demo_duckdb_at_the_repository_root(tmp_path):
    """Opened from <repo>/notebooks (as JupyterLab does), the default is <repo>/data/demo.duckdb."""
    import papermill

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "notebooks").mkdir()
    papermill.execute_notebook(str(NOTEBOOKS / "04_threshold_tuning.ipynb"),
                               str(tmp_path / "out.ipynb"), parameters={"per_model": 1500},
                               kernel_name="python3", progress_bar=False,
                               cwd=str(tmp_path / "notebooks"))
    assert (tmp_path / "data" / "demo.duckdb").is_file()
    assert not (tmp_path / "notebooks" / "demo.duckdb").exists()


def test_notebooks_build_their_own_workspace(tmp_path):
    import papermill

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS / "04_threshold_tuning.ipynb"), str(out),
                               parameters={"db_path": str(tmp_path / "new" / "demo.duckdb"),
                                           "per_model": 1500},
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    assert (tmp_path / "new" / "demo.duckdb").exists()


def test_notebooks_are_committed_without_outputs():
    import nbformat

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name
