"""Which fetcher fetches which URI: the scheme rule, then co-operating fetchers in a real
in-process agent (the kit's driver) whose tasks run as real processes."""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType

import pytest
from dockyard import hookimpl
from dockyard.containers import ContainerConfig, LaunchError
from dockyard.fetch_routing import FetchRouter, uri_scheme
from dockyard.messages import URI, Reason, TaskInfo
from dockyard.testing import AgentDriver, HookRecorder, make_host, task_info
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import SAMPLE_FETCHERS
from tests.testing.backends import (
    LegacyLocalFileFetcher,
    LocalFileFetcher,
    ReferenceContainerizer,
)

pytest_plugins = ["dockyard.testing"]


# -- the scheme of a URI (pure logic) ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("data:text/plain;base64,aGk=", "data"),
        ("S3://bucket/key", "s3"),
        ("urn:isbn:0451450523", "urn"),
        ("svn+ssh://h/x", "svn+ssh"),
        ("a1.b-c+d:x", "a1.b-c+d"),
        ("\n\t http://h/x", "http"),  # leading whitespace is ignored, as in Mesos
        ("file:///abs", "file"),
        ("example.com:/srv/a.tgz", "example.com"),  # host:path is a scheme (RFC 3986)
        ("/abs/path", ""),
        ("rel/path.tgz", ""),
        ("./name:x", ""),  # ...so a relative path with ':' in its first segment needs ./
        ("dir/a:b", ""),
        ("C:/x.tgz", ""),  # a drive letter is no scheme
        ("c:\\x", ""),
        ("1ab:x", ""),
        ("-ab:x", ""),
        ("", ""),
    ],
)
def test_uri_scheme(value: str, scheme: str) -> None:
    assert uri_scheme(value) == scheme


@given(st.text(max_size=30))
def test_a_scheme_is_always_the_rfc_3986_prefix(value: str) -> None:
    scheme = uri_scheme(value)
    if scheme:
        assert re.fullmatch(r"[a-z][a-z0-9+.-]+", scheme)
        assert value.lstrip().lower().startswith(scheme + ":")


class Names:
    def __init__(self, schemes: object) -> None:
        self.schemes = schemes

    @hookimpl
    def fetch_schemes(self) -> object:
        return self.schemes

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        return None


def test_scheme_names_are_normalised_and_bad_ones_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = make_host({}, {"a": Names("DATA:"), "b": Names(["S3", "", "1bad", 7, "*"])})
    router = FetchRouter.from_host(host, ["a", "b"])
    assert router.candidates("data") == ["a", "b"]
    assert router.candidates("s3") == ["b"]
    assert router.candidates("") == ["b"]
    assert "fetcher 'b' names an invalid URI scheme '1bad'; ignored" in caplog.text
    assert "names an invalid URI scheme 7" in caplog.text


def test_explicit_claims_come_before_catch_alls_then_name_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fetchers = {
        "zz": Names(["data"]),
        "aa": Names(["*"]),
        "fetcher": Names(["", "file", "http", "*"]),
        "data": Names(["data"]),
    }
    caplog.set_level(logging.WARNING)
    router = FetchRouter.from_host(make_host({}, fetchers), list(fetchers))
    assert router.candidates("data") == ["data", "zz", "aa", "fetcher"]
    assert router.candidates("http") == ["fetcher", "aa"]
    assert "fetchers 'data' and 'zz' both take data:; 'data' is asked first" in caplog.text


# -- co-operation in a real agent -------------------------------------------------------


@pytest.fixture
def data_uris(install_plugins: Callable[[Path], None]) -> ModuleType:
    """The sample third-party ``data:`` fetcher (tests/sample_fetchers)."""
    install_plugins(SAMPLE_FETCHERS)
    return importlib.import_module("dockyard_data_uris")


@pytest.fixture
def extra_fetchers() -> Mapping[str, object]:
    return {}


@pytest.fixture
def dockyard_fetchers(
    data_uris: ModuleType, extra_fetchers: Mapping[str, object]
) -> Mapping[str, object]:
    return {"data": data_uris.DataUris(), "local": LocalFileFetcher(), **extra_fetchers}


@pytest.fixture
def dockyard_containerizers() -> Mapping[str, object]:
    return {"reference": ReferenceContainerizer()}


@pytest.fixture
def dockyard_timeout() -> float:
    return 20.0


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    for name in ("one", "two"):
        (folder / name).write_text(f"{name} from a file\n")
    return folder


