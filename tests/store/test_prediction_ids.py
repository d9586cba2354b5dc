"""The duplicate-id check of PredictionStore.insert_batch: the IN-list probe (few ids) and the
semi-join (many ids) find the same clashes, scoped by model and version; count_logged."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

import mlmkit
from mlmkit.exceptions import DuplicateError
from mlmkit.store.predictions import lookup


def _frame(ids: list[str], model: str = "m", version: str = "1.0.0") -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame({"model_name": [model] * n, "version": [version] * n,
                         "prediction": [True] * n, "score": [0.25] * n, "prediction_id": ids})


@pytest.mark.parametrize("n", [3, lookup.IN_LIST_MAX + 5])
def test_a_logged_id_is_refused_whatever_the_batch_size(tmp_path, n):
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.log.track_batch(_frame(["a7", "b2"]))
        ws.log.track_batch(_frame(["a7"], model="other"))  # another model: no clash
        ws.log.track_batch(_frame(["a7"], version="2.0.0"))  # another version: no clash
        ids = [f"n{i}" for i in range(n - 2)] + ["b2", "a7"]
        with pytest.raises(DuplicateError, match=r"prediction_id 'a7' is already logged "
                                                 r"for 'm' version '1.0.0'"):
            ws.log.track_batch(_frame(ids))
        assert ws.log.count("m") == 3  # nothing of the refused batch
        ws.log.track_batch(_frame(ids[:-2]))  # the same ids without the clashes: written
        assert ws.log.count("m") == 3 + n - 2


def test_count_logged_compares_every_column_and_knows_missing_columns(tmp_path):
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.log.track_batch(_frame(["a", "b"]))
        store = ws.log.store
        same = pa.table({"prediction_id": ["a", "b"], "model_name": ["m", "m"],
                         "score": [0.25, 0.25], "unit_id": pa.array([None, None], pa.string())})
        assert store.count_logged(same) == 2
        assert store.count_logged(same.set_column(2, "score", pa.array([0.25, 0.5]))) == 1
        assert store.count_logged(pa.table({"prediction_id": ["a"], "f_new": [1.0]})) is None


@pytest.mark.parametrize("n", [4, lookup.IN_LIST_MAX + 6])
def test_count_logged_by_id_probe_and_by_scan_agree(tmp_path, n):
    """A few ids compare against their logged rows only (the index); many, the whole log.

    Both answer the same: rows logged under other models or versions with the same id, a
    changed value, a row without id (a NULL matches no logged id) and an id never logged.
    """
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ids = [f"i{k}" for k in range(n)]
        ws.log.track_batch(_frame(ids))
        ws.log.track_batch(_frame(ids[:2], model="other"))
        ws.log.track_batch(_frame(ids[:2], version="2.0.0"))
        retry = pa.table({"prediction_id": ids, "model_name": ["m"] * n,
                          "version": ["1.0.0"] * n, "score": [0.25] * n})
        store = ws.log.store
        assert store.count_logged(retry) == n
        changed = retry.set_column(3, "score", pa.array([0.5] + [0.25] * (n - 1)))
        assert store.count_logged(changed) == n - 1
        unknown = retry.set_column(0, "prediction_id", pa.array(["zz", *ids[1:]]))
        assert store.count_logged(unknown) == n - 1
        no_id = retry.set_column(0, "prediction_id", pa.array([None, *ids[1:]], pa.string()))
        assert store.count_logged(no_id) == n - 1
        other = retry.set_column(2, "version", pa.array(["2.0.0"] * n))
        assert store.count_logged(other) == 2
