"""Container output streamed from the Engine into the sandbox ``stdout``/``stderr`` files.

Both streams of a container come through one Engine log request with timestamps, read by a
coroutine (no thread per container). A small cursor file per stream records the
last timestamp written, how many frames carried it, and the sandbox file's size then; after
an agent restart the file is cut back to that size and the stream resumes from that
timestamp, so no line is lost or written twice even if the agent was SIGKILLed mid-write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from calendar import timegm
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard import beneath

from dockyard_docker.engine_streams import EngineStreams, frames

log = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")
CURSOR_SAVE_INTERVAL = 0.5
"""Seconds between cursor saves while output flows; a crash only redoes that much."""


def parse_timestamp(text: str) -> int:
    """RFC 3339 with nanoseconds (the Engine's log timestamps) → nanoseconds since the epoch."""
    seconds_part, _, rest = text.partition(".")
    digits = "".join(c for c in rest[:9] if c.isdigit())
    zone = rest[len(digits) :] if rest else seconds_part[19:]
    seconds = timegm(time.strptime(seconds_part[:19], "%Y-%m-%dT%H:%M:%S"))
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1
        hours, _, minutes = zone[1:].partition(":")
        seconds += sign * (int(hours) * 3600 + int(minutes or 0) * 60)
    return seconds * 1_000_000_000 + int(digits.ljust(9, "0") or 0)


@dataclass
class Cursor:
    timestamp: int = 0
    count: int = 0
    """Frames already written that carry ``timestamp``."""
    size: int = 0
    complete: bool = False

    def advance(self, timestamp: int, written: int) -> None:
        if timestamp == self.timestamp:
            self.count += 1
        else:
            self.timestamp, self.count = timestamp, 1
        self.size += written


class CursorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Cursor | None:
        try:
            return Cursor(**json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, cursor: Cursor) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(cursor)))
        os.replace(temporary, self.path)


class Output:
    """One sandbox file (``stdout`` or ``stderr``) and its cursor."""

    def __init__(self, sandbox: Path, name: str, cursor_file: CursorFile) -> None:
        self._sandbox = sandbox
        self._name = name
        self._cursor_file = cursor_file
        self._cursor = Cursor()
        self._skip = 0
        self._sink: BinaryIO | None = None

    @property
    def resume_from(self) -> int:
        """The timestamp (ns) the Engine must replay from for this file."""
        return self._cursor.timestamp

    def open(self) -> bool:
        """Ready the file for appending where the cursor says; False if it is complete, or
        if the container put something other than a plain file there (a link to a host
        file, a FIFO, a device): the agent never writes through it."""
        cursor = self._cursor_file.load()
        if cursor is not None and cursor.complete:
            return False
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        try:
            with beneath.closing(beneath.open_root(self._sandbox)) as sandbox:
                fd = beneath.open_regular(sandbox, self._name, flags)
        except beneath.Refused as error:
            log.warning("Not writing container output to '%s': %s", error.filename, error.strerror)
            return False
        self._sink = open(fd, "ab", buffering=0)  # noqa: SIM115  # closed in close()
        if cursor is None:
            cursor = Cursor(size=os.fstat(fd).st_size)
            self._cursor_file.save(cursor)
        self._cursor, self._skip = cursor, cursor.count
        if self._sink.tell() > cursor.size:  # written after the last saved cursor: redo it
            self._sink.truncate(cursor.size)
        return True

    def write(self, timestamp: int, payload: bytes) -> None:
        """Append a frame unless an earlier agent already wrote it."""
        cursor = self._cursor
        if timestamp < cursor.timestamp:
            return
        if timestamp == cursor.timestamp and self._skip > 0:
            self._skip -= 1
            return
        assert self._sink is not None
        self._sink.write(payload)
        cursor.advance(timestamp, len(payload))

    def save(self) -> None:
        self._cursor_file.save(self._cursor)

    def close(self, complete: bool) -> None:
        self._cursor.complete = complete
        self.save()
        if self._sink is not None:
            self._sink.close()


class LogFollower:
    """Copies one container's stdout and stderr into the sandbox, as one coroutine on the
    event loop reading one Engine log stream: no thread, whatever the number of containers."""

    def __init__(
        self, streams: EngineStreams, docker_id: str, sandbox: Path, cursor_dir: Path
    ) -> None:
        cursor_dir.mkdir(parents=True, exist_ok=True)
        self._streams = streams
        self._docker_id = docker_id
        self._outputs = {
            stream: Output(sandbox, stream, CursorFile(cursor_dir / f"{docker_id}.{stream}.json"))
            for stream in STREAMS
        }
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done once the Engine ended the stream (the container's last output is in the
        sandbox), the stream broke, or :meth:`stop` was called."""

    def start(self) -> None:
        if self._stopping or self._task is not None:
            return
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        """Stop following (agent shut-down); the cursors let a later agent resume."""
        self._stopping = True
        if self._task is None:
            self._done()
        else:
            self._task.cancel()

    async def _run(self) -> None:
        try:
            await self._follow()
        except Exception as error:
            log.warning("Log stream of container %s failed: %s", self._docker_id[:12], error)
        finally:
            self._done()

    def _done(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    async def _follow(self) -> None:
        following = {name: output for name, output in self._outputs.items() if output.open()}
        if not following:
            return
        since = min(output.resume_from for output in following.values()) // 1_000_000_000
        params = {
            "follow": "1",
            "timestamps": "1",
            "stdout": str(int("stdout" in following)),
            "stderr": str(int("stderr" in following)),
            "since": str(since),
        }
        complete = False
        try:
            async with self._streams.open(
                "GET", f"/containers/{self._docker_id}/logs", params
            ) as response:
                saved_at = time.monotonic()
                async for stream, frame in frames(response):
                    output = following.get(stream)
                    if output is None:
                        continue
                    stamp, _, payload = frame.partition(b" ")
                    output.write(parse_timestamp(stamp.decode()), payload)
                    if time.monotonic() - saved_at >= CURSOR_SAVE_INTERVAL:
                        for each in following.values():
                            each.save()
                        saved_at = time.monotonic()
            complete = True
        finally:
            for output in following.values():
                output.close(complete)


def forget_cursors(cursor_dir: Path, docker_id: str) -> None:
    for stream in STREAMS:
        (cursor_dir / f"{docker_id}.{stream}.json").unlink(missing_ok=True)
