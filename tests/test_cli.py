"""The command line as it is operated: mistyped --db paths, outputs over inputs, demo rebuilds,
unknown models; every refusal is one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("command", [["jobs", "run", "retention"], ["report"]])
def test_bad_now_is_a_clean_error(demo_db, capsys, command):
    assert main([*command, "--db", str(demo_db), "--now", "yesterday"]) == 2
    assert "--now must be an ISO 8601 time" in capsys.readouterr().err


def test_python_m_mlmkit_ops_uses_the_same_checks(tmp_path):
    missing = tmp_path / "x.duckdb"
    proc = subprocess.run([sys.executable, "-m", "mlmkit.ops", "metrics", "--db", str(missing)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and not missing.exists()


# ------------------------------------------------------ issue 16: the CLI as a user meets it
MLMKIT = str(ROOT / ".venv" / "bin" / "mlmkit")
HEAVY = ("polars", "duckdb", "numpy", "pyarrow", "scipy", "altair", "pandas", "httpx",
         "starlette", "uvicorn", "papermill")
# Leaf commands that write or run (their output is a side effect, not a listing): no --json
# required. Every other leaf command is a read command and must take --json.
NOT_READ = {"demo", "report", "simulate", "serve", "jobs run", "jobs schedule",
            "registry deploy", "registry rollback",
            "tokens create", "tokens revoke", "export", "import"}
POSITIONALS = {"registry show": ["n1-detector"]}


def _run(*argv, env=None, timeout=120):
    return subprocess.run([MLMKIT, *argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MLMKIT_LOG": "quiet", **(env or {})})


def _leaves(parser=None, prefix=()):
    """(command words, parser) of every leaf command, read from the real parser."""
    import argparse

    from mlmkit.cli import build_parser

    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(prefix), parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaves(child, (*prefix, name))


def _options(parser):
    return {s for a in parser._actions for s in a.option_strings}


@pytest.fixture(scope="module")
def read_db(demo_db, tmp_path_factory):
    """A copy of the demo with a job run and a token, so every listing has rows."""
    path = tmp_path_factory.mktemp("read") / "ws.duckdb"
    path.write_bytes(demo_db.read_bytes())
    assert main(["jobs", "run", "retention", "--db", str(path), "--log", "quiet"]) == 0
    assert main(["tokens", "create", "--db", str(path), "--scope", "read", "--name", "ci"]) == 0
    return path


def test_version_is_the_installed_distribution(tmp_path):
    from importlib.metadata import version

    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"mlmkit {version('mlmkit')}"


def test_help_imports_no_heavy_module():
    code = ("import sys, contextlib, io\n"
            "from mlmkit.cli import build_parser\n"
            "parser = build_parser()\n"
            "for argv in (['--help'], ['jobs', 'run', '--help'], ['serve', '--help'],\n"
            "             ['registry', 'history', '--help'], ['simulate', '--help']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        parser.parse_args(argv)\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=True)
    assert proc.stdout.strip() == "[]"


def test_top_level_help_is_plain_text():
    proc = _run("--help")
    assert proc.returncode == 0
    for markup in ("``", "::", ":class:", ":func:", "]["):
        assert markup not in proc.stdout, markup
    assert "MLMKIT_DB" in proc.stdout and "--version" in proc.stdout


@pytest.mark.parametrize("command", [name for name, _ in _leaves()])
def test_every_option_has_help_and_shows_its_default(command):
    parser = dict(_leaves())[command]
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and action.help.strip(), f"{command} {action.option_strings}"
    text = parser.format_help()
    required = {s for a in parser._actions if a.required for s in a.option_strings}
    for name in ("--db", "--window", "--port", "--host"):
        if name in _options(parser) and name not in required:
            block = text[text.index(f"  {name}"):]
            block = block[:block.index("\n  -") if "\n  -" in block else len(block)]
            assert "default" in block, f"{command} {name}: {block}"


def test_db_defaults_to_the_environment(demo_db, tmp_path):
    proc = _run("registry", "list", env={"MLMKIT_DB": str(demo_db)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split()[:2] == ["model", "version"]
    assert "n1-detector" in proc.stdout
    given = _run("registry", "list", "--db", str(tmp_path / "typo.duckdb"),
                 env={"MLMKIT_DB": str(demo_db)})
    assert given.returncode == 2 and "typo.duckdb" in given.stderr  # --db wins
    helptext = _run("jobs", "status", "--help", env={"MLMKIT_DB": str(demo_db)}).stdout
    # the help text wraps a long path at spaces and hyphens: compare without whitespace
    assert f"now{str(demo_db)!r}" in "".join(helptext.split())


def test_no_db_and_no_environment_is_one_line_naming_both():
    env = {k: v for k, v in os.environ.items() if k != "MLMKIT_DB"}
    proc = subprocess.run([MLMKIT, "jobs", "history"], capture_output=True, text=True,
                          timeout=120, env={**env, "MLMKIT_LOG": "quiet"})
    assert proc.returncode == 2
    assert proc.stderr == "mlmkit: error: no workspace given: pass --db PATH or set MLMKIT_DB\n"


def test_every_read_command_takes_json():
    missing = [name for name, parser in _leaves()
               if name not in NOT_READ and "--json" not in _options(parser)]
    assert not missing, f"read commands without --json: {missing}"


def _read_argv(command, db):
    argv = [*command.split(), *POSITIONALS.get(command, [])]
    return argv + (["--db", str(db)] if "--db" in _options(dict(_leaves())[command]) else [])


@pytest.mark.parametrize("command", [name for name, _ in _leaves() if name not in NOT_READ])
def test_read_command_json_is_one_document(command, read_db, capsys, monkeypatch):
    monkeypatch.setenv("MLMKIT_LOG", "quiet")
    capsys.readouterr()
    assert main([*_read_argv(command, read_db), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document not in ([], {}, None)


@pytest.mark.parametrize("command", [name for name, _ in _leaves()
                                     if name not in NOT_READ and name != "metrics"])
def test_read_command_table_has_a_header_and_no_dtype_row(command, read_db, capsys,
                                                          monkeypatch):
    monkeypatch.setenv("MLMKIT_LOG", "quiet")
    capsys.readouterr()
    assert main(_read_argv(command, read_db)) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert len(lines) >= 2 and header and all(not h[0].isdigit() for h in header)
    text = "\n".join(lines)
    assert "shape:" not in text and not any(box in text for box in "│┆╞═┌")
    dtypes = {"str", "i64", "i32", "f64", "bool", "datetime[μs]", "datetime[us]"}
    assert not any(set(line.split()) <= dtypes for line in lines if line.strip())


def test_registry_history_is_a_table_of_events(demo_db):
    proc = _run("registry", "history", "--db", str(demo_db))
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["model_name", "version", "environment", "action"]
    assert len(lines) == 1 + len(json.loads(_run("registry", "history", "--db", str(demo_db),
                                                   "--json").stdout))
    assert all("deploy" in line or "rollback" in line or "undeploy" in line
               for line in lines[1:])


def test_a_file_that_is_not_a_workspace_is_one_line(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    proc = _run("registry", "list", "--db", str(notes))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(notes) in proc.stderr
    assert notes.read_text() == "precious"


def test_a_locked_workspace_is_one_line(demo_db, tmp_path):
    import fcntl

    db = tmp_path / "ws.duckdb"
    db.write_bytes(demo_db.read_bytes())
    with open(f"{db}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = _run("registry", "list", "--db", str(db), "--lock-timeout", "0.5")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mlmkit: error: ") and "locked" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_os_errors_are_one_line_and_debug_shows_the_traceback(demo_db, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    argv = ("metrics", "--db", str(demo_db), "--textfile", str(notes / "m.prom"))
    proc = _run(*argv)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mlmkit: error: Not a directory: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" in _run(*argv, "--debug").stderr
    assert "Traceback" in _run(*argv, env={"MLMKIT_DEBUG": "1"}).stderr


def test_usage_errors_are_one_line():
    for argv in (["jobs", "history", "--limit", "x"], ["jobs"], ["tokens", "create"], []):
        proc = _run(*argv)
        assert proc.returncode == 2 and proc.stderr.startswith("mlmkit: error: "), argv
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "--help`" in proc.stderr


def test_registry_deploy_and_rollback_change_what_serves(demo_db, tmp_path):
    path = tmp_path / "ws.duckdb"
    path.write_bytes(demo_db.read_bytes())
    before = _run("registry", "show", "n1-detector", "--db", str(path), "--json")
    serving = json.loads(before.stdout)["version"]
    proc = _run("registry", "rollback", "n1-detector", "--db", str(path), "--reason", "drop")
    assert proc.returncode == 0, proc.stderr
    with mlmkit.open(path) as ws:
        now = ws.registry.deployed_version("n1-detector")
        last = ws.registry.history("n1-detector").row(-1, named=True)
    assert str(now) != serving and proc.stdout.strip() == f"n1-detector {now} now serves production"
    assert last["action"] == "rollback" and last["reason"] == "drop"
    proc = _run("registry", "deploy", "n1-detector", serving, "--db", str(path))
    assert proc.returncode == 0 and proc.stdout.strip().endswith(f"{serving} now serves production")
    bad = _run("registry", "deploy", "n1-detector", "9.9.9", "--db", str(path))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_a_closed_pipe_ends_the_command_quietly(read_db):
    # the reader leaves before the command writes (`mlmkit ... | head` with a long listing)
    proc = subprocess.Popen([MLMKIT, "registry", "history", "--db", str(read_db), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err.decode() == ""
