"""A minimal process containerizer, installed through an entry point by the tests.

It proves the core's whole path (discovery, flags, dispatch, statuses, recovery, CLI)
without depending on the real plugins: dockyard's reference ``SubprocessContainerizer``
plus a flag of its own, the shell that runs ``shell=true`` commands.
"""

from __future__ import annotations

from dockyard import hookimpl
from dockyard.containers import AgentContext, ContainerConfig
from dockyard.flags import STRING, FlagSet
from dockyard.supervision import SubprocessContainerizer


class SampleContainerizer(SubprocessContainerizer):
    def __init__(self) -> None:
        super().__init__()
        self.shell = "/bin/sh"

    @hookimpl
    def add_flags(self, flags: FlagSet) -> None:
        flags.add("sample_shell", STRING, default="/bin/sh", help="Shell for shell=true commands.")

    @hookimpl
    async def start(self, context: AgentContext) -> None:
        self.shell = context.flags.sample_shell
        await super().start(context)

    def command_line(self, config: ContainerConfig) -> tuple[str, list[str]]:
        executable, argv = super().command_line(config)
        if config.command.shell:
            return self.shell, [self.shell, *argv[1:]]
        return executable, argv
