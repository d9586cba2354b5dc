"""``track()`` through the production topology under a six-process mix (issue 14).

Target: p99 <= 50 ms (before the server: p50 9 ms, p99 1.7 s, max 3 s with every process on
the file). One ``mlmkit serve`` owns the file and NO other process opens it; six processes
run at once for ``seconds``, all through ``mlmkit.client``:

- two services logging single predictions with ``Client.track`` (timed);
- a label feed: ``Client.track_batch`` of 50 rows, then ``Client.record_actuals`` for them;
- a registry process (admin token): ``Client.register`` of a new version every second,
  deploying every other one and rolling back every fourth (on the server's writer thread,
  between ingestion groups: no lease hand-off);
- a reader: ``Client.metrics``, ``Client.models``, ``Client.history`` and a ``/metrics``
  scrape (reads on a cursor beside the writer, never on the writer thread);
- an idle notebook: reads once through the client, then stays idle (a notebook that opened
  the file itself would pause ingestion; see docs/SERVER.md).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import mlmkit
from benchmarks.bench_server import _Server
from mlmkit.client import Client


def _service(base: str, token: str, seconds: float, name: str, out: Any) -> None:
    from mlmkit.client import Client

    lat = []
    with Client(base, token) as client:
        client.track("mix", "1.0.0", True)
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            began = time.perf_counter()
            client.track("mix", "1.0.0", True, score=0.7, unit_id=name)
            lat.append(time.perf_counter() - began)
    out.put(lat)


def _labels(base: str, token: str, seconds: float) -> None:
    from mlmkit.client import Client

    with Client(base, token) as client:
        stop, k = time.monotonic() + seconds, 0
        while time.monotonic() < stop:
            ids = [f"lab-{k}-{i}" for i in range(50)]
            client.track_batch([{"model_name": "mix", "version": "1.0.0", "prediction": i % 2,
                                 "prediction_id": pid} for i, pid in enumerate(ids)])
            client.record_actuals(ids, [True] * 50, model_name="mix")
            k += 1
            time.sleep(0.2)


def _registry(base: str, token: str, seconds: float) -> None:
    from mlmkit.client import Client

    with Client(base, token) as client:
        stop, k = time.monotonic() + seconds, 0
        while time.monotonic() < stop:
            client.register(mlmkit.ModelMetadata("mix", "supervised", f"1.0.{k + 1}"))
            if k % 2 == 0:
                client.deploy("mix", f"1.0.{k + 1}", reason="bench")
            if k % 4 == 3:
                client.rollback("mix", reason="bench")
            k += 1
            time.sleep(1.0)


def _reader(base: str, token: str, seconds: float) -> None:
    import httpx

    with Client(base, token) as client, httpx.Client(base_url=base, timeout=30) as scraper:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            client.metrics("mix", version="1.0.0", window="1h")
            client.models()
            client.history("mix")
            scraper.get("/metrics").raise_for_status()
            time.sleep(0.2)


def _notebook(base: str, token: str, seconds: float) -> None:
    from mlmkit.client import Client

    with Client(base, token) as client:
        client.metrics("mix", version="1.0.0", window="24h")
        time.sleep(seconds)  # open and idle, as a forgotten notebook kernel


def _phase(ctx: Any, server: _Server, seconds: float, others: tuple[Any, ...]
           ) -> list[float]:
    """The two timed services with ``others`` for ``seconds``: the latencies of track()."""
    out = ctx.Queue()
    procs = [ctx.Process(target=_service, args=(server.base, server.token, seconds, f"s{i}",
                                               out)) for i in range(2)]
    procs += [ctx.Process(target=target, args=(server.base, server.token, seconds))
              for target in others]
    for p in procs:
        p.start()
    lat = [x for _ in range(2) for x in out.get(timeout=seconds + 300)]
    for p in procs:
        p.join(timeout=300)
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError(f"a mix process failed: {[p.exitcode for p in procs]}")
    return lat


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    seconds = max(5.0, 20.0 * min(scale, 1.0))
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "mix.duckdb"
        server = _Server(db)
        with Client(server.base, server.token) as admin:
            admin.register(mlmkit.ModelMetadata("mix", "supervised", "1.0.0",
                                                environment="production"))
        try:  # first the two services alone (the machine's own noise), then the mix
            alone = _phase(ctx, server, seconds / 2, ())
            lat = _phase(ctx, server, seconds, (_labels, _registry, _reader, _notebook))
        finally:
            server.stop()
    base50, base99 = (float(np.quantile(np.asarray(alone), q)) for q in (0.5, 0.99))
    values = np.asarray(lat)
    p50, p99 = (float(np.quantile(values, q)) for q in (0.5, 0.99))
    load = os.getloadavg()[0]
    return [{"benchmark": f"track() via the server, six-process mix p99 (p50 {p50 * 1000:.1f} "
                          f"ms, max {values.max() * 1000:.0f} ms, n={values.size}; the two "
                          f"services alone: p50 {base50 * 1000:.1f}, p99 {base99 * 1000:.1f} "
                          f"ms; load average {load:.1f})",
             "mlmkit_s": p99, "baseline": "50 ms", "baseline_s": 0.050, "ratio": 0.050 / p99,
             "target": ">= 1.0 (bound / measured)", "ok": p99 <= 0.050}]


if __name__ == "__main__":
    for result in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(result)
