"""One validator of delayed labels: ``ws.log.record_actuals`` and ``POST /v1/actuals`` agree.

`mlmkit.services.ingest.label_request` is called by both; each bad call below is refused by the
Python API and by the server's edge (`Labels.parse`) with the same error, before the log is
read or written.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import mlmkit
from mlmkit.catalogue import Task
from mlmkit.exceptions import MlmkitError
from mlmkit.server.labels import Labels

BAD = [  # (prediction_ids, actuals, extra, field named, value named)
    (["p1", "p1"], [1, 0], {}, "prediction_ids", "'p1'"),
    (["p1", None], [1, 0], {}, "prediction_ids", "None"),
    (["p1", "p2"], [1], {}, "actuals", "1 values"),
    (["p1"], [2], {}, "actuals", "2"),
    (["p1"], [1], {"on_unknown": "ignore"}, "on_unknown", "'ignore'"),
    (["p1"], [1], {"version": "one"}, "version", "'one'"),
    ("p1", [1], {}, "prediction_ids", "str"),  # list("p1") would be two ids
    (["p1"], "1", {}, "actuals", "str"),
    ({"p1": 1}, [1], {}, "prediction_ids", "dict"),
    ([True], [1], {}, "prediction_ids", "True"),  # never cast to the id "True"
    ([1.5], [1], {}, "prediction_ids", "1.5"),
    ([["p1"]], [1], {}, "prediction_ids", "['p1']"),
    (["p1", 2], [1, 0], {}, "prediction_ids", "2"),  # one type, as a column of track_batch
]


@pytest.fixture
def ws(tmp_path):
    with mlmkit.open(tmp_path / "ws.duckdb") as ws:
        ws.registry.register(mlmkit.ModelMetadata("m", "supervised", "1.0.0"))
        ws.log.track_batch(pl.DataFrame({"model_name": "m", "version": "1.0.0",
                                         "prediction": [True, False],
                                         "prediction_id": ["p1", "p2"]}))
        yield ws


@pytest.mark.parametrize(("ids", "actuals", "extra", "field", "value"), BAD)
def test_a_bad_label_call_is_refused_alike_by_the_api_and_the_server(ws, ids, actuals, extra,
                                                                      field, value):
    with pytest.raises(MlmkitError) as api:
        ws.log.record_actuals(ids, actuals, model_name="m", **extra)
    with pytest.raises(MlmkitError) as server:
        Labels.parse({"model_name": "m", "prediction_ids": ids, "actuals": actuals, **extra},
                     lambda _: Task.BINARY)
    assert str(api.value) == str(server.value)
    assert field in str(api.value) and value in str(api.value)
    assert ws.log.predictions("m").get_column("actual").null_count() == 2  # nothing written


def test_arrays_and_series_are_sequences_of_labels(ws):
    assert ws.log.record_actuals(np.array(["p1", "p2"]), pl.Series([True, False]),
                                 model_name="m") == 2
    assert ws.log.record_actuals((i for i in ["p1"]), iter([0]), model_name="m") == 1
    assert ws.log.predictions("m").get_column("actual").to_list() == [False, False]
