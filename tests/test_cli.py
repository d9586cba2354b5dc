"""The command line as it is operated: mistyped --db paths, outputs over inputs, demo rebuilds,
unknown models; every refusal is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mlmkit
from mlmkit.cli import main
from mlmkit.demo import build_demo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "demo.duckdb"
    with mlmkit.open(path) as ws:
        build_demo(ws, per_model=300)
    return path


def _user_workspace(path):
    with mlmkit.open(path) as ws:
        ws.registry.register(mlmkit.ModelMetadata.for_n1_detector("3.0.0", {"threshold": 0.5}))
    return path


def _models(path):
    with mlmkit.open(path) as ws:
        return ws.registry.get_all_model_names()


@pytest.mark.parametrize("argv", [
    ["jobs", "run", "retention"], ["jobs", "history"], ["registry", "list"],
    ["registry", "history"], ["metrics"], ["report"], ["serve", "--port", "0"],
    ["jobs", "schedule"]], ids=" ".join)
def test_a_mistyped_db_is_refused_not_created(argv, tmp_path, capsys):
    missing = tmp_path / "typo" / "ws.duckbd"
    assert main([*argv, "--db", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlmkit: error: workspace file") and str(missing) in err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not missing.exists() and not missing.parent.exists()


def test_create_makes_the_file_explicitly(tmp_path, capsys):
    path = tmp_path / "new" / "ws.duckdb"
    assert main(["jobs", "run", "retention", "--db", str(path), "--create"]) == 0
    assert path.is_file() and "retention: ok" in capsys.readouterr().out


def test_missing_db_in_a_real_process_is_one_line(tmp_path):
    missing = tmp_path / "nope.duckdb"
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "mlmkit"), "registry", "list", "--db",
                           str(missing)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MLMKIT_LOG": "quiet"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"mlmkit: error: workspace file {str(missing)!r} does not "
                                   "exist (check --db; `mlmkit demo` builds a demo workspace)")
    assert not missing.exists()


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink"])
def test_report_refuses_to_write_over_its_workspace(demo_db, tmp_path, spelling, capsys):
    db = tmp_path / "ws.duckdb"
    db.write_bytes(demo_db.read_bytes())
    before = db.read_bytes()
    out = {"same": str(db), "dotted": f"{tmp_path}/./ws.duckdb", "symlink": str(tmp_path / "l")}
    if spelling == "symlink":
        os.symlink(db, tmp_path / "l")
    assert main(["report", "--db", str(db), "--out", out[spelling], "--quiet"]) == 2
    assert "--out must be a file other than the input" in capsys.readouterr().err
    assert db.read_bytes() == before
    assert main(["report", "--db", str(db), "--keep-notebook", str(db), "--quiet"]) == 2
    assert main(["metrics", "--db", str(db), "--textfile", str(db)]) == 2
    assert db.read_bytes() == before


def test_report_library_refuses_out_path_equal_to_db(demo_db, tmp_path):
    from mlmkit.exceptions import ValidationError
    from mlmkit.viz.report import render_report

    with pytest.raises(ValidationError, match="out_path must be a file other than"):
        render_report(demo_db, demo_db)


def test_report_unknown_model_fails_before_the_notebook(demo_db, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--db", str(demo_db), "--model", "n1-detektor", "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'n1-detektor'" in err
    assert "n1-detector, queue-anomaly, waf-behavioral" in err
    assert not out.exists()


def test_demo_refuses_to_replace_a_user_workspace(tmp_path, capsys):
    mine = _user_workspace(tmp_path / "mine.duckdb")
    assert main(["demo", "--db", str(mine), "--rows", "200"]) == 2
    err = capsys.readouterr().err
    assert "was not built by `mlmkit demo`" in err and "--force" in err
    assert _models(mine) == ["n1-detector"]
    not_ours = tmp_path / "notes.txt"
    not_ours.write_text("precious")
    assert main(["demo", "--db", str(not_ours), "--rows", "200"]) == 2
    assert not_ours.read_text() == "precious"
    assert main(["demo", "--db", str(mine), "--rows", "200", "--force"]) == 0
    assert len(_models(mine)) == 3


def test_demo_rebuilds_its_own_file_and_never_writes_its_report_over_it(tmp_path, capsys):
    db = tmp_path / "data" / "demo.duckdb"
    assert main(["demo", "--db", str(db), "--rows", "200"]) == 0
    assert main(["demo", "--db", str(db), "--rows", "200"]) == 0  # `make demo` twice
    before = db.read_bytes()
    assert main(["demo", "--db", str(db), "--rows", "200", "--out", str(db)]) == 2
    assert "--out must be a file other than the input" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_bad_now_is_a_clean_error(demo_db, capsys):
    assert main(["jobs", "run", "retention", "--db", str(demo_db), "--now", "yesterday"]) == 2
    assert "--now must be an ISO 8601 time" in capsys.readouterr().err


def test_python_m_mlmkit_ops_uses_the_same_checks(tmp_path):
    missing = tmp_path / "x.duckdb"
    proc = subprocess.run([sys.executable, "-m", "mlmkit.ops", "metrics", "--db", str(missing)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and not missing.exists()
