"""Run every python code block of the guides, in order, in a fresh temp directory.

Each guide's blocks execute in one namespace, so a guide builds its own workspace in its
first block (an in-memory one, or a file in the current directory, which is a fresh temp
directory here). A block that cannot run in a test (it talks to a placeholder URL, or runs a
minute-long report) is marked ``<!-- skip: why -->`` on the line before its fence; such
blocks are few and each says why. Shell blocks (```bash) are not run here.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = ("QUICKSTART.md", "MONITORING.md", "AB_TESTING.md", "TUNING.md", "NOTEBOOKS.md",
          "TASKS.md", "../README.md")
#: Blocks a guide may leave unrun, at most (each marked with a reason).
MAX_SKIPPED = 2
_BLOCK = re.compile(r"(?:<!--\s*(run|skip:[^>]*?)\s*-->\s*\n)?```python\n(.*?)\n```", re.DOTALL)


def python_blocks(text: str) -> list[tuple[str | None, str]]:
    """``(skip reason or None, code)`` of every fenced python block, in order."""
    out = []
    for marker, code in _BLOCK.findall(text):
        reason = marker[len("skip:"):].strip() if marker.startswith("skip:") else None
        out.append((reason, code))
    return out


def test_block_extraction() -> None:
    text = ("a\n<!-- run -->\n```python\nx = 1\n```\n```python\ny = 2\n```\n"
            "<!-- skip: posts to a placeholder URL -->\n```python\nz = 3\n```\n```bash\nls\n```\n")
    assert python_blocks(text) == [(None, "x = 1"), (None, "y = 2"),
                                   ("posts to a placeholder URL", "z = 3")]


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_snippets_run(guide: str, tmp_path, monkeypatch) -> None:
    path = DOCS / guide
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    assert blocks, f"{guide} has no python block"
    skipped = [reason for reason, _ in blocks if reason is not None]
    assert all(skipped), f"{guide}: a skip marker without a reason"
    assert len(skipped) <= MAX_SKIPPED, f"{guide} leaves {len(skipped)} blocks unrun: {skipped}"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem.lower()}"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, (reason, code) in enumerate(blocks, 1):
                if reason is not None:
                    continue
                try:
                    exec(compile(code, f"{guide}[block {i}]", "exec"), namespace)
                except Exception as err:
                    raise AssertionError(f"{guide} block {i} failed: {err!r}\n{code}") from err
    finally:
        close = getattr(namespace.get("ws"), "close", None)
        if callable(close):
            close()
