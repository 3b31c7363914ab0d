"""Start one task with ``posix_spawn`` (vfork speed), the way the supervisor needs it.

A forked Python process costs ~2 ms before it can exec; ``posix_spawn`` costs ~0.2 ms
but cannot join cgroups, change directory or set an arbitrary user. So the supervisor,
which is single-threaded, briefly *lends itself* what the task must inherit: it joins
the task's cgroups, enters the sandbox and takes the task's user as its real ids, spawns
(``resetids`` turns the real ids into the child's effective ones; exec then drops root
for good), and returns to its own cgroups, directory, ids and limit on open files
(:class:`Home`).
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


class Home:
    """What the supervisor comes back to after lending itself to a spawn: its cgroups,
    directory, ids and limit on open files, learnt once (only spawns change them, and they
    put them back). Each context below lends one of them for the spawn inside it, and
    touches nothing a task does not need changed. The ``cgroup.procs`` files of its own
    cgroups stay open, so that coming back is one write. Its supplementary groups stay
    those of the last task that needed others: they grant nothing to a process with
    root's capabilities, while its real ids, which signals check, always come back."""

    def __init__(self, owned_cgroups: dict[str, str]) -> None:
        self._owned_cgroups = owned_cgroups
        self._cgroup_procs: dict[str, int] = {}
        """Own cgroup directory -> its ``cgroup.procs``, opened at its first use."""
        self._directory = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._uid, self._gid = os.getuid(), os.getgid()
        self._groups = sorted(os.getgroups())
        self._lent_groups = self._groups
        self._file_limit = resource.getrlimit(resource.RLIMIT_NOFILE)

    def close(self) -> None:
        for fd in (self._directory, *self._cgroup_procs.values()):
            os.close(fd)
        self._cgroup_procs.clear()

    @contextlib.contextmanager
    def in_cgroups(self, directories: list[str]) -> Iterator[None]:
        homes = [self._own_cgroup_procs(directory) for directory in directories]
        try:
            for directory in directories:
                cgroups.join(directory)
            yield
        finally:
            for home in homes:
                os.write(home, b"0")

    def _own_cgroup_procs(self, directory: str) -> int:
        """The ``cgroup.procs`` of our own cgroup in the hierarchy of ``directory``."""
        home = cgroups.home_of(directory, self._owned_cgroups)
        fd = self._cgroup_procs.get(home)
        if fd is None:
            fd = self._cgroup_procs[home] = cgroups.open_procs(home)
        return fd

    @contextlib.contextmanager
    def in_directory(self, path: str) -> Iterator[None]:
        os.chdir(path)
        try:
            yield
        finally:
            os.fchdir(self._directory)

    @contextlib.contextmanager
    def as_user(self, spec: SpawnSpec) -> Iterator[None]:
        """The task's user as real ids (root stays effective), for ``resetids`` to apply."""
        groups = self._groups if spec.uid is None else sorted(spec.groups)
        if groups != self._lent_groups:
            os.setgroups(groups)
            self._lent_groups = groups
        uid = self._uid if spec.uid is None else spec.uid
        gid = self._gid if spec.uid is None or spec.gid is None else spec.gid
        if gid != self._gid:
            os.setresgid(gid, -1, -1)
        try:
            if uid != self._uid:
                os.setresuid(uid, -1, -1)
            try:
                yield
            finally:
                if uid != self._uid:
                    os.setresuid(self._uid, -1, -1)
        finally:
            if gid != self._gid:
                os.setresgid(self._gid, -1, -1)

    @contextlib.contextmanager
    def tasks_file_limit(self) -> Iterator[None]:
        """The soft limit on open files a task inherits, for the instant of the spawn (a
        program that closes every descriptor up to its limit must not loop a million
        times)."""
        own, hard = self._file_limit
        if own == TASKS_FILE_LIMIT:
            yield
            return
        resource.setrlimit(resource.RLIMIT_NOFILE, (TASKS_FILE_LIMIT, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (own, hard))


def spawn(spec: SpawnSpec, home: Home, out: int, err: int) -> int:
    """Start the task in its own session with ``out`` and ``err`` as its stdout and
    stderr; return its pid once it has exec'd."""
    stack = contextlib.ExitStack()
    step = "join the task's cgroups"
    with stack:
        try:
            stack.enter_context(home.in_cgroups(spec.cgroups))
            step = f"change to the sandbox '{spec.cwd}'"
            stack.enter_context(home.in_directory(spec.cwd))
            step = "switch user"
            stack.enter_context(home.as_user(spec))
            stack.enter_context(home.tasks_file_limit())
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
        if spec.uid is not None:  # the real ids are the task's already (Home.as_user)
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
