"""Container images without a Docker daemon: pull from a registry (Docker Registry HTTP API
v2) into a content-addressed layer store (Mesos's docker store and provisioner, the pull
and store half). Root file systems are built from :attr:`Image.layers` elsewhere."""

from dockyard_mesos.images.errors import ImageError
from dockyard_mesos.images.model import Image, ImageConfig
from dockyard_mesos.images.store import ImageStore

__all__ = ["Image", "ImageConfig", "ImageError", "ImageStore"]
