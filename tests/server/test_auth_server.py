"""The auth matrix against a real ``mlmkit serve`` process on 127.0.0.1 (issue 14.6).

Tokens are created and revoked with the CLI while the server runs; a revocation is refused
within the verifier's bound (5 s); no token value reaches the server's output.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlmkit

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # (a helper module beside the tests, not a package)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def tokens_cli(db: Path, *argv: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mlmkit.cli", "tokens", *argv, "--db", str(db)],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_auth_matrix_and_revocation_on_a_real_server(tmp_path: Path) -> None:
    db = tmp_path / "ws.duckdb"
    mlmkit.open(db).close()
    made = {scope: tokens_cli(db, "create", "--scope", scope) for scope in
            ("ingest", "read", "admin")}
    server = Server(db, "--metrics-private", auth=True)
    try:
        def status(method: str, path: str, who: str | None, body: str | None = None) -> int:
            headers = {"Authorization": f"Bearer {made[who]}"} if who else {}
            if body is not None:
                headers["Content-Type"] = "application/json"
            return server.client.request(method, path, headers=headers,
                                         content=body).status_code

        row = ('[{"model_name": "m", "version": "1.0.0", "prediction": true, '
               '"prediction_id": "p1"}]')
        assert status("GET", "/health/live", None) == 200
        assert status("GET", "/metrics", None) == 401
        assert status("GET", "/metrics", "ingest") == 403
        assert status("GET", "/metrics", "read") == 200
        assert status("POST", "/v1/predictions", None, row) == 401
        assert status("POST", "/v1/predictions", "read", row) == 403
        assert status("POST", "/v1/predictions", "ingest", row) in (200, 201)
        assert status("POST", "/v1/predictions", "admin", row) in (200, 201)  # a duplicate
        assert status("GET", "/v1/models", "ingest") == 403
        assert status("GET", "/v1/models", "read") == 200
        assert status("GET", "/v1/models", "admin") == 200
        resp = server.client.get("/v1/models", headers={"Authorization": "Bearer mlmk_nope"})
        assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")

        tokens_cli(db, "revoke", "1")  # the ingest token, while the server runs
        revoked_at = time.monotonic()
        while status("POST", "/v1/predictions", "ingest", row) != 401:
            assert time.monotonic() - revoked_at < 5.0 + 2.0, "revocation not honoured"
            time.sleep(0.2)
        assert status("POST", "/v1/predictions", "admin", row) in (200, 201)
    finally:
        server.stop()
    _, err = server.output
    listing = tokens_cli(db, "list")
    assert "ingest" in listing.splitlines()[1] and listing.splitlines()[1].split()[5] != "-"
    for token in made.values():
        assert token not in err and token not in listing
