"""Tasks in container images, at the mesos plugin's hooks with its real supervisor and
runc: the image's command, environment, user and layers, the sandbox and host volumes,
kill, health-check commands and memory limits. Images are layer directories built here:
no registry and no Docker daemon is involved."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from dockyard.containers import ContainerConfig, Launched, LaunchError, StartupError
from dockyard.messages import (
    CommandInfo,
    ContainerInfo,
    ContainerType,
    DockerImage,
    Environment,
    EnvironmentVariable,
    Image,
    ImageType,
    MesosInfo,
    Reason,
    Resource,
    Scalar,
    TaskState,
    ValueType,
    Volume,
    VolumeMode,
)
from dockyard_mesos.plugin import MesosContainerizer
from dockyard_mesos.provisioner import ProvisionError, choose_backend, provision

from tests.images import oci
from tests.images.run_harness import (
    IMAGE_FLAGS,
    Config,
    LayeredImage,
    LayerSource,
    busybox_layer_dir,
    files_layer,
    mounts_below,
    overlay_opaque,
    overlay_whiteout,
    unmount_below,
)
from tests.mesos.harness import STATE, clean_up, make_config, make_context, shell, until
from tests.small_disk import small_disk

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running images needs root")

WAIT_FOR_GO = "echo > $MESOS_SANDBOX/ready; until [ -e $MESOS_SANDBOX/go ]; do sleep 0.02; done"


@pytest.fixture
def agent_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def work_dir(tmp_path: Path, agent_id: str) -> Iterator[Path]:
    work = tmp_path / "work"
    work.mkdir()
    yield work
    clean_up(work, agent_id)
    unmount_below(work)  # what a failed test left


@pytest.fixture(scope="module")
def base_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_layer_dir(tmp_path_factory.mktemp("layers") / "busybox")


@pytest.fixture
def source(base_layer: Path) -> LayerSource:
    images = LayerSource()
    images.add(LayeredImage("busybox", (base_layer,), Config(cmd=("sh",))))
    return images


async def start(
    work_dir: Path, agent_id: str, source: LayerSource, *flags: str
) -> MesosContainerizer:
    isolation = next((flag for flag in flags if flag.startswith("--isolation=")), IMAGE_FLAGS[1])
    others = [flag for flag in flags if flag != isolation]
    mesos = MesosContainerizer()
    mesos.images = source
    await mesos.start(make_context(work_dir, agent_id, IMAGE_FLAGS[0], isolation, *others))
    return mesos


@pytest.fixture
async def mesos(
    work_dir: Path, agent_id: str, source: LayerSource
) -> AsyncIterator[MesosContainerizer]:
    containerizer = await start(work_dir, agent_id, source)
    yield containerizer
    await containerizer.stop()


def in_image(reference: str, **extra: object) -> ContainerInfo:
    image = Image(type=ImageType.DOCKER, docker=DockerImage(name=reference))
    return ContainerInfo(type=ContainerType.MESOS, mesos=MesosInfo(image=image), **extra)  # type: ignore[arg-type]


async def run(
    mesos: MesosContainerizer,
    work_dir: Path,
    command: CommandInfo,
    reference: str = "busybox",
    **extra: object,
) -> tuple[ContainerConfig, Launched]:
    info = extra.pop("container_info", None) or in_image(reference)
    config = make_config(
        work_dir, f"c-{uuid.uuid4().hex[:8]}", command, container_info=info, **extra
    )
    await mesos.prepare(config)
    return config, await mesos.launch(config)


async def finished(mesos: MesosContainerizer, config: ContainerConfig) -> str:
    """The task's stdout once it has ended with status 0."""
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    stderr = (config.sandbox / "stderr").read_text()
    assert termination.status == 0, f"{termination.message}: {stderr}"
    return (config.sandbox / "stdout").read_text()


def containers_dir(work_dir: Path) -> Path:
    return work_dir / STATE / "images" / "containers"


# -- the command: Mesos's docker/runtime rules ------------------------------------------


async def test_the_image_default_cmd_runs_when_the_task_has_no_value(
    mesos, work_dir, source, base_layer
):
    source.add(LayeredImage("with-cmd", (base_layer,), Config(cmd=("echo", "default", "cmd"))))
    config, _ = await run(mesos, work_dir, CommandInfo(shell=False), "with-cmd")
    assert await finished(mesos, config) == "default cmd\n"


