"""The plain deployment files agree with the Ansible role, with mlmkit's jobs and with systemd.

deploy/systemd, deploy/cron and deploy/k8s/cronjobs.yaml are rendered from the role's templates
and defaults (deploy/test/render_plain.py); these tests keep the copies, the cadences and the
unit files honest without running Ansible.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from mlmkit.ops.cron import next_fire_times, parse_cron
from mlmkit.services.jobs.runner import JOBS

sys.path.insert(0, str(Path(__file__).parent))
from _deploy import DEPLOY, ROLE, THROWAWAY, can_unshare, run, tool  # helper beside the tests

UNITS = sorted((DEPLOY / "systemd").glob("mlmkit-*.*"))
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
ROLE_JOBS = {job["name"]: job for job in DEFAULTS["mlmkit_jobs"]}


def _render_module():
    spec = importlib.util.spec_from_file_location("render_plain",
                                                  DEPLOY / "test" / "render_plain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_files_are_the_role_templates_rendered_with_the_defaults():
    stale = [str(p) for p, text in _render_module().rendered().items()
             if not (DEPLOY / p).exists() or (DEPLOY / p).read_text() != text]
    assert stale == [], f"run python deploy/test/render_plain.py; stale: {stale}"


def test_role_schedules_every_job_at_mlmkits_default_cadence():
    assert list(ROLE_JOBS) == list(JOBS)
    for name, job in JOBS.items():
        assert ROLE_JOBS[name]["cron"] == job.cron, name
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    job_spec = specs["argument_specs"]["main"]["options"]["mlmkit_jobs"]["options"]
    assert job_spec["name"]["choices"] == list(JOBS)
    assert {p.name for p in UNITS if p.suffix == ".timer"} == {
        f"mlmkit-job-{name}.timer" for name in JOBS}


def _systemd_fire_times(spec: str, n: int) -> list[datetime]:
    out = run([tool("systemd-analyze"), "calendar", f"--iterations={n}", spec],
              env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}).stdout
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} "
                       r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
    return [datetime.fromisoformat(t).replace(tzinfo=UTC) for t in found]


@pytest.mark.parametrize("name", list(JOBS))
def test_timer_calendar_fires_when_the_cron_expression_does(name):
    """``systemd-analyze calendar`` and mlmkit's cron evaluator agree on the next 6 fire times."""
    spec = f"{ROLE_JOBS[name]['on_calendar']} UTC"
    for _attempt in range(3):  # a minute boundary can pass between the two clocks
        now = datetime.now(UTC)
        systemd = _systemd_fire_times(spec, 6)
        cron = next_fire_times(parse_cron(ROLE_JOBS[name]["cron"]), now, 6)
        if systemd == cron:
            break
    assert systemd == cron, (spec, ROLE_JOBS[name]["cron"])


def test_cron_file_runs_every_job_at_its_cadence():
    lines = [line for line in (DEPLOY / "cron" / "mlmkit").read_text().splitlines()
             if line and not line.startswith("#") and "=" not in line.split()[0]]
    seen = {}
    for line in lines:
        fields = line.split()
        cron, user, command = " ".join(fields[:5]), fields[5], fields[6:]
        parse_cron(cron)
        assert user == DEFAULTS["mlmkit_user"]
        job = command[command.index("run") + 1]
        assert command[command.index("run") - 1:command.index("run")] == ["jobs"]
        assert command[:3] == [f"MLMKIT_LOG_FILE=/var/log/mlmkit/job-{job}.log", "flock", "-n"]
        seen[job] = cron
    assert seen == {name: job.cron for name, job in JOBS.items()}


def test_jobs_toml_is_read_by_mlmkit_jobs_list(tmp_path):
    from mlmkit.ops.scheduler import load_schedule

    plan, tz = load_schedule(DEPLOY / "systemd" / "jobs.toml")
    assert tz == "UTC"
    assert {s.job: s.cron for s in plan} == {name: job.cron for name, job in JOBS.items()}


def test_systemd_analyze_verify_says_nothing_about_any_unit():
    """Fails on ANY output: ``systemd-analyze verify`` exits 0 on unknown keys and typos.

    The units are copied into /etc/systemd/system of a throw-away root (overlays in a mount
    namespace, deploy/test/throwaway_root.sh) beside a stub of the venv's ``mlmkit``, so
    that verify also resolves the timers' Unit= and the ExecStart binary.
    """
    analyze = tool("systemd-analyze")
    if not can_unshare():
        pytest.skip("needs root with unshare and overlayfs for the throw-away root")
    names = [p.name for p in UNITS] + [f"mlmkit-job@{name}.service" for name in JOBS]
    script = (
        "set -e; mkdir -p /opt/mlmkit/venv/bin /var/lib/mlmkit /var/log/mlmkit /etc/mlmkit; "
        "printf '#!/bin/sh\\n' > /opt/mlmkit/venv/bin/mlmkit; "
        "chmod +x /opt/mlmkit/venv/bin/mlmkit; "
        f"cp {' '.join(str(p) for p in UNITS)} /etc/systemd/system/; "
        "cd /etc/systemd/system; "
        f"{analyze} verify --man=no {' '.join(names)}")
    result = run([str(THROWAWAY), "sh", "-c", script], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


@pytest.mark.parametrize("unit", ["mlmkit-server.service", "mlmkit-job@.service"])
def test_security_exposure_is_at_most_4(unit):
    analyze = tool("systemd-analyze")
    result = run([analyze, "security", "--offline=yes", "--no-pager", "--threshold=40",
                  str(DEPLOY / "systemd" / unit)], timeout=60)
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert level is not None, result.stdout + result.stderr
    assert float(level.group(1)) <= 4.0, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_guide_documents_every_role_variable_with_its_default():
    text = (DEPLOY.parent / "docs" / "ANSIBLE_DEPLOYMENT.md").read_text()
    rows = dict(re.findall(r"^\| `(mlmkit_\w+)` \| (.+?) \|", text, re.MULTILINE))
    assert set(rows) == set(DEFAULTS)
    for name, value in DEFAULTS.items():
        if isinstance(value, bool):
            assert rows[name] == f"`{str(value).lower()}`", name
        elif isinstance(value, (str, int)):
            assert rows[name] == f"`{value if value != '' else chr(34) * 2}`", name
