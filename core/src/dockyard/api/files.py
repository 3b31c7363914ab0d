"""``/files/browse``, ``/files/read`` and ``/files/download`` (Mesos's), confined to sandboxes.

A path is served only if it names, lexically, something below ``<work_dir>/slaves`` or
``<work_dir>/containers``; it is then opened from the work dir's descriptor with
:mod:`dockyard.beneath`, so no symbolic link is followed anywhere on the way, whatever a
task does meanwhile. The one link the agent itself makes, ``runs/latest``, is read with
``readlink`` and used only if it names a run id in the same directory. FIFOs, sockets,
devices and links are refused without being opened.

File system calls run in a small thread pool of their own, each with a time limit, so a
hung NFS or FUSE file makes only requests for it wait, never the event loop, fetches, or
other reads beyond the pool's size.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import stat
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import quote

from aiohttp import web

from dockyard import beneath
from dockyard.api.keys import AGENT

DEFAULT_READ_LENGTH = 1 << 20
MAX_READ_LENGTH = 16 << 20
MAX_OFFSET = (1 << 63) - 1
IO_THREADS = 8
"""File system calls in flight at once; more requests wait for a free thread."""
IO_WAITING = 64
"""Requests waiting for a thread beyond which /files answers 503 at once."""
IO_TIMEOUT = 10.0
"""Seconds a request may wait for its file system calls before it gets 503."""
SANDBOX_TREES = ("slaves", "containers")
RUN_DEPTH = 7
"""Components of ``slaves/<agent>/frameworks/<fw>/executors/<executor>/runs``."""
LATEST = "latest"
_INTEGER = re.compile(r"-?[0-9]{1,19}")

T = TypeVar("T")


@dataclass
class FileIO:
    """The pool /files runs its file system calls in, and how many requests use it."""

    pool: ThreadPoolExecutor
    admitted: asyncio.Semaphore
    prefixes: frozenset[PurePosixPath]
    """The work dir as configured and as resolved: requested paths start with either."""

    async def run(self, path: str, call: Callable[[], T]) -> T:
        if self.admitted.locked():
            raise web.HTTPServiceUnavailable(text="Too many /files requests in progress; retry")
        async with self.admitted:
            try:
                async with asyncio.timeout(IO_TIMEOUT):
                    return await asyncio.get_running_loop().run_in_executor(self.pool, call)
            except TimeoutError:
                raise web.HTTPServiceUnavailable(
                    text=f"Timed out after {IO_TIMEOUT:g}s accessing '{path}'"
                ) from None


FILE_IO = web.AppKey("file_io", FileIO)


def setup(app: web.Application) -> None:
    """Add the /files routes and their thread pool to ``app``."""
    app.router.add_get("/files/browse", browse)
    app.router.add_get("/files/read", read)
    app.router.add_get("/files/download", download)

    async def pool(app: web.Application) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="files")
        work_dir = app[AGENT].work_dir
        prefixes = frozenset(PurePosixPath(p) for p in (work_dir.absolute(), work_dir.resolve()))
        app[FILE_IO] = FileIO(executor, asyncio.Semaphore(IO_THREADS + IO_WAITING), prefixes)
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app.cleanup_ctx.append(pool)


@dataclass(frozen=True)
class Target:
    """A requested path, split where the agent's own directories end."""

    shown: PurePosixPath
    """The path as requested (normalised): what listings are named after."""
    agent_part: tuple[str, ...]
    """Below the work dir, up to the runs directory (or all of a short path)."""
    run: str | None
    """The run id below ``runs``, or ``latest``; None for paths that stop above it."""
    rest: tuple[str, ...]


def target_of(request: web.Request) -> Target:
    """The ``path`` parameter, checked lexically; raises the HTTP error to send otherwise."""
    raw = request.query.get("path")
    if not raw:
        raise web.HTTPBadRequest(text="Expecting 'path' in query parameters")
    if "\0" in raw:
        raise web.HTTPBadRequest(text="'path' must not contain a NUL byte")
    shown = PurePosixPath(raw)
    for prefix in request.app[FILE_IO].prefixes:
        if shown.is_relative_to(prefix):
            parts = shown.relative_to(prefix).parts
            break
    else:
        raise web.HTTPForbidden(text=f"'{raw}' is outside the sandboxes")
    if not parts or parts[0] not in SANDBOX_TREES:
        raise web.HTTPForbidden(text=f"'{raw}' is outside the sandboxes")
    if ".." in parts:
        raise web.HTTPForbidden(text=f"'{raw}': '..' is not allowed")
    if parts[0] == "slaves" and len(parts) > RUN_DEPTH:
        return Target(shown, parts[:RUN_DEPTH], parts[RUN_DEPTH], parts[RUN_DEPTH + 1 :])
    return Target(shown, parts, None, ())


def open_target(work_dir: Path, target: Target) -> tuple[int, os.stat_result]:
    """An ``O_PATH`` descriptor of a regular file or directory, and its status."""
    with beneath.closing(beneath.open_root(work_dir)) as root:
        if target.run is None:
            return beneath.lookup(root, PurePosixPath(*target.agent_part))
        runs = beneath.open_beneath(root, PurePosixPath(*target.agent_part), os.O_PATH)
        with beneath.closing(runs):
            run = latest_run(runs) if target.run == LATEST else target.run
            return beneath.lookup(runs, PurePosixPath(run, *target.rest))


