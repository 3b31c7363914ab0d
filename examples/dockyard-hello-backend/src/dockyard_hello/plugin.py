"""The ``hello`` containerizer: runs labelled tasks as local processes in their sandbox.

It takes a task only when the TaskInfo carries the label ``dockyard.backend=hello``
(and no DOCKER ContainerInfo), and refuses every other task, so that with
``--containerizers=hello,mesos`` the unlabelled tasks fall through to ``mesos``.
Before a task starts it writes ``--hello_greeting`` to the task's stdout.

Everything else comes from dockyard's reference ``SubprocessContainerizer``: each task is
a process spawned through ``dockyard.supervision``, so it outlives an agent restart (even
a SIGKILL) and ``recover`` reports its real end, exit code or signal.
"""

from __future__ import annotations

import asyncio

from dockyard import hookimpl
from dockyard.containers import AgentContext, ContainerConfig, Launched, Support
from dockyard.flags import STRING, FlagSet
from dockyard.supervision import SubprocessContainerizer

LABEL_KEY = "dockyard.backend"
LABEL_VALUE = "hello"
DEFAULT_GREETING = "Hello from the hello backend!"


def is_labelled_for_hello(config: ContainerConfig) -> bool:
    task = config.task_info
    labels = task.labels.labels if task is not None and task.labels is not None else []
    return any(label.key == LABEL_KEY and label.value == LABEL_VALUE for label in labels)


class HelloContainerizer(SubprocessContainerizer):
    """Entry point ``hello`` of group ``dockyard.containerizers``."""

    def __init__(self) -> None:
        super().__init__()
        self.greeting = DEFAULT_GREETING
        self.launched = 0

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        flags.add(
            "hello_greeting",
            STRING,
            default=DEFAULT_GREETING,
            help="Line the hello containerizer writes to each task's stdout first.",
        )

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        self.greeting = context.flags.hello_greeting
        await super().start(context)

    @hookimpl
    def supports(self, config: ContainerConfig) -> Support:
        if not is_labelled_for_hello(config):
            return Support.no(f"runs only tasks labelled {LABEL_KEY}={LABEL_VALUE}")
        return super().supports(config)

    @hookimpl
    async def launch(self, config: ContainerConfig) -> Launched:
        stdout = config.sandbox / "stdout"
        await asyncio.to_thread(stdout.write_text, f"{self.greeting}\n")
        launched = await super().launch(config)
        self.launched += 1
        return launched

    @hookimpl
    def metrics(self) -> dict[str, float]:
        return {"containerizer/hello/launched": float(self.launched)}
