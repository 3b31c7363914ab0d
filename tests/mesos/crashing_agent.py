"""An agent process that launches tasks, prints their handles, and waits to be SIGKILLed.

``python -m tests.mesos.crashing_agent WORK_DIR AGENT_ID NAME=SCRIPT...``
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from dockyard_mesos.plugin import MesosContainerizer

from tests.mesos.harness import make_config, make_context, shell


async def main(work_dir: Path, agent_id: str, tasks: list[str]) -> None:
    mesos = MesosContainerizer()
    await mesos.start(make_context(work_dir, agent_id))
    for task in tasks:
        name, script = task.split("=", 1)
        config = make_config(work_dir, name, shell(script))
        await mesos.prepare(config)
        launched = await mesos.launch(config)
        print(json.dumps({"name": name, "handle": launched.handle}), flush=True)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:]))
