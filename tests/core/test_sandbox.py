"""Sandbox directories: Mesos's layout, exact modes whatever the umask, and ``latest``."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockyard import users
from dockyard.containers import LaunchError
from dockyard.ownership import hand_over
from dockyard.sandbox import create_sandbox, task_sandbox


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_directories_get_0755_whatever_the_umask(tmp_path: Path, strict_umask: None) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work").chmod(0o711)
    sandbox = task_sandbox(tmp_path / "work", "agent", "fw", "exec", "c1")
    create_sandbox(sandbox, None)
    made = [sandbox, *sandbox.parents][: len(sandbox.relative_to(tmp_path / "work").parts)]
    assert [mode(path) for path in made] == [0o755] * len(made)
    assert mode(tmp_path / "work") == 0o711  # an existing parent is left as it is


def test_latest_points_at_the_newest_run(tmp_path: Path) -> None:
    first = task_sandbox(tmp_path, "agent", "fw", "exec", "c1")
    second = task_sandbox(tmp_path, "agent", "fw", "exec", "c2")
    create_sandbox(first, None)
    latest = first.parent / "latest"
    assert os.readlink(latest) == "c1"
    create_sandbox(second, None)
    assert os.readlink(latest) == "c2"
    assert sorted(path.name for path in first.parent.iterdir()) == ["c1", "c2", "latest"]


def test_an_existing_sandbox_is_refused(tmp_path: Path) -> None:
    sandbox = task_sandbox(tmp_path, "agent", "fw", "exec", "c1")
    create_sandbox(sandbox, None)
    with pytest.raises(LaunchError, match="Failed to create sandbox"):
        create_sandbox(sandbox, None)


def test_a_file_in_place_of_a_parent_is_refused(tmp_path: Path) -> None:
    sandbox = task_sandbox(tmp_path, "agent", "fw", "exec", "c1")
    sandbox.parent.parent.parent.mkdir(parents=True)
    sandbox.parent.parent.write_text("not a directory")
    with pytest.raises(LaunchError, match="Failed to create sandbox"):
        create_sandbox(sandbox, None)


def test_an_unknown_user_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    sandbox = task_sandbox(tmp_path, "agent", "fw", "exec", "c1")
    with pytest.raises(LaunchError, match="does not exist"):
        create_sandbox(sandbox, "no-such-user-here")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_hand_over_chowns_only_what_is_not_owned_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chowned: list[tuple[int, int]] = []
    chown = os.chown

    def counted(path: Path, uid: int, gid: int) -> None:
        chowned.append((uid, gid))
        chown(path, uid, gid)

    monkeypatch.setattr(os, "chown", counted)
    nobody = users.lookup("nobody")
    hand_over(tmp_path, nobody.uid, nobody.gid)
    hand_over(tmp_path, nobody.uid, nobody.gid)
    hand_over(tmp_path, nobody.uid, -1)
    assert (tmp_path.stat().st_uid, tmp_path.stat().st_gid) == (nobody.uid, nobody.gid)
    hand_over(tmp_path, 0, 0)
    assert chowned == [(nobody.uid, nobody.gid), (0, 0)]
    assert (tmp_path.stat().st_uid, tmp_path.stat().st_gid) == (0, 0)
