"""The one exception every fetch step raises, carrying the ``<why>`` of the final message."""

from __future__ import annotations


class FetchError(Exception):
    """Fetching one URI failed; ``str()`` is the reason shown after ``Failed to fetch '<uri>':``."""
