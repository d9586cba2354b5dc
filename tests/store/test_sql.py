"""The store's one WHERE builder, and the one writer of alert rows."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import mlmkit
from mlmkit.store import experiments
from mlmkit.store._sql import Where, where_clause
from mlmkit.store.database import Database
from mlmkit.values import TimeRange, utcnow

STORE = Path(mlmkit.__file__).parent / "store"


def test_where_skips_absent_filters_and_keeps_parameter_order():
    now = utcnow()
    w = Where().equal("a", 1).equal("b", None).at_least("t", now).before("t", None) \
        .among("v", ["x", "y"]).add("k = 'open'")
    assert str(w) == "a = ? AND t >= ? AND v IN (?, ?) AND k = 'open'"
    assert w.params == [1, now, "x", "y"]
    assert str(Where()) == "TRUE" and Where().params == []


def test_where_among_an_empty_list_matches_nothing_in_duckdb(tmp_path):
    db = Database(tmp_path / "w.duckdb")
    db.execute("CREATE TABLE t (id INTEGER, job VARCHAR)")
    db.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL)")
    for where, expected in ((Where().among("id", []), []), (Where().among("id", None), [1, 2, 3]),
                            (Where().among("id", [3, 1]), [1, 3]),
                            (Where().equal("job", "b"), [2]), (Where().equal("job", None),
                                                                [1, 2, 3])):
        rows = db.execute(f"SELECT id FROM t WHERE {where} ORDER BY id", where.params)
        assert [r[0] for r in rows] == expected, str(where)
    db.close()


def test_where_clause_of_the_predictions_table():
    span = TimeRange(utcnow() - timedelta(hours=1), utcnow())
    text, params = where_clause("m", ["1.0.0"], span, role="served")
    assert text == "model_name = ? AND version IN (?) AND ts >= ? AND ts < ? AND role = ?"
    assert params == ["m", "1.0.0", span.start, span.end, "served"]
    assert where_clause("m", [], None) == ("model_name = ?", ["m"])


def test_store_modules_build_conditions_with_the_one_helper():
    pattern = re.compile(r"""["']\s*AND\s*["']\s*\.join|WHERE (true|TRUE)\b""")
    offenders = [f"{p.relative_to(STORE)}:{n}" for p in sorted(STORE.rglob("*.py"))
                 if p.name != "_sql.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders


def test_only_store_alerts_inserts_alert_rows():
    # store.experiments.insert_alert wrote alerts past the de-duplication; nothing called it
    assert not hasattr(experiments, "insert_alert")
    writers = [p.relative_to(STORE) for p in sorted(STORE.rglob("*.py"))
               if "migrations" not in p.parts
               and re.search(r"INSERT INTO alerts\b", p.read_text(), re.IGNORECASE)]
    assert [str(p) for p in writers] == ["alerts.py"]

