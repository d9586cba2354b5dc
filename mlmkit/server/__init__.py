"""The HTTP server: production's front door to a workspace (issue 14; ``mlmkit[server]``).

Starlette, uvicorn and httpx are imported only when the server or the client is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmkit._lazy import lazy_getattr as _lazy_getattr

if TYPE_CHECKING:
    from mlmkit.server.auth import AuthMiddleware, Principal, Scope, TokenVerifier
    from mlmkit.server.snapshot import Snapshot

# Loaded on first access, so that ``mlmkit --help`` (which imports server.commands) stays light.
__getattr__ = _lazy_getattr(__name__, {
    **{name: "mlmkit.server.auth" for name in ("AuthMiddleware", "Principal", "Scope",
                                                "TokenVerifier")},
    "Snapshot": "mlmkit.server.snapshot"})

__all__ = ["AuthMiddleware", "Principal", "Scope", "Snapshot", "TokenVerifier"]
