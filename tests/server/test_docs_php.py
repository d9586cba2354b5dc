"""The PHP snippet of docs/SERVER.md runs with the real ``php`` against a real ``mlmkit serve``.

The block marked ``<!-- php-test -->`` is extracted; the test adds a prelude after its
``<?php`` line (the variables of the handler part: ``$score``, ``$userId``, ``$amount``, the
request's ``X-Request-Id`` and time, an exception handler printing the exception as JSON) and
keeps ``mlmkit_post``'s answer to print it. PHP talks to the server through a forwarder on
127.0.0.1 that counts the requests it passes on (a retry shows as a second request), and can
reset the first connections (a connection error, retried by the snippet).
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import mlmkit

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # a helper module beside the tests, not a package

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_MARK = "<!-- php-test -->\n```php\n"
_CALL = "mlmkit_post(getenv('MLMKIT_URL')"
_PRELUDE = r"""
$score = (float) getenv('T_SCORE');
$userId = 42;
$amount = 129.5;
$_SERVER['HTTP_X_REQUEST_ID'] = getenv('T_REQUEST_ID');
$_SERVER['REQUEST_TIME'] = 1768472100;          // 2026-01-15T10:15:00Z
set_exception_handler(function (Throwable $e): void {
    echo json_encode(['exception' => get_class($e), 'message' => $e->getMessage()]), "\n";
    exit(3);
});
echo "started\n";
"""


def php_program() -> str:
    """The documented block with the test's prelude, printing what ``mlmkit_post`` answers."""
    text = (ROOT / "docs" / "SERVER.md").read_text(encoding="utf-8")
    assert text.count(_MARK) == 1, "docs/SERVER.md must hold exactly one <!-- php-test --> block"
    block = text.split(_MARK, 1)[1].split("\n```", 1)[0]
    head, body = block.split("\n", 1)
    assert head == "<?php"
    assert body.count(_CALL) == 1, f"the handler part must call {_CALL}...) once"
    body = body.replace(_CALL, "$answer = " + _CALL)
    return f"{head}\n{_PRELUDE}\n{body}\necho json_encode($answer), \"\\n\";\n"


def php_binary() -> str:
    php = shutil.which("php")
    reason = None
    if php is None:
        reason = "php is not installed"
    else:
        modules = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=60)
        if "curl" not in modules.stdout.split():
            reason = "php's curl extension is not installed (php -m lists no curl)"
    if reason is not None:
        message = (f"{reason}: the documented PHP snippet was NOT tested "
                   "(apt-get install php-cli php-curl)")
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)
    assert php is not None
    return php


class Forwarder:
    """127.0.0.1:port -> the server; refuses connections until `listen` is called.

    ``drop``: this many first connections are accepted and closed at once (the client sees a
    connection error, as from a server restarting), the next ones are passed on.
    """

    def __init__(self, target: str, drop: int = 0) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: a connect is refused
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.sent: list[bytearray] = []  # what each connection carried to the server
        self.answered: list[bytearray] = []  # and back
        self.drop, self.dropped = drop, 0

    def listen(self) -> None:
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def requests(self) -> int:
        """The HTTP requests passed on so far (each starts with its request line)."""
        return sum(bytes(data).count(b"POST /v1/") for data in self.sent)

    def error_message(self) -> str:
        """The ``error.message`` of the one answer passed back (a single request's body)."""
        assert len(self.answered) == 1
        body = bytes(self.answered[0]).split(b"\r\n\r\n", 1)[1]
        return str(json.loads(body)["error"]["message"])

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:  # closed
                return
            if self.dropped < self.drop:  # reset: RST, not a clean end of the stream
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                self.dropped += 1
                continue
            upstream = socket.create_connection(self.target, timeout=30)
            sent, answered = bytearray(), bytearray()
            self.sent.append(sent)
            self.answered.append(answered)
            threading.Thread(target=_pump, args=(client, upstream, sent), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client, answered), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket, seen: bytearray) -> None:
    try:
        while chunk := source.recv(65536):
            seen += chunk
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):  # wakes the other direction's recv
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        source.close()  # each socket is the source of one pump


