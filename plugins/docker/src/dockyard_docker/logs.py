"""Container output streamed from the Engine to the container logger's destinations.

Both streams of a container come through one Engine log request with timestamps, read by a
coroutine (no thread per container). A small cursor file per stream records the last
timestamp written, how many frames carried it, how much of the next frame is in already
(a frame split by a rotation), and the destination's checkpoint (a file's inode and
size). After an agent restart the destination is cut back to that checkpoint and the
stream resumes from that timestamp, so no line is lost or written twice even if the agent
was SIGKILLed mid-write or mid-rotation: the cursor is also saved before every rotation.

A failed write (a full disk, a log collector gone) is handled the same way: the follower
drops what it holds, waits, and resumes from the saved cursors. The Engine keeps the
container's log meanwhile, so nothing is lost once writing works again.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import os
import time
from calendar import timegm
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dockyard import beneath
from dockyard.beneath import Owner
from dockyard.containers import ContainerOutput, StreamOutput

from dockyard_docker.engine_streams import EngineError, EngineStreams, frames
from dockyard_docker.sinks import Sink, open_sink

log = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")
CURSOR_SAVE_INTERVAL = 0.5
"""Seconds between cursor saves while output flows; a crash only redoes that much."""
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before following again after a failure (the last one repeats)."""


def parse_timestamp(text: str) -> int:
    """RFC 3339 with nanoseconds (the Engine's log timestamps) → nanoseconds since the epoch."""
    seconds_part, _, rest = text.partition(".")
    fraction = rest[: len(rest) - len(rest.lstrip(_DIGITS))][:9]
    zone = rest[len(fraction) :] if rest else seconds_part[19:]
    seconds = _epoch_seconds(seconds_part[:19], zone)
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)


_DIGITS = "0123456789"


@functools.lru_cache(maxsize=64)
def _epoch_seconds(date_time: str, zone: str) -> int:
    """Cached: a chatty container's frames share their second (strptime costs ~10 µs)."""
    seconds = timegm(time.strptime(date_time, "%Y-%m-%dT%H:%M:%S"))
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "+" else 1
        hours, _, minutes = zone[1:].partition(":")
        seconds += sign * (int(hours) * 3600 + int(minutes or 0) * 60)
    return seconds


@dataclass
class Cursor:
    """Where a stream's writing stands: every frame before ``timestamp``, ``count`` frames
    at it, and ``offset`` bytes of the next one are in the destination, which was then at
    ``sink`` (its checkpoint)."""

    timestamp: int = 0
    count: int = 0
    offset: int = 0
    sink: dict[str, Any] | None = None
    complete: bool = False

    def advance(self, timestamp: int) -> None:
        if timestamp == self.timestamp:
            self.count += 1
        else:
            self.timestamp, self.count = timestamp, 1
        self.offset = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        fields = dict(data)
        if "size" in fields:  # written before container loggers: the sandbox file's size
            fields["sink"] = {"size": fields.pop("size")}
        return cls(**fields)


class CursorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Cursor | None:
        try:
            return Cursor.from_json(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, cursor: Cursor) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(cursor)))
        os.replace(temporary, self.path)


@dataclass
class _Frame:
    """The frame being written: its timestamp, and how much of it was in before."""

    timestamp: int = 0
    skipped: int = 0


class Output:
    """One stream (``stdout`` or ``stderr``): its destination and its cursor."""

    def __init__(
        self, destination: StreamOutput, cursor_file: CursorFile, owner: Owner | None
    ) -> None:
        self._destination = destination
        self._owner = owner
        self._cursor_file = cursor_file
        self._cursor = Cursor()
        self._skip = 0
        self._skip_bytes = 0
        self._frame = _Frame()
        self._sink: Sink | None = None

    @property
    def resume_from(self) -> int:
        """The timestamp (ns) the Engine must replay from for this stream."""
        return self._cursor.timestamp

    async def open(self) -> bool:
        """Ready the destination where the cursor says; False if it is complete, or if the
        container put something other than a plain file there (a link to a host file, a
        FIFO, a device): the agent never writes through it."""
        cursor = self._cursor_file.load()
        if cursor is not None and cursor.complete:
            return False
        self._cursor = cursor or Cursor()
        self._skip, self._skip_bytes = self._cursor.count, self._cursor.offset
        try:
            self._sink = await open_sink(
                self._destination, self._cursor.sink, self._before_rotate, self._owner
            )
        except beneath.Refused as error:
            log.warning("Not writing container output to '%s': %s", error.filename, error.strerror)
            return False
        if cursor is None:
            self.save()  # from now on a restart resumes, rather than appends again
        return True

    def rewind(self) -> None:
        """Skip, in a replay from :attr:`resume_from`, the frames already written."""
        self._skip, self._skip_bytes = self._cursor.count, self._cursor.offset

    async def write(self, timestamp: int, payload: bytes) -> None:
        """Write a frame unless an earlier follower already did (or that much of it)."""
        cursor = self._cursor
        if timestamp < cursor.timestamp:
            return
        if timestamp == cursor.timestamp and self._skip > 0:
            self._skip -= 1
            return
        skipped, self._skip_bytes = self._skip_bytes, 0
        self._frame = _Frame(timestamp, skipped)
        assert self._sink is not None
        await self._sink.write(payload[skipped:])
        cursor.advance(timestamp)

    def _before_rotate(self, written: int) -> None:
        """A rotation is about to start: save a cursor inside the frame being written."""
        frame, cursor = self._frame, self._cursor
        count = cursor.count if frame.timestamp == cursor.timestamp else 0
        assert self._sink is not None
        at = Cursor(frame.timestamp, count, frame.skipped + written, self._sink.checkpoint())
        self._cursor_file.save(at)

    def save(self) -> None:
        assert self._sink is not None
        self._cursor.sink = self._sink.checkpoint()
        self._cursor_file.save(self._cursor)

    async def finish(self, complete: bool) -> None:
        """Save where writing stands (complete: the container's output is all in) and close."""
        self._cursor.complete = complete
        self.save()
        await self.abandon()

    async def abandon(self) -> None:
        """Close without saving: a later :meth:`open` resumes from the last saved cursor."""
        if self._sink is not None:
            sink, self._sink = self._sink, None
            await sink.close()


