"""The fetcher's agent flags, and the settings read from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from dockyard.flags import BYTES, DURATION, STRING, Flags, FlagSet

DEFAULT_CACHE_DIR = "fetcher_cache"
"""Under ``--work_dir`` when ``--fetcher_cache_dir`` is not given."""


def declare(flags: FlagSet) -> None:
    flags.add(
        "fetcher_cache_dir",
        STRING,
        help="Directory of the URI download cache, kept across agent restarts "
        f"(default: <work_dir>/{DEFAULT_CACHE_DIR}).",
    )
    flags.add(
        "fetcher_cache_size",
        BYTES,
        default="2GB",
        help="Size budget of the URI cache; least recently used files are evicted to stay "
        "within it, and a URI larger than it is fetched without the cache. 0 disables caching.",
    )
    flags.add(
        "fetcher_stall_timeout",
        DURATION,
        default="1mins",
        help="Abort a URI download that receives no data for this long.",
    )
    flags.add(
        "frameworks_home",
        STRING,
        help="Directory that relative (scheme-less) URI paths are resolved against.",
    )


@dataclass(frozen=True, kw_only=True)
class Settings:
    cache_dir: Path
    cache_size: int
    stall_timeout: timedelta
    frameworks_home: Path | None = None
    parallel_downloads: int = 4
    """Downloads of one fetch that run at once."""

    @classmethod
    def from_flags(cls, flags: Flags, work_dir: Path) -> Settings:
        cache_dir = flags.fetcher_cache_dir
        home = flags.frameworks_home
        return cls(
            cache_dir=Path(cache_dir).absolute() if cache_dir else work_dir / DEFAULT_CACHE_DIR,
            cache_size=flags.fetcher_cache_size,
            stall_timeout=flags.fetcher_stall_timeout,
            frameworks_home=Path(home) if home else None,
        )
