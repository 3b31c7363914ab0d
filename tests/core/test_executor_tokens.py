"""Executor tokens: the key's life cycle and the checks on a presented token (pure logic;
``tests/agent/test_executor_auth.py`` drives them through a real agent)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import jwt
import pytest
from dockyard.containers import StartupError
from dockyard.core_flags import core_flag_set
from dockyard.executor_tokens import (
    KEY_FILE,
    TOKEN_VARIABLE,
    ExecutorClaims,
    ExecutorTokens,
    TokenError,
    executor_tokens,
    token_environment,
)

CLAIMS = ExecutorClaims("fw", "ex1", "c1")
KEY = b"k" * 32


def tokens_for(tmp_path: Path, *argv: str) -> ExecutorTokens | None:
    return executor_tokens(core_flag_set().parse(list(argv), {}), tmp_path / "meta")


def test_a_key_is_generated_once_owner_only_and_reused(tmp_path: Path) -> None:
    first = tokens_for(tmp_path)
    assert first is not None
    key_path = tmp_path / "meta" / KEY_FILE
    assert len(key_path.read_bytes()) == 32
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    second = tokens_for(tmp_path)
    assert second is not None
    assert second.authenticate(f"Bearer {first.issue(CLAIMS)}") == CLAIMS


def test_a_damaged_generated_key_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_path = tmp_path / "meta" / KEY_FILE
    key_path.parent.mkdir()
    key_path.write_bytes(b"")
    assert tokens_for(tmp_path) is not None
    assert len(key_path.read_bytes()) == 32
    assert "is damaged (0 bytes); replacing it" in caplog.text


def test_an_unwritable_meta_dir_is_a_start_up_error(tmp_path: Path) -> None:
    (tmp_path / "meta").write_text("not a directory")
    with pytest.raises(StartupError, match="executor secret key"):
        tokens_for(tmp_path)


def test_a_given_key_is_used_as_is(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    tokens = tokens_for(tmp_path, f"--executor_secret_key={key}")
    assert tokens is not None
    assert jwt.decode(tokens.issue(CLAIMS), KEY, algorithms=["HS256"]) == CLAIMS.as_jwt()
    assert not (tmp_path / "meta").exists()


def test_a_given_key_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o644)
    tokens_for(tmp_path, f"--executor_secret_key={key}")
    assert "can be read by other users" in caplog.text


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, "cannot read"), (b"x" * 31, "holds 31 bytes; an HS256 key needs at least 32")],
)
def test_an_unusable_given_key_is_a_start_up_error(
    tmp_path: Path, content: bytes | None, error: str
) -> None:
    key = tmp_path / "key"
    if content is not None:
        key.write_bytes(content)
    with pytest.raises(StartupError, match=f"--executor_secret_key: .*{error}"):
        tokens_for(tmp_path, f"--executor_secret_key={key}")


def test_authentication_off_means_no_key_and_no_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    tokens = tokens_for(tmp_path, "--no-authenticate_http_executors", "--executor_secret_key=/k")
    assert tokens is None
    assert token_environment(tokens, CLAIMS) == {}
    assert not (tmp_path / "meta").exists()
    assert "--executor_secret_key is ignored" in caplog.text


def test_the_token_reaches_the_environment() -> None:
    tokens = ExecutorTokens(KEY)
    environment = token_environment(tokens, CLAIMS)
    assert tokens.authenticate(f"Bearer {environment[TOKEN_VARIABLE]}") == CLAIMS


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, "expecting 'Authorization: Bearer <token>'"),
        ("", "expecting"),
        ("Bearer", "expecting"),
        ("Basic b3BzOnNlY3JldA==", "expecting"),
        ("Bearer a.b.c", "invalid token"),
        ("Bearer \udcff.x.y", "a JWT is ASCII"),
        (f"Bearer {jwt.encode(CLAIMS.as_jwt(), b'o' * 32)}", "Signature verification failed"),
        (f"Bearer {jwt.encode(CLAIMS.as_jwt(), None, algorithm='none')}", "alg value"),  # type: ignore[arg-type]
        (f"Bearer {jwt.encode(CLAIMS.as_jwt(), KEY * 2, algorithm='HS512')}", "alg value"),
        (f"Bearer {jwt.encode({'fid': 'fw', 'eid': 'ex1'}, KEY)}", 'missing the "cid" claim'),
        (f"Bearer {jwt.encode({**CLAIMS.as_jwt(), 'exp': 1}, KEY)}", "expired"),
        (f"Bearer {jwt.encode({**CLAIMS.as_jwt(), 'cid': 7}, KEY)}", "not strings"),
    ],
)
def test_a_token_not_issued_by_this_key_is_refused(authorization: str | None, error: str) -> None:
    with pytest.raises(TokenError, match=error):
        ExecutorTokens(KEY).authenticate(authorization)


def test_the_scheme_is_case_insensitive() -> None:
    tokens = ExecutorTokens(KEY)
    assert tokens.authenticate(f"bearer  {tokens.issue(CLAIMS)} ") == CLAIMS


@pytest.mark.parametrize(
    ("ids", "claim"),
    [
        (("other", "ex1", "c1"), "'fid'"),
        (("fw", "other", "c1"), "'eid'"),
        (("fw", "ex1", "c2"), "'cid'"),
    ],
)
def test_a_token_speaks_only_for_its_own_executor_container(
    ids: tuple[str, str, str], claim: str
) -> None:
    reason = CLAIMS.mismatch(*ids)
    assert reason is not None
    assert claim in reason
    assert CLAIMS.mismatch("fw", "ex1") is None
    assert CLAIMS.mismatch("fw", "ex1", "c1") is None
