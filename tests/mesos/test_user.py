"""Running a task as another user (the agent is root), with a throwaway user."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from dockyard.supervision.client import SupervisorError

from tests.mesos.harness import STATE, clean_up, make_config, shell, until

pytestmark = [pytest.mark.root, pytest.mark.usefixtures("needs_root")]
PLENTY = timedelta(seconds=30)

FOREIGN_CLIENT = """
import socket, sys
connection = socket.socket(socket.AF_UNIX)
connection.connect(sys.argv[1])
try:
    connection.sendall(b'{"op": "list", "req": 1}\\n')
    answer = connection.recv(100)
except (BrokenPipeError, ConnectionResetError):
    answer = b""
print("refused" if answer == b"" else answer)
"""


@pytest.fixture
def user() -> Iterator[str]:
    name = f"dy{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=True)


@pytest.fixture
def work_dir(agent_id: str) -> Iterator[Path]:
    """A work dir the task user can reach (pytest's tmp dirs are private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="dockyard-mesos-user-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        clean_up(directory, agent_id)
        shutil.rmtree(directory)


async def test_task_and_sandbox_belong_to_the_named_user(mesos, work_dir, user):
    script = (
        "id -un > whoami; id -u; grep -E '^(Uid|Gid|Groups|CapEff|CapPrm):' /proc/self/status > ids"
    )
    config = make_config(work_dir, "as-user", shell(script), user=user)
    await mesos.prepare(config)
    await mesos.launch(config)
    termination = await mesos.wait(config.container_id)
    assert termination is not None
    assert termination.status == 0
    uid = int((config.sandbox / "stdout").read_text())
    assert (config.sandbox / "whoami").read_text() == f"{user}\n"
    assert uid != 0
    assert os.stat(config.sandbox).st_uid == uid
    assert os.stat(config.sandbox / "whoami").st_uid == uid
    assert os.stat(config.sandbox / "stdout").st_uid == uid
    ids = dict(line.split(":", 1) for line in (config.sandbox / "ids").read_text().splitlines())
    entry = pwd.getpwnam(user)
    assert ids["Uid"].split() == [str(uid)] * 4  # real, effective, saved, filesystem
    assert ids["Gid"].split() == [str(entry.pw_gid)] * 4
    assert ids["Groups"].split() == [str(entry.pw_gid)]
    assert int(ids["CapEff"], 16) == int(ids["CapPrm"], 16) == 0


async def test_the_supervisor_is_root_again_after_a_user_task(mesos, work_dir, user):
    as_user = make_config(work_dir, "user-first", shell("id -u"), user=user)
    as_root = make_config(work_dir, "root-next", shell("id -u; id -G"))
    for config in (as_user, as_root):
        await mesos.prepare(config)
        await mesos.launch(config)
        await mesos.wait(config.container_id)
    assert (as_user.sandbox / "stdout").read_text() != "0\n"
    uid, groups = (as_root.sandbox / "stdout").read_text().splitlines()
    assert uid == "0"
    assert user_gid(user) not in groups.split()


async def test_exec_runs_as_the_task_user(mesos, work_dir, user):
    config = make_config(work_dir, "exec-user", shell("echo > ready; exec sleep 600"), user=user)
    await mesos.prepare(config)
    await mesos.launch(config)
    await until((config.sandbox / "ready").exists)
    check = shell("id -un > checked_by; id -G > groups")
    assert await mesos.exec_in_container(config.container_id, check, timedelta(seconds=30)) == 0
    assert (config.sandbox / "checked_by").read_text() == f"{user}\n"
    assert (config.sandbox / "groups").read_text().split() == [user_gid(user)]
    await mesos.destroy(config.container_id, timedelta(0))


def user_gid(user: str) -> str:
    return str(pwd.getpwnam(user).pw_gid)


def test_the_supervisor_refuses_clients_of_other_users(mesos, work_dir, user):
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if python is None:
        pytest.skip("no system python3 for the foreign user")
    state = work_dir / STATE
    state.chmod(0o755)  # the socket is private; open it up to show the supervisor's own check
    (state / "supervisor.sock").chmod(0o777)
    answer = subprocess.run(
        [python, "-c", FOREIGN_CLIENT, str(state / "supervisor.sock")],
        user=user,
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout == "refused\n", answer.stderr


@pytest.mark.parametrize(
    "replacement", ["mkfifo stderr", "mkfifo stderr; exec 3<>stderr"], ids=["alone", "read"]
)
async def test_a_fifo_in_place_of_stderr_does_not_hang_the_supervisor(
    mesos, work_dir, user, replacement
):
    """Commands append to the sandbox's stderr as root: a FIFO there, with or without a
    reader, is refused at once (opening one without a reader would block forever)."""
    script = f"rm stderr; {replacement}; echo > ready; exec sleep 600"
    config = make_config(work_dir, "replaces-stderr", shell(script), user=user)
    await mesos.prepare(config)
    await mesos.launch(config)
    try:  # the task must end before its user is deleted, whatever the outcome
        await until((config.sandbox / "ready").exists)
        async with asyncio.timeout(20):
            with pytest.raises(SupervisorError, match="is a FIFO"):
                await mesos.exec_in_container(config.container_id, shell("echo hi"), PLENTY)
    finally:
        await mesos.destroy(config.container_id, timedelta(0))
