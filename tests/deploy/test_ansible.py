"""The Ansible role: ansible-lint (production profile), its input validation, and a molecule
scenario that converges it into a throw-away root, applies it again (changed=0) and verifies.

The throw-away root (deploy/test/throwaway_root.sh) overlays /etc, /opt and /var in a private
mount and network namespace, so the user, the venv and the units vanish with it. systemd is
not PID 1 here, so the scenario writes the units and runs their commands by hand;
deploy/test/real_systemd.sh (make deploy-test) applies the role under a booted systemd.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _deploy import DEPLOY, ROLE, ROOT, THROWAWAY, can_unshare, run, tool, tool_env

ANSIBLE = DEPLOY / "ansible"
CACHE = Path(os.environ.get("MLMKIT_DEPLOY_CACHE", Path.home() / ".cache" / "mlmkit-deploy"))


def test_ansible_lint_production_profile_passes():
    result = run([tool("ansible-lint"), "--profile", "production", "--offline", "--nocolor"],
                 cwd=ANSIBLE, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


def test_site_playbook_syntax_checks():
    result = run([tool("ansible-playbook"), "--syntax-check", "-i", "inventory/hosts.yml",
                  "site.yml"], cwd=ANSIBLE, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


BAD_INPUTS = [
    ({"mlmkit_scheduler": "anacron"}, "mlmkit_scheduler"),
    ({"mlmkit_server_port": "http"}, "mlmkit_server_port"),
    ({"mlmkit_jobs": [{"name": "nightly", "cron": "0 1 * * *", "on_calendar": "daily"}]},
     "nightly"),
    ({"mlmkit_install_source": "wheel"}, "a wheel install needs mlmkit_wheel"),
    ({"mlmkit_db": "/srv/elsewhere/mlm.duckdb"}, "mlmkit_db lies directly in mlmkit_state_dir"),
    ({"mlmkit_jobs": [{"name": "retention", "cron": "every night", "on_calendar": "daily"}]},
     "every cron is five fields"),
]


@pytest.mark.parametrize(("extra", "named"), BAD_INPUTS,
                         ids=[next(iter(e)) + "-" + n.split()[0] for e, n in BAD_INPUTS])
def test_bad_input_stops_the_role_before_it_changes_anything(tmp_path, extra, named):
    """meta/argument_specs.yml and tasks/validate.yml refuse it, naming the input.

    Run in the throw-away root: were validation to let it through, the role's changes vanish.
    """
    playbook = tool("ansible-playbook")
    if not can_unshare():
        pytest.skip("needs root with unshare and overlayfs for the throw-away root")
    import json

    (tmp_path / "vars.json").write_text(json.dumps(
        {"mlmkit_manage_services": False, "mlmkit_install_system_packages": False, **extra}))
    (tmp_path / "play.yml").write_text(
        "- name: Bad input\n  hosts: localhost\n  connection: local\n  gather_facts: false\n"
        "  roles: [mlmkit]\n")
    env = tool_env() | {"ANSIBLE_ROLES_PATH": str(ANSIBLE / "roles")}
    result = run([str(THROWAWAY), playbook, "-i", "localhost,", "-e", f"@{tmp_path}/vars.json",
                  str(tmp_path / "play.yml")], env=env, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert named in out, out[-3000:]
    assert "changed=0" in out and "ok=" in out


def _wheel(tmp_path: Path) -> Path:
    """A wheel of the working tree, built from a copy (nothing is written into the tree)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "mlmkit", src / "mlmkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
         str(src)], timeout=600).check_returncode()
    return next((tmp_path / "dist").glob("mlmkit-*.whl"))


def _wheelhouse(wheel: Path) -> Path:
    """mlmkit's dependencies as wheels, cached between runs (the namespace has no network)."""
    house = CACHE / "wheelhouse"
    house.mkdir(parents=True, exist_ok=True)
    result = run([sys.executable, "-m", "pip", "download", "-q", "--dest", str(house),
                  f"{wheel}[server,ops]"], timeout=900)
    if result.returncode != 0:
        pytest.skip(f"cannot fill the wheelhouse {house} (no package index?): "
                    f"{result.stderr[-500:]}")
    for stale in house.glob("mlmkit-*.whl"):
        stale.unlink()
    return house


@pytest.mark.slow
def test_molecule_converge_idempotence_verify_in_a_throwaway_root(tmp_path):
    molecule = tool("molecule")
    tool("systemd-analyze")
    if not can_unshare():
        pytest.skip("needs root with unshare and overlayfs for the throw-away root")
    wheel = _wheel(tmp_path)
    env = tool_env() | {"MLMKIT_TEST_WHEEL": str(wheel),
                        "MLMKIT_TEST_WHEELHOUSE": str(_wheelhouse(wheel))}
    result = run([str(THROWAWAY), molecule, "test"], cwd=ROLE, env=env, timeout=1800)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-6000:]
    for action in ("converge", "idempotence", "verify"):
        assert f"default > {action}: Executed: Successful" in out, out[-3000:]
