"""The fetcher's agent flags, and the settings read from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from dockyard.flags import BYTES, DURATION, STRING, Flags, FlagSet, define

DEFAULT_CACHE_DIR = "fetcher_cache"
"""Under ``--work_dir`` when ``--fetcher_cache_dir`` is not given."""

CACHE_DIR = define(
    "fetcher_cache_dir",
    STRING,
    help="Directory of the URI download cache, kept across agent restarts "
    f"(default: <work_dir>/{DEFAULT_CACHE_DIR}).",
)
CACHE_SIZE = define(
    "fetcher_cache_size",
    BYTES,
    default="2GB",
    help="Size budget of the URI cache; least recently used files are evicted to stay "
    "within it, and a URI larger than it is fetched without the cache. 0 disables caching.",
)
STALL_TIMEOUT = define(
    "fetcher_stall_timeout",
    DURATION,
    default="1mins",
    help="Abort a URI download that receives no data for this long.",
)
FRAMEWORKS_HOME = define(
    "frameworks_home",
    STRING,
    help="Directory that relative (scheme-less) URI paths are resolved against.",
)


def declare(flags: FlagSet) -> None:
    flags.declare(CACHE_DIR, CACHE_SIZE, STALL_TIMEOUT, FRAMEWORKS_HOME)


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
        cache_dir = CACHE_DIR.get(flags)
        home = FRAMEWORKS_HOME.get(flags)
        return cls(
            cache_dir=Path(cache_dir).absolute() if cache_dir else work_dir / DEFAULT_CACHE_DIR,
            cache_size=CACHE_SIZE.get(flags),
            stall_timeout=STALL_TIMEOUT.get(flags),
            frameworks_home=Path(home) if home else None,
        )
