"""``mlmkit simulate``: run the operations simulation and print its summary table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import timedelta

from mlmkit._cli_options import add_json

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from mlmkit.simulation import SimulationConfig, simulate

    cfg = dataclasses.replace(SimulationConfig(), days=args.days, seed=args.seed,
                              rows_per_step=args.rows_per_step,
                              step=timedelta(minutes=args.step_minutes))
    report = simulate(args.db, cfg, progress=lambda msg: print(msg, file=sys.stderr,
                                                               flush=True))
    print(json.dumps(report.to_dict(), default=str, indent=2) if args.json
          else report.summary())
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` command."""
    p = sub.add_parser("simulate", help="operate mlmkit over simulated days and check "
                                        "its invariants")
    p.add_argument("--db", required=True, metavar="PATH",
                   help="workspace file to create (must not exist)")
    p.add_argument("--days", type=float, default=3.0, help="simulated days to run")
    p.add_argument("--seed", type=int, default=20261130, help="random seed of the traffic")
    p.add_argument("--rows-per-step", type=int, default=60,
                   help="predictions logged per model and step")
    p.add_argument("--step-minutes", type=int, default=15, help="simulated minutes per step")
    add_json(p, what="the report")
    p.set_defaults(func=_run)
