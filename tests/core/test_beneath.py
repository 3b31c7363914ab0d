"""dockyard.beneath on a real file system: the kernel's openat2 and the fallback walk give
the same answers, and neither follows a link out, even while a process swaps one in."""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockyard import beneath

RESOLVERS = [pytest.param(False, id="walk")]
if beneath.OPENAT2:
    RESOLVERS.append(pytest.param(True, id="openat2"))

SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
print("swapping", flush=True)
while True:
    libc.renameat2(-100, b"dir", -100, b"swap", 2)
"""


@pytest.fixture(params=RESOLVERS)
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(beneath, "OPENAT2", request.param)
    return bool(request.param)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A sandbox with every kind of entry, and a secret beside it."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("secret")
    root = tmp_path / "sandbox"
    (root / "dir").mkdir(parents=True)
    (root / "dir" / "file").write_text("inside")
    (root / "inner").symlink_to("dir")
    (root / "out").symlink_to(tmp_path / "outside")
    (root / "file-link").symlink_to("dir/file")
    os.mkfifo(root / "fifo")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(root / "socket"))
    fd = beneath.open_root(root)
    try:
        yield root, fd
    finally:
        os.close(fd)


def outcome(root: int, path: str) -> str:
    """What looking ``path`` up gives: the kind opened, or the error."""
    try:
        fd, status = beneath.lookup(root, path)
    except beneath.Refused as error:
        return f"refused: {error.strerror}"
    except OSError as error:
        return errno.errorcode[error.errno or 0]
    os.close(fd)
    return "directory" if stat.S_ISDIR(status.st_mode) else "file"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("dir/file", "file"),
        ("./dir//file", "file"),
        ("dir", "directory"),
        ("", "directory"),
        ("missing", "ENOENT"),
        ("dir/file/below", "ENOTDIR"),
        ("inner/file", "refused: is or passes through a symbolic link"),
        ("out/secret", "refused: is or passes through a symbolic link"),
        ("inner", "refused: is a symbolic link, not a regular file or directory"),
        ("file-link", "refused: is a symbolic link, not a regular file or directory"),
        ("fifo", "refused: is a FIFO, not a regular file or directory"),
        ("socket", "refused: is a socket, not a regular file or directory"),
        ("../outside/secret", "refused: goes up with '..'"),
        ("dir/../../outside/secret", "refused: goes up with '..'"),
        ("/etc/passwd", "refused: is absolute, not relative to the sandbox"),
        ("dir/\0", "refused: contains a NUL byte"),
    ],
)
def test_lookups(tree: tuple[Path, int], resolver: bool, path: str, expected: str) -> None:
    assert outcome(tree[1], path) == expected


def test_opening_a_directory_through_a_link_is_refused(
    tree: tuple[Path, int], resolver: bool
) -> None:
    with pytest.raises(beneath.Refused, match="symbolic link"):
        beneath.open_beneath(tree[1], "inner", os.O_PATH | os.O_DIRECTORY)


def test_open_regular_creates_appends_and_refuses_the_rest(
    tree: tuple[Path, int], resolver: bool
) -> None:
    root_path, root = tree
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    for _ in range(2):
        fd = beneath.open_regular(root, "dir/log", flags)
        os.write(fd, b"line\n")
        os.close(fd)
    assert (root_path / "dir" / "log").read_text() == "line\nline\n"
    os.link(root_path / "dir" / "log", root_path / "dir" / "other-name")
    for path, reason in [
        ("dir/log", "has other hard links"),
        ("fifo", "is a FIFO"),  # for writing, a FIFO without reader would block
        ("dir", "is a directory"),
        ("file-link", "is a symbolic link"),
        ("inner/new", "symbolic link"),
    ]:
        with pytest.raises(beneath.Refused, match=reason):
            beneath.open_regular(root, path, flags)
    assert (root_path / "dir" / "file").read_text() == "inside"


def test_make_directories_creates_and_stops_at_links(
    tree: tuple[Path, int], resolver: bool
) -> None:
    root_path, root = tree
    os.close(beneath.make_directories(root, "dir/a/b"))
    assert (root_path / "dir" / "a" / "b").is_dir()
    with pytest.raises(beneath.Refused):
        beneath.make_directories(root, "out/new")
    assert sorted(os.listdir(root_path.parent / "outside")) == ["secret"]


def test_the_walk_never_follows_a_link_swapped_in(tmp_path: Path, monkeypatch) -> None:
    """The fallback is what runs where seccomp hides openat2 (e.g. in a container)."""
    monkeypatch.setattr(beneath, "OPENAT2", False)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("secret")
    sandbox = tmp_path / "sandbox"
    (sandbox / "dir").mkdir(parents=True)
    (sandbox / "dir" / "secret").write_text("inside")
    (sandbox / "swap").symlink_to(tmp_path / "outside")
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(sandbox)], stdout=subprocess.PIPE
    )
    seen: Counter[str] = Counter()
    try:
        assert swapper.stdout is not None
        assert swapper.stdout.readline() == b"swapping\n"
        with beneath.closing(beneath.open_root(sandbox)) as root:
            for _ in range(20_000):
                try:
                    fd = beneath.open_regular(root, "dir/secret", os.O_RDONLY)
                except beneath.Refused:
                    seen["refused"] += 1
                    continue
                except FileNotFoundError:  # between the two halves of an exchange
                    seen["missing"] += 1
                    continue
                with beneath.closing(fd):
                    seen[os.read(fd, 100).decode()] += 1
    finally:
        swapper.kill()
        swapper.wait()
    assert seen["secret"] == 0, seen
    assert seen["inside"], seen
    assert seen["refused"], f"the swaps never met a lookup: {seen}"
