"""A ``ThresholdPanel`` live in a real JupyterLab, driven by headless Debian Chromium (Playwright).

Starts ``jupyter lab`` as a subprocess on 127.0.0.1 (free port, random token, private
runtime/config/data/settings dirs, news and update checks off), writes a two-cell notebook
that opens a copy of the demo workspace and displays the panel, runs all cells from the
"Run" menu, then moves the slider with the keyboard and checks the confusion matrix follows.
The browser may only talk to the local server: every other request is aborted and recorded.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it). Without it
the test is skipped with a loud reason.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL, VERSION = "n1-detector", "1.1.0"
# Console errors that say nothing about the panel. None seen with JupyterLab 4.6.6 /
# jupyterlab_widgets 3.0.17 / Chromium (news, update check and kernel dialog are switched off
# in the settings below); add a pattern here only with a note on where it comes from.
BENIGN: tuple[re.Pattern[str], ...] = ()
# The notebook's kernel is connected and idle (``window.jupyterapp``: expose_app_in_browser).
# Before that, "Run All Cells" can be a silent no-op.
KERNEL_READY = """() => {
    const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
    return kernel?.connectionStatus === 'connected' && kernel?.status === 'idle';
}"""


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab server."""

    url: str
    token: str
    root: Path
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _notebook(path: Path) -> None:
    code = [
        "import mlmkit\nfrom mlmkit.viz.panels import ThresholdPanel\n"
        "ws = mlmkit.open('demo.duckdb')",
        f"panel = ThresholdPanel(ws, {MODEL!r}, {VERSION!r}, window='30d')\npanel",
    ]
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
              "outputs": [], "source": src} for i, src in enumerate(code)]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}}}
    path.write_text(json.dumps(nb))


