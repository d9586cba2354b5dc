"""The Dockerfile (hadolint and its rules) and the Kubernetes example that runs its image.

No Docker engine or cluster here: hadolint lints the Dockerfile, kubernetes-validate checks
every manifest against the Kubernetes schemas, and mlmkit's own CLI parser checks every
container's arguments.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from mlmkit.cli import build_parser
from mlmkit.services.jobs.runner import JOBS

sys.path.insert(0, str(Path(__file__).parent))
from _deploy import DEPLOY, run, tool  # a helper module beside the tests

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
K8S = DEPLOY / "k8s"
IMAGE = re.search(r"docker build -f deploy/docker/Dockerfile -t (\S+) \.",
                  DOCKERFILE.read_text()).group(1)


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing():
    result = run([tool("hadolint"), "--no-color", str(DOCKERFILE)], timeout=120)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_final_stage_runs_as_a_numeric_non_root_user():
    users = [args for op, args in _final_stage() if op == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, users[-1]


def test_healthcheck_probes_health_live_and_entrypoint_is_mlmkit():
    stage = dict(_final_stage())
    assert "/health/live" in stage["HEALTHCHECK"]
    assert json.loads(stage["ENTRYPOINT"]) == ["mlmkit"]
    assert "9108" in stage["EXPOSE"]


def test_default_command_is_a_valid_mlmkit_serve_invocation():
    cmd = json.loads(dict(_final_stage())["CMD"])
    args = build_parser().parse_args(cmd)
    assert cmd[0] == "serve" and args.port == 9108 and args.db.startswith("/data/")


def test_build_context_is_limited_by_a_dockerfile_specific_ignore_file():
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*"):][:4] == ["*", "!pyproject.toml", "!README.md", "!mlmkit/"]
    copied = [shlex.split(args)[:-1] for op, args in _instructions() if op == "COPY"
              and "--from" not in args]
    assert sorted(p for c in copied for p in c) == ["README.md", "mlmkit", "pyproject.toml"]


def _manifests() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def test_kubernetes_manifests_match_the_schemas():
    files = [str(K8S / name) for name in
             yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]]
    result = run([tool("kubernetes-validate"), "--strict", "-k", "1.30", "--quiet", *files],
                 timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _containers():
    for doc in _manifests():
        spec = doc.get("spec", {})
        pod = (spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
               or spec.get("template", {}).get("spec"))
        if pod:
            for container in pod["containers"]:
                yield doc, pod, container


def test_every_container_runs_the_dockerfiles_image_as_non_root_with_valid_arguments():
    parser = build_parser()
    seen_jobs = set()
    containers = list(_containers())
    assert len(containers) == 1 + len(JOBS)
    for doc, pod, container in containers:
        assert container["image"] == IMAGE, doc["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        args = parser.parse_args(container["args"])
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert str(Path(args.db).parent) in mounts
        if container["args"][:2] == ["jobs", "run"]:
            seen_jobs.add(args.name)
            assert doc["spec"]["schedule"] == JOBS[args.name].cron
            assert doc["spec"]["concurrencyPolicy"] == "Forbid"
        else:
            assert container["args"][0] == "serve" and "--no-auth" not in container["args"]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports["http"] == args.port
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert seen_jobs == set(JOBS)


def test_probe_paths_are_routes_of_the_server(tmp_path):
    pytest.importorskip("starlette")
    from mlmkit.server.app import create_app

    app = create_app(tmp_path / "ws.duckdb")
    assert {"/health/live", "/health/ready"} <= {route.path for route in app.routes}
