"""HTTP downloads against a real server on 127.0.0.1: statuses, redirects, stalls, big bodies."""

from __future__ import annotations

import os

import pytest
from dockyard.containers import LaunchError
from dockyard.messages import URI
from dockyard_fetcher import FetchProgress, transfer

from tests.fetcher.harness import Origin, fetch, listing, started_plugin


@pytest.mark.parametrize("code", [200, 201, 203])
async def test_any_2xx_is_success(fetcher, sandboxes, origin: Origin, code):
    config = sandboxes.config(URI(value=origin.url(f"status/{code}"), output_file="body"))
    await fetch(fetcher, config)
    assert (config.sandbox / "body").read_bytes() == b"status body"


@pytest.mark.parametrize(("code", "reason"), [(404, "Not Found"), (500, "Internal Server Error")])
async def test_other_statuses_fail_with_code_and_url(fetcher, sandboxes, origin, code, reason):
    url = origin.url(f"status/{code}")
    config = sandboxes.config(URI(value=url))
    with pytest.raises(LaunchError) as failure:
        await fetch(fetcher, config)
    assert (
        str(failure.value) == f"Failed to fetch '{url}': HTTP status {code} ({reason}) from {url}"
    )
    assert listing(config.sandbox) == []


async def test_redirects_are_followed(fetcher, sandboxes, origin: Origin):
    origin.files["target.txt"] = b"moved"
    config = sandboxes.config(URI(value=origin.url("redirect/3/target.txt")))
    await fetch(fetcher, config)
    assert (config.sandbox / "target.txt").read_bytes() == b"moved"
    assert origin.requests["/files/target.txt"] == 1


async def test_missing_file_after_redirect_names_the_final_url(fetcher, sandboxes, origin):
    config = sandboxes.config(URI(value=origin.url("redirect/1/gone")))
    with pytest.raises(LaunchError, match=r"HTTP status 404 \(Not Found\) from .*/files/gone"):
        await fetch(fetcher, config)


async def test_stalled_download_is_aborted_without_leftovers(tmp_path, sandboxes, origin):
    plugin = await started_plugin(tmp_path, fetcher_stall_timeout="200ms")
    try:
        config = sandboxes.config(URI(value=origin.url("stall"), output_file="big"))
        with pytest.raises(LaunchError, match="download stalled: no data for 200ms"):
            await fetch(plugin, config)
        assert listing(config.sandbox) == []
    finally:
        await plugin.stop()


@pytest.mark.parametrize("slow_write", [0.01, -1.0])
async def test_truncated_body_fails_without_leftovers(
    fetcher, sandboxes, origin, monkeypatch, slow_write
):
    monkeypatch.setattr(transfer, "SLOW_WRITE", slow_write)
    config = sandboxes.config(URI(value=origin.url("truncated"), output_file="part"))
    with pytest.raises(LaunchError, match="Failed to fetch"):
        await fetch(fetcher, config)
    assert listing(config.sandbox) == []


async def test_connection_refused_is_reported(fetcher, sandboxes):
    config = sandboxes.config(URI(value="http://127.0.0.1:1/x"))
    with pytest.raises(LaunchError, match="HTTP request failed: Cannot connect"):
        await fetch(fetcher, config)


async def test_large_body_arrives_intact(fetcher, sandboxes, origin: Origin):
    body = os.urandom(1 << 20) * 24
    origin.files["large.bin"] = body
    config = sandboxes.config(URI(value=origin.url("files/large.bin")))
    progress: list[FetchProgress] = []
    fetcher.progress.subscribe(progress.append)
    await fetch(fetcher, config)
    assert (config.sandbox / "large.bin").read_bytes() == body
    assert progress[-1].done
    assert progress[-1].received == progress[-1].total == len(body)


async def test_large_body_written_by_a_thread_arrives_intact(
    fetcher, sandboxes, origin: Origin, monkeypatch
):
    monkeypatch.setattr(transfer, "SLOW_WRITE", -1.0)  # as if the disk were slow
    body = os.urandom(1 << 20) * 9 + b"tail"
    origin.files["large.bin"] = body
    config = sandboxes.config(URI(value=origin.url("files/large.bin")))
    await fetch(fetcher, config)
    assert (config.sandbox / "large.bin").read_bytes() == body


async def test_body_without_content_length(fetcher, sandboxes, origin: Origin):
    origin.files["streamed"] = os.urandom(300_000)
    config = sandboxes.config(URI(value=origin.url("chunked/streamed")))
    await fetch(fetcher, config)
    assert (config.sandbox / "streamed").read_bytes() == origin.files["streamed"]


async def test_query_string_is_not_part_of_the_file_name(fetcher, sandboxes, origin: Origin):
    origin.files["tool"] = b"bin"
    config = sandboxes.config(URI(value=origin.url("files/tool?version=2#frag")))
    await fetch(fetcher, config)
    assert listing(config.sandbox) == ["tool"]


async def test_a_failing_progress_listener_does_not_fail_the_fetch(fetcher, sandboxes, origin):
    origin.files["f"] = b"data"

    def broken(progress):
        raise RuntimeError("progress bar bug")

    fetcher.progress.subscribe(broken)
    await fetch(fetcher, sandboxes.config(URI(value=origin.url("files/f"))))
