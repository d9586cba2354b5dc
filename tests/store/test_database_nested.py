"""db.transaction() nested: joins the outer transaction; a caught inner error rolls all back."""

from __future__ import annotations

import pytest

from mlmkit.exceptions import StoreError
from mlmkit.store.database import Database


def test_nested_transaction_joins_and_a_caught_error_dooms_it(tmp_path):
    db = Database(tmp_path / "t.duckdb", migrate=False)
    db.execute("CREATE TABLE t (x INTEGER)")
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
        with db.transaction() as inner:
            inner.execute("INSERT INTO t VALUES (2)")
    assert db.execute("SELECT sum(x) FROM t") == [(3,)]
    with pytest.raises(StoreError, match="nested"), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (10)")
        try:
            with db.transaction() as inner:
                inner.execute("INSERT INTO t VALUES (20)")
                raise KeyError("inner step failed")
        except KeyError:
            pass
    with pytest.raises(KeyError), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (100)")
        raise KeyError("outer step failed")
    assert db.execute("SELECT sum(x) FROM t") == [(3,)]
    db.close()