class LogFollower:
    """Copies one container's stdout and stderr to its destinations, as one coroutine on
    the event loop reading one Engine log stream: no thread, whatever the number of
    containers."""

    def __init__(
        self,
        streams: EngineStreams,
        docker_id: str,
        output: ContainerOutput,
        cursor_dir: Path,
        owner: Owner | None = None,
    ) -> None:
        cursor_dir.mkdir(parents=True, exist_ok=True)
        self._streams = streams
        self._docker_id = docker_id
        destinations = {"stdout": output.stdout, "stderr": output.stderr}
        self._outputs = {
            stream: Output(
                destinations[stream],
                CursorFile(cursor_dir / f"{docker_id}.{stream}.json"),
                owner,
            )
            for stream in STREAMS
        }
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._frames = 0
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Done once the Engine ended the stream (the container's last output is written),
        the container is gone, or :meth:`stop` was called."""

    def start(self) -> None:
        if self._stopping or self._task is not None:
            return
        self._task = asyncio.ensure_future(self._run())

    async def drained(self, stall_timeout: float) -> None:
        """Until :attr:`finished`, or until no frame was written for ``stall_timeout``
        seconds (a chatty container's backlog takes as long as it takes)."""
        while not self.finished.done():
            before = self._frames
            await asyncio.wait([self.finished], timeout=stall_timeout)
            if self._frames == before:
                return

    def stop(self) -> None:
        """Stop following (agent shut-down); the cursors let a later agent resume."""
        self._stopping = True
        if self._task is None:
            self._done()
        else:
            self._task.cancel()

    async def _run(self) -> None:
        try:
            for attempt in itertools.count():
                try:
                    await self._follow()
                    return
                except EngineError as error:
                    if error.status == 404:  # removed: there is nothing left to follow
                        log.warning("Container %s is gone: %s", self._docker_id[:12], error)
                        return
                    failure: Exception = error
                except Exception as error:
                    failure = error
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                log.warning(
                    "Output of container %s: %s; resuming in %gs",
                    self._docker_id[:12],
                    failure,
                    delay,
                )
                await asyncio.sleep(delay)
        finally:
            self._done()

    def _done(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    async def _follow(self) -> None:
        following: dict[str, Output] = {}
        try:
            for name, output in self._outputs.items():
                if await output.open():
                    following[name] = output
            if following:
                await self._copy(following, follow=True)
                # The Engine may end a follow at the container's exit before its last
                # frames (a line without a newline, above all) reach the log: read once
                # more without following; the cursors drop what is already written.
                for output in following.values():
                    output.rewind()
                await self._copy(following, follow=False)
        except asyncio.CancelledError:  # shut-down between two frames: the cursors are right
            for output in following.values():
                await output.finish(complete=False)
            raise
        except BaseException:  # resume from the saved cursors, not from a half-done write
            for output in following.values():
                await output.abandon()
            raise
        for output in following.values():
            await output.finish(complete=True)

    async def _copy(self, following: dict[str, Output], *, follow: bool) -> None:
        since = min(output.resume_from for output in following.values()) // 1_000_000_000
        params = {
            "follow": str(int(follow)),
            "timestamps": "1",
            "stdout": str(int("stdout" in following)),
            "stderr": str(int("stderr" in following)),
            "since": str(since),
        }
        async with self._streams.open(
            "GET", f"/containers/{self._docker_id}/logs", params
        ) as response:
            saved_at = time.monotonic()
            async for stream, frame in frames(response):
                output = following.get(stream)
                if output is None:
                    continue
                stamp, _, payload = frame.partition(b" ")
                await output.write(parse_timestamp(stamp.decode()), payload)
                self._frames += 1
                if time.monotonic() - saved_at >= CURSOR_SAVE_INTERVAL:
                    for each in following.values():
                        each.save()
                    saved_at = time.monotonic()


def forget_cursors(cursor_dir: Path, docker_id: str) -> None:
    for stream in STREAMS:
        (cursor_dir / f"{docker_id}.{stream}.json").unlink(missing_ok=True)
