"""Container names and labels: how a Docker container is tied to an agent and a ContainerID.

The contract names containers ``mesos-<agent_id>.<container_id>`` and labels them; a
container belongs to this agent only if its labels *and* its name agree, so a foreign
``mesos-`` container or another agent's container is never mistaken for ours.
"""

from __future__ import annotations

from collections.abc import Mapping

NAME_PREFIX = "mesos-"
NAME_SEPARATOR = "."

AGENT_LABEL = "dockyard.agent_id"
CONTAINER_LABEL = "dockyard.container_id"
TASK_LABEL = "dockyard.task_id"


def container_name(agent_id: str, container_id: str) -> str:
    return f"{NAME_PREFIX}{agent_id}{NAME_SEPARATOR}{container_id}"


def ownership_labels(agent_id: str, container_id: str, task_id: str | None) -> dict[str, str]:
    labels = {AGENT_LABEL: agent_id, CONTAINER_LABEL: container_id}
    if task_id is not None:
        labels[TASK_LABEL] = task_id
    return labels


def owned_container_id(agent_id: str, name: str, labels: Mapping[str, str] | None) -> str | None:
    """The ContainerID value of a container this agent started, or None if it is not ours.

    ``name`` may carry the Engine's leading ``/``.
    """
    labels = labels or {}
    container_id = labels.get(CONTAINER_LABEL)
    if labels.get(AGENT_LABEL) != agent_id or not container_id:
        return None
    if name.lstrip("/") != container_name(agent_id, container_id):
        return None
    return container_id