async def test_the_entrypoint_gets_the_cmd_or_the_task_arguments(
    mesos, work_dir, source, base_layer
):
    image = Config(entrypoint=("echo", "entry"), cmd=("from-cmd",))
    source.add(LayeredImage("with-entrypoint", (base_layer,), image))
    default, _ = await run(mesos, work_dir, CommandInfo(shell=False), "with-entrypoint")
    argued, _ = await run(
        mesos, work_dir, CommandInfo(shell=False, arguments=["a", "b"]), "with-entrypoint"
    )
    assert await finished(mesos, default) == "entry from-cmd\n"
    assert await finished(mesos, argued) == "entry a b\n"


async def test_a_shell_command_overrides_the_image(mesos, work_dir, source, base_layer):
    source.add(LayeredImage("with-entrypoint", (base_layer,), Config(entrypoint=("false",))))
    config, _ = await run(
        mesos, work_dir, shell("echo $0 in $(cat /etc/image-marker)"), "with-entrypoint"
    )
    assert await finished(mesos, config) == "/bin/sh in from the image\n"


async def test_a_non_shell_value_overrides_the_image(mesos, work_dir):
    command = CommandInfo(shell=False, value="/bin/echo", arguments=["echo", "x", "y"])
    config, _ = await run(mesos, work_dir, command)
    assert await finished(mesos, config) == "x y\n"


async def test_a_shell_task_without_a_value_fails_its_launch(mesos, work_dir, source):
    info = in_image("busybox")
    config = make_config(work_dir, "no-value", CommandInfo(shell=True), container_info=info)
    with pytest.raises(LaunchError, match="Shell specified but no command value provided"):
        await mesos.prepare(config)
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert list(containers_dir(work_dir).iterdir()) == []
    assert mounts_below(work_dir) == []
    assert source.held == {}


# -- environment, working directory, user, namespaces -----------------------------------


async def test_image_env_working_dir_and_user_apply_and_the_task_env_wins(
    mesos, work_dir, source, base_layer
):
    image = Config(
        env=("FROM_IMAGE=image", "BOTH=image", "PATH=/bin:/image/bin", "NO_EQUALS"),
        working_dir="/home/app",
        user="app",
    )
    source.add(LayeredImage("configured", (base_layer,), image))
    script = 'echo "$FROM_IMAGE $BOTH $PATH $(pwd) $(id -u):$(id -g):$(id -G) $MESOS_SANDBOX"'
    command = shell(script)
    command.environment = _environment(BOTH="task")
    config, _ = await run(mesos, work_dir, command, "configured")
    output = await finished(mesos, config)
    assert output == "image task /bin:/image/bin /home/app 1000:1000:1000 2000 /mnt/mesos/sandbox\n"


async def test_the_task_user_wins_over_the_image_user(mesos, work_dir, source, base_layer):
    source.add(LayeredImage("as-app", (base_layer,), Config(user="app")))
    config, _ = await run(mesos, work_dir, shell("id -u"), "as-app", user="root")
    assert await finished(mesos, config) == "0\n"


async def test_a_user_missing_from_the_image_fails_the_launch(mesos, work_dir):
    with pytest.raises(LaunchError, match="Failed to find user 'ghost' in the image"):
        await run(mesos, work_dir, shell("true"), user="ghost")


async def test_the_task_has_its_own_pid_uts_and_mount_namespaces(mesos, work_dir):
    script = "echo $$; for name in pid uts ipc; do readlink /proc/self/ns/$name; done"
    config, _ = await run(mesos, work_dir, shell(script))
    pid, *namespaces = (await finished(mesos, config)).split()
    assert pid == "1"
    host = [os.readlink(f"/proc/self/ns/{name}") for name in ("pid", "uts", "ipc")]
    assert all(mine != theirs for mine, theirs in zip(namespaces, host, strict=True))


# -- file systems: sandbox, layers, volumes, removal ------------------------------------


async def test_the_sandbox_is_mounted_at_mnt_mesos_sandbox(mesos, work_dir):
    command = shell("cat /mnt/mesos/sandbox/given; echo written > /mnt/mesos/sandbox/back")
    config = make_config(work_dir, "sandboxed", command, container_info=in_image("busybox"))
    (config.sandbox / "given").write_text("from the host\n")
    await mesos.prepare(config)
    await mesos.launch(config)
    assert await finished(mesos, config) == "from the host\n"
    assert (config.sandbox / "back").read_text() == "written\n"


