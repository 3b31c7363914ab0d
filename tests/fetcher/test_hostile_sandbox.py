"""Fetching into a sandbox while a real process keeps swapping one of its directories with a
link to a directory outside: nothing may ever land, or be chmodded, out there."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections import Counter

from dockyard.containers import LaunchError
from dockyard.messages import URI, CommandInfo

from tests.fetcher.harness import fetch, make_tar

ROUNDS = 300
REFUSALS = ("symbolic link", "a component is not a directory", "cannot put 'dir'")

SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(sys.argv[1])
os.nice(19)
print("swapping", flush=True)
while True:  # RENAME_EXCHANGE: "dir" is the directory, then the link, then the directory...
    libc.renameat2(-100, b"dir", -100, b"swap", 2)
"""


async def test_output_files_and_archives_never_land_through_a_swapped_link(
    fetcher, sandboxes, tmp_path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    tool = tmp_path / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    bundle = make_tar(tmp_path / "bundle.tgz", {"dir/member": b"from the archive"})
    placing = sandboxes.config(URI(value=str(tool), output_file="dir/tool", executable=True))
    extracting = dataclasses.replace(
        placing, command=CommandInfo(uris=[URI(value=str(bundle))], value="true")
    )
    (placing.sandbox / "dir").mkdir()
    (placing.sandbox / "swap").symlink_to(outside)
    swapper = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SWAPPER, str(placing.sandbox), stdout=asyncio.subprocess.PIPE
    )
    outcomes: Counter[str] = Counter()
    try:
        assert swapper.stdout is not None
        assert await swapper.stdout.readline() == b"swapping\n"
        for _ in range(ROUNDS):
            for config in (placing, extracting):
                try:
                    await fetch(fetcher, config)
                    outcomes["fetched"] += 1
                except LaunchError as error:
                    reason = next((r for r in REFUSALS if r in str(error)), str(error))
                    outcomes[reason] += 1
    finally:
        swapper.kill()
        await swapper.wait()
    assert sorted(path.name for path in outside.iterdir()) == []
    assert set(outcomes) <= {"fetched", *REFUSALS}, outcomes
    assert outcomes["fetched"], outcomes
    assert len(outcomes) > 1, f"the swaps never met a fetch: {outcomes}"
