"""Every ``_repr_html_`` and panel shows hostile text as text: no tag of ours gets injected."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

import mlmkit
from mlmkit._html import dict_table, rows_table
from mlmkit.analysis import drift
from mlmkit.analysis.detectors import DDM, run_detector
from mlmkit.values import ModelMetadata

ATTACK = "<img src=x onerror=alert(1)>"
ALLOWED = {"table", "caption", "tr", "th", "td", "div", "h3", "h4", "p", "b", "span", "img"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_safe(markup: str) -> None:
    parser = _Tags()
    parser.feed(markup)
    for tag, attrs in parser.tags:
        assert tag in ALLOWED, (tag, markup[:300])
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":  # our own images are data: URIs of rendered charts
            assert str(attrs.get("src", "")).startswith("data:image/"), attrs
    assert "onerror" not in markup.replace("onerror=alert(1)&gt;", "")


text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | text,
                      lambda inner: st.dictionaries(text, inner, max_size=3)
                      | st.lists(inner, max_size=3), max_leaves=8)


@given(st.dictionaries(text, values, max_size=6), text)
def test_dict_table_escapes_everything(data: dict[str, object], title: str) -> None:
    assert_safe(dict_table(data, title=title))
    assert_safe(dict_table({ATTACK: {ATTACK: ATTACK}}, title=ATTACK))


@given(st.lists(text, min_size=1, max_size=4, unique=True), st.lists(text, max_size=4))
def test_rows_table_escapes_everything(columns: list[str], cells: list[str]) -> None:
    rows = [{c: cells[i % len(cells)] if cells else None for c in columns} for i in range(3)]
    assert_safe(rows_table(columns, rows, title=ATTACK))


def test_model_metadata_escapes_configuration_and_metadata() -> None:
    meta = ModelMetadata("m", "supervised", "1.0.0", configuration={ATTACK: ATTACK},
                         performance_metrics={"accuracy": 0.9}, metadata={ATTACK: [ATTACK]})
    markup = meta._repr_html_()
    assert_safe(markup)
    assert "&lt;img" in markup


def test_drift_report_escapes_feature_names_and_categories() -> None:
    rng = np.random.default_rng(0)
    ref = pl.DataFrame({ATTACK: rng.normal(size=200), "c": [ATTACK, "b"] * 100})
    cur = pl.DataFrame({ATTACK: rng.normal(1, 1, size=200), "c": [ATTACK, "b"] * 100})
    assert_safe(drift.detect_drift(ref, cur)._repr_html_())


def test_detection_result_is_escaped() -> None:
    result = run_detector(DDM(), np.zeros(50, dtype=bool))
    assert_safe(result._repr_html_())


def test_rollout_and_job_results_escape_reasons(tmp_path: object) -> None:
    with mlmkit.open() as ws:
        for v in ("1.0.0", "1.1.0"):
            ws.registry.register(ModelMetadata("m", "supervised", v))
        ws.registry.deploy("m", "1.0.0", reason=ATTACK)
        rollout = ws.ab.start_rollout(mlmkit.ABTestConfig.for_gradual_rollout("m", "1.0.0",
                                                                              "1.1.0"))
        rollout.rollback(reason=ATTACK)
        assert_safe(rollout._repr_html_())
        run = mlmkit.run_job(ws, "retention")
        assert_safe(run._repr_html_())
