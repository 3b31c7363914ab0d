"""Launch of a task in a cached image: the ``mesos`` containerizer (no Docker daemon) against
the ``docker`` containerizer on the same image, and against a bare ``runc run``.

The same busybox image is pushed to a ``docker-registry`` on loopback (pulled once by the
mesos plugin's store, untimed) and imported into the Docker engine. Each round launches
``true`` through the mesos plugin, through the docker plugin, and with ``runc run`` of a
bundle prepared beforehand (an overlay of the same layers), in an order that rotates.
"running" is when the launch call returns (the runtime or the container has been
started), "finished" when the exit is known; the bare runc is timed to its exit only.

    python -m benchmarks --only images [--quick]      (root, a Docker engine, runc)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from docker import APIClient
from dockyard.messages import (
    CommandInfo,
    ContainerInfo,
    ContainerType,
    DockerImage,
    Image,
    ImageType,
    MesosInfo,
)
from dockyard_mesos import oci_bundle, provisioner
from dockyard_mesos.plugin import MesosContainerizer

from benchmarks.docker_launch import SOCKET, Bench
from benchmarks.harness import Result, Target, Unavailable, table
from tests.docker.images import busybox_rootfs, import_image
from tests.docker.registry import start_registry
from tests.images import oci
from tests.mesos.harness import clean_up, make_config, make_context

FASTER = Target("faster than the docker containerizer", "overhead", 0.0)
REPORT = Target("report", "report")
TRUE = CommandInfo(shell=False, value="true")


def image_info(reference: str) -> ContainerInfo:
    image = Image(type=ImageType.DOCKER, docker=DockerImage(name=reference))
    return ContainerInfo(type=ContainerType.MESOS, mesos=MesosInfo(image=image))


async def mesos_round(mesos: MesosContainerizer, work: Path, reference: str) -> tuple[float, float]:
    config = make_config(work, uuid.uuid4().hex, TRUE, container_info=image_info(reference))
    started = time.perf_counter()
    await mesos.prepare(config)
    await mesos.launch(config)
    running = time.perf_counter()
    await mesos.wait(config.container_id)
    return running - started, time.perf_counter() - started


def bare_runc_round(bundle: Path) -> float:
    """``runc run`` of a ready bundle: what any runtime-based launch costs at least."""
    name = f"bench-{uuid.uuid4().hex[:12]}"
    state = bundle.parent / "runc-state"
    started = time.perf_counter()
    subprocess.run(
        ["runc", "--root", str(state), "run", "--bundle", str(bundle), name],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


async def bare_bundle(work: Path, mesos: MesosContainerizer, reference: str) -> Path:
    """A bundle over the store's layers of the image, as the plugin writes one."""
    assert mesos.images is not None
    image = await mesos.images.get(reference)
    bundle = work / "bare-bundle"
    bundle.mkdir()
    await provisioner.provision("overlay", bundle, image.layers)
    process = oci_bundle.ProcessSpec(argv=["true"], env={"PATH": "/bin"}, cwd="/", uid=0, gid=0)
    document = oci_bundle.config(
        process=process,
        hostname="bench",
        binds=[],
        cgroups_path=f"dockyard-bench-{uuid.uuid4().hex[:8]}",  # below ours, removed by runc
    )
    (bundle / "config.json").write_text(json.dumps(document))
    return bundle


async def measure(rounds: int) -> list[Result]:
    if os.geteuid() != 0 or shutil.which("runc") is None:
        raise Unavailable("needs root and runc")
    if not await asyncio.to_thread(Path(SOCKET).exists):
        raise Unavailable(f"no Docker daemon at {SOCKET}")
    rootfs = busybox_rootfs()
    api = APIClient(base_url=f"unix://{SOCKET}", version="auto")
    docker_image = import_image(api, "dockyard-bench/busybox", rootfs)
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-images-") as scratch:
        work = Path(scratch)
        (work / "registry").mkdir()
        registry_process, registry = start_registry(work / "registry")
        reference = oci.push(registry.address, "bench/busybox", "latest", oci.image([rootfs]))
        agent_id = f"bench-{uuid.uuid4().hex[:10]}"
        mesos = MesosContainerizer()
        bench = Bench(api, docker_image, work / "docker")
        docker = await bench.agent()
        bundle: Path | None = None
        try:
            await mesos.start(
                make_context(
                    work / "mesos",
                    agent_id,
                    "--image_providers=docker",
                    "--isolation=filesystem/linux,docker/runtime",
                    f"--docker_registry=http://{registry.address}",
                    f"--docker_config={json.dumps(registry.config_json())}",
                )
            )
            await mesos_round(mesos, work / "mesos", reference)  # the pull: not timed
            bundle = await bare_bundle(work, mesos, reference)
            ours: list[tuple[float, float]] = []
            theirs: list[tuple[float, float]] = []
            bare: list[float] = []
            for number in range(rounds):
                order = ["mesos", "docker", "runc"]
                order = order[number % 3 :] + order[: number % 3]
                for side in order:
                    if side == "mesos":
                        ours.append(await mesos_round(mesos, work / "mesos", reference))
                    elif side == "docker":
                        theirs.append(await bench.plugin_run(docker))
                    else:
                        bare.append(await asyncio.to_thread(bare_runc_round, bundle))
        finally:
            await docker.stop()
            await mesos.stop()
            if bundle is not None:
                provisioner.remove_rootfs(bundle)
            clean_up(work / "mesos", agent_id)
            await asyncio.to_thread(bench.clean)
            api.remove_image(docker_image, force=True)
            api.close()
            registry_process.terminate()
            registry_process.wait()
    return [
        Result(
            "image task launch -> running (cached)",
            "ms",
            FASTER,
            [sample[0] * 1e3 for sample in ours],
            [sample[0] * 1e3 for sample in theirs],
            "docker containerizer",
        ),
        Result(
            "image task launch -> finished (cached)",
            "ms",
            FASTER,
            [sample[1] * 1e3 for sample in ours],
            [sample[1] * 1e3 for sample in theirs],
            "docker containerizer",
        ),
        Result(
            "image task launch -> finished vs bare runc",
            "ms",
            REPORT,
            [sample[1] * 1e3 for sample in ours],
            [seconds * 1e3 for seconds in bare],
            "runc run of a ready bundle",
        ),
    ]


async def run(quick: bool) -> list[Result]:
    """The ``python -m benchmarks`` entry."""
    return await measure(rounds=10 if quick else 40)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(table(asyncio.run(run(parser.parse_args().quick))))
