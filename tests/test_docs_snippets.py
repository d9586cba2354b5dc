"""Run the ``<!-- run -->`` code blocks of the guides in docs/ and README.md (one namespace each).

A guide's runnable blocks execute in order in a fresh namespace, so a guide builds its own
(small, in-memory) workspace in its first block. Blocks without the marker are illustrations
(webhooks to real URLs, shell commands) and are not run.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = ("MONITORING.md", "AB_TESTING.md", "TUNING.md", "NOTEBOOKS.md", "../README.md")
_BLOCK = re.compile(r"<!-- run -->\s*\n```python\n(.*?)\n```", re.DOTALL)


def runnable_blocks(text: str) -> list[str]:
    """The code of every fenced python block preceded by ``<!-- run -->``."""
    return _BLOCK.findall(text)


def test_marker_extraction() -> None:
    text = "a\n<!-- run -->\n```python\nx = 1\n```\n```python\ny = 2\n```\n"
    assert runnable_blocks(text) == ["x = 1"]


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_snippets_run(guide: str) -> None:
    path = DOCS / guide
    if not path.is_file():
        pytest.skip(f"{guide} not written")
    blocks = runnable_blocks(path.read_text(encoding="utf-8"))
    assert blocks, f"{guide} has no runnable block"
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem.lower()}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, code in enumerate(blocks, 1):
            try:
                exec(compile(code, f"{guide}[block {i}]", "exec"), namespace)
            except Exception as err:
                raise AssertionError(f"{guide} block {i} failed: {err!r}\n{code}") from err
    ws = namespace.get("ws")
    close = getattr(ws, "close", None)
    if callable(close):
        close()
