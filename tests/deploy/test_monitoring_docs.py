"""The backup and restore procedure of docs/PRODUCTION_DEPLOYMENT.md, run on a real file.

The ``<!-- backup-test -->`` blocks run in order with the documented paths replaced by
temporary ones, while a second process (``mlmkit serve``) owns the workspace; the copy and the
imported export must then hold the same rows as the original.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import duckdb
import pytest

import mlmkit
from mlmkit.demo import build_demo

sys.path.insert(0, str(Path(__file__).parent))
from _monitoring import ROOT

sys.path.insert(0, str(ROOT / "tests" / "server"))
from _proc import Server  # the server tests' helper: mlmkit serve in a subprocess

pytestmark = pytest.mark.slow

_BLOCK = re.compile(r"<!-- backup-test -->\s*\n```python\n(.*?)\n```", re.DOTALL)
TABLES = ("predictions", "model_registry", "job_runs", "alerts")


def _rows(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        names = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables"
                                            ).fetchall()}
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in TABLES if t in names}


def test_documented_backup_and_restore(tmp_path: Path) -> None:
    blocks = _BLOCK.findall((ROOT / "docs" / "PRODUCTION_DEPLOYMENT.md").read_text())
    assert len(blocks) == 3
    db = tmp_path / "mlm.duckdb"
    with mlmkit.open(db) as ws:
        build_demo(ws, per_model=2000)
    paths = {"/srv/mlm/mlm.duckdb": db, "/var/backups/mlmkit/mlm.duckdb": tmp_path / "b.duckdb",
             "/var/backups/mlmkit/export": tmp_path / "export",
             "/srv/mlm/restored.duckdb": tmp_path / "restored.duckdb"}
    server = Server(db)  # another process owns the file meanwhile, and keeps writing
    try:
        answer = server.post("/v1/predictions", '[{"model_name": "waf-behavioral", '
                             '"version": "2.0.0", "prediction": true, "score": 0.8, '
                             '"prediction_id": "during-backup"}]')
        assert answer.status_code == 201, answer.text
        namespace: dict[str, object] = {}
        for code in blocks:
            for documented, real in paths.items():
                code = code.replace(documented, str(real))
            exec(compile(code, "PRODUCTION_DEPLOYMENT.md", "exec"), namespace)
    finally:
        assert server.stop() == 0
    original = _rows(db)
    assert len(original["predictions"]) == 6001  # the row the server wrote is in
    assert _rows(tmp_path / "b.duckdb") == original
    assert _rows(tmp_path / "restored.duckdb") == original
    with mlmkit.open(tmp_path / "b.duckdb") as ws:  # the copy is a workspace mlmkit opens
        assert ws.log.predictions("waf-behavioral").height > 0


_RUN = re.compile(r"<!-- run -->\s*\n```python\n(.*?)\n```", re.DOTALL)


def test_deployment_workflow_runs() -> None:
    """Every Python step of docs/DEPLOYMENT_WORKFLOW.md, in order, in one namespace."""
    blocks = _RUN.findall((ROOT / "docs" / "DEPLOYMENT_WORKFLOW.md").read_text())
    assert len(blocks) == 8
    namespace: dict[str, object] = {"__name__": "docs_deployment_workflow"}
    for i, code in enumerate(blocks, 1):
        try:
            exec(compile(code, f"DEPLOYMENT_WORKFLOW.md[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"block {i} failed: {err!r}\n{code}") from err
    assert namespace["decision"].action == "advance"
