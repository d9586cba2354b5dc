"""The one validator of prediction rows: every entry point makes its rows canonical here.

``ws.log.track``, ``ws.log.track_batch``, the buffered writer (and the HTTP ingestion API)
call `prediction_row` or `prediction_batch` with the task of the model (looked up once per
call or batch from the registry; an unregistered model is binary); the store receives the
canonical values and checks only what needs the table (ids already logged, feature kinds
registered by another process). Every problem raises
[`ValidationError`][mlmkit.exceptions.ValidationError] naming the column (and, for a batch, the
row) and the value; a batch is refused as a whole.

Canonical values: ``model_name`` a non-empty string; ``version`` canonical semver text; the
prediction and ground truth of the model's task (`mlmkit.services.ingest.tasks`: booleans
``prediction``/``actual`` and a ``score`` in [0, 1] for binary models, class labels as text
for multiclass, finite floats for regression, any finite ``score`` for score-only);
``confidence`` in [0, 1] (binary: ``score`` derived from it when missing); ``ts`` an aware
UTC timestamp (naive timestamps are taken as UTC, in ``track`` and ``track_batch`` alike) no
later than ``now + max_future``; ids and unit ids strings. Feature values are ``numeric`` (any
bool, integer or float, numpy scalars included; stored as DOUBLE) or ``categorical``
(strings). A missing feature value is NULL: ``None``, NaN and ±inf all mean "missing" and are
stored as NULL, so drift reads one kind of missingness. A feature seen only as missing has no
kind yet.

Modules: ``rows`` (one row), ``batches`` (frames), ``tasks`` (what each task logs),
``frames`` (frame conversion and column checks), ``labels`` (delayed labels: `label_request`).
"""

from __future__ import annotations

from mlmkit.services.ingest.batches import prediction_batch
from mlmkit.services.ingest.frames import to_polars
from mlmkit.services.ingest.labels import ON_UNKNOWN, LabelRequest, label_request
from mlmkit.services.ingest.rows import (
    DEFAULT_MAX_FUTURE,
    Feature,
    PredictionRow,
    Row,
    check_max_future,
    feature_value,
    prediction_row,
)
from mlmkit.services.ingest.tasks import LABEL_COLUMNS, TaskLookup, label_values

__all__ = ["DEFAULT_MAX_FUTURE", "LABEL_COLUMNS", "ON_UNKNOWN", "Feature", "LabelRequest",
           "PredictionRow", "Row", "TaskLookup", "check_max_future", "feature_value",
           "label_request", "label_values", "prediction_batch", "prediction_row", "to_polars"]
