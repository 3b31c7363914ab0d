"""Counters for ``/metrics/snapshot``, under Mesos's ``containerizer/fetcher/`` prefix."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "containerizer/fetcher/"


@dataclass
class Counters:
    task_fetches_succeeded: int = 0
    task_fetches_failed: int = 0
    bytes_downloaded: int = 0

    def snapshot(self, *, cache_total: int, cache_used: int, cache_hits: int) -> dict[str, float]:
        return {
            f"{PREFIX}task_fetches_succeeded": self.task_fetches_succeeded,
            f"{PREFIX}task_fetches_failed": self.task_fetches_failed,
            f"{PREFIX}bytes_downloaded": self.bytes_downloaded,
            f"{PREFIX}cache_size_total_bytes": cache_total,
            f"{PREFIX}cache_size_used_bytes": cache_used,
            f"{PREFIX}cache_hits": cache_hits,
        }
