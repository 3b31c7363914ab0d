"""Fetching as the task user when the agent is root (Mesos runs mesos-fetcher as the user)."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dockyard.containers import LaunchError
from dockyard.messages import URI

from tests.fetcher.harness import Origin, fetch, make_tar

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users"),
]

USER = "nobody"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user can traverse (pytest's tmp dirs are root-only)."""
    path = Path(tempfile.mkdtemp(prefix="dockyard-fetcher-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def user_sandboxes(sandboxes):
    entry = pwd.getpwnam(USER)

    def config(*uris: URI):
        made = sandboxes.config(*uris, user=USER)
        os.chown(made.sandbox, entry.pw_uid, entry.pw_gid)
        return made

    return config


async def test_root_only_file_is_not_fetchable_for_another_user(
    fetcher, user_sandboxes, shared_dir
):
    secret = shared_dir / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    config = user_sandboxes(URI(value=str(secret)))
    with pytest.raises(LaunchError) as failure:
        await fetch(fetcher, config)
    assert str(failure.value) == f"Failed to fetch '{secret}': Permission denied: '{secret}'"
    assert not (config.sandbox / "secret").exists()


async def test_command_user_overrides_the_container_user(fetcher, sandboxes, shared_dir):
    secret = shared_dir / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    config = sandboxes.config(URI(value=str(secret)))
    config.command.user = USER
    with pytest.raises(LaunchError, match="Permission denied"):
        await fetch(fetcher, config)


async def test_fetched_files_belong_to_the_user(fetcher, user_sandboxes, shared_dir, origin):
    readable = shared_dir / "readable"
    readable.write_text("public")
    readable.chmod(0o644)
    archive = make_tar(shared_dir / "bundle.tgz", {"dir/inside": b"x"})
    archive.chmod(0o644)
    origin.files["remote"] = b"remote"
    config = user_sandboxes(
        URI(value=str(readable), output_file="sub/readable"),
        URI(value=str(archive)),
        URI(value=origin.url("files/remote"), executable=True),
    )
    await fetch(fetcher, config)
    uid = pwd.getpwnam(USER).pw_uid
    for name in ("sub", "sub/readable", "bundle.tgz", "dir", "dir/inside", "remote", "stderr"):
        assert (config.sandbox / name).lstat().st_uid == uid, name


async def test_root_cached_copy_is_not_served_to_another_user(
    fetcher, sandboxes, user_sandboxes, shared_dir
):
    secret = shared_dir / "secret"
    secret.write_text("root only")
    secret.chmod(0o600)
    await fetch(fetcher, sandboxes.config(URI(value=str(secret), cache=True)))
    config = user_sandboxes(URI(value=str(secret), cache=True))
    with pytest.raises(LaunchError, match="Permission denied"):
        await fetch(fetcher, config)


async def test_unknown_user_fails_the_fetch(fetcher, sandboxes, origin: Origin):
    config = sandboxes.config(URI(value=origin.url("files/x")), user="no-such-user-here")
    with pytest.raises(LaunchError, match="Failed to switch to user 'no-such-user-here'"):
        await fetch(fetcher, config)
