"""The buffered client logs multiclass, regression and score-only rows to a real server.

Each row is validated locally as its model's task logs it (``tasks=`` / ``task=``), reaches
``mlmkit serve`` and is stored in the task's columns; a row bad for its task raises at once and
never reaches the server; binary stays the default.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

import mlmkit
from mlmkit import ModelMetadata
from mlmkit.client import BufferedClient

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
from _proc import Server  # the server tests' helper: mlmkit serve in a subprocess

pytestmark = pytest.mark.slow
CLASSES = ["cat", "dog", "eel"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("tasks") / "ws.duckdb"
    with mlmkit.open(db) as ws:
        for name, task in (("mc", "multiclass"), ("rg", "regression"), ("so", "score-only")):
            ws.registry.register(ModelMetadata(name, "supervised", "1.0.0", task=task))
    server = Server(db)
    yield server, db
    assert server.stop() == 0


def _stored(db: Path, model: str) -> pl.DataFrame:
    with mlmkit.open(db) as ws:
        return ws.log.predictions(model).sort("prediction_id")


def test_rows_of_every_task_reach_the_server(served) -> None:  # type: ignore[no-untyped-def]
    server, db = served
    with BufferedClient(server.base, max_rows=7, max_seconds=5.0,
                        tasks={"mc": "multiclass", "rg": "regression"}) as buf:
        for i in range(20):
            buf.track("mc", "1.0.0", CLASSES[i % 3], actual=CLASSES[(i + 1) % 3],
                      probabilities={CLASSES[i % 3]: 0.75, CLASSES[(i + 1) % 3]: 0.25},
                      prediction_id=f"m{i:02d}", features={"x": i})
            buf.track("rg", "1.0.0", i * 1.5, actual=i * 1.25, prediction_id=f"r{i:02d}")
            buf.track("so", "1.0.0", i % 5 == 0, score=i - 10.0, prediction_id=f"s{i:02d}",
                      task="score-only")
    assert buf.written == 60 and buf.pending == 0
    mc = _stored(db, "mc")
    assert mc["label"].to_list() == [CLASSES[i % 3] for i in range(20)]
    assert mc["actual_label"].to_list() == [CLASSES[(i + 1) % 3] for i in range(20)]
    assert mc["probabilities"][0].to_list() == [{"label": "cat", "p": 0.75},
                                                {"label": "dog", "p": 0.25}]
    rg = _stored(db, "rg")
    assert rg["value"].to_list() == [i * 1.5 for i in range(20)]
    assert rg["actual_value"].to_list() == [i * 1.25 for i in range(20)]
    so = _stored(db, "so")
    assert so["score"].to_list() == [i - 10.0 for i in range(20)]
    assert so["prediction"].to_list() == [i % 5 == 0 for i in range(20)]


def test_a_row_bad_for_its_task_raises_at_once(served) -> None:  # type: ignore[no-untyped-def]
    server, db = served
    with BufferedClient(server.base, tasks={"mc": "multiclass"}) as buf:
        with pytest.raises(mlmkit.ValidationError, match="probabilities"):
            buf.track("mc", "1.0.0", "cat", probabilities={"cat": 0.5, "dog": 0.2},
                      prediction_id="bad1")
        with pytest.raises(mlmkit.ValidationError, match="prediction"):
            buf.track("rg", "1.0.0", "fast", task="regression", prediction_id="bad2")
        with pytest.raises(mlmkit.ValidationError, match="prediction"):
            buf.track("mc2", "1.0.0", "cat", prediction_id="bad3")  # not named: binary
        with pytest.raises(mlmkit.ValidationError, match="task"):
            buf.track("mc", "1.0.0", "cat", task="ranking")
        assert buf.pending == 0
    with pytest.raises(mlmkit.ValidationError, match="tasks"):
        BufferedClient(server.base, tasks={"mc": "ranking"})
    assert not _stored(db, "mc")["prediction_id"].str.starts_with("bad").any()
