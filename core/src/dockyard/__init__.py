"""dockyard: run Mesos-style tasks in Docker containers or as plain processes.

Backends are pluggy plugins. A plugin marks its hook implementations with
:data:`hookimpl`; the hooks it may implement are documented in
:mod:`dockyard.hookspecs` and in ``docs/plugins.md``.
"""

from importlib.metadata import PackageNotFoundError, version

import pluggy

PROJECT_NAME = "dockyard"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for a plugin's hook implementations: ``@hookimpl def launch(...)``."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marker for hook specifications; used by :mod:`dockyard.hookspecs`."""

try:
    __version__ = version("dockyard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec"]
