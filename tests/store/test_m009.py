"""m009: a workspace written before tasks existed keeps its rows, every model binary."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import mlmkit
from mlmkit.store import migrations

sys.path.insert(0, str(Path(__file__).parent))
from _old_schema import schema_file  # a helper module beside the tests, not a package

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def old_file(path: Path) -> None:
    """A schema-8 file with a registered model, predictions and a delayed label."""
    conn = schema_file(path, 8, T0)
    conn.execute("INSERT INTO models VALUES ('m', '1.0.0', 'supervised', '{}', '{}', '{}', ?)",
                 [T0])
    for i in range(3):
        conn.execute("INSERT INTO predictions (prediction_id, model_name, version, ts, "
                     "prediction, score, actual, labelled_at) VALUES (?, 'm', '1.0.0', ?, ?, "
                     "?, ?, ?)", [f"p{i}", T0, i % 2 == 0, 0.25 * i, True if i == 0 else None,
                                  T0 if i == 0 else None])
    conn.execute("INSERT INTO actuals VALUES ('p0', true, ?)", [T0])
    conn.close()


def test_m009_migrates_a_schema_8_file_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    old_file(path)
    with mlmkit.open(path) as ws:
        assert ws.db.execute("SELECT max(version) FROM schema_version")[0][0] == \
            migrations.latest_version()  # (9 until m010)
        assert ws.registry.get("m", "1.0.0").task == "binary" and ws.registry.task("m") == "binary"
        rows = ws.log.predictions("m").sort("prediction_id")
        assert rows["prediction"].to_list() == [True, False, True]
        assert rows["score"].to_list() == [0.0, 0.25, 0.5]
        assert rows["actual"].to_list() == [True, None, None]
        extra = ws.db.execute("SELECT count(*) FILTER (WHERE label IS NOT NULL OR value IS NOT "
                              "NULL OR actual_label IS NOT NULL OR actual_value IS NOT NULL OR "
                              "probabilities IS NOT NULL) FROM predictions")
        assert extra[0][0] == 0
        assert ws.db.execute("SELECT prediction_id, actual, actual_label, actual_value FROM "
                             "actuals") == [("p0", True, None, None)]
        ws.log.record_actual("p1", True, model_name="m")  # binary keeps working
        assert ws.log.predictions("m", labelled_only=True).height == 2


def test_m009_columns_and_binary_default(tmp_path):
    with mlmkit.open(tmp_path / "new.duckdb") as ws:
        cols = dict((r[0], r[1]) for r in ws.db.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'predictions'"))
        assert cols["prediction"] == "YES"
        types = dict(ws.db.execute("SELECT column_name, data_type FROM "
                                   "information_schema.columns WHERE table_name = "
                                   "'predictions'"))
        assert types["probabilities"] == 'STRUCT("label" VARCHAR, p DOUBLE)[]'
        assert types["value"] == types["actual_value"] == "DOUBLE"
        assert types["label"] == types["actual_label"] == "VARCHAR"
        ws.db.execute("INSERT INTO models (model_name, version, model_type, configuration, "
                      "performance_metrics, metadata, created_at) VALUES ('z', '1.0.0', "
                      "'supervised', '{}', '{}', '{}', ?)", [T0])
        assert ws.registry.task("z") == "binary"
