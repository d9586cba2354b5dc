"""The HTTP server: production's front door to a workspace (issue 14; ``mlmkit[server]``).

Starlette, uvicorn and httpx are imported only when the server or the client is used.
"""

from __future__ import annotations

from mlmkit.server.auth import AuthMiddleware, Principal, Scope, TokenVerifier
from mlmkit.server.snapshot import Snapshot

__all__ = ["AuthMiddleware", "Principal", "Scope", "Snapshot", "TokenVerifier"]
