"""m006: a file written before 12.2 keeps what it served, now recorded in the history."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import mlmkit
from mlmkit import Version

sys.path.insert(0, str(Path(__file__).parent))
from _old_schema import schema_file  # a helper module beside the tests, not a package

NAME = "n1-detector"
T = [datetime(2024, 1, day, tzinfo=UTC) for day in range(1, 8)]


def old_file(path: Path) -> None:
    """A schema-5 file as the old registry left it (rows carried environment/deployed_at)."""
    conn = schema_file(path, 5, T[0])
    rows = [  # model, version, deployed_at, environment
        (NAME, "1.0.0", T[1], "production"),      # deploy(): in the history, then bypassed
        (NAME, "1.1.0", T[3], "production"),      # update(with_deployment): no history
        (NAME, "1.2.0", T[2], "staging"),         # deploy() to staging: in the history
        ("waf", "2.0.0", None, None),             # history serves 2.1.0, which was deleted
        ("queue", "1.0.0", T[4], "staging"),      # only on the row
    ]
    for name, version, at, env in rows:
        conn.execute("INSERT INTO models VALUES (?, ?, 'supervised', '{\"threshold\": 0.7}', "
                     "'{}', '{}', ?, ?, ?)", [name, version, T[0], at, env])
    events = [(NAME, "1.0.0", "production", "deploy", T[1]),
              (NAME, "1.2.0", "staging", "deploy", T[2]),
              ("waf", "2.0.0", "production", "deploy", T[1]),
              ("waf", "2.1.0", "production", "deploy", T[2])]
    for name, version, env, action, at in events:
        conn.execute("INSERT INTO deployments (model_name, version, environment, action, "
                     "event_at) VALUES (?, ?, ?, ?, ?)", [name, version, env, action, at])
    conn.close()


def test_m006_moves_deployment_state_into_the_history(tmp_path):
    path = tmp_path / "old.duckdb"
    old_file(path)
    with mlmkit.open(path) as ws:
        reg = ws.registry
        assert reg.deployed_version(NAME, "production") == Version.parse("1.1.0")
        assert reg.deployed_version(NAME, "staging") == Version.parse("1.2.0")
        assert reg.deployed_version("queue", "staging") == Version.parse("1.0.0")
        assert reg.deployed_version("waf", "production") is None
        prod = reg.get_production_models()
        assert [(m.model_name, str(m.version)) for m in prod] == [(NAME, "1.1.0")]
        assert prod[0].deployed_at == T[3] and prod[0].configuration["threshold"] == 0.7
        assert reg.get(NAME, "1.0.0").environment is None
        assert reg.rollback(NAME) == Version.parse("1.0.0")  # the old deploy is kept
        hist = reg.history()
        migrated = hist.filter(hist["actor"] == "mlmkit-migration")
        assert sorted(zip(migrated["model_name"], migrated["action"], strict=True)) == [
            (NAME, "deploy"), ("queue", "deploy"), ("waf", "undeploy")]
        cols = [r[0] for r in ws.db.execute("SELECT column_name FROM "
                                            "information_schema.columns WHERE "
                                            "table_name = 'models'")]
        assert "environment" not in cols and "deployed_at" not in cols