class World:
    """A workspace with n1-detector 1.0.0 deployed, an ingest token and a running server."""

    def __init__(self, tmp_path: Path) -> None:
        self.php = php_binary()
        self.db = tmp_path / "ws.duckdb"
        with mlmkit.open(self.db) as ws:
            ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0"))
            ws.registry.deploy("n1-detector", "1.0.0", "production")
        created = subprocess.run([sys.executable, "-m", "mlmkit.cli", "tokens", "create",
                                  "--db", str(self.db), "--scope", "ingest", "--name", "php"],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
        self.token = created.stdout.strip().splitlines()[-1]
        assert self.token.startswith("mlmk_")
        self.script = tmp_path / "handler.php"
        self.script.write_text(php_program(), encoding="utf-8")
        self.forwarders: list[Forwarder] = []
        self.server = Server(self.db, auth=True)

    def start(self, url: str, request_id: str, *, score: float = 0.91,
              token: str | None = None) -> subprocess.Popen[str]:
        env = {"PATH": "/usr/bin:/bin", "MLMKIT_URL": url,
               "MLMKIT_TOKEN": self.token if token is None else token,
               "T_REQUEST_ID": request_id, "T_SCORE": str(score)}
        proc = subprocess.Popen([self.php, str(self.script)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n", proc.communicate()
        return proc

    def run(self, url: str, request_id: str, *, score: float = 0.91, token: str | None = None
            ) -> tuple[int, dict[str, object]]:
        """PHP's exit code and the JSON it printed last (the answer or the exception)."""
        proc = self.start(url, request_id, score=score, token=token)
        out, err = proc.communicate(timeout=120)
        lines = out.strip().splitlines()
        assert lines, f"php printed nothing (exit {proc.returncode}): {err}"
        return proc.returncode, json.loads(lines[-1])

    def forwarder(self, drop: int = 0) -> Forwarder:
        self.forwarders.append(Forwarder(self.server.base, drop))
        return self.forwarders[-1]

    def rows(self) -> list[dict[str, object]]:
        """The logged rows, read from the file once the server has stopped."""
        assert self.server.stop() == 0
        with mlmkit.open(self.db) as ws:
            return ws.log.predictions("n1-detector").to_dicts()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path)
    try:
        yield made
    finally:
        for forwarder in made.forwarders:
            forwarder.close()
        made.server.stop()


def test_the_row_is_logged_and_a_second_run_is_a_harmless_retry(world: World) -> None:
    fwd = world.forwarder()
    fwd.listen()
    assert world.run(fwd.url, "req-8f14e45f") == (0, {"written": 1, "duplicates": 0})
    assert world.run(fwd.url, "req-8f14e45f") == (0, {"written": 0, "duplicates": 1})
    assert fwd.requests() == 2  # one request each: no retry
    rows = world.rows()
    assert len(rows) == 1
    row = rows[0]
    assert row["prediction_id"] == "req-8f14e45f"
    assert row["version"] == "1.0.0" and row["prediction"] is True
    assert row["score"] == pytest.approx(0.91) and row["unit_id"] == "42"
    assert row["ts"] == datetime(2026, 1, 15, 10, 15, tzinfo=UTC)  # the request's time
    assert row["amount"] == 129.5  # a feature


@pytest.mark.parametrize(("case", "status", "says"), [
    ("token", 401, "token"),       # a wrong token
    ("score", 422, "score"),       # a bad field: score 1.5 is not a probability
])
def test_a_refused_request_throws_with_the_servers_message_and_is_not_retried(
        world: World, case: str, status: int, says: str) -> None:
    fwd = world.forwarder()
    fwd.listen()
    if case == "token":
        code, printed = world.run(fwd.url, "req-refused", token="mlmk_wrong")
    else:
        code, printed = world.run(fwd.url, "req-refused", score=1.5)
    assert code == 3 and printed["exception"] == "RuntimeException"
    assert fwd.requests() == 1  # thrown at once, no retry
    assert printed["message"] == f"mlmkit {status}: {fwd.error_message()}"
    assert says in str(printed["message"]).lower()
    assert world.rows() == []


def test_a_connection_error_is_retried_with_the_same_body(world: World) -> None:
    """The first connection is reset (a server restarting): the snippet tries again, once."""
    fwd = world.forwarder(drop=1)
    fwd.listen()
    assert world.run(fwd.url, "req-late") == (0, {"written": 1, "duplicates": 0})
    assert fwd.dropped == 1 and fwd.requests() == 1  # the reset attempt never reached it
    rows = world.rows()
    assert [r["prediction_id"] for r in rows] == ["req-late"]
