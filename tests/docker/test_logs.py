"""Output streaming: it costs no thread per running container."""

from __future__ import annotations

import threading

import pytest

from tests.docker.configs import task_config
from tests.docker.waiting import text, until

CONTAINERS = 20


@pytest.mark.slow
async def test_running_containers_cost_no_thread_each(agent, busybox_image, tmp_path):
    configs = [
        task_config(tmp_path / f"c{n}", busybox_image, "echo up; echo err >&2; exec sleep 1000")
        for n in range(CONTAINERS + 1)
    ]

    async def start(config) -> None:
        await agent.plugin.prepare(config)
        await agent.plugin.launch(config)

    async def streaming(config) -> None:
        await until(lambda: text(config.sandbox / "stdout") == "up\n")
        await until(lambda: text(config.sandbox / "stderr") == "err\n")

    await start(configs[0])  # the plugin's own threads exist from here on
    await streaming(configs[0])
    before = threading.active_count()
    for config in configs[1:]:
        await start(config)
    for config in configs[1:]:
        await streaming(config)
    assert threading.active_count() - before < CONTAINERS // 2
