"""The scheduler runs a job on a short cadence in a real process and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlmkit
from mlmkit.exceptions import ValidationError
from mlmkit.ops.scheduler import build_scheduler, load_schedule
from mlmkit.services.jobs import job_history

ROOT = Path(__file__).resolve().parents[2]


def test_default_cadences_are_the_seeds():
    plan, tz = load_schedule()
    crons = {s.job: s.cron for s in plan}
    assert crons == {"performance-monitoring": "*/5 * * * *", "degradation-check": "0 * * * *",
                     "auto-tuning": "0 2 * * 0", "drift-detection": "0 3 * * *",
                     "retention": "30 3 * * *", "rollout-advancement": "*/5 * * * *",
                     "alert-delivery": "* * * * *"}
    assert tz == "UTC"


def test_toml_overrides_and_bad_config(tmp_path):
    cfg = tmp_path / "jobs.toml"
    cfg.write_text('[jobs.ml-auto-tuning]\ncron = "0 4 * * 1"\n'
                   '[jobs.retention]\ninterval = "90s"\noptions = { days = 7 }\n')
    plan, _ = load_schedule(cfg)
    by = {s.job: s for s in plan}
    assert by["auto-tuning"].cron == "0 4 * * 1"
    assert by["retention"].interval_s == 90 and by["retention"].options == {"days": 7}
    sched = build_scheduler(tmp_path / "ws.duckdb", cfg)
    assert sorted(j.id for j in sched.get_jobs()) == sorted(by)
    with pytest.raises(ValidationError, match="cron must be a five-field"):
        load_schedule({"jobs": {"retention": {"cron": "* *"}}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[jobs\n")
    with pytest.raises(ValidationError, match="config must be a valid TOML"):
        load_schedule(bad)


@pytest.mark.slow
def test_scheduler_process_runs_jobs_and_stops_on_sigterm(demo_db, tmp_path):
    cfg = tmp_path / "jobs.toml"
    names = ["performance-monitoring", "degradation-check", "auto-tuning", "drift-detection",
             "rollout-advancement", "alert-delivery"]
    cfg.write_text("".join(f"[jobs.{n}]\nenabled = false\n" for n in names)
                   + '[jobs.retention]\ninterval = "1s"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "mlmkit.ops", "jobs", "schedule", "--db",
                             str(demo_db), "--config", str(cfg), "--log", "json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 90
    runs = 0
    while runs < 2:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the scheduler ran no job in time"
        time.sleep(0.5)
        with mlmkit.open(demo_db) as ws:  # a notebook using the same file meanwhile
            history = job_history(ws)
        runs = history.filter(history["status"] == "ok").height
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "scheduler stopped" in out
    assert set(history["job"]) == {"retention"}
    with mlmkit.open(demo_db) as ws:
        assert job_history(ws).filter(job_history(ws)["status"] == "running").height == 0
