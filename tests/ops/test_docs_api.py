"""The API reference documents the names users import, and every cross-reference points at one.

A ``:::`` target in ``docs/api/*.md`` is a front door (the package ``mlmkit``, a root module, a
package, or a module its package lists in ``__all__``) or a name such a front door lists in
``__all__`` — ``mlmkit.services.monitor.PerformanceMonitor``, never the module that happens to
define it (``mlmkit.services.monitor.service.PerformanceMonitor``). Every ``[text][mlmkit.…]``
link in the package's docstrings and in the guides targets a documented identifier: a target
or a member of one. (autorefs also resolves the defining module's path as a secondary anchor,
so the strict build alone does not catch a link to an internal path.) Static checks, no build.
"""

from __future__ import annotations

import importlib
import re
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api"

TARGET = re.compile(r"^:::\s+(\S+)\s*$", re.MULTILINE)
LINK = re.compile(r"\[[^\[\]]+\]\[(mlmkit(?:\.\w+)*)\]")
#: ``mlmkit.services`` re-exports these modules' names lazily (a module ``__getattr__`` that
#: mkdocstrings cannot follow): the module is the front door the reference can use.
SINGLE_MODULE_FRONT_DOORS = {"mlmkit.services.log"}


def _targets() -> dict[str, list[str] | bool | None]:
    """``:::`` target -> its ``members`` option (a list, ``False``, or None for the default)."""
    found: dict[str, list[str] | bool | None] = {}
    for page in sorted(API.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for m in TARGET.finditer(text):
            block = text[m.end():].split("\n:::", 1)[0].split("\n#", 1)[0]
            members: list[str] | bool | None = None
            option = re.search(r"^\s+members:\s*(.+)$", block, re.MULTILINE)
            if option:
                value = option.group(1).strip()
                if value == "false":
                    members = False
                elif value.startswith("["):
                    members = re.findall(r"\w+", value)
                else:  # a YAML list on the following lines
                    members = re.findall(r"^\s+-\s+(\w+)\s*$", block[option.end():], re.MULTILINE)
            found[m.group(1)] = members
    return found


def _module(path: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(path)
    except ImportError:
        return None


def _is_front_door(path: str) -> bool:
    """A public module with ``__all__`` that users import names from."""
    if any(part.startswith("_") for part in path.split(".")):
        return False
    module = _module(path)
    if module is None or not hasattr(module, "__all__"):
        return False
    if path == "mlmkit" or path.count(".") == 1 or hasattr(module, "__path__"):
        return True  # the package, a root module (mlmkit.windows), a package
    parent, name = path.rsplit(".", 1)
    return path in SINGLE_MODULE_FRONT_DOORS or (
        _is_front_door(parent) and name in getattr(_module(parent), "__all__", ()))


def _resolve(path: str) -> Any:
    """The object at a dotted path (import the longest module prefix, then attributes)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        obj: Any = _module(".".join(parts[:cut]))
        if obj is None:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return None
            obj = getattr(obj, attr)
        return obj
    return None


def _documented(link: str, targets: dict[str, list[str] | bool | None]) -> bool:
    if link in targets:
        return True
    for target, members in targets.items():
        if not link.startswith(target + "."):
            continue
        rest = link[len(target) + 1:].split(".")
        if any(part.startswith("_") for part in rest) or members is False:
            continue
        owner = _resolve(target)
        if isinstance(owner, types.ModuleType):
            listed = members or getattr(owner, "__all__", None)
            if listed is not None and rest[0] not in listed:
                continue
        if _resolve(link) is not None:
            return True
    return False


def _public_path(link: str, targets: dict[str, list[str] | bool | None]) -> str | None:
    """The documented identifier of the object a link names (for the failure message)."""
    obj = _resolve(link)
    for target in targets:
        if _resolve(target) is obj and obj is not None:
            return target
    head, _, member = link.rpartition(".")
    owner = _resolve(head)
    for target in targets:
        if owner is not None and _resolve(target) is owner:
            return f"{target}.{member}"
    return None


def test_every_api_target_is_a_front_door_name() -> None:
    targets = _targets()
    assert len(targets) > 30
    wrong = []
    for target in targets:
        parent, _, name = target.rpartition(".")
        if _is_front_door(target):
            continue
        if _is_front_door(parent) and name in _module(parent).__all__:  # type: ignore[union-attr]
            continue
        wrong.append(target)
    assert not wrong, f"::: targets that are not a front door's __all__ name: {wrong}"


def test_the_front_door_rule_refuses_the_defining_module() -> None:
    assert _is_front_door("mlmkit.services.monitor")
    assert not _is_front_door("mlmkit.services.monitor.service")
    assert not _is_front_door("mlmkit.store.registry.base")
    assert _is_front_door("mlmkit.viz.charts") and _is_front_door("mlmkit.windows")
    targets = {"mlmkit.services.monitor.PerformanceMonitor": None, "mlmkit.viz": False}
    assert _documented("mlmkit.services.monitor.PerformanceMonitor.get_current_metrics", targets)
    assert not _documented("mlmkit.services.monitor.service.PerformanceMonitor", targets)
    assert not _documented("mlmkit.viz.charts", targets)
    assert (_public_path("mlmkit.services.monitor.service.PerformanceMonitor.daily_summary",
                         targets)
            == "mlmkit.services.monitor.PerformanceMonitor.daily_summary")


@pytest.mark.parametrize("pages", ["package", "guides"])
def test_every_cross_reference_targets_a_documented_identifier(pages: str) -> None:
    targets = _targets()
    files = (sorted((ROOT / "mlmkit").rglob("*.py")) if pages == "package"
             else sorted((ROOT / "docs").rglob("*.md")))
    wrong = [f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(1)}"
             f" (documented as {_public_path(m.group(1), targets)})"
             for p in files for text in [p.read_text(encoding="utf-8")]
             for m in LINK.finditer(text) if not _documented(m.group(1), targets)]
    assert not wrong, "links to an identifier the API reference does not document:\n" + \
        "\n".join(wrong)
