"""``mlmkit export`` / ``mlmkit import`` run as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mlmkit

MLMKIT = str(Path(sys.executable).parent / "mlmkit")


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLMKIT, *argv], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "MLMKIT_LOG": "quiet", **(env or {})})


def test_export_then_import_in_processes(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = dataset
    out, copy = tmp_path / "ds", tmp_path / "copy.duckdb"
    first = _run("export", "--out", str(out), "--json", env={"MLMKIT_DB": str(db)})
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    with mlmkit.open(db) as ws:
        total = ws.log.count()
    assert summary["rows"] == total and summary["days_written"] == summary["files"] == 24
    assert summary["bytes"] == sum(p.stat().st_size for p in out.rglob("*.parquet"))

    again = _run("export", "--db", str(db), "--out", str(out), "-m", "fraud")
    assert again.returncode == 0, again.stderr
    header, row = again.stdout.splitlines()[:2]
    assert header.split()[:3] == ["days_written", "days_skipped", "rows"]
    assert row.split()[:3] == ["0", "8", "0"]  # nothing changed: nothing rewritten

    missing = _run("import", str(out), "--db", str(copy), "--json")
    assert missing.returncode == 2 and "--create" in missing.stderr
    done = _run("import", str(out), "--db", str(copy), "--create", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == total
    with mlmkit.open(copy) as ws:
        assert ws.log.count() == total
        assert {m.model_name for m in ws.registry.get_by_type("supervised")} == {
            "fraud", "churn", "spam"}


@pytest.mark.parametrize(("argv", "needle"), [
    (["export", "--out", "{tmp}/ds", "-m", "nope"], "'nope'"),
    (["export", "--out", "{tmp}/ds", "--compression", "lz5"], "--compression"),
    (["import", "{tmp}/nothing", "--create"], "mlmkit export"),
])
def test_refusals_are_one_line(dataset: tuple[Path, Path], tmp_path: Path, argv: list[str],
                               needle: str) -> None:
    db, _ = dataset
    given = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    target = str(db) if given[0] == "export" else str(tmp_path / "new.duckdb")
    result = _run(*given, "--db", target)
    assert result.returncode == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