@pytest.mark.parametrize("backend", ["overlay", "copy"])
async def test_whiteouts_delete_files_of_lower_layers(
    work_dir, agent_id, source, base_layer, tmp_path, backend
):
    lower = files_layer(
        tmp_path / "lower", {"etc/doomed": "x", "data/old": "x", "data/kept/no": "x"}
    )
    upper = files_layer(tmp_path / "upper", {"data/new": "new\n", "etc/added": "added\n"})
    overlay_whiteout(upper, "etc/doomed")
    overlay_opaque(upper, "data")
    tar_style = files_layer(tmp_path / "tar-style", {"etc/.wh.image-marker": ""})
    layers = (base_layer, lower, upper) + ((tar_style,) if backend == "copy" else ())
    source.add(LayeredImage("layered", layers))
    mesos = await start(work_dir, agent_id, source, f"--image_provisioner_backend={backend}")
    try:
        script = "ls /etc /data; cat /data/new /etc/added"
        config, _ = await run(mesos, work_dir, shell(script), "layered")
        listing = (await finished(mesos, config)).split()
    finally:
        await mesos.stop()
    assert not {"doomed", "old", "kept"} & set(listing)
    assert {"new", "added", "passwd"} <= set(listing)
    assert ("image-marker" in listing) == (backend == "overlay")
    assert not any(name.startswith(".wh.") for name in listing)
    assert (lower / "etc" / "doomed").exists()  # the layers themselves are untouched


async def test_a_host_volume_is_mounted_read_only(mesos, work_dir, tmp_path):
    host = tmp_path / "shared"
    host.mkdir()
    (host / "data").write_text("shared data\n")
    volume = Volume(mode=VolumeMode.RO, container_path="/shared", host_path=str(host))
    info = in_image("busybox", volumes=[volume])
    script = "cat /shared/data; touch /shared/new || echo read-only"
    config, _ = await run(mesos, work_dir, shell(script), container_info=info)
    assert await finished(mesos, config) == "shared data\nread-only\n"
    assert not (host / "new").exists()


async def test_a_relative_volume_may_not_leave_the_sandbox(mesos, work_dir):
    volume = Volume(mode=VolumeMode.RW, container_path="x", host_path="../..")
    with pytest.raises(LaunchError, match=r"must not contain '\.\.'"):
        await run(
            mesos, work_dir, shell("true"), container_info=in_image("busybox", volumes=[volume])
        )


async def test_the_rootfs_is_removed_when_the_container_ends(mesos, work_dir, source):
    config, _ = await run(mesos, work_dir, shell("echo > /written-to-rootfs"))
    await finished(mesos, config)
    assert list(containers_dir(work_dir).iterdir()) == []
    assert mounts_below(work_dir) == []
    assert source.held == {}


# -- flags ------------------------------------------------------------------------------


async def test_without_the_flags_an_image_task_is_refused_naming_them(work_dir, agent_id):
    mesos = MesosContainerizer()
    await mesos.start(make_context(work_dir, agent_id))
    try:
        config = make_config(work_dir, "refused", shell("true"), container_info=in_image("busybox"))
        support = mesos.supports(config)
    finally:
        await mesos.stop()
    assert not support.accepted
    assert "--image_providers=docker" in support.reason
    assert "filesystem/linux,docker/runtime" in support.reason


async def test_image_providers_without_the_isolators_refuse_to_start(work_dir, agent_id):
    mesos = MesosContainerizer()
    with pytest.raises(StartupError, match="needs --isolation to include filesystem/linux"):
        await mesos.start(make_context(work_dir, agent_id, "--image_providers=docker"))


# -- kill, health-check commands, memory -------------------------------------------------


