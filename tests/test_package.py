"""Package hygiene: curated exports, no import side effects, the layer rule of DESIGN.md."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlmkit

ROOT = Path(mlmkit.__file__).parent

# layer -> packages it must not import
FORBIDDEN = {
    "analysis": {"duckdb", "altair", "ipywidgets", "mlmkit.store", "mlmkit.services",
                 "mlmkit.viz", "mlmkit.ops", "mlmkit.workspace"},
    "store": {"mlmkit.analysis", "mlmkit.services", "mlmkit.viz", "mlmkit.ops", "altair"},
    "services": {"mlmkit.viz", "mlmkit.ops", "altair", "ipywidgets"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_rule(layer: str) -> None:
    offenders = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_only_store_imports_duckdb() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                 if "duckdb" in _imports(p) and p.relative_to(ROOT).parts[0] != "store"]
    assert not offenders


def _packages() -> list[str]:
    names = ["mlmkit"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="mlmkit."):
        if info.ispkg and ".migrations" not in info.name:
            names.append(info.name)
    return names


@pytest.mark.parametrize("package", _packages())
def test_all_is_complete_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{package}.__all__ lists missing {name}"
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and not isinstance(v, type(sys))
              and getattr(v, "__module__", "").startswith("mlmkit")}
    assert public <= set(exported) | {"annotations"}, public - set(exported)
    assert not any(n.startswith("test_") for n in exported)


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    code = (
        "import sys, threading, os\n"
        "before = set(os.listdir('.'))\n"
        "import mlmkit\n"
        "heavy = [m for m in ('altair', 'ipywidgets', 'papermill', 'prometheus_client', "
        "'apscheduler', 'sklearn', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert set(os.listdir('.')) == before\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_public_api_contract_names() -> None:
    for name in ("open", "Workspace", "Version", "ModelType", "ModelMetadata", "ABTestConfig",
                 "InMemoryModelRegistry", "MlmkitError"):
        assert name in mlmkit.__all__
    with mlmkit.open() as ws:
        for attr in ("registry", "log"):
            assert getattr(ws, attr) is not None
