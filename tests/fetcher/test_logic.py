"""Pure logic: URI parsing, destination names, progress fan-out, scheme choice."""

from __future__ import annotations

import importlib.util
from pathlib import Path, PurePosixPath

import pytest
from dockyard_fetcher import FetchError, FetchProgress, ProgressHub
from dockyard_fetcher.archives import is_archive_name
from dockyard_fetcher.schemes import SchemeRegistry
from dockyard_fetcher.schemes.fsspec import FsspecFiles
from dockyard_fetcher.schemes.http import HttpDownloads
from dockyard_fetcher.schemes.local import LocalFiles
from dockyard_fetcher.uris import destination_name, locate
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("value", "scheme", "target", "basename"),
    [
        ("/opt/a.tgz", "", "/opt/a.tgz", "a.tgz"),
        ("file:///opt/a%20b.tgz", "", "/opt/a b.tgz", "a b.tgz"),
        ("file://localhost/opt/a.tgz", "", "/opt/a.tgz", "a.tgz"),
        ("HTTP://h/x/y.zip?sig=1#f", "http", "HTTP://h/x/y.zip?sig=1#f", "y.zip"),
        ("s3://bucket/key/obj", "s3", "s3://bucket/key/obj", "obj"),
        ("rel/x.tar", "", "/home/fw/rel/x.tar", "x.tar"),
        ("file:/opt/a.tgz", "", "/opt/a.tgz", "a.tgz"),  # RFC 8089's short form
        # RFC 3986: a colon before any slash makes a scheme (Mesos: a relative path)...
        ("host.example:/srv/a.tgz", "host.example", "host.example:/srv/a.tgz", "a.tgz"),
        ("data:text/plain,hi", "data", "data:text/plain,hi", ""),  # opaque: no file name
        ("URN:isbn:0451450523", "urn", "URN:isbn:0451450523", ""),
        # ...so such a relative path starts with ./, and a drive letter is no scheme
        ("./weird:/x", "", "/home/fw/weird:/x", "x"),
        ("C:/x.tgz", "", "/home/fw/C:/x.tgz", "x.tgz"),
        ("dir/a:b", "", "/home/fw/dir/a:b", "a:b"),
    ],
)
def test_locate(value, scheme, target, basename):
    location = locate(value, Path("/home/fw"))
    assert (location.scheme, location.target, location.basename) == (scheme, target, basename)


@pytest.mark.parametrize("value", ["", "   ", "/a\0b"])
def test_locate_rejects_empty_and_nul(value):
    with pytest.raises(FetchError):
        locate(value, None)


@pytest.mark.parametrize(
    ("output_file", "expected"),
    [("a", "a"), ("./a/./b", "a/b"), ("a/../b", "b"), ("dir/", "dir")],
)
def test_destination_name_normalises(output_file, expected):
    assert destination_name(locate("/x", None), output_file) == PurePosixPath(expected)


def test_destination_needs_a_name():
    with pytest.raises(FetchError, match="set the URI's output_file"):
        destination_name(locate("http://h/dir/", None), None)


@pytest.mark.parametrize(
    ("name", "archive"),
    [("a.TGZ", True), ("a.tar.xz", True), ("a.gz", True), ("a.tar.zst", False), ("a", False)],
)
def test_archive_names(name, archive):
    assert is_archive_name(name) is archive


def test_progress_hub_fans_out_and_unsubscribes():
    hub = ProgressHub()
    seen: list[FetchProgress] = []
    unsubscribe = hub.subscribe(seen.append)
    tracker = hub.tracker("u", 10)
    tracker.advance(4)
    tracker.advance(6)  # within the rate limit: not reported
    tracker.finish()
    assert seen == [FetchProgress("u", 4, 10), FetchProgress("u", 10, 10, done=True)]
    unsubscribe()
    hub.tracker("u", None).finish()
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("progress", "line"),
    [
        (
            FetchProgress("http://h/app.tgz?x=1", 3 << 20, 12 << 20),
            "app.tgz  3.0/12.0 MiB  25%",
        ),
        (FetchProgress("/opt/data", 1 << 19, None), "data  0.5 MiB"),
        (FetchProgress("/opt/data", 1 << 20, None, done=True), "data  1.0 MiB  done"),
        (FetchProgress("/opt/empty", 0, 0, done=True), "empty  0.0/0.0 MiB  100%"),
    ],
)
def test_progress_line(progress, line):
    assert progress.describe() == line


def test_scheme_registry_prefers_explicit_claims():
    local, http, fallback = LocalFiles(), HttpDownloads(), FsspecFiles()
    registry = SchemeRegistry([fallback, local, http])
    assert registry.handler_for("") is local
    assert registry.handler_for("https") is http
    assert registry.handler_for("s3") is fallback
    with pytest.raises(FetchError, match="no fetcher handles the URI scheme 's3:'"):
        SchemeRegistry([local]).handler_for("s3")


@pytest.mark.skipif(importlib.util.find_spec("fsspec") is None, reason="needs fsspec")
def test_fsspec_takes_only_the_protocols_it_knows():
    registry = SchemeRegistry([LocalFiles(), HttpDownloads(), FsspecFiles()])
    assert registry.claims() == {"", "file", "http", "https", "*"}
    with pytest.raises(FetchError) as raised:
        registry.handler_for("urn")
    assert str(raised.value).startswith(
        "no fetcher handles the URI scheme 'urn:' (dockyard-fetcher takes plain paths, file:, "
        "http:, https:, the protocols of fsspec's backends; install a package that adds it"
    )


@given(st.text(alphabet="ab./\\\0 ", max_size=20))
def test_destination_name_never_leaves_the_sandbox(output_file):
    try:
        path = destination_name(locate("/x", None), output_file)
    except FetchError:
        return
    assert not path.is_absolute()
    assert ".." not in path.parts
    assert path.name not in ("", ".", "..")
