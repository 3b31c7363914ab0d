"""Image pull benchmark: a cold pull of a multi-layer image by the image store (no Docker
daemon) against ``docker pull`` of the very same image, from the same loopback registry.

  python -m benchmarks --only pulls [--quick]   (or python -m benchmarks.image_pull)

The registry is the real ``docker-registry`` (htpasswd auth) of the tests; the image is
built with Python (tests/images/oci.py): busybox, a layer of many small files and a few
layers of large, half-compressible files. Each round starts cold: a new store directory
for dockyard, and for Docker the image removed (its layers are used by no other image, so
they go too). Both write to the same disk and everything is synced between rounds.
Target (issue 18): dockyard >= 0.9x the throughput of ``docker pull``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from docker import APIClient
from docker.errors import DockerException
from dockyard_mesos.images import ImageStore

from benchmarks.harness import Result, Target, Unavailable, interleave, table
from tests.docker.registry import start_registry
from tests.images import oci

MIB = 1 << 20
SOCKET = "/var/run/docker.sock"
THROUGHPUT = Target(">= 0.9x docker pull", "throughput", 0.9)


@dataclass(frozen=True)
class Plan:
    big_layers: int
    big_mib: int
    small_files: int
    rounds: int


QUICK = Plan(big_layers=3, big_mib=16, small_files=2000, rounds=3)
FULL = Plan(big_layers=4, big_mib=64, small_files=8000, rounds=7)


def half_compressible(size: int) -> bytes:
    """Random bytes written as base64: gzip gets them to about 3/4, as real layers go."""
    return base64.b64encode(os.urandom(size * 3 // 4))[:size]


def build(plan: Plan) -> oci.Built:
    layers = [oci.busybox_layer()]
    small = [oci.directory("small")]
    small += [oci.Entry(f"small/{i}", half_compressible(4096)) for i in range(plan.small_files)]
    layers.append(oci.tar_layer(small))
    for index in range(plan.big_layers):
        big = [oci.directory(f"big{index}")]
        big += [
            oci.Entry(f"big{index}/{part}", half_compressible(plan.big_mib * MIB // 4))
            for part in range(4)
        ]
        layers.append(oci.tar_layer(big))
    return oci.image(layers, {"Cmd": ["sh"], "Env": ["PATH=/bin"]})


async def measure(plan: Plan) -> list[Result]:
    if not await asyncio.to_thread(Path(SOCKET).exists):
        raise Unavailable(f"no Docker daemon at {SOCKET}")
    if shutil.which("docker-registry") is None:
        raise Unavailable("docker-registry is not installed")
    api = APIClient(base_url=f"unix://{SOCKET}", version="auto")
    work = Path(tempfile.mkdtemp(prefix="dockyard-image-bench-"))
    (work / "registry").mkdir()
    process, registry = start_registry(work / "registry")
    try:
        built = await asyncio.to_thread(build, plan)
        repository = f"bench/{uuid.uuid4().hex[:10]}"
        reference = await asyncio.to_thread(oci.push, registry.address, repository, "v1", built)
        size = sum(len(blob) for blob in built.blobs.values())
        rounds = iter(range(2 * plan.rounds + 2))

        async def dockyard_rate() -> float:
            store = ImageStore(
                work / f"store{next(rounds)}",
                default_registry=f"http://{registry.address}",
                docker_config=registry.config_json(),
            )
            await store.start()
            try:
                started = time.perf_counter()
                await store.get(reference)
                elapsed = time.perf_counter() - started
            finally:
                await store.close()
                await asyncio.to_thread(shutil.rmtree, store.directory)
                await asyncio.to_thread(os.sync)
            return size / elapsed / MIB

        def docker_pull() -> float:
            started = time.perf_counter()
            api.pull(f"{registry.address}/{repository}", "v1", auth_config=registry.auth_config())
            elapsed = time.perf_counter() - started
            api.remove_image(reference, force=True)
            os.sync()
            return size / elapsed / MIB

        async def docker_rate() -> float:
            return await asyncio.to_thread(docker_pull)

        await dockyard_rate()  # a first run of each: page cache, registry warm
        await docker_rate()
        ours, theirs = await interleave(plan.rounds, dockyard_rate, docker_rate)
    except DockerException as error:
        raise Unavailable(f"Docker failed: {error}") from None
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(work, ignore_errors=True)
    layers = 2 + plan.big_layers
    return [
        Result(
            f"cold pull, {layers} layers, {size / MIB:.0f} MiB, loopback registry",
            "MiB/s",
            THROUGHPUT,
            ours,
            theirs,
            "docker pull",
            note=f"{plan.small_files} small files in one layer",
        )
    ]


async def run(quick: bool) -> list[Result]:
    return await measure(QUICK if quick else FULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(table(asyncio.run(run(parser.parse_args().quick))))


if __name__ == "__main__":
    main()
