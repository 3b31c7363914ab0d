"""The scheme extension point: built-in handlers, fsspec, and a third-party handler."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from dockyard.containers import LaunchError
from dockyard.fetch_routing import FetchRouter
from dockyard.host import PluginHost
from dockyard.messages import URI
from dockyard_fetcher import Download, FetchError, SchemeHandler, SourceRequest
from dockyard_fetcher.plugin import FetcherPlugin, discover_handlers
from dockyard_fetcher.schemes.fsspec import FsspecFiles
from dockyard_fetcher.schemes.http import HttpDownloads
from dockyard_fetcher.schemes.local import LocalFiles
from dockyard_fetcher.settings import Settings

from tests.fetcher.harness import Origin, fetch, listing

needs_fsspec = pytest.mark.skipif(
    importlib.util.find_spec("fsspec") is None, reason="needs dockyard-fetcher[fsspec]"
)


class Letters:
    """A third-party handler: ``letters://host/<n>`` is n bytes of ``a``, sent slowly."""

    schemes = ("letters",)

    def __init__(self) -> None:
        self.closed = False

    @asynccontextmanager
    async def open(self, request: SourceRequest) -> AsyncIterator[Download]:
        count = request.location.basename
        if not count.isdigit():
            raise FetchError(f"'{count}' is not a number")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(int(count)):
                await asyncio.sleep(0)
                yield b"a"

        yield Download(size=int(count), chunks=chunks())

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def custom(tmp_path) -> AsyncIterator[tuple[FetcherPlugin, Letters]]:
    plugin = FetcherPlugin()
    letters = Letters()
    settings = Settings(
        cache_dir=tmp_path / "cache", cache_size=1 << 20, stall_timeout=timedelta(seconds=2)
    )
    await plugin.configure(settings, [*discover_handlers(), letters])
    yield plugin, letters
    await plugin.stop()


def test_entry_points_provide_the_built_in_handlers():
    kinds = {type(handler) for handler in discover_handlers()}
    assert {LocalFiles, HttpDownloads, FsspecFiles} <= kinds
    assert all(isinstance(handler, SchemeHandler) for handler in discover_handlers())


def test_core_sees_the_plugin_and_the_handlers_as_fetchers():
    host = PluginHost.from_entry_points()
    assert {"fetcher", "file", "http", "fsspec"} <= set(host.names("dockyard.fetchers"))
    assert host.implements("fetcher", "fetch")
    assert not host.implements("http", "fetch")


async def test_core_host_runs_the_fetch_hook(tmp_path, sandboxes):
    host = PluginHost.from_entry_points()
    plugin = host.pm.get_plugin("fetcher")
    assert isinstance(plugin, FetcherPlugin)
    settings = Settings(
        cache_dir=tmp_path / "cache", cache_size=0, stall_timeout=timedelta(seconds=2)
    )
    await plugin.configure(settings, discover_handlers())
    try:
        (tmp_path / "f").write_text("x")
        config = sandboxes.config(URI(value=str(tmp_path / "f")))
        router = FetchRouter.from_host(host, host.names("dockyard.fetchers"))
        await router.fetch(config, config.command.uris)
        assert listing(config.sandbox) == ["f"]
    finally:
        await plugin.stop()


async def test_third_party_scheme(custom, sandboxes):
    plugin, letters = custom
    config = sandboxes.config(URI(value="letters://host/5", cache=True))
    await fetch(plugin, config)
    assert (config.sandbox / "5").read_bytes() == b"aaaaa"
    await plugin.stop()
    assert letters.closed


async def test_the_plugin_names_the_schemes_of_its_handlers(custom):
    plugin, _ = custom
    assert set(plugin.fetch_schemes()) == {"", "file", "http", "https", "letters", "*"}


async def test_third_party_error_is_reported(custom, sandboxes):
    plugin, _ = custom
    with pytest.raises(
        LaunchError, match="Failed to fetch 'letters://host/x': 'x' is not a number"
    ):
        await fetch(plugin, sandboxes.config(URI(value="letters://host/x")))


@needs_fsspec
async def test_fsspec_memory_scheme(fetcher, sandboxes):
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://bucket/blob.txt", "wb") as file:
        file.write(b"from fsspec")
    try:
        config = sandboxes.config(URI(value="memory://bucket/blob.txt"))
        await fetch(fetcher, config)
        assert (config.sandbox / "blob.txt").read_bytes() == b"from fsspec"
    finally:
        fsspec.filesystem("memory").rm("/bucket", recursive=True)


@needs_fsspec
async def test_fsspec_missing_object(fetcher, sandboxes):
    with pytest.raises(LaunchError, match="No such file: memory://bucket/none"):
        await fetch(fetcher, sandboxes.config(URI(value="memory://bucket/none")))


@needs_fsspec
async def test_fsspec_fetches_data_uris_when_no_fetcher_names_them(fetcher, sandboxes):
    """data: URIs route to the catch-all: fsspec's data backend (RFC 2397)."""
    config = sandboxes.config(URI(value="data:text/plain;base64,aGkK", output_file="x"))
    await fetch(fetcher, config)
    assert (config.sandbox / "x").read_bytes() == b"hi\n"


@needs_fsspec
async def test_fsspec_missing_backend_names_the_package(fetcher, sandboxes):
    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed")
    with pytest.raises(LaunchError, match=r"Failed to fetch 's3://bucket/key': .*s3fs"):
        await fetch(fetcher, sandboxes.config(URI(value="s3://bucket/key")))


async def test_without_fsspec_other_schemes_say_what_to_install(fetcher, sandboxes):
    if importlib.util.find_spec("fsspec") is not None:
        pytest.skip("fsspec is installed")
    with pytest.raises(LaunchError, match=r"no fetcher handles the URI scheme 's3:' \(install"):
        await fetch(fetcher, sandboxes.config(URI(value="s3://bucket/key")))


@needs_fsspec
async def test_fsspec_does_not_serve_local_files(fetcher, sandboxes, tmp_path):
    (tmp_path / "secret").write_text("x")
    with pytest.raises(LaunchError, match="no fetcher handles the URI scheme 'local:'"):
        await fetch(fetcher, sandboxes.config(URI(value=f"local://{tmp_path}/secret")))


async def test_cancelled_fetch_leaves_nothing(fetcher, sandboxes, origin: Origin):
    config = sandboxes.config(URI(value=origin.url("stall"), output_file="big"))
    job = asyncio.ensure_future(fetch(fetcher, config))
    await origin.stalling.wait()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert listing(config.sandbox) == []
