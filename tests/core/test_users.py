"""A user looked up is kept a second at most; names not found are never kept."""

from __future__ import annotations

import os
import pwd
import time
from typing import Any

import pytest
from dockyard import users


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    users._found.clear()


class FakeDatabase:
    """pwd/grp as a test changes them, counting reads."""

    def __init__(self) -> None:
        self.uids = {"alice": 1000}
        self.reads = 0

    def getpwnam(self, name: str) -> Any:
        self.reads += 1
        if name not in self.uids:
            raise KeyError(name)
        return pwd.struct_passwd((name, "x", self.uids[name], 100, "", "/", "/bin/sh"))

    def getgrouplist(self, name: str, gid: int) -> list[int]:
        return [gid, 27]


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> FakeDatabase:
    fake = FakeDatabase()
    monkeypatch.setattr(pwd, "getpwnam", fake.getpwnam)
    monkeypatch.setattr(os, "getgrouplist", fake.getgrouplist)
    return fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    return now


def test_a_user_is_read_once_within_a_second(database: FakeDatabase, clock: list[float]) -> None:
    assert users.lookup("alice") == users.User("alice", 1000, 100, (100, 27))
    clock[0] += 0.5
    assert users.lookup("alice").uid == 1000
    assert database.reads == 1


def test_a_changed_user_is_seen_after_a_second(database: FakeDatabase, clock: list[float]) -> None:
    users.lookup("alice")
    database.uids["alice"] = 2000
    clock[0] += users.FRESH_SECONDS
    assert users.lookup("alice").uid == 2000


def test_a_name_not_found_is_not_kept(database: FakeDatabase, clock: list[float]) -> None:
    with pytest.raises(KeyError):
        users.lookup("bob")
    database.uids["bob"] = 1001  # created right after a failed launch
    assert users.lookup("bob").uid == 1001
    for number in range(3 * users.KEPT):  # clients cannot fill the cache with names
        with pytest.raises(KeyError):
            users.lookup(f"nobody-{number}")
    assert len(users._found) <= users.KEPT


def test_the_real_database_is_read() -> None:
    root = users.lookup("root")
    assert (root.uid, root.gid) == (0, 0)
    assert 0 in root.groups
