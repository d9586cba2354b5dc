"""API tokens (issue 14.3): hash-only storage, the CLI, the verifier and the auth matrix.

The middleware runs on a tiny ASGI app through httpx's ASGITransport; engineer S1 runs the same
matrix against the real server process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

import mlmkit
from mlmkit.cli import main
from mlmkit.clock import SimulatedClock, use_clock
from mlmkit.exceptions import NotFoundError, SchemaError, ValidationError
from mlmkit.server.auth import DEFAULT_RULES, AuthMiddleware, Principal, Scope, TokenVerifier
from mlmkit.store import migrations
from mlmkit.store import tokens as token_store


class FakeMonotonic:
    """A monotonic clock the test advances."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer 200 with who the request authenticated as."""
    auth = scope.get("auth")
    body = (f"{auth.token_id}:{auth.scope.value}" if isinstance(auth, Principal) else "anon")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body.encode()})


def cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws.duckdb"
    mlmkit.open(path).close()
    return path


@pytest.fixture
def tokens(workspace: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """One token per scope plus a revoked one (created and revoked with the CLI)."""
    made = {}
    for scope in ("ingest", "read", "admin", "revoked"):
        status, out, _ = cli("tokens", "create", "--db", str(workspace), "--scope",
                             "read" if scope == "revoked" else scope, "--name", scope,
                             capsys=capsys)
        assert status == 0
        made[scope] = out.strip()
    assert cli("tokens", "revoke", "--db", str(workspace), "4", capsys=capsys)[0] == 0
    return made


def request(app: Any, method: str, path: str, headers: dict[str, str] | list[Any] | None = None
            ) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, headers=headers)
    return asyncio.run(go())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app(workspace: Path, tokens: dict[str, str]) -> Iterator[AuthMiddleware]:
    yield AuthMiddleware(echo_app, TokenVerifier(workspace), DEFAULT_RULES, metrics_public=False)


# ----------------------------------------------------------------------------- the matrix
MATRIX = [  # token, method, path, expected status
    (None, "POST", "/v1/predictions", 401),
    ("unknown", "POST", "/v1/predictions", 401),
    ("revoked", "GET", "/v1/models", 401),
    ("read", "POST", "/v1/predictions", 403),
    ("read", "POST", "/v1/actuals", 403),
    ("ingest", "GET", "/v1/models", 403),
    ("ingest", "POST", "/v1/predictions", 200),
    ("ingest", "POST", "/v1/actuals", 200),
    ("read", "GET", "/v1/models", 200),
    ("read", "HEAD", "/v1/models", 200),
    ("read", "GET", "/v1/routing/m/unit-1", 200),
    ("read", "DELETE", "/v1/models/m", 403),
    ("admin", "POST", "/v1/predictions", 200),
    ("admin", "GET", "/v1/models", 200),
    ("admin", "DELETE", "/v1/models/m", 200),
    (None, "GET", "/health/live", 200),
    ("unknown", "GET", "/health/live", 200),
    (None, "GET", "/health/ready", 200),
    (None, "GET", "/metrics", 401),
    ("ingest", "GET", "/metrics", 403),
    ("read", "GET", "/metrics", 200),
    (None, "GET", "/v1x", 401),            # a prefix matches whole segments: /v1x is no /v1
    ("read", "GET", "/elsewhere", 403),    # no rule: admin only
    ("admin", "GET", "/elsewhere", 200),
]


@pytest.mark.parametrize(("who", "method", "path", "status"), MATRIX)
def test_auth_matrix(app: AuthMiddleware, tokens: dict[str, str], who: str | None, method: str,
                     path: str, status: int) -> None:
    token = {"unknown": "mlmk_" + "A" * 43}.get(who or "", tokens.get(who or ""))
    resp = request(app, method, path, bearer(token) if token else None)
    assert resp.status_code == status, resp.text
    if status == 401:
        assert resp.headers["www-authenticate"].startswith("Bearer ")
        assert resp.headers["content-type"] == "application/json"
        assert resp.json()["error"]["type"] in ("invalid_request", "invalid_token")
    if status == 403:
        assert resp.json()["error"]["type"] == "insufficient_scope"
        assert "needs scope" in resp.json()["error"]["message"]
    if status == 200 and who in ("ingest", "read", "admin") and method != "HEAD" \
            and path not in ("/health/live", "/health/ready"):
        assert resp.text.endswith(f":{who}")  # the app sees the Principal


