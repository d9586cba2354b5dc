"""A real ``mlmkit serve`` process on 127.0.0.1 for the server tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """``mlmkit serve --port 0`` in a subprocess; ``base`` is its URL once it answers."""

    def __init__(self, db: Path, *extra: str, auth: bool = False) -> None:
        env = {**os.environ, "MLMKIT_LOG": "quiet", "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "mlmkit.cli", "serve", "--db", str(db), "--create",
                "--port", "0", "--snapshot-interval", "0.5", *extra]
        if not auth:
            argv.append("--no-auth")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not found:
            self.proc.kill()
            raise AssertionError(f"no address printed: {line!r} {self.proc.communicate()[1]}")
        self.base = f"http://127.0.0.1:{found.group(1)}"
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self.output: tuple[str, str] = ("", "")
        """``(stdout, stderr)`` of the server once stopped or killed."""
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.client.get("/health/live").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(self.proc.communicate()[1])
            time.sleep(0.05)

    def post(self, path: str, content: bytes | str, content_type: str = "application/json"
             ) -> httpx.Response:
        return self.client.post(path, content=content, headers={"Content-Type": content_type})

    def stop(self) -> int:
        """SIGTERM, and the exit code; what the server printed is then in `output`."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.output = self.proc.communicate(timeout=60)  # (read to the end: pipes closed)
        return self.proc.returncode

    def kill(self) -> None:
        self.client.close()
        self.proc.kill()
        self.output = self.proc.communicate(timeout=30)