async def test_a_kill_reaches_the_task_inside_with_its_grace_period(mesos, work_dir):
    script = (
        "trap 'echo TERM > $MESOS_SANDBOX/got_term; exit 0' TERM; "
        "echo > $MESOS_SANDBOX/ready; while true; do sleep 0.05; done"
    )
    config, _ = await run(mesos, work_dir, shell(script))
    await until((config.sandbox / "ready").exists)
    termination = await mesos.destroy(config.container_id, timedelta(seconds=30))
    assert termination is not None
    assert termination.state is TaskState.TASK_KILLED
    assert (config.sandbox / "got_term").read_text() == "TERM\n"
    assert termination.status == 0
    assert list(containers_dir(work_dir).iterdir()) == []


async def test_a_task_ignoring_sigterm_is_killed_after_the_grace_period(mesos, work_dir):
    config, _ = await run(mesos, work_dir, shell(f"{WAIT_FOR_GO}"))
    await until((config.sandbox / "ready").exists)
    termination = await mesos.destroy(config.container_id, timedelta(milliseconds=200))
    assert termination is not None
    assert termination.state is TaskState.TASK_KILLED
    assert termination.status is not None
    assert os.WIFEXITED(termination.status) or os.WTERMSIG(termination.status) == signal.SIGKILL


async def test_commands_run_inside_the_container(mesos, work_dir):
    config, _ = await run(mesos, work_dir, shell(WAIT_FOR_GO))
    await until((config.sandbox / "ready").exists)
    inside = shell("test -f /etc/image-marker && test $$ != 1 && test -e /proc/1")
    status = await mesos.exec_in_container(config.container_id, inside, timedelta(seconds=30))
    missing = shell("test -f /etc/not-in-the-image")
    failed = await mesos.exec_in_container(config.container_id, missing, timedelta(seconds=30))
    (config.sandbox / "go").touch()
    await finished(mesos, config)
    assert status == 0
    assert failed is not None
    assert os.WEXITSTATUS(failed) == 1


async def test_an_image_task_over_its_memory_limit_fails_with_the_memory_reason(
    work_dir, agent_id, source
):
    mesos = await start(
        work_dir, agent_id, source, "--isolation=cgroups/mem,filesystem/linux,docker/runtime"
    )
    try:
        memory = Resource(name="mem", type=ValueType.SCALAR, scalar=Scalar(value=32))
        script = "dd if=/dev/zero of=/dev/null bs=200M count=1"
        config, _ = await run(mesos, work_dir, shell(script), resources=[memory])
        termination = await mesos.wait(config.container_id)
    finally:
        await mesos.stop()
    assert termination is not None
    assert termination.state is TaskState.TASK_FAILED
    assert termination.reason is Reason.REASON_CONTAINER_LIMITATION_MEMORY


def _environment(**variables: str) -> Environment:
    return Environment(
        variables=[EnvironmentVariable(name=k, value=v) for k, v in variables.items()]
    )


async def test_a_rootfs_whose_container_never_started_is_removed_on_recovery(
    work_dir, agent_id, source
):
    first = await start(work_dir, agent_id, source)
    config = make_config(work_dir, "prepared", shell("true"), container_info=in_image("busybox"))
    await first.prepare(config)  # the agent dies here, before launch
    assert mounts_below(work_dir) != [] or (containers_dir(work_dir) / "prepared").is_dir()
    await first.stop()
    second = await start(work_dir, agent_id, source)
    try:
        recovered = await second.recover([])
    finally:
        await second.stop()
    assert recovered == []
    assert list(containers_dir(work_dir).iterdir()) == []
    assert mounts_below(work_dir) == []
    assert source.held == {}


# -- hostile images and inputs, full disks -----------------------------------------------


async def test_the_copy_backend_never_writes_through_a_link_a_lower_layer_left(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "etc").symlink_to(outside)  # a link out of the root file system...
    upper = files_layer(tmp_path / "upper", {"etc/planted": "x", "etc/.wh.victim": ""})
    (outside / "victim").write_text("must survive\n")
    container = tmp_path / "container"
    container.mkdir()
    rootfs = await provision("copy", container, [lower, upper])  # ...that a directory replaces
    assert sorted(os.listdir(outside)) == ["victim"]
    assert (rootfs / "etc").is_dir()
    assert not (rootfs / "etc").is_symlink()
    assert (rootfs / "etc" / "planted").read_text() == "x"


