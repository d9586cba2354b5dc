"""The registry calls of `mlmkit.client.Client`: register, deploy, roll back, history.

They need an ``admin`` token (``history`` a ``read`` one). The server runs a change on its
writer thread between ingestion groups, so a registry process sending them pauses nobody.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlmkit._validation import invalid

__all__ = ["RegistryCalls"]


class RegistryCalls:
    """Registry methods mixed into `mlmkit.client.Client` (they use its ``request``)."""

    def request(self, method: str, path: str, *, content: bytes | None = None,
                content_type: str = "application/json",
                params: Mapping[str, Any] | None = None) -> Any:
        raise NotImplementedError  # (Client.request)

    def _send(self, path: str, body: Mapping[str, Any]) -> Any:
        payload = {k: v for k, v in body.items() if v is not None}
        try:
            content = json.dumps(payload, allow_nan=False).encode()
        except (TypeError, ValueError) as err:
            raise invalid("metadata", "JSON values (numbers, strings, booleans, lists, "
                          "mappings)", str(err)) from err
        return self.request("POST", path, content=content)

    def register(self, metadata: Any) -> dict[str, Any]:
        """Register a model version: a `ModelMetadata` or a dict of its fields.

        ``model_name``, ``model_type`` and ``version`` are required; ``configuration``,
        ``performance_metrics``, ``metadata`` and ``environment`` (deploy there at once)
        optional. Returns the stored metadata; a version registered twice raises
        `ConflictError`.
        """
        to_dict = getattr(metadata, "to_dict", None)
        if callable(to_dict):
            metadata = to_dict()
        if not isinstance(metadata, Mapping):
            raise invalid("metadata", "a ModelMetadata or a mapping of its fields",
                          type(metadata).__name__)
        keys = ("model_name", "model_type", "version", "configuration", "performance_metrics",
                "metadata", "environment")
        body = {k: metadata[k] for k in keys if metadata.get(k) is not None}
        if "version" in body:
            body["version"] = str(body["version"])
        answer: dict[str, Any] = self._send("/v1/models", body)["model"]
        return answer

    def deploy(self, model_name: str, version: Any, environment: str = "production", *,
               reason: str | None = None, actor: str | None = None) -> dict[str, Any]:
        """Make ``version`` serve ``environment``; returns its metadata.

        ``actor`` defaults to the token's name on the server.
        """
        answer: dict[str, Any] = self._send(
            f"/v1/models/{model_name}/deploy",
            {"version": str(version), "environment": environment, "reason": reason,
             "actor": actor})["model"]
        return answer

    def rollback(self, model_name: str, environment: str = "production", *,
                 reason: str | None = None, actor: str | None = None) -> str:
        """Return ``environment`` to the version deployed before; the version now serving.

        Nothing to roll back to: `ConflictError` (409).
        """
        answer = self._send(f"/v1/models/{model_name}/rollback",
                            {"environment": environment, "reason": reason, "actor": actor})
        return str(answer["version"])

    def history(self, model_name: str, *, environment: str | None = None
                ) -> list[dict[str, Any]]:
        """The deployment events of ``model_name``, oldest first (timestamps ISO 8601)."""
        answer = self.request("GET", f"/v1/models/{model_name}/history",
                              params={"environment": environment})
        return list(answer["events"])
