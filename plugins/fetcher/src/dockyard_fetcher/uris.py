"""Reading a ``CommandInfo.URI``: its scheme, where a local one lives, and its file name.

Checks happen before anything is downloaded, with Mesos's messages where Mesos has one.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from dockyard.fetch_routing import PLAIN_PATH, uri_scheme

from dockyard_fetcher.errors import FetchError

LOCAL = PLAIN_PATH
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
    """Parse and check ``value``; raise :class:`FetchError` with a Mesos-style reason.

    The scheme is read as the core routes it (RFC 3986, :func:`uri_scheme`), so any
    scheme reaches its handler: ``s3://b/k``, and also ``data:...`` or ``urn:...``.
    """
    uri = value.lstrip()
    if not uri:
        raise FetchError("URI is empty")
    if "\0" in uri:
        raise FetchError("Illegal characters in URI")
    scheme = uri_scheme(uri)
    if scheme == PLAIN_PATH:
        return _local(uri, uri, frameworks_home)
    rest = uri[len(scheme) + 1 :]
    if scheme == "file":
        path = rest.removeprefix("//localhost") if rest.startswith("//localhost/") else rest
        path = path.removeprefix("//") if path.startswith("///") else path
        if not path.startswith("/") or path.startswith("//"):
            raise FetchError("File URI only supports absolute paths")
        return _local(uri, unquote(path), None)
    if not rest.startswith("//"):  # no authority (data:, urn:): no file name to derive
        return Location(uri=uri, scheme=scheme, target=uri, basename=_path_basename(rest))
    slash = rest.find("/", 2)
    if slash < 0 or slash == len(rest) - 1:
        raise FetchError(f"Malformed URI (missing path): {uri}")
    return Location(uri=uri, scheme=scheme, target=uri, basename=_path_basename(rest))


def _path_basename(rest: str) -> str:
    """The last segment of a hierarchical path (``/a/b.tgz``, ``//host/a/b.tgz``), else ""."""
    path = urlsplit(f"x:{rest}").path
    return unquote(posixpath.basename(path)) if path.startswith("/") else ""


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
