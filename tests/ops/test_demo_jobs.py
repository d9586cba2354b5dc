"""Issue 12 done-criterion: ``mlmkit demo`` then every ``mlmkit jobs run NAME`` ends ``ok``.

Before, ``performance-monitoring`` failed for every model of a fresh demo (``KeyError:
'roc_auc'`` on the last hour, which has no labelled rows with delayed labels).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mlmkit
from mlmkit.cli import main
from mlmkit.services.jobs.runner import JOBS, job_history


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    assert main(["demo", "--db", str(path), "--rows", "3000"]) == 0
    return path


@pytest.mark.parametrize("job", list(JOBS))
def test_every_job_runs_ok_on_a_fresh_demo(demo_db: Path, job: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "run", job, "--db", str(demo_db)]) == 0
    assert f"{job}: ok" in capsys.readouterr().out
    with mlmkit.open(demo_db) as ws:
        last = job_history(ws, job, limit=1)
        assert last["status"].to_list() == ["ok"], last
