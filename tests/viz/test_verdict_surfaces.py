"""The same verdict in the monitor panel, the Prometheus exposition and the demo summary."""

from __future__ import annotations

import html
import re

import pytest

from mlmkit.demo import summary_lines
from mlmkit.services.monitor import model_verdicts

pytest.importorskip("ipywidgets")


def test_panel_prometheus_and_demo_show_the_same_verdicts(demo_ws):
    from mlmkit.ops.prometheus import generate_metrics
    from mlmkit.viz.panels import MonitorPanel

    verdicts = model_verdicts(demo_ws)
    assert verdicts
    panel = MonitorPanel(demo_ws, window="7d")
    for v in verdicts:
        panel.model.value = v.model_name
        page = panel.static_html()
        assert html.escape(v.sentence) in page
        assert f"data-severity='{v.severity}'" in page
    lines = summary_lines(demo_ws)
    assert [line.strip() for line in lines[::2]] == [v.sentence for v in verdicts]
    demo_ws.close()
    text = generate_metrics(demo_ws.db.path).decode()
    found = dict(re.findall(r'mlmkit_model_verdict\{[^}]*model="([^"]+)",severity="([^"]+)"',
                            text))
    assert found == {v.model_name: v.severity for v in verdicts}
