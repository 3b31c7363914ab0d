"""Root file systems for containers from an image's layers (Mesos's provisioner backends).

``overlay`` mounts the layers read-only under a per-container upper directory: nothing is
copied, so it costs the same for any image size. ``copy`` copies every layer, base first,
into a plain directory, applying whiteouts; it works on any file system and kernel.
``--image_provisioner_backend`` picks one; by default overlay where the kernel can mount
it (probed at start), else copy.
"""

from dockyard_mesos.provisioner.backends import (
    BACKENDS,
    Backend,
    ProvisionError,
    choose_backend,
    provision,
    remove_rootfs,
)

__all__ = ["BACKENDS", "Backend", "ProvisionError", "choose_backend", "provision", "remove_rootfs"]
