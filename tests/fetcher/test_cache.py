"""The cache: shared downloads, LRU eviction, bypass, damaged files, and surviving restarts."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import stat

import pytest
from dockyard.containers import LaunchError
from dockyard.messages import URI
from dockyard_fetcher.cache import CacheKey

from tests.fetcher.harness import Origin, fetch, listing, make_tar, started_plugin

KB = 1024


def cached(origin: Origin, name: str, **fields) -> URI:
    return URI(value=origin.url(f"files/{name}"), cache=True, **fields)


async def test_concurrent_fetches_share_one_download(fetcher, sandboxes, origin: Origin):
    origin.files["shared.bin"] = os.urandom(3 << 20)
    configs = [sandboxes.config(cached(origin, "shared.bin")) for _ in range(8)]
    await asyncio.gather(*(fetch(fetcher, config) for config in configs))
    assert origin.requests["/files/shared.bin"] == 1
    for config in configs:
        assert (config.sandbox / "shared.bin").read_bytes() == origin.files["shared.bin"]


async def test_hit_downloads_nothing_and_says_so(fetcher, sandboxes, origin: Origin):
    origin.files["tool"] = b"tool"
    await fetch(fetcher, sandboxes.config(cached(origin, "tool")))
    config = sandboxes.config(cached(origin, "tool"))
    await fetch(fetcher, config)
    assert origin.requests["/files/tool"] == 1
    assert "from the cache by " in (config.sandbox / "stderr").read_text()
    assert fetcher.metrics()["containerizer/fetcher/cache_hits"] == 1
    assert fetcher.metrics()["containerizer/fetcher/cache_size_used_bytes"] == 4


async def test_hit_is_hard_linked_to_a_read_only_cache_file(
    fetcher, sandboxes, origin: Origin, tmp_path
):
    origin.files["data"] = b"data"
    await fetch(fetcher, sandboxes.config(cached(origin, "data")))
    config = sandboxes.config(cached(origin, "data"))
    await fetch(fetcher, config)
    placed = config.sandbox / "data"
    (cache_file,) = (tmp_path / "cache" / "files").iterdir()
    assert placed.stat().st_ino == cache_file.stat().st_ino  # ext4: no reflink, a hard link
    assert stat.S_IMODE(placed.stat().st_mode) == 0o444


async def test_executable_from_the_cache_is_a_private_copy(fetcher, sandboxes, origin: Origin):
    origin.files["run"] = b"#!/bin/sh\n"
    configs = [sandboxes.config(cached(origin, "run", executable=True)) for _ in range(2)]
    for config in configs:
        await fetch(fetcher, config)
        placed = config.sandbox / "run"
        assert stat.S_IMODE(placed.stat().st_mode) == 0o755
        assert placed.stat().st_nlink == 1
    (cache_file,) = (configs[0].sandbox.parent.parent / "cache" / "files").iterdir()
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o444


async def test_extracting_from_the_cache_does_not_copy_the_archive(
    fetcher, sandboxes, origin: Origin, tmp_path
):
    origin.files["bundle.tgz"] = make_tar(tmp_path / "b.tgz", {"inside": b"x"}).read_bytes()
    config = sandboxes.config(cached(origin, "bundle.tgz"))
    await fetch(fetcher, config)
    assert listing(config.sandbox) == ["inside"]


async def test_least_recently_used_entries_are_evicted_first(tmp_path, sandboxes, origin):
    plugin = await started_plugin(tmp_path, fetcher_cache_size="30KB")
    try:
        for name in ("a", "b", "c"):
            origin.files[name] = b"x" * (10 * KB)
            await fetch(plugin, sandboxes.config(cached(origin, name)))
        await fetch(plugin, sandboxes.config(cached(origin, "a")))  # a is now the newest
        origin.files["d"] = b"x" * (10 * KB)
        await fetch(plugin, sandboxes.config(cached(origin, "d")))
        cache = plugin._fetcher.cache  # type: ignore[union-attr]
        assert [key.uri.rsplit("/", 1)[1] for key in cache.lru_order()] == ["c", "a", "d"]
        assert cache.used == 30 * KB
        await fetch(plugin, sandboxes.config(cached(origin, "b")))
        assert origin.requests["/files/b"] == 2
    finally:
        await plugin.stop()


async def test_uri_larger_than_the_cache_bypasses_it(tmp_path, sandboxes, origin: Origin):
    plugin = await started_plugin(tmp_path, fetcher_cache_size="10KB")
    try:
        origin.files["huge"] = b"h" * (20 * KB)
        config = sandboxes.config(cached(origin, "huge"))
        await fetch(plugin, config)
        assert (config.sandbox / "huge").read_bytes() == origin.files["huge"]
        assert "(downloaded)" in (config.sandbox / "stderr").read_text()
        assert plugin.metrics()["containerizer/fetcher/cache_size_used_bytes"] == 0
        assert list((tmp_path / "cache" / "files").iterdir()) == []
    finally:
        await plugin.stop()


async def test_too_large_without_content_length_bypasses_too(tmp_path, sandboxes, origin):
    plugin = await started_plugin(tmp_path, fetcher_cache_size="10KB")
    try:
        origin.files["huge"] = b"h" * (200 * KB)
        config = sandboxes.config(URI(value=origin.url("chunked/huge"), cache=True))
        await fetch(plugin, config)
        assert (config.sandbox / "huge").read_bytes() == origin.files["huge"]
        assert list((tmp_path / "cache" / "files").iterdir()) == []
    finally:
        await plugin.stop()


async def test_zero_size_cache_disables_caching(tmp_path, sandboxes, origin: Origin):
    plugin = await started_plugin(tmp_path, fetcher_cache_size="0B")
    try:
        origin.files["f"] = b"data"
        for _ in range(2):
            await fetch(plugin, sandboxes.config(cached(origin, "f")))
        assert origin.requests["/files/f"] == 2
    finally:
        await plugin.stop()


async def test_deleted_cache_file_is_fetched_again(fetcher, sandboxes, origin: Origin, tmp_path):
    origin.files["f"] = b"data"
    await fetch(fetcher, sandboxes.config(cached(origin, "f")))
    for path in (tmp_path / "cache" / "files").iterdir():
        path.unlink()
    config = sandboxes.config(cached(origin, "f"))
    await fetch(fetcher, config)
    assert origin.requests["/files/f"] == 2
    assert (config.sandbox / "f").read_bytes() == b"data"


async def test_cache_file_changed_through_a_link_is_fetched_again(fetcher, sandboxes, origin):
    origin.files["f"] = b"data"
    first = sandboxes.config(cached(origin, "f"))
    await fetch(fetcher, first)
    os.chmod(first.sandbox / "f", 0o644)
    (first.sandbox / "f").write_bytes(b"task scribbled here")
    second = sandboxes.config(cached(origin, "f"))
    await fetch(fetcher, second)
    assert (second.sandbox / "f").read_bytes() == b"data"
    assert origin.requests["/files/f"] == 2


async def test_failed_download_is_shared_and_not_cached(fetcher, sandboxes, origin: Origin):
    configs = [sandboxes.config(cached(origin, "missing")) for _ in range(3)]
    results = await asyncio.gather(
        *(fetch(fetcher, config) for config in configs), return_exceptions=True
    )
    assert all("HTTP status 404" in str(result) for result in results)
    assert origin.requests["/files/missing"] == 1
    assert fetcher.metrics()["containerizer/fetcher/cache_size_used_bytes"] == 0


async def test_cache_is_keyed_by_user(fetcher, sandboxes, origin: Origin):
    origin.files["f"] = b"data"
    await fetch(fetcher, sandboxes.config(cached(origin, "f")))
    config = sandboxes.config(cached(origin, "f"))
    config.command.user = "someone"
    if os.geteuid() == 0:
        config.command.user = "nobody"
    await fetch(fetcher, config)
    assert origin.requests["/files/f"] == 2
    users = {key.user for key in fetcher._fetcher.cache.lru_order()}
    assert users == {"", config.command.user}


async def test_cache_survives_a_restart(tmp_path, sandboxes, origin: Origin):
    origin.files["keep"] = b"k" * 1000
    origin.files["older"] = b"o" * 1000
    first = await started_plugin(tmp_path)
    try:
        await fetch(first, sandboxes.config(cached(origin, "older")))
        await fetch(first, sandboxes.config(cached(origin, "keep")))
    finally:
        await first.stop()
    second = await started_plugin(tmp_path)
    try:
        config = sandboxes.config(cached(origin, "keep"))
        await fetch(second, config)
        assert origin.requests["/files/keep"] == 1
        assert (config.sandbox / "keep").read_bytes() == origin.files["keep"]
        cache = second._fetcher.cache  # type: ignore[union-attr]
        assert [key.uri.rsplit("/", 1)[1] for key in cache.lru_order()] == ["older", "keep"]
        assert cache.used == 2000
    finally:
        await second.stop()


async def test_restart_drops_damaged_entries_and_stray_files(tmp_path, sandboxes, origin):
    origin.files["resized"] = b"r" * 1000
    origin.files["gone"] = b"g" * 1000
    first = await started_plugin(tmp_path)
    try:
        for name in ("resized", "gone"):
            await fetch(first, sandboxes.config(cached(origin, name)))
    finally:
        await first.stop()
    files = tmp_path / "cache" / "files"
    index = json.loads((tmp_path / "cache" / "index.json").read_text())
    paths = {entry["uri"].rsplit("/", 1)[1]: files / entry["file"] for entry in index["entries"]}
    os.chmod(paths["resized"], 0o644)
    paths["resized"].write_bytes(b"short")
    paths["gone"].unlink()
    (files / ".c99-partial.part-1234").write_bytes(b"crash leftover")
    second = await started_plugin(tmp_path)
    try:
        assert second._fetcher.cache.lru_order() == []  # type: ignore[union-attr]
        assert list(files.iterdir()) == []
        await fetch(second, sandboxes.config(cached(origin, "resized")))
        assert origin.requests["/files/resized"] == 2
    finally:
        await second.stop()


@pytest.mark.parametrize(
    "content", ["{not json", '{"version": 99}', '{"version": 1, "entries": 3}']
)
async def test_unreadable_index_starts_an_empty_cache(tmp_path, content):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "index.json").write_text(content)
    plugin = await started_plugin(tmp_path)
    try:
        assert plugin._fetcher.cache.lru_order() == []  # type: ignore[union-attr]
    finally:
        await plugin.stop()


def test_cache_key_is_user_and_uri():
    assert CacheKey("u", "http://x/y") != CacheKey("", "http://x/y")


async def test_shared_download_survives_one_cancelled_waiter(fetcher, sandboxes, origin: Origin):
    origin.files["slow"] = os.urandom(200_000)
    uri = URI(value=origin.url("gated/slow"), cache=True)
    first, second = sandboxes.config(uri), sandboxes.config(uri)
    leaving = asyncio.ensure_future(fetch(fetcher, first))
    staying = asyncio.ensure_future(fetch(fetcher, second))
    await origin.stalling.wait()
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    origin.gate.set()
    await staying
    assert (second.sandbox / "slow").read_bytes() == origin.files["slow"]
    assert origin.requests["/gated/slow"] == 1
    assert listing(first.sandbox) == []


async def test_cached_bare_gz_is_decompressed(fetcher, sandboxes, origin: Origin):
    origin.files["notes.gz"] = gzip.compress(b"notes")
    for _ in range(2):
        config = sandboxes.config(cached(origin, "notes.gz"))
        await fetch(fetcher, config)
        assert listing(config.sandbox) == ["notes"]
        assert (config.sandbox / "notes").read_bytes() == b"notes"


async def test_stalled_cached_download_leaves_nothing_in_the_cache(tmp_path, sandboxes, origin):
    plugin = await started_plugin(tmp_path, fetcher_stall_timeout="200ms")
    try:
        config = sandboxes.config(URI(value=origin.url("stall"), cache=True, output_file="big"))
        with pytest.raises(LaunchError, match="download stalled"):
            await fetch(plugin, config)
        assert list((tmp_path / "cache" / "files").iterdir()) == []
        assert plugin.metrics()["containerizer/fetcher/cache_size_used_bytes"] == 0
        assert listing(config.sandbox) == []
    finally:
        await plugin.stop()


async def test_entries_in_use_are_not_evicted(tmp_path, sandboxes, origin: Origin):
    plugin = await started_plugin(tmp_path, fetcher_cache_size="20KB")
    try:
        origin.files["held"] = b"h" * (10 * KB)
        origin.files["slow"] = b"s" * (10 * KB)
        origin.files["big"] = b"b" * (15 * KB)
        await fetch(plugin, sandboxes.config(cached(origin, "held")))
        holding = asyncio.ensure_future(
            fetch(
                plugin,
                sandboxes.config(cached(origin, "held"), URI(value=origin.url("gated/slow"))),
            )
        )
        await origin.stalling.wait()  # "held" is placed and referenced until the fetch ends
        config = sandboxes.config(cached(origin, "big"))
        await fetch(plugin, config)
        assert (config.sandbox / "big").read_bytes() == origin.files["big"]
        cache = plugin._fetcher.cache  # type: ignore[union-attr]
        assert [key.uri.rsplit("/", 1)[1] for key in cache.lru_order()] == ["held"]
        origin.gate.set()
        await holding
    finally:
        await plugin.stop()
