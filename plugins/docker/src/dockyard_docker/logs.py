"""Container output streamed from the Engine into the sandbox ``stdout``/``stderr`` files.

Each stream is followed with Engine timestamps. A small cursor file per stream records the
last timestamp written, how many frames carried it, and the sandbox file's size then; after
an agent restart the file is cut back to that size and the stream resumes from that
timestamp, so no line is lost or written twice even if the agent was SIGKILLed mid-write.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import threading
import time
from calendar import timegm
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from docker import APIClient
from docker.errors import DockerException
from requests.exceptions import RequestException

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


class StreamFollower:
    """Copies one output stream of one container into one sandbox file, in its own thread."""

    def __init__(
        self, api: APIClient, docker_id: str, stream: str, target: Path, cursor_file: CursorFile
    ) -> None:
        self._api = api
        self._docker_id = docker_id
        self._stream = stream
        self._target = target
        self._cursor_file = cursor_file
        self._response: Any = None
        self._stopping = False
        self._started = False
        self.done: concurrent.futures.Future[None] = concurrent.futures.Future()

    def start(self) -> None:
        if self._stopping:
            return
        self._started = True
        threading.Thread(
            target=self._run, name=f"logs-{self._docker_id[:12]}-{self._stream}", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop following (agent shut-down); the cursor lets a later agent resume."""
        self._stopping = True
        if not self._started:
            self.done.set_result(None)
            return
        response = self._response
        if response is not None:
            response.close()

    def _run(self) -> None:
        try:
            self._follow()
        except Exception as error:  # the thread must always resolve ``done``
            if not self._stopping:
                log.warning(
                    "Log stream %s of container %s failed: %s",
                    self._stream,
                    self._docker_id[:12],
                    error,
                )
        finally:
            self.done.set_result(None)

    def _follow(self) -> None:
        cursor = self._cursor_file.load()
        if cursor is None:
            cursor = Cursor(size=self._target.stat().st_size if self._target.exists() else 0)
            self._cursor_file.save(cursor)
        if cursor.complete:
            return
        with open(self._target, "ab") as sink:
            if sink.tell() > cursor.size:  # written after the last saved cursor: redo it
                sink.truncate(cursor.size)
            skip = cursor.count
            since = cursor.timestamp // 1_000_000_000 or None
            self._response = self._api.logs(
                self._docker_id,
                stdout=self._stream == "stdout",
                stderr=self._stream == "stderr",
                stream=True,
                follow=True,
                timestamps=True,
                since=since,
            )
            if self._stopping:  # stop() came while the request was on its way
                self._response.close()
            saved_at = time.monotonic()
            try:
                for frame in self._response:
                    stamp, _, payload = frame.partition(b" ")
                    timestamp = parse_timestamp(stamp.decode())
                    if timestamp < cursor.timestamp:
                        continue
                    if timestamp == cursor.timestamp and skip > 0:
                        skip -= 1
                        continue
                    sink.write(payload)
                    sink.flush()
                    cursor.advance(timestamp, len(payload))
                    if time.monotonic() - saved_at >= CURSOR_SAVE_INTERVAL:
                        self._cursor_file.save(cursor)
                        saved_at = time.monotonic()
            except (DockerException, RequestException, OSError, AttributeError):
                if not self._stopping:
                    raise
            cursor.complete = not self._stopping
            self._cursor_file.save(cursor)


class LogStreams:
    """The two followers of one container."""

    def __init__(self, api: APIClient, docker_id: str, sandbox: Path, cursor_dir: Path) -> None:
        cursor_dir.mkdir(parents=True, exist_ok=True)
        self.followers = [
            StreamFollower(
                api,
                docker_id,
                stream,
                sandbox / stream,
                CursorFile(cursor_dir / f"{docker_id}.{stream}.json"),
            )
            for stream in STREAMS
        ]

    def start(self) -> None:
        for follower in self.followers:
            follower.start()

    def stop(self) -> None:
        for follower in self.followers:
            follower.stop()

    def finished(self) -> list[concurrent.futures.Future[None]]:
        return [follower.done for follower in self.followers]


def forget_cursors(cursor_dir: Path, docker_id: str) -> None:
    for stream in STREAMS:
        (cursor_dir / f"{docker_id}.{stream}.json").unlink(missing_ok=True)
