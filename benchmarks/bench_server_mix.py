"""``track()`` through the production topology under a six-process mix (issue 14).

Target: p99 <= 50 ms (before the server: p50 9 ms, p99 1.7 s, max 3 s with every process on
the file). One ``mlmkit serve`` owns the file; six processes run at once for ``seconds``:

- two services logging single predictions with ``mlmkit.client.Client.track`` (timed);
- a label feed posting ``record_actuals`` for predictions it logged, 50 at a time;
- a registry writer opening the file itself every second (registry writes have no endpoint,
  so each one takes the lease from the server's writer and gives it back);
- a reader asking the API for current metrics and scraping ``/metrics``;
- an idle notebook: a workspace opened, read once, then left open and idle.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import mlmkit
from benchmarks.bench_server import _Server


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


def _registry(db: str, seconds: float) -> None:
    stop, k = time.monotonic() + seconds, 0
    while time.monotonic() < stop:
        with mlmkit.open(db) as ws:
            ws.registry.register(mlmkit.ModelMetadata.for_n1_detector(f"1.0.{k}"))
        k += 1
        time.sleep(1.0)


def _reader(base: str, token: str, seconds: float) -> None:
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as client:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            client.get("/v1/models/mix/metrics", params={"version": "1.0.0", "window": "1h"})
            client.get("/metrics")
            time.sleep(0.2)


def _notebook(db: str, seconds: float) -> None:
    ws = mlmkit.open(db)
    ws.log.count("mix")
    time.sleep(seconds)  # open and idle, as a forgotten notebook kernel
    ws.close()


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    seconds = max(5.0, 20.0 * min(scale, 1.0))
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "mix.duckdb"
        server = _Server(db)
        out = ctx.Queue()
        procs = [ctx.Process(target=_service, args=(server.base, server.token, seconds, f"s{i}",
                                                   out)) for i in range(2)]
        procs += [ctx.Process(target=_labels, args=(server.base, server.token, seconds)),
                  ctx.Process(target=_registry, args=(str(db), seconds)),
                  ctx.Process(target=_reader, args=(server.base, server.token, seconds)),
                  ctx.Process(target=_notebook, args=(str(db), seconds))]
        try:
            for p in procs:
                p.start()
            lat = [x for _ in range(2) for x in out.get(timeout=seconds + 300)]
            for p in procs:
                p.join(timeout=300)
            if any(p.exitcode != 0 for p in procs):
                raise RuntimeError(f"a mix process failed: {[p.exitcode for p in procs]}")
        finally:
            server.stop()
    values = np.asarray(lat)
    p50, p99 = (float(np.quantile(values, q)) for q in (0.5, 0.99))
    return [{"benchmark": f"track() via the server, six-process mix p99 (p50 {p50 * 1000:.1f} "
                          f"ms, max {values.max() * 1000:.0f} ms, n={values.size})",
             "mlmkit_s": p99, "baseline": "50 ms", "baseline_s": 0.050, "ratio": 0.050 / p99,
             "target": ">= 1.0 (bound / measured)", "ok": p99 <= 0.050}]


if __name__ == "__main__":
    for result in run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0):
        print(result)
