"""Operate mlmkit over simulated time: traffic, late labels, episodes, jobs, alerts, scrapes.

``mlmkit simulate`` and ``make soak`` run it; ``make test`` runs a short run. See
:func:`simulate` and docs/OPERATIONS.md.
"""

from __future__ import annotations

from mlmkit.simulation.invariants import SimulationReport
from mlmkit.simulation.run import simulate
from mlmkit.simulation.world import Episode, ModelSpec, SimulationConfig

__all__ = ["Episode", "ModelSpec", "SimulationConfig", "SimulationReport", "simulate"]
