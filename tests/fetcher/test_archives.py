"""Extraction: every Mesos format, detection by content, and hostile archives refused."""

from __future__ import annotations

import gzip
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from dockyard.containers import LaunchError
from dockyard.messages import URI

from tests.fetcher.harness import TarMode, fetch, listing, make_tar

TAR_MODES: dict[str, TarMode] = {
    ".tar": "w",
    ".tgz": "w:gz",
    ".tar.gz": "w:gz",
    ".tbz2": "w:bz2",
    ".tar.bz2": "w:bz2",
    ".txz": "w:xz",
    ".tar.xz": "w:xz",
}


def add_link(path: Path, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Path:
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = target
        archive.addfile(info)
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


CONTENT = {"dir/a.txt": b"alpha", "b.sh": b"#!/bin/sh\n"}


@pytest.mark.parametrize("suffix", list(TAR_MODES))
async def test_tar_formats_extract_into_the_sandbox(fetcher, sandboxes, tmp_path, suffix):
    archive = make_tar(tmp_path / f"bundle{suffix}", CONTENT, TAR_MODES[suffix])
    config = sandboxes.config(URI(value=str(archive)))
    await fetch(fetcher, config)
    assert (config.sandbox / "dir" / "a.txt").read_bytes() == b"alpha"
    assert stat.S_IMODE((config.sandbox / "b.sh").stat().st_mode) == 0o755
    assert (config.sandbox / f"bundle{suffix}").exists()  # as Mesos: the archive stays
    assert "(extracted)" in (config.sandbox / "stderr").read_text()


async def test_zip_extracts_and_keeps_permissions(fetcher, sandboxes, tmp_path):
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("bin/run.sh")
        info.external_attr = (stat.S_IFREG | 0o4755) << 16
        archive.writestr(info, b"#!/bin/sh\n")
        archive.writestr("data.txt", b"data")
    config = sandboxes.config(URI(value=str(path)))
    await fetch(fetcher, config)
    assert stat.S_IMODE((config.sandbox / "bin" / "run.sh").stat().st_mode) == 0o755
    assert (config.sandbox / "data.txt").read_bytes() == b"data"


async def test_bare_gz_is_decompressed(fetcher, sandboxes, tmp_path):
    path = tmp_path / "notes.txt.gz"
    path.write_bytes(gzip.compress(b"hello"))
    config = sandboxes.config(URI(value=str(path)))
    await fetch(fetcher, config)
    assert (config.sandbox / "notes.txt").read_bytes() == b"hello"


@pytest.mark.parametrize(("name", "mode"), [("plain.tar.gz", "w"), ("zipped.tgz", None)])
async def test_format_comes_from_content_not_name(fetcher, sandboxes, tmp_path, name, mode):
    path = tmp_path / name
    if mode is None:
        make_zip(path, CONTENT)
    else:
        make_tar(path, CONTENT, mode)
    config = sandboxes.config(URI(value=str(path)))
    await fetch(fetcher, config)
    assert (config.sandbox / "dir" / "a.txt").read_bytes() == b"alpha"


async def test_extract_false_keeps_the_archive_only(fetcher, sandboxes, tmp_path):
    archive = make_tar(tmp_path / "bundle.tgz", CONTENT)
    config = sandboxes.config(URI(value=str(archive), extract=False))
    await fetch(fetcher, config)
    assert listing(config.sandbox) == ["bundle.tgz"]


async def test_archive_contents_go_to_the_sandbox_root(fetcher, sandboxes, tmp_path):
    archive = make_tar(tmp_path / "bundle.tgz", CONTENT)
    config = sandboxes.config(URI(value=str(archive), output_file="sub/x.tgz"))
    await fetch(fetcher, config)
    assert (config.sandbox / "dir" / "a.txt").exists()
    assert (config.sandbox / "sub" / "x.tgz").exists()


async def test_later_archive_overwrites_earlier_files(fetcher, sandboxes, tmp_path):
    first = make_tar(tmp_path / "one.tgz", {"conf": b"one"})
    second = make_zip(tmp_path / "two.zip", {"conf": b"two"})
    config = sandboxes.config(URI(value=str(first)), URI(value=str(second)))
    await fetch(fetcher, config)
    assert (config.sandbox / "conf").read_bytes() == b"two"


def _zip_slip(path: Path) -> Path:
    return make_zip(path, {"ok.txt": b"fine", "../../evil.txt": b"evil"})


def _zip_absolute(path: Path) -> Path:
    return make_zip(path, {"/tmp/evil.txt": b"evil"})


def _tar_absolute(path: Path) -> Path:
    return make_tar(path, {"ok.txt": b"fine", "/tmp/evil.txt": b"evil"}, "w")


def _tar_dotdot(path: Path) -> Path:
    return make_tar(path, {"a/../../evil.txt": b"evil"}, "w")


def _tar_absolute_symlink(path: Path) -> Path:
    return add_link(path, "etc", "/etc")


def _tar_relative_symlink_out(path: Path) -> Path:
    return add_link(path, "up", "../../outside")


def _tar_hardlink_out(path: Path) -> Path:
    return add_link(path, "passwd", "../../../etc/passwd", tarfile.LNKTYPE)


def _tar_symlink_chain(path: Path) -> Path:
    """``a -> .`` then ``a/b -> ..``: only a resolving check sees that b leaves the sandbox."""
    with tarfile.open(path, "w") as archive:
        for name, target in (("a", "."), ("a/b", "..")):
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return path


def _tar_device(path: Path) -> Path:
    return add_link(path, "null", "", tarfile.CHRTYPE)


def _zip_bad_crc(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("first.txt", b"fine")
        archive.writestr("data.txt", b"A" * 1000)
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"A" * 1000) + 500] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def _truncated_tgz(path: Path) -> Path:
    make_tar(path, {"big": bytes(range(256)) * 4000})
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _not_an_archive(path: Path) -> Path:
    path.write_bytes(b"<html>error page</html>")
    return path


