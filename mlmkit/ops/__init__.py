"""Operations: Prometheus exposition, health checks, logging set-ups, scheduler, server, CLI.

Optional dependencies (``prometheus_client``, ``apscheduler``) are imported only when the
exporter or the scheduler is used; ``pip install 'mlmkit[ops]'`` installs both.
"""

from __future__ import annotations

from mlmkit.ops.commands import register
from mlmkit.ops.health import HealthResult, health_report, liveness, readiness
from mlmkit.ops.logging import configure as configure_logging
from mlmkit.ops.prometheus import MlmkitCollector, generate_metrics, write_textfile
from mlmkit.ops.scheduler import build_scheduler, load_schedule, run_scheduler
from mlmkit.ops.server import make_server, serve

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