@pytest.mark.parametrize("header", [
    "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token mlmk_x", "Bearer a b", "Bearer \tx",
    "mlmk_x",
])
def test_malformed_authorization_is_401(app: AuthMiddleware, header: str) -> None:
    resp = request(app, "GET", "/v1/models", {"Authorization": header})
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_request"
    assert resp.headers["www-authenticate"].startswith("Bearer ")


def test_two_authorization_headers_are_refused(app: AuthMiddleware,
                                               tokens: dict[str, str]) -> None:
    headers = [("Authorization", f"Bearer {tokens['admin']}"),
               ("Authorization", f"Bearer {tokens['read']}")]
    assert request(app, "GET", "/v1/models", headers).status_code == 401


def test_scheme_is_case_insensitive(app: AuthMiddleware, tokens: dict[str, str]) -> None:
    resp = request(app, "GET", "/v1/models", {"Authorization": f"bearer {tokens['read']}"})
    assert resp.status_code == 200


def test_metrics_public_flag(workspace: Path, tokens: dict[str, str]) -> None:
    public = AuthMiddleware(echo_app, TokenVerifier(workspace), DEFAULT_RULES,
                            metrics_public=True)
    assert request(public, "GET", "/metrics").status_code == 200
    assert request(public, "GET", "/v1/models").status_code == 401


def test_health_live_open_even_when_tokens_unreadable(tmp_path: Path) -> None:
    gone = AuthMiddleware(echo_app, TokenVerifier(tmp_path / "missing.duckdb"), DEFAULT_RULES,
                          metrics_public=False)
    assert request(gone, "GET", "/health/live").status_code == 200
    resp = request(gone, "GET", "/v1/models", bearer("mlmk_x"))
    assert resp.status_code == 503 and resp.json()["error"]["type"] == "unavailable"


