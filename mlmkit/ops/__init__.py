"""Operations: Prometheus exposition, health checks, logging set-ups, scheduler, server, CLI.

Optional dependencies (``prometheus_client``, ``apscheduler``) are imported only when the
exporter or the scheduler is used; ``pip install 'mlmkit[ops]'`` installs both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlmkit._lazy import lazy_getattr as _lazy_getattr

if TYPE_CHECKING:
    from mlmkit.ops.commands import register
    from mlmkit.ops.health import HealthResult, health_report, liveness, readiness
    from mlmkit.ops.logging import configure as configure_logging
    from mlmkit.ops.prometheus import MlmkitCollector, generate_metrics, write_textfile
    from mlmkit.ops.scheduler import build_scheduler, load_schedule, run_scheduler
    from mlmkit.ops.server import make_server, serve

# Loaded on first access: the CLI imports mlmkit.ops.commands to build ``mlmkit --help``,
# which must not import the store, polars or numpy.
_NAMES = {"register": "commands", "HealthResult": "health", "health_report": "health",
          "liveness": "health", "readiness": "health", "configure": "logging",
          "MlmkitCollector": "prometheus", "generate_metrics": "prometheus",
          "write_textfile": "prometheus", "build_scheduler": "scheduler",
          "load_schedule": "scheduler", "run_scheduler": "scheduler", "make_server": "server",
          "serve": "server"}
_lazy = _lazy_getattr(__name__, {k: f"{__name__}.{v}" for k, v in _NAMES.items()})


def __getattr__(attr: str) -> Any:
    return _lazy("configure" if attr == "configure_logging" else attr)

__all__ = [
    "HealthResult",
    "MlmkitCollector",
    "build_scheduler",
    "configure_logging",
    "generate_metrics",
    "health_report",
    "liveness",
    "load_schedule",
    "make_server",
    "readiness",
    "register",
    "run_scheduler",
    "serve",
    "write_textfile",
]
