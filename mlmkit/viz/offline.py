"""Interactive Altair charts with no network: Vega's JavaScript inlined from vl-convert.

Altair's default renderer loads Vega, Vega-Lite and vega-embed from a CDN
(``cdn.jsdelivr.net``), so offline a chart shows "Error loading script". JupyterLab's own
Vega extension only reads Vega-Lite 5 (Altair 6 writes Vega-Lite 6), Altair's ``jupyter``
renderer needs anywidget and leaves nothing in exported HTML, and Altair's ``inline`` template
declares top-level constants, so a second chart on the same page throws. The renderer here
puts the scripts that vl-convert bundles (vega, vega-lite and vega-embed for Altair's
Vega-Lite version, about 0.9 MB) into each chart's ``text/html`` output, loads them once per
page and draws each chart in its own scope. The output is interactive in JupyterLab and in
HTML exported with nbconvert, with or without a network.

Examples
--------
>>> from mlmkit.viz import charts
>>> html = offline_html(charts.confusion_matrix({"tp": 1, "fp": 2, "tn": 3, "fn": 4}))
>>> "window.vegaEmbed" in html and "cdn.jsdelivr" not in html
True
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

from mlmkit._lazy import require

__all__ = ["EMBED_OPTIONS", "RENDERER", "offline_html", "use_offline_renderer"]

#: The name under which the renderer is registered with ``altair.renderers``.
RENDERER = "mlmkit-offline"

#: vega-embed options: the action menu keeps "save as SVG/PNG" and "view source" and drops
#: "open in Vega editor" (a page on vega.github.io, unreachable offline).
EMBED_OPTIONS: dict[str, Any] = {
    "actions": {"export": True, "source": True, "compiled": False, "editor": False}}


@functools.cache
def _bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one classic script (vl-convert; 5 s the first time)."""
    schema = str(require("altair", "viz").SCHEMA_VERSION)  # "v6.1.0" -> vl-convert's "v6_1"
    vlc = require("vl_convert", "viz")
    source = str(vlc.javascript_bundle(vl_version="_".join(schema.split(".")[:2])))
    return source.replace("</script", "<\\/script")


def _spec(chart: Any) -> dict[str, Any]:
    return chart.to_dict(validate=True) if hasattr(chart, "to_dict") else dict(chart)


def offline_html(chart: Any, *, embed_options: dict[str, Any] | None = None) -> str:
    """The chart (an Altair chart or a Vega-Lite dict) as self-contained interactive HTML.

    The scripts run in any page, any number of times: the bundle defines ``window.vegaEmbed``
    only if the page has none yet, and every name it declares stays inside a function.
    """
    target = f"mlmkit-vega-{uuid.uuid4().hex}"
    spec = json.dumps(_spec(chart)).replace("</", "<\\/")
    options = json.dumps({**EMBED_OPTIONS, **(embed_options or {})}).replace("</", "<\\/")
    return (
        f'<div class="mlmkit-vega" id="{target}"></div>\n'
        '<script type="text/javascript">\n'
        f"if (!window.vegaEmbed) {{ (function () {{\n{_bundle()}\n}})(); }}\n"
        "</script>\n"
        '<script type="text/javascript">\n'
        f'(function () {{ vegaEmbed(document.getElementById("{target}"), {spec}, {options})'
        ".catch(console.error); })();\n"
        "</script>")


def _render(spec: dict[str, Any], **metadata: Any) -> dict[str, str]:
    embed_options = metadata.get("embed_options")
    return {"text/html": offline_html(spec, embed_options=embed_options),
            "text/plain": "<Vega-Lite chart (interactive in JupyterLab)>"}


def use_offline_renderer(enable: bool = True) -> str:
    """Make every Altair chart displayed in this kernel interactive without a network.

    Call once in a notebook's setup cell (the shipped notebooks do). Charts then display as
    HTML with the Vega scripts inlined: interactive in JupyterLab and in HTML exported with
    nbconvert, no CDN. ``mlmkit.viz.show(chart)`` still gives a static PNG.

    Parameters
    ----------
    enable
        ``False`` switches back to Altair's default renderer (scripts from the CDN).

    Returns
    -------
    str
        The name of the renderer now active.

    Examples
    --------
    >>> import altair as alt
    >>> use_offline_renderer(), alt.renderers.active
    ('mlmkit-offline', 'mlmkit-offline')
    >>> use_offline_renderer(False)
    'default'
    """
    alt = require("altair", "viz")
    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, _render)
    alt.renderers.enable(RENDERER if enable else "default")
    return str(alt.renderers.active)