@pytest.mark.parametrize(
    ("name", "build", "reason"),
    [
        ("slip.zip", _zip_slip, "archive member '../../evil.txt' is outside the sandbox"),
        ("abs.zip", _zip_absolute, "archive member '/tmp/evil.txt' has an absolute path"),
        ("abs.tar", _tar_absolute, "archive member '/tmp/evil.txt' has an absolute path"),
        ("dotdot.tar", _tar_dotdot, "is outside the sandbox"),
        ("abslink.tar", _tar_absolute_symlink, "'etc' links outside the sandbox (/etc)"),
        ("uplink.tar", _tar_relative_symlink_out, "'up' links outside the sandbox"),
        ("hard.tar", _tar_hardlink_out, "'passwd' links outside the sandbox"),
        ("chain.tar", _tar_symlink_chain, "refusing archive member"),
        ("device.tar", _tar_device, "refusing archive member"),
        ("crc.zip", _zip_bad_crc, "Bad CRC-32"),
        ("cut.tgz", _truncated_tgz, "Failed to extract archive 'cut.tgz'"),
        ("page.tar.gz", _not_an_archive, "not a tar, tar.gz, tar.bz2, tar.xz or zip archive"),
    ],
)
async def test_hostile_or_broken_archives_fail_and_leave_nothing(
    fetcher, sandboxes, tmp_path, name, build, reason
):
    archive = build(tmp_path / name)
    config = sandboxes.config(URI(value=str(archive)))
    with pytest.raises(LaunchError) as failure:
        await fetch(fetcher, config)
    assert str(failure.value).startswith(f"Failed to fetch '{archive}': ")
    assert reason in str(failure.value)
    assert listing(config.sandbox) == [name]  # the downloaded archive, nothing extracted
    assert not (tmp_path / "evil.txt").exists()


async def test_archive_cannot_write_through_a_sandbox_symlink(fetcher, sandboxes, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = make_tar(tmp_path / "bundle.tgz", {"dir/file": b"x"})
    config = sandboxes.config(URI(value=str(archive)))
    (config.sandbox / "dir").symlink_to(outside)
    with pytest.raises(LaunchError, match="cannot put 'dir' from the archive"):
        await fetch(fetcher, config)
    assert list(outside.iterdir()) == []
