"""An agent process for crash tests: launches containers, reports them, then waits to be
SIGKILLed. Usage: python -m tests.docker.crashing_agent '<json>' where the JSON holds
agent_id, work_dir, image and containers: [{container_id, sandbox, command, rotation?}],
rotation being {max_size, max_files} for both streams."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dockyard.containers import AgentContext, Rotation
from dockyard.flags import FlagSet
from dockyard_docker.plugin import DockerContainerizer

from tests.docker.configs import rotating, task_config

REPO_ROOT = Path(__file__).resolve().parents[2]


async def run_until_killed(
    spec: dict[str, Any], moment: Callable[[], Awaitable[object]]
) -> dict[str, Any]:
    """Run this agent on ``spec``, SIGKILL it once ``moment()`` returns; its handles."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.docker.crashing_agent",
        json.dumps(spec),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout is not None
        handles: dict[str, Any] = json.loads(await process.stdout.readline())
        await moment()
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    return handles


def state_dir(work_dir: Path, agent_id: str) -> Path:
    return work_dir / "meta" / agent_id / "docker"


async def main(spec: dict[str, Any]) -> None:
    plugin = DockerContainerizer()
    flags = FlagSet()
    plugin.add_flags(flags)
    work_dir = Path(spec["work_dir"])
    await plugin.start(
        AgentContext(
            flags=flags.parse([], {}),
            agent_id=spec["agent_id"],
            work_dir=work_dir,
            state_dir=state_dir(work_dir, spec["agent_id"]),
        )
    )
    handles = {}
    for container in spec["containers"]:
        config = task_config(
            Path(container["sandbox"]),
            spec["image"],
            container["command"],
            container_id=container["container_id"],
        )
        if "rotation" in container:
            config.output = rotating(config.sandbox, Rotation(**container["rotation"]))
        await plugin.prepare(config)
        handles[container["container_id"]] = (await plugin.launch(config)).handle
    print(json.dumps(handles), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
