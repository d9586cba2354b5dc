"""The Prometheus text exposition format (version 0.0.4) for gauges, without prometheus_client.

``mlmkit serve`` and ``mlmkit metrics`` answer on the core install with this writer; when
``prometheus_client`` is installed, [`generate_metrics`][mlmkit.ops.generate_metrics] uses it
instead and the text is the same (a test compares the two).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CounterFamily", "GaugeFamily", "exposition", "write_atomically"]


class GaugeFamily:
    """A gauge family with the interface of ``prometheus_client``'s ``GaugeMetricFamily``.

    Examples
    --------
    >>> fam = GaugeFamily("up", "1 when up", labels=["job"])
    >>> fam.add_metric(["a"], 1)
    >>> print(exposition([fam]).decode(), end="")
    # HELP up 1 when up
    # TYPE up gauge
    up{job="a"} 1.0
    """

    type = "gauge"

    def __init__(self, name: str, documentation: str, *,
                 labels: Sequence[str] | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self._labels = list(labels or [])
        self.samples: list[tuple[dict[str, str], float]] = []

    def add_metric(self, labels: Sequence[Any], value: float) -> None:
        """Add one sample with label values in the family's label order."""
        self.samples.append((dict(zip(self._labels, (str(v) for v in labels), strict=True)),
                             float(value)))


class CounterFamily(GaugeFamily):
    """A counter family (``# TYPE ... counter``); the name is written as given.

    Examples
    --------
    >>> fam = CounterFamily("jobs_total", "jobs run")
    >>> fam.add_metric([], 3)
    >>> print(exposition([fam]).decode(), end="")
    # HELP jobs_total jobs run
    # TYPE jobs_total counter
    jobs_total 3.0
    """

    type = "counter"


def _number(value: float) -> str:
    """Format like Go (and prometheus_client): ``1.0``, ``1.7e+09``, ``+Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def exposition(families: Iterable[Any]) -> bytes:
    """The text exposition of `GaugeFamily` / `CounterFamily` ``families``."""
    out: list[str] = []
    for fam in families:
        doc = fam.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {fam.name} {doc}\n# TYPE {fam.name} {fam.type}\n")
        for labels, value in fam.samples:
            pairs = ",".join(f'{k}="{_label(v)}"' for k, v in sorted(labels.items()))
            out.append(f"{fam.name}{{{pairs}}} " if pairs else f"{fam.name} ")
            out.append(f"{_number(value)}\n")
    return "".join(out).encode()


def write_atomically(out: str | os.PathLike[str], body: bytes) -> None:
    """Write ``body`` to ``out`` through a temporary file and a rename (readers never see half)."""
    target = Path(out)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
