"""Why an image could not be had; every message names the image and never a credential."""

from __future__ import annotations


class ImageError(Exception):
    """A pull or store failure; ``str()`` is the whole message, naming the image."""


class ImageNotFound(ImageError):
    """The registry has no such repository, tag or digest."""


class Unauthorized(ImageError):
    """The registry refused the credentials (or wants some and has none)."""


class DigestMismatch(ImageError):
    """A manifest or blob is not what its digest says."""


class UnsupportedImage(ImageError):
    """A media type, platform or layer format the store does not handle."""


class RegistryUnavailable(ImageError):
    """The registry could not be reached or answered with a server error."""


class HostileLayer(ImageError):
    """A layer tries to write outside its directory (``..``, absolute paths, links)."""


class StoreFull(ImageError):
    """The store's file system has no room for the image."""
