"""Local and HTTP fetches: names, output_file safety, executable, order, errors, stderr lines."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from dockyard.containers import LaunchError, StartupError
from dockyard.messages import URI
from dockyard_fetcher.plugin import FetcherPlugin

from tests.fetcher.harness import Origin, fetch, listing, started_plugin


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source" / "tool.sh"
    path.parent.mkdir()
    path.write_bytes(b"#!/bin/sh\necho hi\n")
    return path


@pytest.mark.parametrize("prefix", ["", "file://", "file://localhost", "  \n\tfile://"])
async def test_local_path_forms_are_copied(fetcher, sandboxes, source, prefix):
    config = sandboxes.config(URI(value=f"{prefix}{source}"))
    await fetch(fetcher, config)
    assert (config.sandbox / "tool.sh").read_bytes() == source.read_bytes()
    mode = stat.S_IMODE((config.sandbox / "tool.sh").stat().st_mode)
    assert mode & 0o111 == 0


async def test_relative_path_uses_frameworks_home(tmp_path, sandboxes, source):
    plugin = await started_plugin(tmp_path, frameworks_home=str(source.parent))
    try:
        config = sandboxes.config(URI(value="tool.sh"))
        await fetch(plugin, config)
        assert (config.sandbox / "tool.sh").exists()
    finally:
        await plugin.stop()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("tool.sh", "relative path was passed for the resource but the Mesos framework home"),
        ("file://relative/x", "File URI only supports absolute paths"),
        ("lala://nopath", "Malformed URI (missing path): lala://nopath"),
        ("http://host/", "Malformed URI (missing path)"),
        ("/does/not/exist", "No such file or directory: '/does/not/exist'"),
        ("nosuch://host/x", "no fetcher handles the URI scheme 'nosuch:'"),
    ],
)
async def test_bad_uris_fail_with_the_reason(fetcher, sandboxes, value, reason):
    config = sandboxes.config(URI(value=value))
    with pytest.raises(LaunchError) as failure:
        await fetch(fetcher, config)
    assert str(failure.value).startswith(f"Failed to fetch '{value.strip()}': ")
    assert reason in str(failure.value)
    assert reason in (config.sandbox / "stderr").read_text()
    assert fetcher.metrics()["containerizer/fetcher/task_fetches_failed"] == 1


async def test_directory_source_is_refused(fetcher, sandboxes, tmp_path):
    config = sandboxes.config(URI(value=str(tmp_path)))
    with pytest.raises(LaunchError, match="Is a directory"):
        await fetch(fetcher, config)


async def test_fifo_source_is_refused(fetcher, sandboxes, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    config = sandboxes.config(URI(value=str(tmp_path / "fifo")))
    with pytest.raises(LaunchError, match="Not a regular file"):
        await fetch(fetcher, config)


async def test_output_file_creates_subdirectories(fetcher, sandboxes, source):
    config = sandboxes.config(URI(value=str(source), output_file="bin/deep/run"))
    await fetch(fetcher, config)
    assert (config.sandbox / "bin" / "deep" / "run").read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    ("output_file", "reason"),
    [
        ("", "URI output file path is empty"),
        ("/etc/passwd", "URI output file must be within the sandbox directory"),
        ("../escape", "is not within the sandbox directory"),
        ("a/../../escape", "is not within the sandbox directory"),
        (".", "is not within the sandbox directory"),
    ],
)
async def test_output_file_outside_the_sandbox_is_refused(
    fetcher, sandboxes, source, output_file, reason
):
    config = sandboxes.config(URI(value=str(source), output_file=output_file))
    with pytest.raises(LaunchError, match="Failed to fetch") as failure:
        await fetch(fetcher, config)
    assert reason in str(failure.value)
    assert listing(config.sandbox) == []


async def test_output_file_through_a_symlink_out_is_refused(fetcher, sandboxes, source, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    config = sandboxes.config(URI(value=str(source), output_file="link/file"))
    (config.sandbox / "link").symlink_to(outside)
    with pytest.raises(LaunchError, match="leads through a symbolic link"):
        await fetch(fetcher, config)
    assert list(outside.iterdir()) == []


async def test_output_file_replaces_a_symlink_instead_of_writing_through_it(
    fetcher, sandboxes, source, tmp_path
):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    config = sandboxes.config(URI(value=str(source), output_file="file"))
    (config.sandbox / "file").symlink_to(victim)
    await fetch(fetcher, config)
    assert victim.read_text() == "precious"
    assert not (config.sandbox / "file").is_symlink()


async def test_even_a_symlink_inside_the_sandbox_is_not_followed(fetcher, sandboxes, source):
    config = sandboxes.config(URI(value=str(source), output_file="alias/file"))
    (config.sandbox / "real").mkdir()
    (config.sandbox / "alias").symlink_to("real")
    with pytest.raises(LaunchError, match="'alias/file' leads through a symbolic link"):
        await fetch(fetcher, config)
    assert list((config.sandbox / "real").iterdir()) == []


async def test_executable_is_chmodded_and_not_extracted(fetcher, sandboxes, tmp_path):
    archive = tmp_path / "tool.tar.gz"
    archive.write_bytes(b"not really an archive")
    config = sandboxes.config(URI(value=str(archive), executable=True))
    await fetch(fetcher, config)
    assert stat.S_IMODE((config.sandbox / "tool.tar.gz").stat().st_mode) == 0o755


async def test_uris_land_in_the_order_given(fetcher, sandboxes, origin: Origin):
    origin.files["first"] = b"first" * 100_000
    origin.files["second"] = b"second"
    config = sandboxes.config(
        URI(value=origin.url("files/first"), output_file="same"),
        URI(value=origin.url("files/second"), output_file="same"),
    )
    await fetch(fetcher, config)
    assert (config.sandbox / "same").read_bytes() == b"second"
    lines = (config.sandbox / "stderr").read_text().splitlines()
    assert [line.split("'")[1] for line in lines] == [
        origin.url("files/first"),
        origin.url("files/second"),
    ]


async def test_identical_uris_download_once(fetcher, sandboxes, origin: Origin):
    origin.files["data"] = b"payload"
    config = sandboxes.config(
        URI(value=origin.url("files/data")),
        URI(value=origin.url("files/data"), output_file="copy"),
        URI(value=origin.url("files/data"), output_file="copy2", executable=True),
    )
    await fetch(fetcher, config)
    assert origin.requests["/files/data"] == 1
    for name in ("data", "copy", "copy2"):
        assert (config.sandbox / name).read_bytes() == b"payload"
    assert (config.sandbox / "data").stat().st_ino != (config.sandbox / "copy").stat().st_ino


async def test_failure_names_the_failing_uri_and_keeps_no_partial_files(
    fetcher, sandboxes, origin: Origin, source
):
    config = sandboxes.config(URI(value=str(source)), URI(value=origin.url("status/404")))
    with pytest.raises(LaunchError) as failure:
        await fetch(fetcher, config)
    assert str(failure.value) == (
        f"Failed to fetch '{origin.url('status/404')}': "
        f"HTTP status 404 (Not Found) from {origin.url('status/404')}"
    )
    assert listing(config.sandbox) == ["tool.sh"]


async def test_metrics_count_fetches_and_bytes(fetcher: FetcherPlugin, sandboxes, source):
    await fetch(fetcher, sandboxes.config(URI(value=str(source))))
    metrics = fetcher.metrics()
    assert metrics["containerizer/fetcher/task_fetches_succeeded"] == 1
    assert metrics["containerizer/fetcher/bytes_downloaded"] == source.stat().st_size
    assert metrics["containerizer/fetcher/cache_size_total_bytes"] == 2 * 1024**3


async def test_stderr_says_what_was_fetched(fetcher, sandboxes, source):
    config = sandboxes.config(URI(value=str(source), output_file="x"))
    await fetch(fetcher, config)
    assert (config.sandbox / "stderr").read_text() == f"Fetched '{source}' to 'x' (downloaded)\n"


async def test_file_system_errors_become_fetch_failures(fetcher, sandboxes, source):
    config = sandboxes.config(URI(value=str(source), output_file="n" * 300))
    with pytest.raises(LaunchError, match=f"Failed to fetch '{source}': File name too long"):
        await fetch(fetcher, config)


async def test_output_file_on_an_existing_directory_is_refused(fetcher, sandboxes, source):
    config = sandboxes.config(URI(value=str(source), output_file="dir"))
    (config.sandbox / "dir").mkdir()
    with pytest.raises(LaunchError, match="output path 'dir' is an existing directory"):
        await fetch(fetcher, config)


async def test_no_uris_is_a_no_op(fetcher, sandboxes):
    config = sandboxes.config()
    await fetch(fetcher, config)
    assert list(config.sandbox.iterdir()) == []


async def test_relative_frameworks_home_stops_the_agent(tmp_path):
    with pytest.raises(StartupError, match="--frameworks_home must be an absolute path"):
        await started_plugin(tmp_path, frameworks_home="relative/dir")


async def test_unusable_cache_dir_stops_the_agent(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StartupError, match="cannot use the fetcher cache directory"):
        await started_plugin(tmp_path, fetcher_cache_dir=str(tmp_path / "file" / "cache"))