def task_with(command: str, *uris: dict[str, object]) -> TaskInfo:
    task = task_info(command)
    assert task.command is not None
    task.command.uris = [URI(**uri) for uri in uris]  # type: ignore[arg-type]
    return task


async def test_fetchers_share_a_task_in_the_order_given(
    dockyard_agent: AgentDriver, dockyard_recorder: HookRecorder, sources: Path
) -> None:
    one, two = (sources / "one").as_uri(), (sources / "two").as_uri()
    task = task_with(
        "cat a b c shared",
        {"value": one, "output_file": "a"},
        {"value": "data:,data%20b%0A", "output_file": "b"},
        {"value": "data:text/plain;base64,ZGF0YSBzaGFyZWQK", "output_file": "shared"},
        {"value": two, "output_file": "c"},
        {"value": one, "output_file": "shared"},  # later than the data: URI: wins
    )
    result = await dockyard_agent.run(task)
    result.assert_finished()
    assert result.stdout == "one from a file\ndata b\ntwo from a file\none from a file\n"
    runs = [
        (call.plugins, [uri.output_file for uri in call.kwargs["uris"]])
        for call in dockyard_recorder.named("fetch")
    ]
    assert runs == [
        (("local",), ["a"]),
        (("data",), ["b", "shared"]),
        (("local",), ["c", "shared"]),
    ]


async def test_a_uri_no_fetcher_takes_fails_before_anything_is_fetched(
    dockyard_agent: AgentDriver, dockyard_recorder: HookRecorder, sources: Path
) -> None:
    task = task_with(
        "true", {"value": (sources / "one").as_uri()}, {"value": "urn:isbn:0451450523"}
    )
    result = await dockyard_agent.run(task)
    result.assert_failed(
        reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
        message="Failed to launch container: Failed to fetch 'urn:isbn:0451450523': no fetcher "
        "takes the URI scheme 'urn:' (the fetchers take data:, file:); a relative path with "
        "':' in its first segment is written './name:...'",
    )
    dockyard_recorder.assert_called("fetch", times=0)
    assert not (result.sandbox / "one").exists()


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("/abs/path", "plain paths"),
        ("C:/x.tgz", "plain paths"),
        ("s3://b/k", "the URI scheme 's3:'"),
    ],
)
async def test_unclaimed_paths_and_schemes_are_named(
    dockyard_agent: AgentDriver, value: str, what: str
) -> None:
    result = await dockyard_agent.run(task_with("true", {"value": value}))
    result.assert_failed(
        message=f"Failed to launch container: Failed to fetch '{value}': no fetcher takes "
        f"{what} (the fetchers take data:, file:)"
    )


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ({"value": "data:no-comma", "output_file": "x"}, "malformed data: URI (no ','"),
        ({"value": "data:;base64,%%%", "output_file": "x"}, "malformed data: URI (bad base64"),
        ({"value": "data:,x"}, "a data: URI has no file name; set its output_file"),
        ({"value": "data:,x", "output_file": "../x"}, "goes up with '..'"),
        ({"value": "data:,x", "output_file": "/etc/x"}, "is absolute"),
    ],
)
async def test_bad_data_uris_fail_the_task_naming_the_uri(
    dockyard_agent: AgentDriver, uri: dict[str, object], why: str
) -> None:
    result = await dockyard_agent.run(task_with("true", uri))
    result.assert_failed(reason=Reason.REASON_CONTAINER_LAUNCH_FAILED)
    prefix = f"Failed to launch container: Failed to fetch '{uri['value']}': "
    assert result.message.startswith(prefix), result.message
    assert why in result.message
    ok = await dockyard_agent.run(task_with("cat y", {"value": "data:,ok", "output_file": "y"}))
    ok.assert_finished()  # the agent keeps working


class Raises:
    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ("boom",)

    @hookimpl
    async def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        raise RuntimeError("the plugin has a bug")


class FailsClaimed:
    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ("flaky",)

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> Awaitable[None]:
        raise LaunchError(f"Failed to fetch '{uris[0].value}': the server said no")


class ReturnsGarbage:
    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ("garbage",)

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> object:
        return True


