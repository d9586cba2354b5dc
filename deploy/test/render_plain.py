"""Render the Ansible role's templates with its defaults into deploy/systemd, cron and k8s.

The role's templates are the one source of the units, the cron file, the environment file and
the logrotate configuration; the plain files are what the role writes with its defaults, for
hosts without Ansible. After editing a template or a default::

    python deploy/test/render_plain.py           # rewrite the plain files
    python deploy/test/render_plain.py --check   # exit 1 when they differ (tests/deploy)

Rendering uses plain Jinja2 with the settings of Ansible's template module (trim_blocks, a
kept trailing newline); the molecule scenario checks that Ansible writes the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import jinja2
import yaml

DEPLOY = Path(__file__).resolve().parent.parent
ROLE = DEPLOY / "ansible" / "roles" / "mlmkit"
IMAGE = "registry.example/mlmkit:0.1.0"  # docker build -f deploy/docker/Dockerfile -t IMAGE .


def role_defaults() -> dict[str, Any]:
    """The role's defaults with every ``{{ }}`` reference between them resolved."""
    values: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for _ in range(10):
        changed = False
        for key, value in values.items():
            if isinstance(value, str) and "{{" in value:
                new = env.from_string(value).render(**values)
                changed |= new != value
                values[key] = new
        if not changed:
            return values
    raise SystemExit("render_plain: the role defaults reference each other in a cycle")


def rendered() -> dict[Path, str]:
    """Every plain file (path under deploy/) and its content."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             keep_trailing_newline=True)
    values = role_defaults()

    def render(name: str, **extra: Any) -> str:
        return env.get_template(name).render(**values, **extra)

    files = {
        Path("systemd/mlmkit-server.service"): render("mlmkit-server.service.j2"),
        Path("systemd/mlmkit-job@.service"): render("mlmkit-job@.service.j2"),
        Path("systemd/mlmkit.env"): render("mlmkit.env.j2"),
        Path("systemd/jobs.toml"): render("jobs.toml.j2"),
        Path("systemd/logrotate-mlmkit"): render("logrotate.j2"),
        Path("cron/mlmkit"): render("mlmkit.cron.j2"),
    }
    for job in values["mlmkit_jobs"]:
        files[Path(f"systemd/mlmkit-job-{job['name']}.timer")] = render("mlmkit-job.timer.j2",
                                                                        job=job)
    files[Path("k8s/cronjobs.yaml")] = cronjobs(values["mlmkit_jobs"])
    return files


def cronjobs(jobs: list[dict[str, Any]]) -> str:
    """One Kubernetes CronJob per job of the role, at the role's cadences."""
    docs = []
    for job in jobs:
        args = ["jobs", "run", job["name"], "--db", "/data/mlm.duckdb", "--create"]
        for key, value in (job.get("options") or {}).items():
            args += ["-o", f"{key}={value}"]
        container = {
            "name": "job", "image": IMAGE, "args": args,
            "env": [{"name": "MLMKIT_LOG", "value": "json"}],
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                          "limits": {"memory": "2Gi"}},
            "securityContext": {"allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"},
                             {"name": "tmp", "mountPath": "/tmp"}],
        }
        server = {"matchLabels": {"app.kubernetes.io/name": "mlmkit",
                                  "app.kubernetes.io/component": "server"}}
        pod = {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            # the server's node: a ReadWriteOnce volume is mounted there
            "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": server, "topologyKey": "kubernetes.io/hostname"}]}},
            "containers": [container],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "mlmkit-data"}},
                        {"name": "tmp", "emptyDir": {}}],
        }
        docs.append({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": f"mlmkit-{job['name']}",
                         "labels": {"app.kubernetes.io/name": "mlmkit",
                                    "app.kubernetes.io/component": "job"}},
            "spec": {"schedule": job["cron"], "timeZone": "Etc/UTC",
                     "suspend": not job.get("enabled", True),
                     "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 600,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                     "jobTemplate": {"spec": {"backoffLimit": 2,
                                              "template": {"spec": pod}}}},
        })
    head = ("# Generated by deploy/test/render_plain.py from the Ansible role's mlmkit_jobs (the\n"
            "# cadences of the timers and of deploy/cron); edit those, then run it.\n")
    return head + yaml.safe_dump_all(docs, sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    """Write the plain files, or with ``--check`` report the ones that differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    args = parser.parse_args(argv)
    stale = []
    for relative, text in rendered().items():
        path = DEPLOY / relative
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(relative))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("differs from the role's templates: " + ", ".join(stale)
              + " (run python deploy/test/render_plain.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
