"""Issue 13.2 (registry): a deployment change is one history event, all or nothing."""

import subprocess
import sys
import textwrap

import pytest

import mlmkit
from mlmkit import InMemoryModelRegistry, ModelMetadata, ModelRegistry, Version
from mlmkit.store.registry import DuckDBModelRegistry

NAME = "n1-detector"


class FailingHistory:
    """Mixin: the history write (the last statement of update/deploy) fails once armed."""

    armed = False

    def _append_event(self, event):  # type: ignore[no-untyped-def]
        if self.armed:
            raise OSError("disk full")
        super()._append_event(event)  # type: ignore[misc]


class FailingMemory(FailingHistory, InMemoryModelRegistry):
    pass


class FailingDuckDB(FailingHistory, DuckDBModelRegistry):
    pass


@pytest.mark.parametrize("kind", ["memory", "duckdb-file"])
def test_failed_history_write_leaves_no_partial_update(kind, tmp_path):
    """update(meta.with_deployment(env)) writes the row and the event; both or neither."""
    ws = mlmkit.open(tmp_path / "reg.duckdb")
    reg: ModelRegistry = FailingMemory() if kind == "memory" else FailingDuckDB(ws.db)
    reg.register(ModelMetadata.for_n1_detector("1.0.0", {"threshold": 0.5}))
    reg.deploy(NAME, "1.0.0")
    reg.register(ModelMetadata.for_n1_detector("1.1.0", {"threshold": 0.5}))
    before = (reg.get_all(NAME), reg.history(NAME).drop("served_until"))
    reg.armed = True  # type: ignore[attr-defined]
    new = reg.require(NAME, "1.1.0").with_configuration({"threshold": 0.9})
    with pytest.raises(OSError, match="disk full"):
        reg.update(new.with_deployment("production"))
    with pytest.raises(OSError, match="disk full"):
        reg.update(reg.require(NAME, "1.0.0").with_configuration({"x": 1}).with_deployment(None))
    reg.armed = False  # type: ignore[attr-defined]
    assert reg.get_all(NAME) == before[0]
    assert reg.require(NAME, "1.1.0").configuration["threshold"] == 0.5
    assert reg.history(NAME).drop("served_until").equals(before[1])
    assert reg.deployed_version(NAME) == Version.parse("1.0.0")
    ws.close()


def test_deploy_and_rollback_write_only_the_history(ws_file):
    """No second statement exists to be interrupted: the models table is not written."""
    reg = ws_file.registry
    for v in ("1.0.0", "1.1.0"):
        reg.register(ModelMetadata.for_n1_detector(v))
    models = ws_file.db.execute("SELECT * FROM models ORDER BY ALL")
    reg.deploy(NAME, "1.0.0")
    reg.deploy(NAME, "1.1.0")
    reg.rollback(NAME)
    reg.undeploy(NAME)
    assert ws_file.db.execute("SELECT * FROM models ORDER BY ALL") == models
    assert ws_file.db.execute("SELECT count(*) FROM deployments") == [(4,)]


CHILD = textwrap.dedent("""
    import os, random, sys, threading, time
    import mlmkit
    random.seed(int(sys.argv[2]))
    ws = mlmkit.open(sys.argv[1])
    reg = ws.registry
    threading.Timer(float(sys.argv[3]), lambda: os._exit(9)).start()
    print("ready", flush=True)
    while True:
        name, env = "n1-detector", random.choice(["production", "staging"])
        meta = reg.get(name, random.choice(["1.0.0", "1.1.0", "1.2.0"]))
        step = random.random()
        if step < 0.4:
            reg.update(meta.with_configuration({"threshold": step}).with_deployment(env))
        elif step < 0.7:
            try:
                reg.rollback(name, env)
            except mlmkit.StateError:
                pass
        elif step < 0.85 and reg.deployed_version(name, env) is not None:
            reg.undeploy(name, env)
        else:
            reg.deploy(name, meta.version, env)
""")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_process_killed_mid_deployments_leaves_a_consistent_file(tmp_path, seed):
    """A real process deploying in a loop dies (os._exit) at an arbitrary statement."""
    path = tmp_path / "reg.duckdb"
    with mlmkit.open(path) as ws:
        for v in ("1.0.0", "1.1.0", "1.2.0"):
            ws.registry.register(ModelMetadata.for_n1_detector(v))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.run([sys.executable, str(script), str(path), str(seed), "1.5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    with mlmkit.open(path) as ws:
        reg = ws.registry
        assert len(reg.history()) > 0
        for env in ("production", "staging"):
            served = reg.deployed_version(NAME, env)
            assert [m.version for m in reg.get_by_environment(env)] == \
                ([] if served is None else [served])
        view = ws.db.execute("SELECT environment, version FROM serving ORDER BY ALL")
        assert view == sorted((env, str(reg.deployed_version(NAME, env)))
                              for env in ("production", "staging")
                              if reg.deployed_version(NAME, env) is not None)
