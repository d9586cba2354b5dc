"""Connections accepted by ``mlmkit serve`` send small answers at once (TCP_NODELAY).

asyncio sets TCP_NODELAY on an accepted socket only when the listening socket says
``proto == IPPROTO_TCP``; a socket made as ``socket(family, SOCK_STREAM)`` has proto 0, so every
keep-alive answer (headers and body written separately) waited for the client's delayed ACK:
44 ms per request instead of under 1 ms, measured by benchmarks/bench_server.py.
"""

from __future__ import annotations

import asyncio
import socket

from mlmkit.server.run import _bind


def test_accepted_connections_have_nodelay() -> None:
    listener = _bind("127.0.0.1", 0, 16)
    port = listener.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0
