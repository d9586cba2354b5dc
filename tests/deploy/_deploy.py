"""Shared paths and helpers of the deployment tests (deploy/)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ROLE = DEPLOY / "ansible" / "roles" / "mlmkit"
THROWAWAY = DEPLOY / "test" / "throwaway_root.sh"
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The path of a command-line tool (the venv's first); skip, naming it, when it is missing."""
    found = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]' or apt-get install it)")
    return found


def tool_env() -> dict[str, str]:
    """The environment for ansible tools: the venv first on PATH, no colours."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", NO_COLOR="1", PY_COLORS="0")
    return env


def can_unshare() -> bool:
    """True when this process may build the throw-away root (root, unshare and overlayfs)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run([str(THROWAWAY), "true"], capture_output=True, text=True)
    return probe.returncode == 0


def run(cmd: list[str], *, timeout: float = 600,
        **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` and return it, its output captured as text."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=kwargs.pop("env", tool_env()), **kwargs)  # type: ignore[arg-type]