def latest_run(runs: int) -> str:
    """The run id ``runs/latest`` points to; a link the agent did not make is refused."""
    try:
        run = os.readlink(LATEST, dir_fd=runs)
    except OSError as error:
        if error.errno == errno.EINVAL:  # not a link: something else took the name
            raise beneath.Refused(errno.EPERM, "is not the agent's link", LATEST) from None
        raise
    if "/" in run or run in ("", ".", "..", LATEST):
        raise beneath.Refused(errno.EPERM, f"points to '{run}', not to a run", LATEST)
    return run


async def served(request: web.Request, call: Callable[[Path, Target], T]) -> T:
    """Run ``call`` on the request's target in the file pool; errors become HTTP errors."""
    target = target_of(request)
    work_dir = request.app[AGENT].work_dir
    try:
        return await request.app[FILE_IO].run(str(target.shown), lambda: call(work_dir, target))
    except beneath.Refused as error:
        raise web.HTTPForbidden(
            text=f"Refusing '{target.shown}': '{error.filename}' {error.strerror}"
        ) from None
    except OSError as error:
        raise http_error(str(target.shown), error) from None


def http_error(path: str, error: OSError) -> web.HTTPException:
    text = f"'{path}': {error.strerror}"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return web.HTTPNotFound(text=f"'{path}' does not exist")
    if error.errno in (errno.EACCES, errno.EPERM):
        return web.HTTPForbidden(text=text)
    if error.errno == errno.EISDIR:
        return web.HTTPBadRequest(text=f"Cannot read a directory: '{path}'")
    if error.errno in (errno.ENAMETOOLONG, errno.EINVAL):
        return web.HTTPBadRequest(text=text)
    return web.HTTPInternalServerError(text=f"Failed to access {text}")


def entry(shown: PurePosixPath, info: os.stat_result) -> dict[str, object]:
    return {
        "path": str(shown),
        "nlink": info.st_nlink,
        "size": info.st_size,
        "mtime": info.st_mtime,
        "mode": stat.filemode(info.st_mode),
        "uid": info.st_uid,
        "gid": info.st_gid,
    }


def listing(work_dir: Path, target: Target) -> list[dict[str, object]]:
    found, status = open_target(work_dir, target)
    with beneath.closing(found):
        if not stat.S_ISDIR(status.st_mode):
            return [entry(target.shown, status)]
        with os.scandir(beneath.reopen(found, os.O_RDONLY | os.O_DIRECTORY)) as children:
            entries = [
                entry(target.shown / child.name, child.stat(follow_symlinks=False))
                for child in children
            ]
    return sorted(entries, key=lambda each: str(each["path"]))


async def browse(request: web.Request) -> web.Response:
    return web.json_response(await served(request, listing))


def integer_parameter(request: web.Request, name: str, default: int, minimum: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    value = int(text) if _INTEGER.fullmatch(text) else None
    if value is None or not minimum <= value <= MAX_OFFSET:
        raise web.HTTPBadRequest(
            text=f"Failed to parse {name}: '{text[:40]}' is not an integer "
            f"from {minimum} to {MAX_OFFSET}"
        )
    return value


def chunk(offset: int, length: int) -> Callable[[Path, Target], tuple[bytes, int]]:
    """Reads ``length`` bytes at ``offset`` (-1: none, at the end); returns them and the offset."""

    def read_chunk(work_dir: Path, target: Target) -> tuple[bytes, int]:
        found, status = open_target(work_dir, target)
        with beneath.closing(found):
            if stat.S_ISDIR(status.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            with beneath.closing(beneath.reopen(found, os.O_RDONLY | os.O_NONBLOCK)) as fd:
                size = os.fstat(fd).st_size
                if offset == -1:
                    return b"", size
                if offset >= size:  # pread would refuse offsets near 2^63
                    return b"", offset
                return os.pread(fd, length, offset), offset

    return read_chunk


async def read(request: web.Request) -> web.Response:
    offset = integer_parameter(request, "offset", 0, -1)
    length = integer_parameter(request, "length", DEFAULT_READ_LENGTH, 0)
    data, at = await served(request, chunk(offset, min(length, MAX_READ_LENGTH)))
    return web.json_response({"data": data.decode(errors="replace"), "offset": at})


DOWNLOAD_CHUNK = 1 << 20
DOWNLOAD_HEADERS = {
    "Content-Type": "application/octet-stream",
    "X-Content-Type-Options": "nosniff",
    # A task wrote these bytes: never let a browser run them on the agent's origin.
    "Content-Security-Policy": "sandbox; default-src 'none'",
}


def open_for_download(work_dir: Path, target: Target) -> int:
    """A readable descriptor of a regular file (a directory is refused, as for read)."""
    found, status = open_target(work_dir, target)
    with beneath.closing(found):
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        return beneath.reopen(found, os.O_RDONLY | os.O_NONBLOCK)


async def download(request: web.Request) -> web.StreamResponse:
    """The file's raw bytes as an attachment, streamed a chunk at a time from the pool."""
    fd = await served(request, open_for_download)
    file_io = request.app[FILE_IO]
    shown = str(target_of(request).shown)
    name = PurePosixPath(shown).name
    response = web.StreamResponse(
        headers={
            **DOWNLOAD_HEADERS,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        }
    )
    try:
        await response.prepare(request)
        offset = 0
        while data := await file_io.run(shown, partial(os.pread, fd, DOWNLOAD_CHUNK, offset)):
            await response.write(data)
            offset += len(data)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away
    except web.HTTPServiceUnavailable:
        # The file system hung mid-file: cut the connection so that the client sees a
        # broken download, not a complete-looking short one.
        if request.transport is not None:
            request.transport.abort()
    finally:
        os.close(fd)
    return response
