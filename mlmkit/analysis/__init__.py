"""Pure analysis functions: numpy / polars in, numbers, frozen results or polars frames out.

No I/O, no duckdb, no plotting. Submodules: ``metrics``, ``stats``, ``drift``, ``detectors``,
``thresholds``, ``estimation``.
"""

from __future__ import annotations

__all__: list[str] = []
