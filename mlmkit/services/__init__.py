"""Services: combine the store with the analysis layer and return frozen results or polars.

Modules: ``log`` (prediction log), ``monitor``, ``alerts``, ``ab_test``, ``rollout``,
``tuning``, ``jobs``.
"""

from __future__ import annotations

from mlmkit.services.log import BufferedWriter, PredictionLog

__all__ = ["BufferedWriter", "PredictionLog"]
