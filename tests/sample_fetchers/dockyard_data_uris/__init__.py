"""``data``: a fetcher for RFC 2397 ``data:`` URIs, such as ``data:text/plain;base64,aGk=``.

It names the one scheme it fetches; every other URI of the task goes on to the other
fetchers (the built-in ``fetcher`` takes paths, ``file:`` and ``http(s):``). A ``data:``
URI carries no file name, so each needs an ``output_file``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import unquote_to_bytes

from dockyard import beneath, hookimpl
from dockyard.containers import ContainerConfig, LaunchError
from dockyard.messages import URI


class DataUris:
    """Entry point ``data`` of group ``dockyard.fetchers``."""

    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ("data",)

    @hookimpl
    async def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        for uri in uris:  # in the order given: of two URIs on one path, the later wins
            try:
                content = decode(uri.value)
                if not uri.output_file:
                    raise ValueError("a data: URI has no file name; set its output_file")
                mode = 0o755 if uri.executable else 0o644
                await asyncio.to_thread(write, config.sandbox, uri.output_file, content, mode)
            except (ValueError, OSError) as error:
                raise LaunchError(f"Failed to fetch '{uri.value}': {error}") from None


def decode(value: str) -> bytes:
    """The bytes of ``data:[<media type>][;base64],<data>``."""
    header, comma, data = value.lstrip().partition(":")[2].partition(",")
    if not comma:
        raise ValueError("malformed data: URI (no ',' before the data)")
    if not header.lower().endswith(";base64"):
        return unquote_to_bytes(data)
    try:
        return base64.b64decode(unquote_to_bytes(data), validate=True)
    except binascii.Error as error:
        raise ValueError(f"malformed data: URI (bad base64: {error})") from None


def write(sandbox: Path, output_file: str, content: bytes, mode: int) -> None:
    """Write through directory descriptors, never following a link, into a new file
    renamed over the destination, and give it to the sandbox's owner (the task user)."""
    path = PurePosixPath(output_file)
    if path.name in ("", ".", ".."):
        raise ValueError(f"output_file '{output_file}' does not name a file")
    owner = os.stat(sandbox)
    with beneath.closing(beneath.open_root(sandbox)) as root:
        parent = beneath.make_directories(root, path.parent, (owner.st_uid, owner.st_gid))
        with beneath.closing(parent):
            temporary = f".{path.name}.{secrets.token_hex(4)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            try:
                with open(beneath.open_beneath(parent, temporary, flags, mode), "wb") as file:
                    file.write(content)
                    os.fchown(file.fileno(), owner.st_uid, owner.st_gid)
                    os.fchmod(file.fileno(), mode)
                os.rename(temporary, path.name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary, dir_fd=parent)
                raise
