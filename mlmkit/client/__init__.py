"""``mlmkit.client``: log predictions and labels through ``mlmkit serve`` over HTTP (httpx).

The production topology: one ``mlmkit serve`` owns the workspace file; services and jobs
write through it with this client (or ``curl``, or any HTTP client); notebooks read.

>>> from mlmkit.client import Client
>>> client = Client("http://127.0.0.1:8000", token="...")   # doctest: +SKIP
>>> pid = client.track("n1-detector", "1.0.0", True, score=0.91)   # doctest: +SKIP
>>> client.record_actuals([pid], [True], model_name="n1-detector")   # doctest: +SKIP
{'labelled': 1, 'skipped': 0}

Install with ``pip install 'mlmkit[server]'`` (httpx).
"""

from __future__ import annotations

from mlmkit.client._http import (
    AuthError,
    Client,
    ConflictError,
    MissingError,
    RejectedError,
    ServerError,
    UnavailableError,
)
from mlmkit.client.buffered import BufferedClient

__all__ = ["AuthError", "BufferedClient", "Client", "ConflictError", "MissingError",
           "RejectedError", "ServerError", "UnavailableError"]
