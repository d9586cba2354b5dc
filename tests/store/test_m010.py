"""m010: the ART index on predictions(prediction_id); a schema-9 file gets it, writes go on."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import mlmkit
from mlmkit.exceptions import DuplicateError

sys.path.insert(0, str(Path(__file__).parent))
from _old_schema import schema_file  # a helper module beside the tests, not a package

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _indexes(ws: mlmkit.Workspace) -> list[tuple[str, str]]:
    return [tuple(r) for r in ws.db.execute(
        "SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = 'predictions'")]


def _schema_9_file(path: Path) -> None:
    conn = schema_file(path, 9, T0)
    conn.execute("INSERT INTO predictions (prediction_id, model_name, version, ts, prediction, "
                 "score) SELECT 'p' || i, 'm', '1.0.0', ?, true, 0.5 FROM range(1000) t(i)",
                 [T0])
    conn.close()


def test_a_new_workspace_indexes_prediction_ids(tmp_path):
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        found = _indexes(ws)
    assert [name for name, _ in found] == ["predictions_prediction_id_idx"]
    assert "(prediction_id)" in found[0][1]


def test_a_schema_9_file_is_indexed_and_writes_go_on(tmp_path):
    path = tmp_path / "old.duckdb"
    _schema_9_file(path)
    with mlmkit.open(path) as ws:
        assert ws.db.execute("SELECT max(version) FROM schema_version")[0][0] >= 10
        assert [name for name, _ in _indexes(ws)] == ["predictions_prediction_id_idx"]
        with pytest.raises(DuplicateError, match="'p7'"):  # the check finds logged ids
            ws.log.track_batch(pl.DataFrame({"model_name": ["m"], "version": ["1.0.0"],
                                             "prediction": [True], "prediction_id": ["p7"]}))
        # a new feature column (ALTER TABLE ... ADD COLUMN) beside the index
        ws.log.track_batch(pl.DataFrame({"model_name": ["m"] * 2, "version": ["1.0.0"] * 2,
                                         "prediction": [True, False], "score": [0.9, 0.1],
                                         "prediction_id": ["n1", "n2"], "x": [1.0, 2.0]}))
        ws.log.record_actuals(["p3", "n2"], [True, False], model_name="m")
        rows = ws.log.predictions("m").filter(pl.col("prediction_id").is_in(["p3", "n2"]))
        assert sorted(rows["actual"].to_list()) == [False, True]
        assert ws.log.count("m") == 1002
