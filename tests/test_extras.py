"""`make demo` installs the `demo` extra only: chart and report pieces, none of the dev tools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _extras() -> dict[str, list[str]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return meta["project"]["optional-dependencies"]


def _expand(name: str, extras: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for req in extras[name]:
        nested = re.fullmatch(r"mlmkit\[([\w,]+)\]", req)
        if nested:
            for sub in nested.group(1).split(","):
                out |= _expand(sub, extras)
        else:
            out.add(re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower())
    return out


def test_demo_extra_is_charts_and_report_only() -> None:
    extras = _extras()
    demo = _expand("demo", extras)
    assert {"altair", "vl-convert-python", "papermill", "ipykernel", "nbconvert"} <= demo
    heavy = {"jupyterlab", "playwright", "mypy", "mkdocs", "pytest", "scikit-learn", "ruff"}
    assert not demo & heavy
    assert demo <= _expand("dev", extras)     # `make test` keeps the full set


def test_make_demo_installs_the_demo_extra_and_make_test_the_dev_set() -> None:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo_rule = re.search(r"^demo:(.*)$", make, re.MULTILINE)
    assert demo_rule and "$(DEMO_STAMP)" in demo_rule.group(1)
    assert re.search(r"^\$\(DEMO_STAMP\):.*\n\t.*pip install -q -e '\.\[demo\]'", make,
                     re.MULTILINE)
    assert re.search(r"^\$\(STAMP\):.*\n\t.*pip install -q -e '\.\[dev\]'", make, re.MULTILINE)
    for target in ("lint", "typecheck", "pytest"):
        assert re.search(rf"^{target}: \$\(STAMP\)", make, re.MULTILINE), target
