"""``/health`` reads through the server's writer thread instead of opening the file again."""

from __future__ import annotations

import mlmkit
from mlmkit.ops.health import health_report
from mlmkit.server.writer import GroupCommitWriter


def test_health_report_reads_through_the_writer(tmp_path):
    db = tmp_path / "ws.duckdb"
    with mlmkit.open(db) as ws:
        ws.log.track("m", "1.0.0", True)
        ws.alerts.fire("degradation", "critical", "m", "1.0.0", "accuracy dropped")
    writer = GroupCommitWriter(db).start()
    try:
        def via(read):
            return writer.call(lambda ws: read(ws.db)).result(30)

        # a path that does not exist: every answer came through the writer's open workspace
        report = health_report(tmp_path / "elsewhere.duckdb", via=via)
        assert report.status_code == 200 and report.body["open_critical_alerts"] == 1
        assert report.body["newest_prediction"]["ts"] is not None
        with mlmkit.open(db) as ws:  # a newer mlmkit wrote this file: still refused
            ws.db.execute("INSERT INTO schema_version VALUES (99, now(), 'future')")
        report = health_report(db, via=via)
        assert report.status_code == 503 and "99" in report.body["database"]["error"]
    finally:
        writer.close()
    writer = GroupCommitWriter(tmp_path / "missing" / "ws.duckdb").start()
    try:  # the writer cannot open its file: 503 with the reason
        report = health_report(tmp_path / "missing" / "ws.duckdb", via=via)
    finally:
        writer.close()
    assert report.status_code == 503
