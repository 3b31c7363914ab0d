"""Pooled UUIDs are version-4 UUIDs, unique, and a forked child never repeats its parent's."""

from __future__ import annotations

import os
import uuid

from dockyard import uuids


def test_pooled_uuids_are_unique_random_version_4_uuids() -> None:
    drawn = [uuids.uuid4() for _ in range(3 * uuids.POOL_BYTES // 16 + 5)]  # pool refills
    assert len(set(drawn)) == len(drawn)
    assert {each.version for each in drawn} == {4}
    assert {each.variant for each in drawn} == {uuid.RFC_4122}


def test_a_forked_child_draws_from_its_own_pool() -> None:
    uuids.uuid4()  # the parent's pool is filled: a child must not inherit what is left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, uuids.uuid4().bytes)
        os._exit(0)
    os.close(write)
    child = uuid.UUID(bytes=os.read(read, 16))
    os.close(read)
    os.waitpid(pid, 0)
    assert child != uuids.uuid4()


def test_uuid_bytes_are_those_of_version_4_uuids() -> None:
    drawn = [uuids.uuid4_bytes() for _ in range(3 * uuids.POOL_BYTES // 16 + 5)]
    assert len(set(drawn)) == len(drawn)
    parsed = [uuid.UUID(bytes=each) for each in drawn]
    assert {each.version for each in parsed} == {4}
    assert {each.variant for each in parsed} == {uuid.RFC_4122}
    assert [each.bytes for each in parsed] == drawn  # the bits were set, not fixed up
