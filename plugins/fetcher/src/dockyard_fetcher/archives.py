"""Recognising archives and extracting them without letting them write outside the sandbox.

Whether to extract follows Mesos (the file name's suffix); how to read the file follows its
content, so a plain tar named ``.tar.gz`` or a zip named ``.tgz`` still extracts. Members with
absolute paths, ``..`` escapes or links leading out are refused (tarfile's ``data`` filter is
the second line of defence). Extraction happens in a root-only staging directory outside the
sandbox, then moves into place without following any link the sandbox holds, so a failed
extraction (a bad CRC, a hostile member) leaves nothing behind and a task cannot redirect it.
"""

from __future__ import annotations

import gzip
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from dockyard import beneath

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.identity import Identity, give_tree

ARCHIVE_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")
GZIP_SUFFIX = ".gz"
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError)


def is_archive_name(name: str) -> bool:
    """Whether Mesos would extract a file of this name (archive or bare ``.gz``)."""
    lowered = name.lower()
    return lowered.endswith(ARCHIVE_SUFFIXES) or lowered.endswith(GZIP_SUFFIX)


def extract(
    source: Path, name: str, private: Path, sandbox: int, owner: Identity | None
) -> list[str]:
    """Extract ``source`` (named ``name``) into the sandbox directory descriptor ``sandbox``;
    return the top-level names. The archive unpacks in a directory below ``private`` (which
    the task cannot reach), then moves in without following links the sandbox holds.

    Extracted files belong to ``owner`` when given. Blocking: run it in a thread. Raises
    :class:`FetchError` for a corrupt or hostile archive.
    """
    staging = Path(tempfile.mkdtemp(prefix=".dockyard-extract-", dir=private))
    try:
        try:
            if name.lower().endswith(ARCHIVE_SUFFIXES):
                _extract_archive(source, staging)
            else:
                _gunzip(source, staging / name[: -len(GZIP_SUFFIX)])
        except FetchError:
            raise
        except _READ_ERRORS as error:
            raise FetchError(f"Failed to extract archive '{name}': {error}") from None
        if owner is not None:
            give_tree(staging, owner)
        return merge(staging, sandbox)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_archive(source: Path, staging: Path) -> None:
    with source.open("rb") as file:
        magic = file.read(4)
    if magic.startswith(_ZIP_MAGICS):
        with zipfile.ZipFile(source) as archive:
            _check_names(info.filename for info in archive.infolist())
            for info in archive.infolist():
                archive.extract(info, staging)
                _apply_zip_mode(info, staging)
        return
    if not tarfile.is_tarfile(source):
        raise FetchError("not a tar, tar.gz, tar.bz2, tar.xz or zip archive")
    with tarfile.open(source, mode="r:*") as archive:
        members = archive.getmembers()
        _check_names(member.name for member in members)
        for member in members:
            _check_link(member)
        try:
            archive.extractall(staging, members=members, filter="data")
        except tarfile.FilterError as error:
            raise FetchError(f"refusing archive member: {error}") from None


def _check_names(names: Iterable[str]) -> None:
    for name in names:
        if name.startswith("/"):
            raise FetchError(f"archive member '{name}' has an absolute path")
        if _escapes(name):
            raise FetchError(f"archive member '{name}' is outside the sandbox")


def _check_link(member: tarfile.TarInfo) -> None:
    if member.issym():
        target = member.linkname
        resolved = posixpath.join(posixpath.dirname(member.name), target)
        if target.startswith("/") or _escapes(resolved):
            raise FetchError(f"archive member '{member.name}' links outside the sandbox ({target})")
    elif member.islnk() and (member.linkname.startswith("/") or _escapes(member.linkname)):
        raise FetchError(
            f"archive member '{member.name}' links outside the sandbox ({member.linkname})"
        )


def _escapes(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def _apply_zip_mode(info: zipfile.ZipInfo, staging: Path) -> None:
    """Keep a zip member's permission bits (zipfile drops them), minus setuid and friends."""
    mode = (info.external_attr >> 16) & 0o777
    if mode and not info.is_dir():
        os.chmod(staging / info.filename, mode & ~0o022)


def _gunzip(source: Path, destination: Path) -> None:
    with source.open("rb") as file:
        if file.read(2) != _GZIP_MAGIC:
            raise FetchError("not gzip data")
    with gzip.open(source, "rb") as compressed, destination.open("wb") as plain:
        shutil.copyfileobj(compressed, plain, 1 << 20)


def merge(staging: Path, directory: int) -> list[str]:
    """Move the staged tree into the directory descriptor ``directory``; an archive entry
    replaces a file of that name. Never follows a symbolic link found there: a directory
    is merged only into a real directory, and a rename replaces the link itself."""
    placed = []
    for entry in sorted(os.scandir(staging), key=lambda entry: entry.name):
        is_dir = entry.is_dir(follow_symlinks=False)
        target = _real_directory(entry.name, directory) if is_dir else None
        if target is not None:
            with beneath.closing(target):
                merge(Path(entry.path), target)
        else:
            try:
                os.replace(entry.path, entry.name, dst_dir_fd=directory)
            except OSError as error:
                raise FetchError(
                    f"cannot put '{entry.name}' from the archive in the sandbox: {error.strerror}"
                ) from None
        placed.append(entry.name)
    return placed


def _real_directory(name: str, directory: int) -> int | None:
    try:
        return beneath.open_beneath(directory, name, os.O_PATH | os.O_DIRECTORY)
    except (beneath.Refused, FileNotFoundError, NotADirectoryError):
        return None
