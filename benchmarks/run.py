"""Run every benchmark and print one table of ratios against the alternatives.

Usage: ``python -m benchmarks.run [--scale 1.0] [--only store,metrics]``. Each module
``benchmarks/bench_<area>.py`` exposes ``run(scale) -> list[dict]`` with keys ``benchmark,
mlmkit_s, baseline, baseline_s, ratio, target, ok``. Results also go to
``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import pkgutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).parent


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", default="", help="comma-separated areas, e.g. store,metrics")
    args = parser.parse_args(argv)
    only = {a.strip() for a in args.only.split(",") if a.strip()}
    modules = sorted(m.name for m in pkgutil.iter_modules([str(HERE)])
                     if m.name.startswith("bench_"))
    rows: list[dict[str, object]] = []
    failed = False
    for name in modules:
        area = name.removeprefix("bench_")
        if only and area not in only:
            continue
        began = time.perf_counter()
        try:
            result = importlib.import_module(f"benchmarks.{name}").run(scale=args.scale)
        except Exception:  # report and continue with the other areas
            traceback.print_exc()
            rows.append({"area": area, "benchmark": "(crashed)", "ok": False})
            failed = True
            continue
        for row in result:
            rows.append({"area": area, **row})
        print(f"# {area}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    header = ["area", "benchmark", "mlmkit_s", "baseline", "baseline_s", "ratio", "target", "ok"]
    widths = {h: max(len(h), *(len(_fmt(r.get(h))) for r in rows)) if rows else len(h)
              for h in header}
    print("  ".join(h.ljust(widths[h]) for h in header))
    for row in rows:
        print("  ".join(_fmt(row.get(h)).ljust(widths[h]) for h in header))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"scale": args.scale, "rows": rows},
                                                default=str, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
