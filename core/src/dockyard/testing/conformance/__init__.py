"""Conformance suites: subclass one in a test module to check a plugin with one import.

``ContainerizerConformance`` for ``dockyard.containerizers`` plugins and
``FetcherConformance`` for ``dockyard.fetchers`` plugins; see
``docs/testing-plugins.md``. The built-in plugins run the same suites.
"""

from dockyard.testing.conformance.containerizer import BEHAVIOURS, ContainerizerConformance
from dockyard.testing.conformance.fetcher import (
    FETCHER_BEHAVIOURS,
    FetchCase,
    FetcherConformance,
)

__all__ = [
    "BEHAVIOURS",
    "FETCHER_BEHAVIOURS",
    "ContainerizerConformance",
    "FetchCase",
    "FetcherConformance",
]
