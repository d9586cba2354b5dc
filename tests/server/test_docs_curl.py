"""The ``curl`` example of docs/SERVER.md runs against a real ``mlmkit serve`` process.

The block marked ``<!-- curl-test -->`` is extracted and run with bash and the real ``curl``;
each ``# {...}`` comment after a command is the JSON answer it must print.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import mlmkit

sys.path.insert(0, str(Path(__file__).parent))
from _proc import Server  # a helper module beside the tests, not a package

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- curl-test -->\s*\n```bash\n(.*?)\n```", re.DOTALL)


def curl_block() -> str:
    found = _BLOCK.findall((ROOT / "docs" / "SERVER.md").read_text(encoding="utf-8"))
    assert len(found) == 1, "docs/SERVER.md must hold exactly one <!-- curl-test --> block"
    return str(found[0])


def answers(text: str) -> list[object]:
    """The JSON values printed one after the other (curl adds no newline)."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        out.append(value)
    return out


def test_the_documented_curl_example_runs(tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        warnings.warn("curl is not installed: the documented curl example was NOT tested",
                      stacklevel=1)
        pytest.skip("curl is not installed: the documented curl example was NOT tested")
    db = tmp_path / "ws.duckdb"
    with mlmkit.open(db) as ws:
        ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0"))
        ws.registry.deploy("n1-detector", "1.0.0", "production")
    created = subprocess.run([sys.executable, "-m", "mlmkit.cli", "tokens", "create", "--db",
                              str(db), "--scope", "admin", "--name", "docs"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("mlmk_")
    script = curl_block()
    expected = [json.loads(line[1:]) for line in script.splitlines()
                if line.startswith("# {")]
    assert len(expected) == 4
    server = Server(db, auth=True)
    try:
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                             text=True, timeout=120,
                             env={"PATH": str(Path(curl).parent) + ":/usr/bin:/bin",
                                  "MLMKIT_URL": server.base, "MLMKIT_TOKEN": token})
        assert run.returncode == 0, run.stderr + run.stdout
        assert answers(run.stdout) == expected
        # and without the token the same call is refused
        refused = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                  f"{server.base}/v1/route?model=n1-detector&unit_id=u"],
                                 capture_output=True, text=True, timeout=60)
        assert refused.stdout == "401"
    finally:
        assert server.stop() == 0
    with mlmkit.open(db) as ws:
        rows = ws.log.predictions("n1-detector")
    assert rows.height == 1 and rows["actual"].to_list() == [True]
    assert rows["prediction_id"].to_list() == ["req-8f14e45f"]
