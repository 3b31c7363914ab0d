"""HTTP/1.1 requests written byte for byte, for what a well-behaved client refuses to send."""

from __future__ import annotations

import asyncio

from yarl import URL


async def raw_request(
    url: str, method: str, path: bytes, headers: bytes, body: bytes = b"", host: bytes | None = None
) -> int:
    """Send one request exactly as given (``headers``: CRLF-terminated lines; ``host``: the
    Host header, by default the agent's own address); its status."""
    address = URL(url)
    host = address.raw_authority.encode() if host is None else host
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        writer.write(
            b"%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n"
            % (method.encode(), path, host, len(body))
            + headers
            + b"\r\n"
            + body
        )
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return int(status_line.split()[1])
