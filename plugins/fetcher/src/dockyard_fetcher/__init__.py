"""dockyard's URI fetcher: Mesos fetcher semantics with safe extraction and a lasting cache.

The plugin (:class:`dockyard_fetcher.plugin.FetcherPlugin`) implements the ``fetch`` hook;
schemes are :class:`dockyard_fetcher.schemes.SchemeHandler` objects found through the same
``dockyard.fetchers`` entry-point group, so installing a package adds a scheme.
"""

from dockyard_fetcher.errors import FetchError
from dockyard_fetcher.progress import FetchProgress, ProgressHub
from dockyard_fetcher.schemes import Download, SchemeHandler, SourceRequest

__all__ = [
    "Download",
    "FetchError",
    "FetchProgress",
    "ProgressHub",
    "SchemeHandler",
    "SourceRequest",
]
