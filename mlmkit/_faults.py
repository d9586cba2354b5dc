"""Named failure points for crash testing: ``fault_point(name)`` ends the process there.

Every multi-step operation (rollout advance/complete/rollback, tuning ``apply``, retention,
job journaling, alert fire, registry updates that change a deployment, ``BufferedWriter``
flushes, a regression write and its per-day statistics) calls `fault_point` between its
steps. When the environment variable ``MLMKIT_FAULT`` names the point, the process exits at
once with status `EXIT_CODE`
(``os._exit``: no ``finally`` blocks, no ``atexit`` handlers, no flush, as a ``kill -9``
would). ``tests/test_fault_injection.py`` runs each operation in a subprocess with each of
its points armed and checks that the next job run leaves a consistent workspace.

The variable is read once, at import, so the normal path costs one comparison with ``None``.
"""

from __future__ import annotations

import os

__all__ = ["ARMED", "EXIT_CODE", "fault_point"]

EXIT_CODE = 86
ARMED: str | None = os.environ.get("MLMKIT_FAULT") or None


def fault_point(name: str) -> None:
    """Exit the process with `EXIT_CODE` when ``MLMKIT_FAULT`` equals ``name``."""
    if ARMED is not None and name == ARMED:
        os._exit(EXIT_CODE)
