"""Each logging strategy emits what it promises."""

from __future__ import annotations

import io
import json
import logging
import socket

import pytest

from mlmkit.exceptions import ValidationError
from mlmkit.ops.logging import STRATEGIES, configure


@pytest.fixture(autouse=True)
def _restore():
    yield
    configure("quiet")


def _log(msg="tuned", level=logging.INFO, **extra):
    logging.getLogger("mlmkit.jobs").log(level, msg, extra=extra)


def test_json_lines_parse_with_context():
    buf = io.StringIO()
    configure("json", stream=buf)
    _log("one", model="m", version="1.0.0", job="auto-tuning")
    try:
        raise RuntimeError("bad")
    except RuntimeError:
        logging.getLogger("mlmkit.jobs").exception("two", extra={"model": "m"})
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [r["message"] for r in lines] == ["one", "two"]
    assert lines[0]["model"] == "m" and lines[0]["job"] == "auto-tuning"
    assert lines[1]["level"] == "ERROR" and "RuntimeError: bad" in lines[1]["exception"]


def test_console_plain_when_not_a_tty_and_coloured_on_tty():
    buf = io.StringIO()
    configure("console", stream=buf)
    _log("hello", model="m", version="2.0.0")
    text = buf.getvalue()
    assert "INFO" in text and "hello [model=m version=2.0.0]" in text and "\033[" not in text

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    configure("console", stream=tty)
    _log("hello")
    assert "\033[32mINFO\033[0m" in tty.getvalue()


def test_quiet_shows_warnings_only():
    buf = io.StringIO()
    configure("notebook", stream=buf)
    _log("hidden")
    _log("shown", level=logging.WARNING)
    assert "hidden" not in buf.getvalue() and "WARNING mlmkit.jobs: shown" in buf.getvalue()


def test_rotating_file_rotates(tmp_path):
    path = tmp_path / "mlmkit.log"
    configure("file", path=path, max_bytes=2000, backup_count=2)
    for i in range(100):
        _log(f"line {i}", model="m")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["mlmkit.log", "mlmkit.log.1", "mlmkit.log.2"]
    last = [json.loads(x) for x in path.read_text().splitlines()]
    assert last[-1]["message"] == "line 99"


def test_syslog_sends_datagrams():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    port = sock.getsockname()[1]
    try:
        configure(f"syslog:127.0.0.1:{port}")
        _log("to syslog", level=logging.WARNING, model="m")
        data = sock.recv(4096).decode()
    finally:
        sock.close()
    assert data.startswith("<") and "mlmkit[" in data and "to syslog model=m" in data


def test_env_var_selects_strategy(monkeypatch, tmp_path):
    monkeypatch.setenv("MLMKIT_LOG", f"file:{tmp_path / 'env.log'}")
    configure()
    _log("via env")
    assert json.loads((tmp_path / "env.log").read_text())["message"] == "via env"


def test_bad_strategy_and_level():
    assert STRATEGIES == ("console", "json", "file", "syslog", "quiet")
    with pytest.raises(ValidationError, match="strategy must be one of"):
        configure("loud")
    with pytest.raises(ValidationError, match="level must be"):
        configure("json", level="LOUDEST")


def test_silent_until_configured():
    """No handler configured: a critical alert record prints nothing (no last-resort stderr)."""
    import subprocess
    import sys

    code = ("import logging, mlmkit\n"
            "logging.getLogger('mlmkit.alerts').critical('[critical] alert 1')\n"
            "from mlmkit.ops.logging import configure\n"
            "configure('notebook')\n"
            "logging.getLogger('mlmkit.alerts').critical('[critical] alert 2')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert "alert 1" not in proc.stderr
    assert "CRITICAL mlmkit.alerts: [critical] alert 2" in proc.stderr  # the opt-in shows it
