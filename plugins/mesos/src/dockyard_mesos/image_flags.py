"""The flags of container images that the mesos containerizer reads (Mesos's names):
``--image_providers`` and ``--image_provisioner_backend``; ``--isolation`` must also name
``filesystem/linux`` and ``docker/runtime`` (see :mod:`dockyard_mesos.isolation`)."""

from __future__ import annotations

from dockyard.flags import FlagKind

from dockyard_mesos.isolation import Isolation

PROVIDERS = ("docker",)


def _parse_providers(text: str, flag: str) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    for name in names:
        if name not in PROVIDERS:
            raise ValueError(f"unsupported image provider '{name}' (supported: docker)")
    return names


IMAGE_PROVIDERS: FlagKind[tuple[str, ...]] = FlagKind(
    name="image provider list",
    metavar="docker",
    value_type=tuple,
    parse=_parse_providers,
    render=",".join,
)


def refusal(providers: tuple[str, ...] | None, isolation: Isolation) -> str | None:
    """Why a task with a container image cannot run here (naming the missing flags)."""
    missing = []
    if not providers:
        missing.append("--image_providers=docker")
    if isolation.missing_for_images():
        missing.append(f"--isolation with {','.join(isolation.missing_for_images())}")
    if not missing:
        return None
    return f"container images need the agent flags {' and '.join(missing)}"
