"""Start one task with ``posix_spawn`` (vfork speed), the way the supervisor needs it.

A forked Python process costs ~2 ms before it can exec; ``posix_spawn`` costs ~0.2 ms
but cannot join cgroups, change directory or set an arbitrary user. So the supervisor,
which is single-threaded, briefly *lends itself* what the task must inherit: it joins
the task's cgroups, enters the sandbox and takes the task's user as its real ids, spawns
(``resetids`` turns the real ids into the child's effective ones; exec then drops root
for good), and returns to its own cgroups, directory, ids and limit on open files.
``subprocess`` is not used because it reaps its own children, while the supervisor reaps
all with ``waitid(P_ALL)``.

A task that must be a child subreaper (the ``posix`` launcher's tracking) is forked
instead: only the process itself can ask to be one, and the request survives exec.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import resource
import shutil
import signal
from collections.abc import Iterator
from typing import NoReturn

from dockyard.supervision import cgroups
from dockyard.supervision.protocol import SpawnSpec

IGNORED_BY_PYTHON = (signal.SIGPIPE, signal.SIGXFSZ)
"""Python ignores these; a spawned task must get the default actions back."""
PR_SET_CHILD_SUBREAPER = 36
_LIBC = ctypes.CDLL(None, use_errno=True)
TASKS_FILE_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
"""The soft limit on open files the supervisor was started with, and its tasks get."""


def raise_file_limit() -> None:
    """Let the supervisor hold as many files as it may (its hard limit): a task with rotated
    output costs it five descriptors. Its tasks still get :data:`TASKS_FILE_LIMIT`."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class SpawnError(Exception):
    """The task could not be started; the message says which step failed."""


def spawn(spec: SpawnSpec, owned_cgroups: dict[str, str], out: int, err: int) -> int:
    """Start the task in its own session with ``out`` and ``err`` as its stdout and
    stderr; return its pid once it has exec'd."""
    stack = contextlib.ExitStack()
    step = "join the task's cgroups"
    with stack:
        try:
            stack.enter_context(_cgroups(spec.cgroups, owned_cgroups))
            step = f"change to the sandbox '{spec.cwd}'"
            stack.enter_context(_working_directory(spec.cwd))
            step = "switch user"
            stack.enter_context(_real_ids(spec))
            stack.enter_context(_tasks_file_limit())
            step = f"execute '{spec.executable}'"
            if spec.subreaper:
                return _fork_exec(_resolve(spec), spec, out, err)
            return os.posix_spawn(
                _resolve(spec),
                spec.argv,
                spec.env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, out, 1),
                    (os.POSIX_SPAWN_DUP2, err, 2),
                ],
                setsid=True,
                setsigdef=IGNORED_BY_PYTHON,
                setsigmask=(),
                resetids=spec.uid is not None,
            )
        except OSError as error:
            raise SpawnError(f"Failed to {step}: {error.strerror}") from error


def _fork_exec(executable: str, spec: SpawnSpec, out: int, err: int) -> int:
    """What the ``posix_spawn`` above does, in a forked child that also becomes a child
    subreaper; returns once the child has exec'd, raises what stopped it."""
    devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    failure_read, failure_write = os.pipe2(os.O_CLOEXEC)  # closed by a successful exec
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        pid = os.fork()
        if pid == 0:
            _exec_in_child(executable, spec, (devnull, out, err), failure_write)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(failure_write)
        os.close(devnull)
    try:
        failure = os.read(failure_read, 32)
    finally:
        os.close(failure_read)
    if failure:
        os.waitpid(pid, 0)
        number = int(failure)
        raise OSError(number, os.strerror(number))
    return pid


def _exec_in_child(
    executable: str, spec: SpawnSpec, stdio: tuple[int, int, int], failure: int
) -> NoReturn:
    """Runs in the forked child, with every signal blocked; writes errno on failure."""
    try:
        signal.set_wakeup_fd(-1)  # a signal to us must not wake the supervisor's event loop
        os.setsid()
        become_child_subreaper()
        for target, source in enumerate(stdio):
            os.dup2(source, target)
        for ignored in IGNORED_BY_PYTHON:
            signal.signal(ignored, signal.SIG_DFL)
        if spec.uid is not None:  # the real ids are the task's already (_real_ids)
            gid, uid = os.getgid(), os.getuid()
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        os.execve(executable, spec.argv, spec.env)
    except OSError as error:
        number = error.errno or errno.EINVAL
    except BaseException:  # nothing may unwind into the supervisor's code in this process
        number = errno.EINVAL
    os.write(failure, str(number).encode())
    os._exit(127)


def become_child_subreaper() -> None:
    """Orphans below the calling process are handed to it (not to init) when their parent
    dies; kept across exec, not given to children."""
    _set_child_subreaper(1)


def stop_being_child_subreaper() -> None:
    _set_child_subreaper(0)


def _set_child_subreaper(value: int) -> None:
    if _LIBC.prctl(PR_SET_CHILD_SUBREAPER, value, 0, 0, 0) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))


def _resolve(spec: SpawnSpec) -> str:
    """The executable's path: searched on the task's PATH, as execvp would (as the task)."""
    if "/" in spec.executable:
        return spec.executable
    found = shutil.which(spec.executable, path=spec.env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
    return found


@contextlib.contextmanager
def _cgroups(directories: list[str], owned: dict[str, str]) -> Iterator[None]:
    if not directories:
        yield
        return
    homes = [cgroups.home_of(directory, owned) for directory in directories]
    try:
        cgroups.join(directories)
        yield
    finally:
        cgroups.join(homes)


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    here = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(path)
        yield
    finally:
        os.fchdir(here)
        os.close(here)


@contextlib.contextmanager
def _tasks_file_limit() -> Iterator[None]:
    """The soft limit on open files a task inherits, for the instant of the spawn (a
    program that closes every descriptor up to its limit must not loop a million times)."""
    own, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if own == TASKS_FILE_LIMIT:
        yield
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (TASKS_FILE_LIMIT, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (own, hard))


@contextlib.contextmanager
def _real_ids(spec: SpawnSpec) -> Iterator[None]:
    """Take the task's user as real ids (root stays effective) for ``resetids`` to apply."""
    if spec.uid is None:
        yield
        return
    groups, gid, uid = os.getgroups(), os.getgid(), os.getuid()
    try:
        os.setgroups(spec.groups)
        if spec.gid is not None:
            os.setresgid(spec.gid, -1, -1)
        os.setresuid(spec.uid, -1, -1)
        yield
    finally:
        os.setresuid(uid, -1, -1)
        os.setresgid(gid, -1, -1)
        os.setgroups(groups)
