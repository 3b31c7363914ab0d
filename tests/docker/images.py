"""Test images built locally: a busybox-static root file system imported into the Engine."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import uuid

from docker import APIClient

BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"


def busybox_rootfs(extra_files: dict[str, str] | None = None) -> bytes:
    """A tar of ``/bin/busybox`` plus a symlink per applet (sh, echo, sleep, cat, httpd...)."""
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for directory in ("bin", "tmp", "etc", "www"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            archive.addfile(info)
        archive.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets.stdout.split():
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            archive.addfile(link)
        for path, text in (extra_files or {}).items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def import_image(
    api: APIClient, repository: str, rootfs: bytes, changes: list[str] | None = None
) -> str:
    """Import ``rootfs`` as ``repository:<random tag>``; returns the reference."""
    tag = uuid.uuid4().hex[:10]
    api.import_image_from_data(
        rootfs, repository=repository, tag=tag, changes=["ENV PATH=/bin", *(changes or [])]
    )
    return f"{repository}:{tag}"
