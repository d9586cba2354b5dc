"""Label requests (``POST /v1/actuals``) committed in the writer's group transaction.

A request is validated in its own thread (`Labels.parse`:
`mlmkit.services.ingest.label_request`, the validator of ``ws.log.record_actuals``); the writer
labels every request of a group with ONE ``UPDATE`` (`PredictionStore.record_label_requests`
over one Arrow table of all their labels), in the transaction that inserts the group's
predictions, so a ``track()`` never waits behind a separate label transaction. A request with
an id matching no row fails alone (404, nothing of it recorded) unless it asked
``on_unknown="skip"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlmkit.exceptions import NotFoundError

if TYPE_CHECKING:
    import pyarrow as pa

    from mlmkit.catalogue import Task
    from mlmkit.store.predictions.writes import PredictionStore

__all__ = ["Labels", "record_labels", "waves"]

_COLUMNS = ("actual", "actual_label", "actual_value")


class Labels:
    """One validated label request: ids, labels (in their task's column) and scope."""

    __slots__ = ("column", "ids", "model_name", "skip_unknown", "values", "version")

    def __init__(self, model_name: str, version: str | None, ids: pa.Array, values: pa.Array,
                 column: str, skip_unknown: bool) -> None:
        self.model_name = model_name
        self.version = version
        self.ids = ids
        self.values = values
        self.column = column
        self.skip_unknown = skip_unknown

    @classmethod
    def parse(cls, spec: Mapping[str, Any], task_of: Callable[[str], Task]) -> Labels | None:
        """Validate a ``/v1/actuals`` body as ``record_actuals`` does; ``None``: no ids."""
        from mlmkit.services.ingest import label_request

        model = spec["model_name"]
        request = label_request(spec["prediction_ids"], spec["actuals"], model_name=model,
                                version=spec.get("version"),
                                on_unknown=spec.get("on_unknown") or "raise",
                                task_of=lambda _: task_of(model))
        if request is None:
            return None
        return cls(model, request.version, request.ids, request.values, request.column,
                   request.skip_unknown)

    @property
    def keys(self) -> set[tuple[str, str]]:
        """``(model, id)`` of every label (two requests of one wave never share one)."""
        return {(self.model_name, i) for i in self.ids.to_pylist()}


def waves(requests: Sequence[Labels]) -> list[list[int]]:
    """Consecutive runs of ``requests`` (their indexes) labelling distinct (model, id) pairs.

    Usually one run: one ``UPDATE`` for the group. A pair labelled twice starts a new run,
    so the later label wins as if the requests had run one after the other.
    """
    out: list[list[int]] = []
    seen: set[tuple[str, str]] = set()
    for k, request in enumerate(requests):
        keys = request.keys
        if not out or keys & seen:
            out.append([])
            seen = set()
        out[-1].append(k)
        seen |= keys
    return out


def record_labels(store: PredictionStore, requests: Sequence[Labels], at: datetime
                  ) -> list[dict[str, int] | NotFoundError]:
    """Label ``requests`` (one ``UPDATE`` per wave, inside the caller's transaction).

    Per request ``{"labelled", "skipped"}``, or the `NotFoundError` it answers (an unknown id
    without ``on_unknown="skip"``: none of its labels recorded).
    """
    import pyarrow as pa

    from mlmkit.store.predictions.writes import unknown_ids

    out: list[dict[str, int] | NotFoundError] = []
    for wave in waves(requests):
        chosen = [requests[k] for k in wave]
        sizes = [len(r.ids) for r in chosen]
        columns: dict[str, Any] = {
            "request": pa.array([k for k, n in enumerate(sizes) for _ in range(n)], pa.int32()),
            "ordinal": pa.array([i for n in sizes for i in range(n)], pa.int32()),
            "prediction_id": pa.concat_arrays([r.ids for r in chosen]),
            "model_name": pa.array([r.model_name for r, n in zip(chosen, sizes, strict=True)
                                    for _ in range(n)], pa.string()),
            "version": pa.array([r.version for r, n in zip(chosen, sizes, strict=True)
                                 for _ in range(n)], pa.string())}
        for name, kind in zip(_COLUMNS, (pa.bool_(), pa.string(), pa.float64()), strict=True):
            columns[name] = pa.concat_arrays([
                r.values.cast(kind) if r.column == name else pa.nulls(len(r.ids), kind)
                for r in chosen])
        found = store.record_label_requests(
            pa.table(columns), at, skip_unknown=[k for k, r in enumerate(chosen)
                                                 if r.skip_unknown])
        for k, request in enumerate(chosen):
            changed, missing, first = found.get(k, (0, 0, None))
            if missing and not request.skip_unknown:
                out.append(unknown_ids(first, missing, request.model_name, request.version))
            else:
                out.append({"labelled": changed, "skipped": missing})
    return out
