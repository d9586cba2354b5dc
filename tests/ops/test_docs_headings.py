"""No heading in the docs starts with a digit.

Python-Markdown's ``toc`` turns ``## 1. Install`` into ``id="1-install"``; the mkdocs theme's
scrollspy then runs ``document.querySelector('#1-install')``, which is not a valid CSS selector,
and throws on every scroll of that page ("... is not a valid selector").
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^#{1,6}\s+(.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")


def _headings(path: Path) -> list[tuple[int, str]]:
    found, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.append((number, m.group(1)))
    return found


def test_no_docs_heading_starts_with_a_digit() -> None:
    pages = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    bad = [f"{p.relative_to(ROOT)}:{n}: {text}" for p in pages for n, text in _headings(p)
           if text[:1].isdigit()]
    assert not bad, "headings starting with a digit (write 'Step 1: ...'):\n" + "\n".join(bad)


def test_the_check_sees_headings_but_not_code(tmp_path: Path) -> None:
    sample = tmp_path / "sample.md"
    sample.write_text("## 1. Install\n```bash\n# 2 comments in code are not headings\n```\n")
    assert _headings(sample) == [(1, "1. Install")]
