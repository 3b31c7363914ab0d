"""Reading a ``CommandInfo.URI``: its scheme, where a local one lives, and its file name.

Checks happen before anything is downloaded, with Mesos's messages where Mesos has one.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from dockyard_fetcher.errors import FetchError

_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")
LOCAL = ""
"""The scheme of a plain path (``/opt/x.tgz`` or, with ``--frameworks_home``, ``x.tgz``)."""


@dataclass(frozen=True)
class Location:
    """Where a URI points: ``scheme`` is lower case ("" for a path, never "file")."""

    uri: str
    """The URI as given, leading whitespace removed (Mesos accepts ``"\\n http://..."``)."""
    scheme: str
    target: str
    """For a local URI the absolute path; otherwise ``uri`` itself."""
    basename: str
    """The file name the URI suggests, query and fragment excluded, percent-decoded."""


def locate(value: str, frameworks_home: Path | None) -> Location:
    """Parse and check ``value``; raise :class:`FetchError` with a Mesos-style reason."""
    uri = value.lstrip()
    if not uri:
        raise FetchError("URI is empty")
    if "\0" in uri:
        raise FetchError("Illegal characters in URI")
    scheme, separator, rest = uri.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme):
        return _local(uri, uri, frameworks_home)
    scheme = scheme.lower()
    if scheme == "file":
        path = rest.removeprefix("localhost")
        if not path.startswith("/"):
            raise FetchError("File URI only supports absolute paths")
        return _local(uri, unquote(path), None)
    slash = rest.find("/")
    if slash < 0 or slash == len(rest) - 1:
        raise FetchError(f"Malformed URI (missing path): {uri}")
    basename = unquote(posixpath.basename(urlsplit(uri).path))
    return Location(uri=uri, scheme=scheme, target=uri, basename=basename)


def _local(uri: str, path: str, frameworks_home: Path | None) -> Location:
    if not path.startswith("/"):
        if frameworks_home is None:
            raise FetchError(
                "A relative path was passed for the resource but the Mesos framework home "
                "was not specified. Please either provide this config option (--frameworks_home) "
                "or avoid using a relative path"
            )
        path = str(frameworks_home / path)
    return Location(uri=uri, scheme=LOCAL, target=path, basename=posixpath.basename(path))


def destination_name(location: Location, output_file: str | None) -> PurePosixPath:
    """The sandbox-relative path a URI lands at; rejects names that could leave the sandbox.

    The path is only checked lexically here; :mod:`dockyard_fetcher.sandbox` checks
    symlinks on disk when the file is placed.
    """
    if output_file is None:
        name = location.basename
        if name in ("", ".", ".."):
            raise FetchError(
                f"cannot derive a file name from '{location.uri}'; set the URI's output_file"
            )
        return PurePosixPath(name)
    if not output_file:
        raise FetchError("URI output file path is empty")
    if output_file.startswith("/"):
        raise FetchError("URI output file must be within the sandbox directory")
    normal = posixpath.normpath(output_file)
    if normal in (".", "..") or normal.startswith("../"):
        raise FetchError(f"URI output file '{output_file}' is not within the sandbox directory")
    return PurePosixPath(normal)
