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
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2


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
