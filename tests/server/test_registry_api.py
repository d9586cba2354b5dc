"""Registry changes through a real ``mlmkit serve`` (issue 14: the production topology).

A registry process registers, deploys and rolls back through the server (admin scope) instead
of opening the file; the history then shows every event with the token's name as the actor.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mlmkit

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # (a helper module beside the tests, not a package)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
META = '{"model_name": "fraud", "model_type": "supervised", "version": "%s"}'


def _token(db: Path, scope: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mlmkit.cli", "tokens", "create", "--scope",
                          scope, "--name", f"{scope}-bot", "--db", str(db)],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("registry") / "ws.duckdb"
    mlmkit.open(db).close()
    tokens = {scope: _token(db, scope) for scope in ("ingest", "read", "admin")}
    server = Server(db, auth=True)
    yield server, tokens, db
    assert server.stop() == 0


def _call(server: Server, method: str, path: str, token: str | None, body: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return server.client.request(method, path, headers=headers, content=body)


def test_registry_changes_need_the_admin_scope(served) -> None:  # type: ignore[no-untyped-def]
    server, tokens, _ = served
    changes = [("POST", "/v1/models", META % "0.1.0"),
               ("POST", "/v1/models/fraud/deploy", '{"version": "0.1.0"}'),
               ("POST", "/v1/models/fraud/rollback", "{}")]
    for method, path, body in changes:
        assert _call(server, method, path, None, body).status_code == 401
        for scope in ("ingest", "read"):
            answer = _call(server, method, path, tokens[scope], body)
            assert answer.status_code == 403, (path, scope)
            assert answer.json()["error"]["type"] == "insufficient_scope"
    assert _call(server, "GET", "/v1/models/fraud/history", tokens["ingest"]).status_code == 403
    assert _call(server, "GET", "/v1/models/fraud/history", tokens["read"]).status_code == 404
    assert _call(server, "POST", "/v1/models", tokens["admin"], META % "0.1.0") \
        .status_code == 201


def test_bad_registry_bodies_are_422_naming_the_field(served) -> None:  # type: ignore[no-untyped-def]
    server, tokens, _ = served
    admin = tokens["admin"]
    cases = [
        ("/v1/models", '{"model_name": "fraud", "version": "1.0.0"}', "model_type", None),
        ("/v1/models", META % "not-a-version", "version", "not-a-version"),
        ("/v1/models", '{"model_name": "fraud", "model_type": "odd", "version": "1.0.0"}',
         "model_type", "odd"),
        ("/v1/models", '[1, 2]', "body", "list"),
        ("/v1/models", (META % "1.0.0")[:-1] + ', "colour": "red"}', "body", None),
        ("/v1/models/fraud/deploy", '{"environment": "production"}', "version", None),
        ("/v1/models/fraud/deploy", '{"version": 3}', "version", 3),
        ("/v1/models/fraud/rollback", '{"version": "1.0.0"}', "body", None),
    ]
    for path, body, field, value in cases:
        answer = _call(server, "POST", path, admin, body)
        assert answer.status_code == 422, (path, body, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field, (path, body, error)
        if value is not None:
            assert str(value) in error["value"], (path, body, error)
    # unknown version, registered twice, nothing to roll back to
    assert _call(server, "POST", "/v1/models/fraud/deploy", admin,
                 '{"version": "9.9.9"}').status_code == 404
    _call(server, "POST", "/v1/models", admin, META % "0.2.0")
    again = _call(server, "POST", "/v1/models", admin, META % "0.2.0")
    assert again.status_code == 409 and again.json()["error"]["type"] == "DuplicateError"
    _call(server, "POST", "/v1/models", admin, '{"model_name": "lonely", '
          '"model_type": "supervised", "version": "1.0.0", "environment": "production"}')
    refused = _call(server, "POST", "/v1/models/lonely/rollback", admin, "{}")
    assert refused.status_code == 409, refused.text  # not a 503 a client would retry
    assert refused.json()["error"]["type"] == "StateError"


def test_deploy_and_rollback_through_http_write_the_history(served) -> None:  # type: ignore[no-untyped-def]
    from mlmkit.client import Client, ConflictError

    server, tokens, db = served
    with Client(server.base, tokens["admin"]) as admin:
        for version in ("1.0.0", "1.1.0"):
            meta = mlmkit.ModelMetadata("churn", "supervised", version,
                                        performance_metrics={"auc": 0.8})
            assert admin.register(meta)["version"] == version
        assert admin.deploy("churn", "1.0.0", reason="first")["environment"] == "production"
        assert admin.deploy("churn", "1.1.0", actor="alice")["version"] == "1.1.0"
        assert admin.route("churn", "u1")["version"] == "1.1.0"
        assert admin.rollback("churn", reason="auc dropped") == "1.0.0"
        with pytest.raises(ConflictError, match="no earlier deployment"):
            admin.rollback("churn")
        models = {m["model_name"]: m for m in admin.models()}
        assert models["churn"]["deployed_version"] == "1.0.0"
        events = admin.history("churn")
    with Client(server.base, tokens["read"]) as reader:
        assert reader.history("churn") == events
        assert reader.history("churn", environment="staging") == []
    assert [(e["action"], e["version"], e["reason"], e["actor"]) for e in events] == [
        ("deploy", "1.0.0", "first", "admin-bot"),
        ("deploy", "1.1.0", None, "alice"),
        ("rollback", "1.0.0", "auc dropped", "admin-bot")]
    assert events[0]["served_until"] == events[1]["event_at"]
    assert events[2]["served_until"] is None
    server.stop()  # the file agrees with what the API said
    with mlmkit.open(db, read_only=True) as ws:
        assert ws.registry.deployed_version("churn") == "1.0.0"
        assert ws.registry.history("churn")["action"].to_list() == ["deploy", "deploy",
                                                                     "rollback"]
