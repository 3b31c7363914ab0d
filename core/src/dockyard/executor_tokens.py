"""Executor authentication as Mesos does it: a JWT per executor container.

Each executor gets ``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``, an HS256 JWT whose
claims are Mesos's ``fid``, ``eid`` and ``cid`` (framework, executor and
container ids; the claims are the whole principal, as in Mesos). Every call to
the executor API must carry it as ``Authorization: Bearer <token>``, so a task,
an API client or another executor cannot pose as an executor: none of them
knows the key. Tokens carry no expiry, as Mesos's do, and the key outlives
agent restarts, so a recovered executor resubscribes with the token it was
launched with.

Unlike Mesos, authentication is on by default: without ``--executor_secret_key``
the agent generates a key once and keeps it in ``<work_dir>/meta``.
"""

from __future__ import annotations

import logging
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jwt

from dockyard.checkpoint import write_atomic
from dockyard.containers import StartupError

if TYPE_CHECKING:
    from dockyard.flags import Flags

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"
KEY_FILE = "executor_secret_key"
"""The generated key's file name in ``<work_dir>/meta``."""
KEY_BYTES = 32
"""HS256 needs a key of at least 256 bits (RFC 7518, section 3.2)."""
ALGORITHM = "HS256"
CLAIMS = ("fid", "eid", "cid")


class TokenError(ValueError):
    """The request carries no token, or one this agent did not issue (a 401)."""


@dataclass(frozen=True)
class ExecutorClaims:
    """Who a token speaks for: one executor container of one framework."""

    framework_id: str
    executor_id: str
    container_id: str

    def as_jwt(self) -> dict[str, str]:
        return {"fid": self.framework_id, "eid": self.executor_id, "cid": self.container_id}

    def mismatch(
        self, framework_id: str, executor_id: str, container_id: str | None = None
    ) -> str | None:
        """Why the token may not make a call for these ids (a 403), or None.

        ``container_id`` is the executor's current container: a token of an
        earlier run of the same executor id is refused.
        """
        if self.framework_id != framework_id:
            return f"the token's 'fid' claim is not the call's framework id '{framework_id}'"
        if self.executor_id != executor_id:
            return f"the token's 'eid' claim is not the call's executor id '{executor_id}'"
        if container_id is not None and self.container_id != container_id:
            return "the token's 'cid' claim is not the executor's current container id"
        return None


class ExecutorTokens:
    """Issues and checks executor tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, claims: ExecutorClaims) -> str:
        return jwt.encode(claims.as_jwt(), self._key, algorithm=ALGORITHM)

    def authenticate(self, authorization: str | None) -> ExecutorClaims:
        """The claims of the ``Authorization: Bearer`` token; TokenError when it is not ours."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenError("expecting 'Authorization: Bearer <token>'")
        if not token.isascii():
            raise TokenError("invalid token: a JWT is ASCII")
        try:
            payload = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": list(CLAIMS)}
            )
        except jwt.InvalidTokenError as error:
            raise TokenError(f"invalid token: {error}") from None
        values = [payload[claim] for claim in CLAIMS]
        if not all(isinstance(value, str) for value in values):
            raise TokenError("invalid token: its claims are not strings")
        return ExecutorClaims(*values)


def token_environment(tokens: ExecutorTokens | None, claims: ExecutorClaims) -> dict[str, str]:
    """What an executor container's environment gains (nothing when authentication is off)."""
    return {} if tokens is None else {TOKEN_VARIABLE: tokens.issue(claims)}


def executor_tokens(flags: Flags, meta_dir: Path) -> ExecutorTokens | None:
    """The agent's token issuer, or None under ``--no-authenticate_http_executors``."""
    key_file: str | None = flags.executor_secret_key
    if not flags.authenticate_http_executors:
        if key_file:
            log.warning("--executor_secret_key is ignored: executor authentication is off")
        return None
    if key_file:
        return ExecutorTokens(_given_key(Path(key_file)))
    return ExecutorTokens(_generated_key(meta_dir / KEY_FILE))


def _given_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as error:
        raise StartupError(f"--executor_secret_key: cannot read {path}: {error.strerror}") from None
    if len(key) < KEY_BYTES:
        raise StartupError(
            f"--executor_secret_key: {path} holds {len(key)} bytes; "
            f"an HS256 key needs at least {KEY_BYTES}"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("--executor_secret_key: %s can be read by other users than its owner", path)
    return key


def _generated_key(path: Path) -> bytes:
    """The key kept under meta/, created on the first start."""
    try:
        if path.exists():
            key = path.read_bytes()
            if len(key) >= KEY_BYTES:
                return key
            log.warning(
                "%s is damaged (%d bytes); replacing it: executors launched before "
                "cannot resubscribe and their tasks will be lost",
                path,
                len(key),
            )
        key = secrets.token_bytes(KEY_BYTES)
        write_atomic(path, key, mode=0o600)
    except OSError as error:
        raise StartupError(f"executor secret key {path}: {error.strerror or error}") from None
    return key
