"""Conformance suites: subclass one in a test module to check a plugin with one import.

``ContainerizerConformance`` for ``dockyard.containerizers`` plugins,
``FetcherConformance`` for ``dockyard.fetchers`` plugins and ``LoggerConformance`` for
``dockyard.container_loggers`` plugins; see
``docs/testing-plugins.md``. The built-in plugins run the same suites.
"""

from dockyard.testing.conformance.containerizer import BEHAVIOURS, ContainerizerConformance
from dockyard.testing.conformance.fetcher import (
    FETCHER_BEHAVIOURS,
    FetchCase,
    FetcherConformance,
)
from dockyard.testing.conformance.logger import LOGGER_BEHAVIOURS, LoggerConformance

__all__ = [
    "BEHAVIOURS",
    "FETCHER_BEHAVIOURS",
    "LOGGER_BEHAVIOURS",
    "ContainerizerConformance",
    "FetchCase",
    "FetcherConformance",
    "LoggerConformance",
]
