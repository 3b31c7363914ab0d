"""The ledger's database: SQLite in WAL mode, one transaction per batch of updates.

SQLite was chosen over a hand-made log (see docs/architecture.md): its WAL frames
are checksummed, so a commit torn by a crash is rolled back on the next open; a
full disk is a failed transaction that leaves the database as it was; and
"the completed tasks of framework F" is a query. Each row also carries a CRC of
its JSON, so a damaged row is found and quarantined rather than trusted.

Every method runs on the ledger's single I/O thread (or before the event loop
serves anything), so the one connection is never used concurrently.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT PRIMARY KEY,
    framework_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    container_id TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    identity TEXT NOT NULL,
    identity_crc INTEGER NOT NULL,
    progress TEXT NOT NULL,
    progress_crc INTEGER NOT NULL,
    completed INTEGER,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_completed ON tasks (framework_id, completed);
CREATE INDEX IF NOT EXISTS tasks_container ON tasks (container_id);
CREATE TABLE IF NOT EXISTS statuses (
    seq INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    framework_id TEXT NOT NULL,
    status TEXT NOT NULL,
    crc INTEGER NOT NULL,
    pos INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS statuses_key ON statuses (key);
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY CHECK (id = 1), written REAL NOT NULL);
"""

KEPT = """
WITH kept AS (
    SELECT key FROM tasks WHERE completed IS NULL
    UNION ALL
    SELECT key FROM (
        SELECT key, ROW_NUMBER() OVER (
            PARTITION BY framework_id ORDER BY completed DESC) AS n
        FROM tasks WHERE completed IS NOT NULL
    ) WHERE n <= ?
)
"""


class StorageError(OSError):
    """The ledger cannot write: the disk is full or failing."""