def _wait_ready(url: str, token: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer within 40 s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the server shuts its kernels down), wait; kill our process group if stuck."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    try:  # any kernel left behind is in the server's own process group (start_new_session)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def lab(demo_path: Path, tmp_path: Path) -> Iterator[Lab]:
    root, home = tmp_path / "root", tmp_path / "jupyter"
    root.mkdir()
    shutil.copyfile(demo_path, root / "demo.duckdb")
    _notebook(root / "panel.ipynb")
    dirs = {name: home / name.lower() for name in (
        "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR",
        "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")}
    for d in dirs.values():
        d.mkdir(parents=True)
    (dirs["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json").write_text(json.dumps({
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   "extension_manager": "readonly", "expose_app_in_browser": True},
    }))
    settings = {  # no kernel-picker dialog, no news/update toast (and no request for them);
        # every cell in the DOM (no windowing), so the test can find outputs far down the page
        "notebook-extension/tracker": {"autoStartDefaultKernel": True, "windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, values in settings.items():
        file = dirs["JUPYTERLAB_SETTINGS_DIR"] / f"@jupyterlab/{name}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values))
    env = {**os.environ, **{k: str(v) for k, v in dirs.items()}, "JUPYTER_PLATFORM_DIRS": "1"}
    env.pop("JUPYTER_PATH", None)
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyter.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, token, proc, log)
        yield Lab(url, token, root, proc)
    finally:
        _stop(proc)


def _nonblank(png: bytes) -> bool:
    """A decoded screenshot is not one flat colour (uses Chromium's own PNG; no PIL)."""
    pos, chunks = 8, []
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        if png[pos + 4:pos + 8] == b"IDAT":
            chunks.append(png[pos + 8:pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    ink = sum(1 for b in raw[::7] if b < 200) / max(len(raw[::7]), 1)
    return len(set(raw)) > 16 and ink > 0.002


def _cells(table_text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\b\d+\b", table_text.split("threshold")[0])]


def test_threshold_panel_live_in_jupyterlab(browser, lab: Lab, demo_ws, tmp_path: Path) -> None:
    pytest.importorskip("jupyterlab_widgets")
    pytest.importorskip("ipywidgets")
    from mlmkit.viz.panels import ThresholdPanel
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def local_only(route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    try:
        page.goto(f"{lab.url}/lab/tree/panel.ipynb?token={lab.token}")
        page.locator(".jp-Notebook .jp-Cell").nth(1).wait_for()
        page.wait_for_function(KERNEL_READY, timeout=40_000)
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()

        slider = page.locator(".jp-OutputArea .widget-slider")
        slider.wait_for(timeout=45_000)
        assert page.locator(".jp-OutputArea .jupyter-widgets").count() >= 5
        title = page.locator(".jp-OutputArea .widget-html-content h3")
        assert title.inner_text().strip() == f"Threshold: {MODEL} {VERSION}"
        table = page.locator(".jp-OutputArea .widget-html-content", has_text="pred +").first
        chart = page.locator(".jp-OutputArea .widget-html-content img.mlmkit-chart")
        chart.wait_for()
        assert chart.evaluate("i => i.complete && i.naturalWidth > 100 && i.naturalHeight > 100")
        assert _nonblank(chart.screenshot())
        readout = slider.locator(".widget-readout")
        before_value, before_table = readout.inner_text(), table.inner_text()
        before_cells = _cells(before_table)
        assert len(before_cells) == 4 and sum(before_cells) > 0, before_table

        handle = slider.locator(".noUi-handle")
        handle.focus()
        for _ in range(15):
            handle.press("ArrowRight")
        page.wait_for_function(  # keys are all delivered; wait for the kernel's table to catch up
            """([readout, table, old]) => readout.innerText !== old
                && table.innerText.includes('threshold\\t' + readout.innerText.trim())""",
            arg=[readout.element_handle(), table.element_handle(), before_value], timeout=15_000)
        after_value, after_table = readout.inner_text(), table.inner_text()
        after_cells = _cells(after_table)
        assert float(after_value) > float(before_value), (before_value, after_value)
        assert after_cells != before_cells and sum(after_cells) == sum(before_cells)
        # Oracle: the same panel built in this process gives the same counts at that threshold.
        row = ThresholdPanel(demo_ws, MODEL, VERSION, window="30d").row(float(after_value))
        assert after_cells == [row["tp"], row["fn"], row["fp"], row["tn"]], (after_table, row)

        shot = page.screenshot(full_page=True, path=str(tmp_path / "jupyterlab.png"))
        assert _nonblank(shot)
        assert [e for e in errors if not any(p.search(e) for p in BENIGN)] == [], errors
        assert outside == []
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"))
        outputs = page.locator(".jp-OutputArea").all_inner_texts()
        server_log = (tmp_path / "jupyter.log").read_text()
        print(f"screenshot: {tmp_path / 'failure.png'}\noutputs: {outputs}\nconsole errors: "
              f"{errors}\nblocked: {outside}\nserver log:\n{server_log}")
        raise
    finally:
        page.close()


NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "artifacts"
#: An interactive chart drawn by vega-embed (canvas by default, svg with renderer="svg").
VEGA = ".jp-OutputArea .vega-embed canvas.marks, .jp-OutputArea .vega-embed svg.marks"
#: Every code cell has run: a number in each input prompt, none still waiting ("[*]").
ALL_RAN = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.innerText));
}"""


def test_shipped_notebook_offline_in_jupyterlab(browser, lab: Lab, tmp_path: Path) -> None:
    """notebooks/01_quickstart.ipynb run from JupyterLab's menu with the network cut off.

    Its interactive trend chart (``use_offline_renderer`` in the setup cell) is drawn by
    vega-embed from the inlined scripts, and its MonitorPanel and RegistryBrowser render as
    live ipywidgets; no request leaves the machine or fails and the console stays clean.
    """
    pytest.importorskip("jupyterlab_widgets")
    shutil.copyfile(NOTEBOOKS / "01_quickstart.ipynb", lab.root / "01_quickstart.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    errors: list[str] = []
    outside: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))

    def local_only(route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    try:
        page.goto(f"{lab.url}/lab/tree/01_quickstart.ipynb?token={lab.token}")
        page.locator(".jp-Notebook .jp-Cell").nth(1).wait_for()
        page.wait_for_function(KERNEL_READY, timeout=40_000)
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()
        page.wait_for_function(ALL_RAN, timeout=180_000)
        page.wait_for_function(KERNEL_READY, timeout=60_000)

        assert page.locator(".jp-OutputArea-output[data-mime-type*='error']").count() == 0
        chart = page.locator(VEGA).first
        chart.wait_for(state="attached", timeout=30_000)
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, box
        assert _nonblank(chart.screenshot())
        # the vega-embed action menu: the chart is live Vega, not a picture of one
        assert page.locator(".jp-OutputArea .vega-embed .vega-actions").count() >= 1
        _keep(page.screenshot(), "jupyterlab_notebook_chart.png")

        monitor = page.locator(".jp-OutputArea .jupyter-widgets",
                               has=page.locator("h3", has_text=re.compile(r"^Monitor$"))).first
        monitor.scroll_into_view_if_needed()
        assert monitor.locator(".widget-dropdown select").count() >= 1  # model picker, live
        registry = page.locator(".jp-OutputArea .widget-html-content h3",
                                has_text=re.compile(r"^Registry$"))
        assert registry.count() >= 1
        shot = page.screenshot()
        assert _nonblank(shot)
        _keep(shot, "jupyterlab_notebook_panel.png")

        assert outside == [] and failed == [], (outside, failed)
        assert [e for e in errors if not any(p.search(e) for p in BENIGN)] == [], errors
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"))
        outputs = page.locator(".jp-OutputArea").all_inner_texts()
        print(f"screenshot: {tmp_path / 'failure.png'}\noutputs: {outputs}\nconsole errors: "
              f"{errors}\nblocked: {outside}\nfailed: {failed}\nserver log:\n"
              f"{(tmp_path / 'jupyter.log').read_text()}")
        raise
    finally:
        page.close()


def _keep(png: bytes, name: str) -> None:
    """Save a screenshot under reports/artifacts/ (git-ignored) for a human to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)
