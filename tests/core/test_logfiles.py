"""Rotating log files: sizes, names, splice, and exact resumption after a crash."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from dockyard import beneath
from dockyard.logfiles import RotatingFile, Rotation, open_log_file, rotated
from hypothesis import given, settings
from hypothesis import strategies as st


def files_of(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def stream_of(path: Path, keep: int) -> bytes:
    """The retained output in order: the oldest rotated file first, the current file last."""
    parts = [rotated(path, n) for n in range(keep, 0, -1)] + [path]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def test_a_frame_that_does_not_fit_starts_the_next_file(tmp_path: Path) -> None:
    log = RotatingFile(tmp_path / "stdout", Rotation(max_size=10, max_files=2))
    log.open()
    for line in (b"aaaa\n", b"bbbb\n", b"cccc\n", b"dddd\n", b"eeeeeeeeeeeeeeeeeeeeeeee\n"):
        log.write(line)
    log.close()
    assert files_of(tmp_path) == {
        "stdout": b"eeee\n",
        "stdout.1": b"eeeeeeeeee",
        "stdout.2": b"eeeeeeeeee",
    }, "a frame larger than a file is split; only max_files rotated files stay"


def test_whole_frames_stay_together(tmp_path: Path) -> None:
    log = RotatingFile(tmp_path / "stdout", Rotation(max_size=10, max_files=5))
    log.open()
    for line in (b"aaaa\n", b"bbbb\n", b"cccc\n", b"dddd\n"):
        log.write(line)
    log.close()
    assert files_of(tmp_path) == {"stdout": b"cccc\ndddd\n", "stdout.1": b"aaaa\nbbbb\n"}


def test_max_files_zero_keeps_only_the_current_file(tmp_path: Path) -> None:
    log = RotatingFile(tmp_path / "stdout", Rotation(max_size=8, max_files=0))
    log.open()
    for line in (b"one\n", b"two\n", b"three\n"):
        log.write(line)
    log.close()
    assert files_of(tmp_path) == {"stdout": b"three\n"}


def test_without_rotation_it_appends_to_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "stderr").write_bytes(b"fetched\n")
    log = RotatingFile(tmp_path / "stderr", None)
    log.open()
    log.write(b"x" * 100)
    log.close()
    assert (tmp_path / "stderr").read_bytes() == b"fetched\n" + b"x" * 100


def test_splice_cuts_files_at_exactly_the_size(tmp_path: Path) -> None:
    data = b"".join(b"%d\n" % n for n in range(20_000))
    log = RotatingFile(tmp_path / "stdout", Rotation(max_size=4096, max_files=100))
    log.open()
    reader, writer = os.pipe()
    os.set_blocking(reader, False)
    try:
        sent = 0
        while sent < len(data):
            sent += os.write(writer, data[sent : sent + 30_000])
            while True:
                try:
                    log.splice(reader, 1 << 20)
                except BlockingIOError:
                    break
        os.close(writer)
        writer = -1
        assert log.splice(reader, 1 << 20) == 0, "the end of the pipe"
    finally:
        os.close(reader)
        if writer != -1:
            os.close(writer)
        log.close()
    sizes = {path.name: path.stat().st_size for path in tmp_path.iterdir()}
    assert all(size == 4096 for name, size in sizes.items() if name != "stdout")
    assert stream_of(tmp_path / "stdout", 100) == data


def test_a_gap_left_by_a_crash_between_renames_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    for name, content in (("stdout.2", b"older\n"), ("stdout.4", b"oldest\n")):
        (tmp_path / name).write_bytes(content)
    path.write_bytes(b"current\n")
    log = RotatingFile(path, Rotation(max_size=9, max_files=3))
    log.open()
    log.write(b"next\n")
    log.close()
    assert files_of(tmp_path) == {
        "stdout": b"next\n",
        "stdout.1": b"current\n",
        "stdout.2": b"older\n",
        "stdout.3": b"oldest\n",
    }


def test_foreign_names_beside_the_file_are_left_alone(tmp_path: Path) -> None:
    for name in ("stdout.json", "stdout.01", "stdout.1x", "stdoutx.1"):
        (tmp_path / name).write_bytes(b"keep")
    log = RotatingFile(tmp_path / "stdout", Rotation(max_size=4, max_files=1))
    log.open()
    for _ in range(3):
        log.write(b"abc\n")
    log.close()
    assert all((tmp_path / name).read_bytes() == b"keep" for name in ("stdout.json", "stdout.01"))
    assert (tmp_path / "stdout").read_bytes() == b"abc\n"
    assert (tmp_path / "stdout.1").read_bytes() == b"abc\n"


def test_resuming_from_a_legacy_checkpoint_without_inode_cuts_to_its_size(tmp_path: Path) -> None:
    path = tmp_path / "stdout"
    path.write_bytes(b"kept\nwritten after the checkpoint\n")
    log = RotatingFile(path, None)
    log.open(resume={"size": 5})
    log.write(b"replayed\n")
    log.close()
    assert path.read_bytes() == b"kept\nreplayed\n"


@dataclass
class Position:
    """What a writer saves: the next frame to write, how much of it is in, the checkpoint."""

    frame: int
    offset: int
    checkpoint: dict[str, int]


class Writer:
    """Writes frames like the docker log follower: saves its position now and then, and
    always before a rotation."""

    def __init__(self, directory: Path, rotation: Rotation, resume: Position | None) -> None:
        self.saved: Position | None = resume
        self.frame = resume.frame if resume else 0
        self._offset = 0
        self.file = RotatingFile(directory / "stdout", rotation, before_rotate=self._save)
        self.file.open(None if resume is None else resume.checkpoint)
        if resume is None:
            self._save(0)

    def _save(self, written: int) -> None:
        self.saved = Position(self.frame, self._offset + written, self.file.checkpoint())

    def write(self, frames: list[bytes], until: int, saves: set[int], offset: int = 0) -> None:
        while self.frame < until:
            if self.frame in saves:
                self._offset = 0
                self._save(0)
            self._offset = offset
            self.file.write(frames[self.frame][offset:])
            self.frame, offset = self.frame + 1, 0


frames_strategy = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    frames=frames_strategy,
    max_size=st.integers(1, 50),
    max_files=st.integers(0, 4),
    crash_at=st.integers(0, 60),
    partial=st.integers(0, 40),
    saves=st.sets(st.integers(0, 60)),
)
def test_a_writer_restarted_from_its_last_saved_position_ends_like_one_never_stopped(
    frames: list[bytes],
    max_size: int,
    max_files: int,
    crash_at: int,
    partial: int,
    saves: set[int],
) -> None:
    rotation = Rotation(max_size=max_size, max_files=max_files)
    crash_at = min(crash_at, len(frames) - 1)
    with tempfile.TemporaryDirectory() as never, tempfile.TemporaryDirectory() as crashed:
        reference = Writer(Path(never), rotation, None)
        reference.write(frames, len(frames), saves)
        reference.file.close()

        first = Writer(Path(crashed), rotation, None)
        first.write(frames, crash_at, saves)
        first.file.write(frames[crash_at][: partial % (len(frames[crash_at]) + 1)])
        assert first.saved is not None  # then a crash: the last save is all that is left
        first.file.close()

        second = Writer(Path(crashed), rotation, first.saved)
        second.write(frames, len(frames), saves, offset=first.saved.offset)
        second.file.close()
        assert files_of(Path(crashed)) == files_of(Path(never))


def test_a_failed_save_before_rotation_stops_the_rotation(tmp_path: Path) -> None:
    def refuse(_written: int) -> None:
        raise OSError(28, "No space left on device")

    log = RotatingFile(tmp_path / "stdout", Rotation(max_size=4, max_files=1), before_rotate=refuse)
    log.open()
    log.write(b"abc\n")
    with pytest.raises(OSError, match="No space"):
        log.write(b"def\n")
    log.close()
    assert files_of(tmp_path) == {"stdout": b"abc\n"}


def test_a_symlink_in_place_of_the_file_is_refused_and_its_target_untouched(
    tmp_path: Path,
) -> None:
    precious = tmp_path / "precious"
    precious.write_bytes(b"keep me\n")
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    (sandbox / "stdout").symlink_to(precious)
    for truncate in (False, True):
        with pytest.raises(beneath.Refused, match="is a symbolic link"):
            open_log_file(sandbox / "stdout", truncate=truncate, owner=(65534, 65534))
    assert precious.read_bytes() == b"keep me\n"
    assert precious.stat().st_uid == os.getuid()


def test_a_hard_link_in_place_of_the_file_is_refused_and_not_truncated(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_bytes(b"keep me\n")
    (tmp_path / "stdout").hardlink_to(precious)
    with pytest.raises(beneath.Refused, match="has other hard links"):
        open_log_file(tmp_path / "stdout", truncate=True)
    assert precious.read_bytes() == b"keep me\n"


def test_a_fifo_in_place_of_the_file_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "stdout")
    with pytest.raises(beneath.Refused, match="is a FIFO"):
        open_log_file(tmp_path / "stdout")
