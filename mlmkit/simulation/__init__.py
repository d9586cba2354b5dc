"""Operate mlmkit over simulated time: traffic, late labels, episodes, jobs, alerts, scrapes.

``mlmkit simulate`` and ``make soak`` run it; ``make test`` runs a short run. See
`simulate` and docs/OPERATIONS.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmkit._lazy import lazy_getattr as _lazy_getattr

if TYPE_CHECKING:
    from mlmkit.simulation.invariants import SimulationReport
    from mlmkit.simulation.run import simulate
    from mlmkit.simulation.world import Episode, ModelSpec, SimulationConfig

# Loaded on first access, so that ``mlmkit --help`` (which imports simulation.commands)
# imports no numpy or polars.
__getattr__ = _lazy_getattr(__name__, {
    "SimulationReport": "mlmkit.simulation.invariants", "simulate": "mlmkit.simulation.run",
    "Episode": "mlmkit.simulation.world", "ModelSpec": "mlmkit.simulation.world",
    "SimulationConfig": "mlmkit.simulation.world"})

__all__ = ["Episode", "ModelSpec", "SimulationConfig", "SimulationReport", "simulate"]
