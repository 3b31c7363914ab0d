"""``/files/browse`` and ``/files/read`` (Mesos's), confined to sandboxes.

A path is accepted only if it resolves, symlinks included, inside the agent's
sandbox roots; anything else is 403, whatever ``..`` or links it uses.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from aiohttp import web

from dockyard.api.keys import AGENT

DEFAULT_READ_LENGTH = 1 << 20
MAX_READ_LENGTH = 16 << 20


def sandbox_roots(request: web.Request) -> list[Path]:
    work_dir = request.app[AGENT].work_dir
    return [(work_dir / "slaves").resolve(), (work_dir / "containers").resolve()]


def confined_path(request: web.Request) -> Path:
    """The resolved ``path`` parameter; raises the HTTP error to send otherwise."""
    raw = request.query.get("path")
    if not raw:
        raise web.HTTPBadRequest(text="Expecting 'path' in query parameters")
    resolved = Path(os.path.realpath(raw))
    if not any(resolved == root or root in resolved.parents for root in sandbox_roots(request)):
        raise web.HTTPForbidden(text=f"'{raw}' is outside the sandboxes")
    if not resolved.exists():
        raise web.HTTPNotFound(text=f"'{raw}' does not exist")
    return resolved


def entry(path: Path) -> dict[str, object]:
    info = path.lstat()
    return {
        "path": str(path),
        "nlink": info.st_nlink,
        "size": info.st_size,
        "mtime": info.st_mtime,
        "mode": stat.filemode(info.st_mode),
        "uid": info.st_uid,
        "gid": info.st_gid,
    }


async def browse(request: web.Request) -> web.Response:
    path = confined_path(request)
    if not path.is_dir():
        return web.json_response([entry(path)])
    return web.json_response([entry(child) for child in sorted(path.iterdir())])


def integer_parameter(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise web.HTTPBadRequest(
            text=f"Failed to parse {name}: '{text}' is not an integer"
        ) from None


async def read(request: web.Request) -> web.Response:
    path = confined_path(request)
    if path.is_dir():
        raise web.HTTPBadRequest(text="Cannot read a directory")
    offset = integer_parameter(request, "offset", 0)
    length = integer_parameter(request, "length", DEFAULT_READ_LENGTH)
    size = path.stat().st_size
    if offset == -1:
        return web.json_response({"data": "", "offset": size})
    if offset < 0 or length < 0:
        raise web.HTTPBadRequest(text="offset and length must not be negative")
    data = await asyncio.to_thread(read_chunk, path, offset, min(length, MAX_READ_LENGTH))
    return web.json_response({"data": data.decode(errors="replace"), "offset": offset})


def read_chunk(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as file:
        file.seek(offset)
        return file.read(length)