# --------------------------------------------------------------------- revocation, caching
def test_revocation_is_honoured_within_the_cache_bound(workspace: Path, tokens: dict[str, str],
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    clock = FakeMonotonic()
    verifier = TokenVerifier(workspace, ttl=5.0, monotonic=clock)
    app = AuthMiddleware(echo_app, verifier, DEFAULT_RULES, metrics_public=False)
    assert request(app, "GET", "/v1/models", bearer(tokens["read"])).status_code == 200
    assert cli("tokens", "revoke", "--db", str(workspace), "2", capsys=capsys)[0] == 0
    _, fresh, _ = cli("tokens", "create", "--db", str(workspace), "--scope", "read",
                      capsys=capsys)
    clock.t += 4.9  # within the bound the cached read still answers
    assert request(app, "GET", "/v1/models", bearer(tokens["read"])).status_code == 200
    clock.t += 0.1  # the bound has passed: the next request re-reads the tokens
    assert request(app, "GET", "/v1/models", bearer(tokens["read"])).status_code == 401
    assert request(app, "GET", "/v1/models", bearer(fresh.strip())).status_code == 200


def test_revocation_with_the_real_clock(workspace: Path, tokens: dict[str, str]) -> None:
    verifier = TokenVerifier(workspace, ttl=0.05)
    assert verifier.verify(tokens["admin"]) is Scope.ADMIN
    with mlmkit.open(workspace) as ws:
        token_store.revoke_token(ws.db, 3, now=datetime.now(UTC))
    time.sleep(0.06)
    assert verifier.verify(tokens["admin"]) is None


def test_verifier_does_not_hold_the_file(workspace: Path, tokens: dict[str, str]) -> None:
    verifier = TokenVerifier(workspace)
    assert verifier.verify(tokens["ingest"]) == "ingest"
    conn = duckdb.connect(str(workspace))  # another program can open it right away
    assert conn.execute("SELECT count(*) FROM api_tokens").fetchone() == (4,)
    conn.close()


def test_verifier_through_an_open_database(workspace: Path, tokens: dict[str, str]) -> None:
    with mlmkit.open(workspace) as ws:
        verifier = TokenVerifier(ws.db)
        assert verifier.verify(tokens["read"]) is Scope.READ
        assert verifier.verify(tokens["revoked"]) is None
        assert verifier.verify("") is None and verifier.verify(None) is None  # type: ignore[arg-type]
        assert verifier.verify(tokens["read"] + "x") is None
        assert verifier.verify("mlmk_" + "x" * 10_000) is None


def test_last_used_is_written_at_most_once_a_minute(workspace: Path,
                                                    tokens: dict[str, str]) -> None:
    mono = FakeMonotonic()
    wall = SimulatedClock(datetime(2026, 1, 5, tzinfo=UTC))
    verifier = TokenVerifier(workspace, ttl=5.0, touch_interval=60.0, monotonic=mono)

    def last_used() -> datetime | None:
        with mlmkit.open(workspace) as ws:
            return next(r for r in token_store.list_tokens(ws.db) if r.name == "read").last_used_at

    with use_clock(wall):
        verifier.verify(tokens["read"])
        mono.t += 5
        verifier.refresh()
        first = last_used()
        assert first == wall()
        for _ in range(11):  # used every 5 s for 55 s: no further write
            wall.advance(timedelta(seconds=5))
            mono.t += 5
            verifier.verify(tokens["read"])
        assert last_used() == first
        wall.advance(timedelta(seconds=5))
        mono.t += 5
        verifier.refresh()
        assert last_used() == first + timedelta(seconds=55)  # the time of the last use


# --------------------------------------------------------------------- secrets stay secret
def _drive(app: AuthMiddleware, tokens: dict[str, str], unknown: str, bodies: list[str]) -> None:
    for token in (*tokens.values(), unknown):
        for method, path in (("POST", "/v1/predictions"), ("GET", "/v1/models"),
                             ("GET", "/metrics")):
            bodies.append(request(app, method, path, bearer(token)).text)
        bodies.append(request(app, "GET", "/v1/models",
                              {"Authorization": f"Bearer {token} junk"}).text)


def test_token_never_logged_echoed_or_shown(workspace: Path, tokens: dict[str, str],
                                            caplog: pytest.LogCaptureFixture) -> None:
    verifier = TokenVerifier(workspace)
    app = AuthMiddleware(echo_app, verifier, DEFAULT_RULES, metrics_public=False)
    unknown = "mlmk_" + "Z" * 43
    bodies: list[str] = []
    # listen on the auth logger itself: whatever an earlier test on this worker did to the
    # logging tree (levels, propagate, dictConfig), the records must reach caplog here
    auth_log = logging.getLogger("mlmkit.server.auth")
    saved = (auth_log.level, auth_log.disabled)
    auth_log.addHandler(caplog.handler)
    auth_log.setLevel(logging.DEBUG)
    auth_log.disabled = False
    try:
        _drive(app, tokens, unknown, bodies)
    finally:
        auth_log.removeHandler(caplog.handler)
        auth_log.setLevel(saved[0])
        auth_log.disabled = saved[1]
    assert any("denied" in r.getMessage() for r in caplog.records)
    shown = caplog.text + "".join(bodies) + repr(verifier) + repr(app)
    shown += repr(verifier._tokens) + repr(verifier.identify(tokens["admin"]))
    for token in (*tokens.values(), unknown):
        assert token not in shown and token[5:] not in shown
        assert token_store.hash_token(token) not in shown


def test_only_the_hash_is_stored(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, err = cli("tokens", "create", "--db", str(workspace), "--scope", "admin",
                      "--name", "ops", capsys=capsys)
    token = out.strip()
    assert token.startswith("mlmk_") and len(token) >= 5 + 43 and token not in err
    _, listing, _ = cli("tokens", "list", "--db", str(workspace), capsys=capsys)
    assert "ops" in listing and "admin" in listing
    assert token not in listing and token_store.hash_token(token) not in listing
    stored = b"".join(p.read_bytes() for p in workspace.parent.glob("ws.duckdb*"))
    assert token.encode() not in stored and token[5:].encode() not in stored
    assert token_store.hash_token(token).encode() in stored  # the hash is what is kept


# ---------------------------------------------------------------------------------- CLI
def test_cli_create_list_revoke(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli("tokens", "create", "--db", str(workspace), "--scope", "ingest",
                         "--name", "php-frontend", capsys=capsys)
    token = out.strip()
    assert status == 0 and out.count("\n") == 1
    assert TokenVerifier(workspace).verify(token) is Scope.INGEST
    status, out, _ = cli("tokens", "revoke", "--db", str(workspace), "1", capsys=capsys)
    assert status == 0 and "token 1 revoked" in out
    assert cli("tokens", "revoke", "--db", str(workspace), "1", capsys=capsys)[0] == 0
    _, listing, _ = cli("tokens", "list", "--db", str(workspace), capsys=capsys)
    row = listing.splitlines()[1].split()
    assert row[:3] == ["1", "php-frontend", "ingest"] and row[5] != "-"  # revoked date shown
    assert TokenVerifier(workspace).verify(token) is None
    status, _, err = cli("tokens", "revoke", "--db", str(workspace), "7", capsys=capsys)
    assert status == 2 and "token_id 7 does not exist" in err


def test_cli_refuses_a_missing_workspace(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli("tokens", "create", "--db", str(tmp_path / "nope.duckdb"), "--scope",
                         "read", capsys=capsys)
    assert status == 2 and "does not exist" in err
    assert not (tmp_path / "nope.duckdb").exists()


def test_cli_rejects_an_unknown_scope(workspace: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    with pytest.raises(SystemExit):
        main(["tokens", "create", "--db", str(workspace), "--scope", "root"])
    assert "invalid choice: 'root'" in capsys.readouterr().err


# ------------------------------------------------------------------------ store, migration
def test_store_validates_its_arguments(workspace: Path) -> None:
    with mlmkit.open(workspace) as ws:
        with pytest.raises(ValidationError, match=r"scope must be one of .*; got 'root'"):
            token_store.create_token(ws.db, scope="root", name=None, now=datetime.now(UTC))
        with pytest.raises(ValidationError, match="name must be"):
            token_store.create_token(ws.db, scope="read", name=" x", now=datetime.now(UTC))
        with pytest.raises(NotFoundError, match="token_id 5"):
            token_store.revoke_token(ws.db, 5, now=datetime.now(UTC))


def test_middleware_validates_its_arguments(workspace: Path) -> None:
    verifier = TokenVerifier(workspace)
    with pytest.raises(ValidationError, match="rules"):
        AuthMiddleware(echo_app, verifier, {("v1", "GET"): "read"}, metrics_public=False)
    with pytest.raises(ValidationError, match=r"rules.*got 'root'"):
        AuthMiddleware(echo_app, verifier, {("/v1", "GET"): "root"}, metrics_public=False)
    with pytest.raises(ValidationError, match="metrics_public"):
        AuthMiddleware(echo_app, verifier, {}, metrics_public="yes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ttl"):
        TokenVerifier(workspace, ttl=-1)


def version7_file(path: Path) -> None:
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                 "applied_at TIMESTAMPTZ NOT NULL, name VARCHAR NOT NULL)")
    for mod in migrations._modules()[:7]:
        conn.execute(mod.SQL)
        conn.execute("INSERT INTO schema_version VALUES (?, now(), ?)", [mod.VERSION, "old"])
    conn.execute("INSERT INTO models (model_name, version, model_type, configuration, "
                 "performance_metrics, metadata, created_at) "
                 "VALUES ('m', '1.0.0', 'supervised', '{}', '{}', '{}', now())")
    conn.close()


def test_migration_from_a_version_7_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.duckdb"
    version7_file(path)
    verifier = TokenVerifier(path)  # the verifier does not migrate: it says what to do
    with pytest.raises(SchemaError, match=r"schema version 7.*mlmkit tokens list"):
        verifier.verify("mlmk_x")
    app = AuthMiddleware(echo_app, verifier, DEFAULT_RULES, metrics_public=False)
    assert request(app, "GET", "/v1/models", bearer("mlmk_x")).status_code == 503
    status, out, _ = cli("tokens", "create", "--db", str(path), "--scope", "read",
                         capsys=capsys)  # any command migrates
    assert status == 0
    with mlmkit.open(path) as ws:
        assert ws.db.execute("SELECT max(version) FROM schema_version")[0][0] >= 8
        assert [m.model_name for m in ws.registry.get_all("m")] == ["m"]
    assert verifier.verify(out.strip()) is Scope.READ


def test_verifier_reads_via_the_callers_thread(workspace: Path, tokens: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    calls = []
    with mlmkit.open(workspace) as ws, ThreadPoolExecutor(1) as owner:
        def via(read: Any) -> None:
            calls.append(1)
            owner.submit(read, ws.db).result()

        verifier = TokenVerifier(workspace, ttl=60.0, via=via)
        assert verifier.verify(tokens["ingest"]) is Scope.INGEST
        assert verifier.verify(tokens["revoked"]) is None
    assert calls == [1]  # one read for both, through the owner of the open database
