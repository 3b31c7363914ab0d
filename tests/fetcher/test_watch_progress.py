"""The fetcher reports download progress to a front end through ``watch_progress``."""

from __future__ import annotations

from dockyard_fetcher.plugin import FetcherPlugin


def test_progress_lines_reach_the_front_end() -> None:
    plugin = FetcherPlugin()
    lines: list[str] = []
    plugin.watch_progress(lines.append)
    tracker = plugin.progress.tracker("http://127.0.0.1/app.tgz", 4 << 20)
    tracker.advance(1 << 20)
    tracker.finish()
    assert lines[-1] == "app.tgz  1.0/4.0 MiB  25%\n", "the final line ends the progress bar"
    assert all(line.startswith("app.tgz") for line in lines)