async def test_an_image_whose_passwd_is_a_link_fails_without_reading_it(
    mesos, work_dir, source, tmp_path
):
    linked = tmp_path / "linked"
    (linked / "etc").mkdir(parents=True)
    (linked / "etc" / "passwd").symlink_to("/etc/passwd")  # the host's, if followed
    source.add(LayeredImage("linked-passwd", (source.images["busybox"].layers[0], linked)))
    with pytest.raises(LaunchError, match="Failed to read the image's /etc/passwd"):
        await run(mesos, work_dir, shell("true"), "linked-passwd", user="root")


async def test_a_relative_volume_through_a_link_may_not_leave_the_sandbox(mesos, work_dir):
    volume = Volume(mode=VolumeMode.RO, container_path="/escaped", host_path="fetched")
    info = in_image("busybox", volumes=[volume])
    config = make_config(work_dir, "linked-volume", shell("true"), container_info=info)
    (config.sandbox / "fetched").symlink_to("/etc")  # as an archive fetched into it could
    with pytest.raises(LaunchError, match="Volume host_path 'fetched' leaves the sandbox"):
        await mesos.prepare(config)


def test_overlay_asked_for_where_it_cannot_mount_refuses_and_auto_falls_back(tmp_path):
    unusable = tmp_path / "file"
    unusable.write_text("not a directory")
    with pytest.raises(ProvisionError, match="--image_provisioner_backend=overlay"):
        choose_backend("overlay", unusable)
    assert choose_backend(None, unusable) == "copy"
    assert choose_backend("copy", unusable) == "copy"


async def test_a_full_disk_fails_the_launch_and_leaves_nothing_behind(
    agent_id, source, base_layer, tmp_path
):
    big = tmp_path / "big"
    (big / "data").mkdir(parents=True)
    (big / "data" / "blob").write_bytes(os.urandom(24 << 20))
    source.add(LayeredImage("too-big", (base_layer, big)))
    with small_disk(tmp_path / "disk", 16) as disk:
        work_dir = disk / "work"
        work_dir.mkdir()
        mesos = await start(work_dir, agent_id, source, "--image_provisioner_backend=copy")
        try:
            info = in_image("too-big")
            config = make_config(work_dir, "too-big", shell("true"), container_info=info)
            with pytest.raises(LaunchError, match="No space left on device"):
                await mesos.prepare(config)
            termination = await mesos.wait(config.container_id)
            assert termination is not None
            assert termination.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
            assert list(containers_dir(work_dir).iterdir()) == []
            fits, _ = await run(mesos, work_dir, shell("echo fits"))  # the space is back
            assert await finished(mesos, fits) == "fits\n"
        finally:
            await mesos.stop()
            clean_up(work_dir, agent_id)


async def test_the_plugin_pulls_through_its_own_store_and_reports_progress(
    work_dir, agent_id, image_registry, push, busybox_layer
):
    reference = push(oci.image([busybox_layer], {"Cmd": ["echo", "pulled"]}))
    mesos = MesosContainerizer()
    await mesos.start(
        make_context(
            work_dir,
            agent_id,
            *IMAGE_FLAGS,
            f"--docker_registry=http://{image_registry.address}",
            f"--docker_config={json.dumps(image_registry.config_json())}",
        )
    )
    lines: list[str] = []
    mesos.watch_progress(lines.append)
    try:
        config, _ = await run(mesos, work_dir, CommandInfo(shell=False), reference)
        assert await finished(mesos, config) == "pulled\n"
    finally:
        await mesos.stop()
    assert any(reference.split("/", 1)[1].split(":")[0] in line for line in lines), lines


async def test_a_root_task_can_neither_make_devices_nor_mount(mesos, work_dir):
    script = (
        "mknod /tmp/disk b 8 0 2>/dev/null || echo no-mknod; "
        "mount -t tmpfs none /tmp 2>/dev/null || echo no-mount; id -u"
    )
    config, _ = await run(mesos, work_dir, shell(script))
    assert await finished(mesos, config) == "no-mknod\nno-mount\n0\n"


async def test_a_command_missing_from_the_image_fails_as_a_launch_failure(mesos, work_dir):
    config, _ = await run(mesos, work_dir, CommandInfo(shell=False, value="/no/such/program"))
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.state is TaskState.TASK_FAILED
    assert termination.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert termination.message is not None
    assert termination.message.startswith("Failed to launch container: ")
    assert "/no/such/program" in termination.message
    assert list(containers_dir(work_dir).iterdir()) == []
