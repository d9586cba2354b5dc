"""mkdocs hook: the example notebooks, executed, as pages of the documentation site.

``mkdocs build`` (and ``make docs``) runs each ``notebooks/NN_*.ipynb`` with papermill on a
small demo workspace, exports it with nbconvert's ``basic`` template (inputs, outputs, no
script from a CDN; the interactive charts carry their own scripts, see
``mlmkit.viz.use_offline_renderer``) and adds two generated files per notebook:
``notebooks/NN_name.html`` (the standalone page) and ``notebooks/NN_name.md`` (a site page that
frames it; ``mkdocs.yml`` lists these in its nav). Nothing is written to ``docs/``.

Executed notebooks are cached in ``build/notebooks/`` (git-ignored) under a hash of the
notebook sources and of the ``mlmkit`` package, so a second build without changes reuses them.
Set ``MLMKIT_DOCS_NOTEBOOKS=<dir>`` to render notebooks executed elsewhere instead.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks"
CACHE = ROOT / "build" / "notebooks"
#: Small demo sizes: the site shows what the notebooks do, not how fast.
PARAMETERS = {"01": {"n_predictions": 1500}}
PER_MODEL = 1500

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="../css/pygments.css">
<style>
body {{ font-family: system-ui, sans-serif; margin: 1rem 1.5rem; color: #222; }}
.jp-InputArea pre, .highlight pre {{ background: #f6f8fa; padding: .5rem; overflow-x: auto; }}
.jp-OutputArea-output pre {{ white-space: pre-wrap; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; }}
img {{ max-width: 100%; height: auto; }}
</style></head>
<body>
{body}
</body></html>
"""


def _key(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in [*paths, *sorted((ROOT / "mlmkit").rglob("*.py"))]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _execute(paths: list[Path]) -> Path:
    """Run every notebook once per change of notebooks or package; return the output dir."""
    key = _key(paths)
    out = CACHE / key
    if all((out / p.name).is_file() for p in paths):
        return out
    shutil.rmtree(CACHE, ignore_errors=True)
    work = out / "work"
    work.mkdir(parents=True)
    for path in paths:
        params = PARAMETERS.get(path.name[:2], {"db_path": str(work / "demo.duckdb"),
                                                "per_model": PER_MODEL})
        # a child process: the kernel's own warnings stay out of mkdocs' log (strict builds
        # and tests read it), and are shown if the notebook fails
        proc = subprocess.run(
            [sys.executable, "-m", "papermill", str(path), str(work / path.name),
             "-y", json.dumps(params), "-k", "python3", "--cwd", str(work),
             "--no-progress-bar", "--no-log-output"],
            capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{path.name} failed under papermill:\n{proc.stderr[-4000:]}")
        (work / path.name).replace(out / path.name)  # complete notebooks only
    return out


def _title(nb: Any, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return str(cell.source.splitlines()[0][2:].strip())
    return fallback


def _export(notebook: Path) -> tuple[str, str]:
    import nbconvert
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    nb.metadata.pop("widgets", None)  # live widget state would need the widget manager (CDN)
    for cell in nb.cells:  # papermill's bookkeeping, not the notebook's content
        cell.metadata.pop("papermill", None)
    exporter = nbconvert.HTMLExporter(template_name="basic", exclude_input_prompt=True,
                                      exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    title = _title(nb, notebook.stem[3:].replace("_", " ").capitalize())
    return title, _PAGE.format(title=html.escape(title), body=body)


def on_files(files: Any, config: Any) -> Any:
    """Add ``notebooks/NN_name.html`` and ``notebooks/NN_name.md`` for every notebook."""
    from mkdocs.structure.files import File

    paths = sorted(SOURCES.glob("[0-9][0-9]_*.ipynb"))
    given = os.environ.get("MLMKIT_DOCS_NOTEBOOKS")
    executed = Path(given) if given else _execute(paths)
    for path in paths:
        title, page = _export(executed / path.name)
        files.append(File.generated(config, f"notebooks/{path.stem}.html", content=page))
        files.append(File.generated(config, f"notebooks/{path.stem}.md", content=(
            f"# {title}\n\n"
            f"`notebooks/{path.name}` run top to bottom on a small demo workspace; the charts "
            f"are interactive, the panels are static copies (live only with a kernel). "
            f'<a href="../{path.stem}.html">Open the notebook on its own page</a>.\n\n'
            f'<iframe class="mlmkit-notebook" src="../{path.stem}.html" '
            f'title="{html.escape(title)}" '
            f'style="width: 100%; height: 85vh; border: 1px solid #ddd;"></iframe>\n')))
    return files