@pytest.fixture
def failing_fetchers() -> Mapping[str, object]:
    return {"boom": Raises(), "flaky": FailsClaimed(), "garbage": ReturnsGarbage()}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "boom:x",
            "Failed to fetch 'boom:x': fetcher 'boom' failed: RuntimeError: the plugin has a bug",
        ),
        ("flaky://h/x", "Failed to fetch 'flaky://h/x': the server said no"),
        (
            "garbage:x",
            "Failed to fetch 'garbage:x': fetcher 'garbage' failed: TypeError: fetch returned "
            "True, not an awaitable or None",
        ),
    ],
)
async def test_a_fetcher_that_fails_fails_only_its_task(
    dockyard_work_dir: Path,
    dockyard_containerizers: Mapping[str, object],
    dockyard_fetchers: Mapping[str, object],
    failing_fetchers: Mapping[str, object],
    value: str,
    message: str,
    sources: Path,
) -> None:
    fetchers = {**dockyard_fetchers, **failing_fetchers}
    driver = AgentDriver(dockyard_work_dir, dockyard_containerizers, fetchers, timeout=20)
    await driver.start()
    try:
        task = task_with("true", {"value": (sources / "one").as_uri()}, {"value": value})
        (await driver.run(task)).assert_failed(
            reason=Reason.REASON_CONTAINER_LAUNCH_FAILED,
            message=f"Failed to launch container: {message}",
        )
        after = task_with("cat one", {"value": (sources / "one").as_uri()})
        (await driver.run(after)).assert_finished()
    finally:
        await driver.close()


class Declines:
    def __init__(self) -> None:
        self.offered: list[list[str]] = []

    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return ("data",)

    @hookimpl
    def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        self.offered.append([uri.value for uri in uris])
        return None


async def test_a_declined_uri_goes_on_to_the_next_fetcher(
    dockyard_work_dir: Path,
    dockyard_containerizers: Mapping[str, object],
    data_uris: ModuleType,
    sources: Path,
) -> None:
    declines = Declines()
    fetchers = {"a-declines": declines, "data": data_uris.DataUris()}
    driver = AgentDriver(dockyard_work_dir, dockyard_containerizers, fetchers, timeout=20)
    await driver.start()
    try:
        task = task_with("cat d", {"value": "data:,taken", "output_file": "d"})
        result = await driver.run(task)
        result.assert_finished()
        assert result.stdout == "taken"
        assert declines.offered == [["data:,taken"]]
    finally:
        await driver.close()


async def test_when_every_fetcher_declines_the_task_fails_naming_them(
    dockyard_work_dir: Path, dockyard_containerizers: Mapping[str, object]
) -> None:
    fetchers = {"first": Declines(), "second": Declines()}
    driver = AgentDriver(dockyard_work_dir, dockyard_containerizers, fetchers, timeout=20)
    await driver.start()
    try:
        result = await driver.run(task_with("true", {"value": "data:,x", "output_file": "x"}))
        result.assert_failed(
            message="Failed to launch container: Failed to fetch 'data:,x': every fetcher "
            "that takes data: declined it (first, second)"
        )
    finally:
        await driver.close()


async def test_a_fetcher_written_for_the_old_contract_is_a_catch_all(
    dockyard_work_dir: Path,
    dockyard_containerizers: Mapping[str, object],
    data_uris: ModuleType,
    sources: Path,
) -> None:
    """No fetch_schemes: it is offered what no fetcher names, and may still decline."""
    fetchers = {"a-legacy": LegacyLocalFileFetcher(), "data": data_uris.DataUris()}
    driver = AgentDriver(dockyard_work_dir, dockyard_containerizers, fetchers, timeout=20)
    await driver.start()
    try:
        task = task_with(
            "cat one d",
            {"value": (sources / "one").as_uri()},
            {"value": "data:,d", "output_file": "d"},
        )
        result = await driver.run(task)
        result.assert_finished()
        assert result.stdout == "one from a file\nd"
        declined = await driver.run(task_with("true", {"value": "other://h/x"}))
        declined.assert_failed(
            message="Failed to launch container: Failed to fetch 'other://h/x': every fetcher "
            "that takes other: declined it (a-legacy)"
        )
    finally:
        await driver.close()


async def test_a_kill_during_a_fetch_cancels_it(
    dockyard_work_dir: Path, dockyard_containerizers: Mapping[str, object]
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    class Hangs:
        @hookimpl
        def fetch_schemes(self) -> tuple[str, ...]:
            return ("slow",)

        @hookimpl
        async def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

    driver = AgentDriver(dockyard_work_dir, dockyard_containerizers, {"slow": Hangs()}, timeout=20)
    await driver.start()
    try:
        record = await driver.launch(task_with("true", {"value": "slow:x"}))
        await asyncio.wait_for(started.wait(), 20)
        await driver.kill(record)
        (await driver.result(record)).assert_killed()
        assert cancelled.is_set()
    finally:
        await driver.close()