@dataclass
class Batch:
    """The rows one commit writes, in the order they must be applied."""

    inserts: list[tuple[str, str, str, str, str, str, int, str, int]] = field(default_factory=list)
    progress: list[tuple[str, int, str]] = field(default_factory=list)
    statuses: list[tuple[int, str, str, str, int, int]] = field(default_factory=list)
    completed: list[tuple[int, float, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.inserts or self.progress or self.statuses or self.completed)


@dataclass
class StoredTask:
    """A task's rows as read back, before they are trusted."""

    key: str
    framework_id: str
    task_id: str
    container_id: str
    identity: str
    identity_crc: int
    progress: str
    progress_crc: int
    completed: int | None
    """Sequence number of its terminal update (None while it runs)."""
    statuses: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Loaded:
    tasks: list[StoredTask]
    head_seq: int
    head_pos: int
    quarantined_file: Path | None = None
    """Where the whole database went when it could not be read at all."""


class LedgerStore:
    def __init__(self, path: Path, quarantine_dir: Path) -> None:
        self.path = path
        self.quarantine_dir = quarantine_dir
        self._db: sqlite3.Connection | None = None

    # -- opening -----------------------------------------------------------------

    def open(self, keep_completed: int) -> Loaded:
        """Open (quarantining a database that cannot be read) and load what is kept."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        quarantined = None
        try:
            self._connect()
            return self._load(keep_completed)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and is_storage_failure(error):
                raise StorageError(f"cannot open the ledger {self.path}: {error}") from None
            log.error("the ledger %s is damaged (%s); moving it to quarantine", self.path, error)
            self.close()
            quarantined = self._quarantine_files()
        self._connect()
        loaded = self._load(keep_completed)
        loaded.quarantined_file = quarantined
        return loaded

    def _connect(self) -> None:
        # Created 0600 first: SQLite gives its -wal and -shm files the database's mode.
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        check = db.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
        db.executescript(SCHEMA)

    def _quarantine_files(self) -> Path:
        target = self.quarantine_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-{self.path.name}"
        target.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                shutil.move(source, target / source.name)
        return target

    def _load(self, keep_completed: int) -> Loaded:
        """The kept tasks in launch order (by their first update), as the ledger keeps them."""
        db = self._connection()
        rows = db.execute(
            KEPT + "SELECT key, framework_id, task_id, container_id, identity, identity_crc,"
            " progress, progress_crc, completed FROM tasks JOIN kept USING (key)"
            " ORDER BY (SELECT MIN(seq) FROM statuses WHERE statuses.key = tasks.key)",
            (keep_completed,),
        ).fetchall()
        tasks = {row[0]: StoredTask(*row) for row in rows}
        for key, status, crc in db.execute(
            KEPT + "SELECT key, status, crc FROM statuses JOIN kept USING (key) ORDER BY seq",
            (keep_completed,),
        ):
            tasks[key].statuses.append((status, crc))
        head = db.execute("SELECT seq, pos FROM statuses ORDER BY seq DESC LIMIT 1").fetchone()
        return Loaded(list(tasks.values()), head[0] if head else 0, head[1] if head else 0)

    # -- writing -----------------------------------------------------------------

    def stage(self, batch: Batch) -> None:
        """Begin ``batch``'s transaction and write its rows, which stay in memory until
        :meth:`commit`; raises StorageError, leaving nothing begun.

        Done on the event loop: each row's step would otherwise hand the GIL between
        the loop and the writing thread twice. An empty batch writes a probe row: after
        a failure it is what proves that the disk takes writes again (a transaction
        that changes nothing would succeed on a full disk).
        """
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
            if batch.empty:
                db.execute(
                    "INSERT OR REPLACE INTO probe (id, written) VALUES (1, ?)", (time.time(),)
                )
            db.executemany(
                "INSERT OR REPLACE INTO tasks (key, framework_id, task_id, container_id,"
                " sandbox, identity, identity_crc, progress, progress_crc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch.inserts,
            )
            db.executemany(
                "UPDATE tasks SET progress = ?, progress_crc = ? WHERE key = ?", batch.progress
            )
            db.executemany(
                "INSERT INTO statuses (seq, key, framework_id, status, crc, pos)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                batch.statuses,
            )
            db.executemany(
                "UPDATE tasks SET completed = ?, ended_at = ? WHERE key = ?", batch.completed
            )
        except sqlite3.Error as error:
            self._fail(error)

    def commit(self) -> None:
        """Make the staged batch durable (its pages written and synced in one statement,
        the GIL released throughout), or undo it; raises StorageError."""
        db = self._connection()
        try:
            db.execute("COMMIT")
        except sqlite3.Error as error:
            self._fail(error)

    def roll_back(self) -> None:
        """Undo a staged batch that will not be committed."""
        db = self._connection()
        if db.in_transaction:
            db.execute("ROLLBACK")

    def _fail(self, error: sqlite3.Error) -> NoReturn:
        self.roll_back()
        raise StorageError(f"cannot write the ledger {self.path}: {error}") from None

    def forget(self, keys: list[str]) -> None:
        """Delete tasks (and their statuses) whose sandboxes are gone."""
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("DELETE FROM statuses WHERE key = ?", [(k,) for k in keys])
            db.executemany("DELETE FROM tasks WHERE key = ?", [(k,) for k in keys])
            db.execute("COMMIT")
        except sqlite3.Error as error:
            self._fail(error)

    # -- garbage collection ------------------------------------------------------

    def ended_before(self, cutoff: float, limit: int) -> list[tuple[str, str, list[str]]]:
        """Containers all of whose tasks ended before ``cutoff``, oldest first:
        ``(container id, sandbox, task keys)``."""
        rows = (
            self._connection()
            .execute(
                "SELECT container_id, MIN(sandbox), json_group_array(key) FROM tasks"
                " GROUP BY container_id HAVING COUNT(completed) = COUNT(*) AND MAX(ended_at) < ?"
                " ORDER BY MAX(ended_at) LIMIT ?",
                (cutoff, limit),
            )
            .fetchall()
        )
        return [(container, sandbox, json.loads(keys)) for container, sandbox, keys in rows]

    def oldest_end(self) -> float | None:
        """When the container that ended longest ago ended (None: no ended container)."""
        row = (
            self._connection()
            .execute(
                "SELECT MIN(ended) FROM (SELECT MAX(ended_at) AS ended FROM tasks"
                " GROUP BY container_id HAVING COUNT(completed) = COUNT(*))"
            )
            .fetchone()
        )
        return None if row is None or row[0] is None else float(row[0])

    # -- reading the log ---------------------------------------------------------

    def read_log(self, after_seq: int, limit: int) -> list[tuple[int, int, str, str]]:
        """``(seq, pos, framework_id, status)`` rows after ``after_seq``, oldest first."""
        return (
            self._connection()
            .execute(
                "SELECT seq, pos, framework_id, status FROM statuses WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
            .fetchall()
        )

    def oldest_seq(self) -> int:
        row = self._connection().execute("SELECT MIN(seq) FROM statuses").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _connection(self) -> sqlite3.Connection:
        assert self._db is not None, "the ledger store is not open"
        return self._db


def is_storage_failure(error: sqlite3.Error) -> bool:
    """Full disk, I/O error or read-only file: the medium, not the content."""
    text = str(error).lower()
    return any(part in text for part in ("disk is full", "disk i/o", "readonly", "unable to open"))
