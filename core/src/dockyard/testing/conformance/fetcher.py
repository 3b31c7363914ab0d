"""The behaviours every fetcher plugin (``dockyard.fetchers``) must have, as a test class.

The author supplies URIs of the fetcher's own scheme with the content each must produce;
the suite fetches them through the core's routing (:mod:`dockyard.fetch_routing`), as
the agent does, beside a companion fetcher of another scheme, so it checks that the
URIs reach the fetcher and that the others go on to whoever takes them.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar

import pytest
import pytest_asyncio

from dockyard import hookimpl
from dockyard.containers import AgentContext, ContainerConfig, LaunchError
from dockyard.core_flags import core_flag_set
from dockyard.discovery import FETCHERS, instantiate
from dockyard.fetch_routing import FetchRouter, describe_scheme, uri_scheme
from dockyard.host import PluginHost
from dockyard.messages import URI
from dockyard.testing.conformance.suite import ConformanceSuite
from dockyard.testing.factories import container_config
from dockyard.testing.plugins import make_host
from dockyard.testing.recorder import HookRecorder

FETCHER_BEHAVIOURS = {
    "entry_point": "the plugin is installed under its entry point",
    "output_file": "output_file puts the file at a path in new sub-directories",
    "order": "of two URIs fetched to one path, the later one wins",
    "executable": "executable=true makes the file 0755",
    "failure": "a URI that cannot be fetched fails the launch, naming the URI",
    "cooperation": "URIs of other schemes, among the fetcher's own, go to other fetchers",
}
"""Behaviours a subclass may declare unsupported (``unsupported = {name: reason}``)."""

COMPANION = "conformance-companion"
"""The name and the scheme of the companion fetcher the suite runs beside yours."""


@dataclass(frozen=True)
class FetchCase:
    """A URI of your fetcher's scheme and the bytes fetching it must produce."""

    uri: str
    content: bytes
    file_name: str | None = None
    """Where it lands without ``output_file`` (``app.tgz`` for ``s3://b/app.tgz``); None
    for a URI with no file name of its own (``data:``): the suite then always sets one."""


class CompanionFetcher:
    """Takes ``conformance-companion:<text>`` URIs and writes ``<text>`` to their output file."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    @hookimpl
    def fetch_schemes(self) -> tuple[str, ...]:
        return (COMPANION,)

    @hookimpl
    async def fetch(self, config: ContainerConfig, uris: Sequence[URI]) -> None:
        for uri in uris:
            self.fetched.append(uri.value)
            assert uri.output_file, "the suite gives every companion URI an output_file"
            target = config.sandbox / uri.output_file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(uri.value.partition(":")[2])


class FetcherConformance(ConformanceSuite):
    """Subclass in a test module to check a fetcher plugin::

        class TestS3Fetcher(FetcherConformance):
            @pytest.fixture
            def fetcher_name(self) -> str:
                return "s3"

            @pytest.fixture
            def fetcher_uris(self, bucket: str) -> list[FetchCase]:
                return [FetchCase(f"s3://{bucket}/a.txt", b"a\\n", "a.txt"), ...]

    Fixtures to override: ``fetcher_name`` and ``fetcher_uris`` (required),
    ``failing_uris``, ``fetcher_factory``, ``fetcher_plugins``, ``agent_flags``. Class
    attributes: ``unsupported`` (behaviour -> reason, see :data:`FETCHER_BEHAVIOURS`).
    A scheme handler of ``dockyard-fetcher`` (no ``fetch`` hook) is tested through the
    fetchers installed beside it.
    """

    behaviours: ClassVar[Mapping[str, str]] = FETCHER_BEHAVIOURS

    # -- what a subclass provides ------------------------------------------------

    @pytest.fixture
    def fetcher_name(self) -> str:
        """Override: the plugin's name in ``dockyard.fetchers``."""
        pytest.fail("define a `fetcher_name` fixture in your conformance subclass")

    @pytest.fixture
    def fetcher_uris(self) -> Sequence[FetchCase]:
        """Override: URIs of your scheme (two or more, with different contents)."""
        pytest.fail(
            "define a `fetcher_uris` fixture returning FetchCase(uri, content, file_name) "
            "items of your scheme in your conformance subclass"
        )

    @pytest.fixture
    def failing_uris(self) -> Sequence[str]:
        """URIs of your scheme that must fail (a missing object, a malformed URI)."""
        return []

    @pytest.fixture
    def fetcher_factory(self, fetcher_name: str) -> Callable[[], object]:
        def load() -> object:
            found = entry_points(group=FETCHERS, name=fetcher_name)
            if not found:
                pytest.fail(
                    f"no entry point '{fetcher_name}' in group {FETCHERS}: install your "
                    "package (pip install -e .) or override `fetcher_factory`"
                )
            (entry_point,) = found
            return instantiate(entry_point.load())

        return load

    @pytest.fixture
    def fetcher_plugins(
        self, fetcher_name: str, fetcher_factory: Callable[[], object]
    ) -> Mapping[str, object]:
        """The fetchers of the suite's host: yours and, if yours has no ``fetch`` hook
        (a scheme handler), the installed fetchers that have one."""
        plugin = fetcher_factory()
        plugins = {fetcher_name: plugin}
        if not make_host({}, plugins).implements(fetcher_name, "fetch"):
            for entry_point in entry_points(group=FETCHERS):
                if entry_point.name != fetcher_name:
                    candidate = instantiate(entry_point.load())
                    if make_host({}, {entry_point.name: candidate}).implements(
                        entry_point.name, "fetch"
                    ):
                        plugins[entry_point.name] = candidate
        return plugins

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        return []

    # -- the suite's own fixtures ------------------------------------------------

    @pytest.fixture
    def companion(self) -> CompanionFetcher:
        return CompanionFetcher()

    @pytest_asyncio.fixture
    async def fetcher_host(
        self,
        tmp_path: Path,
        fetcher_plugins: Mapping[str, object],
        companion: CompanionFetcher,
        agent_flags: Sequence[str],
    ) -> AsyncIterator[PluginHost]:
        """A host with the fetchers and the companion, started as the agent starts them."""
        plugins = {**fetcher_plugins, COMPANION: companion}
        host = make_host({}, plugins)
        flags = core_flag_set()
        host.add_flags(flags)
        work_dir = tmp_path / "work"
        parsed = flags.parse([f"--work_dir={work_dir}", *agent_flags], {})
        started = []
        try:
            for name in plugins:
                state_dir = work_dir / "meta" / "plugins" / name
                state_dir.mkdir(parents=True)
                context = AgentContext(
                    flags=parsed, agent_id="conformance-S0", work_dir=work_dir, state_dir=state_dir
                )
                await host.start(name, context)
                started.append(name)
            yield host
        finally:
            for name in reversed(started):
                await host.stop(name)

    @pytest.fixture
    def router(self, fetcher_host: PluginHost) -> FetchRouter:
        return FetchRouter.from_host(fetcher_host, fetcher_host.names(FETCHERS))

    @pytest.fixture
    def recorder(self, fetcher_host: PluginHost) -> Iterator[HookRecorder]:
        recorder = HookRecorder()
        recorder.attach(fetcher_host.pm)
        yield recorder
        recorder.detach()

    @pytest.fixture
    def new_config(self, tmp_path: Path) -> Callable[[], ContainerConfig]:
        """A fresh container with an empty sandbox, for each fetch of a test."""
        count = iter(range(1_000_000))

        def make() -> ContainerConfig:
            sandbox = tmp_path / f"sandbox-{next(count)}"
            sandbox.mkdir()
            return container_config("true", sandbox=sandbox)

        return make

    # -- the behaviours ----------------------------------------------------------

    def test_entry_point_loads_the_plugin(
        self, fetcher_name: str, fetcher_factory: Callable[[], object]
    ) -> None:
        self.require("entry_point")
        found = entry_points(group=FETCHERS, name=fetcher_name)
        assert found, f"no entry point '{fetcher_name}' in group {FETCHERS}"
        (entry_point,) = found
        assert type(instantiate(entry_point.load())) is type(fetcher_factory())

    def test_its_uris_are_routed_to_it(
        self,
        fetcher_uris: Sequence[FetchCase],
        router: FetchRouter,
        fetcher_host: PluginHost,
        fetcher_name: str,
    ) -> None:
        assert fetcher_uris, "fetcher_uris is empty: give URIs of your scheme"
        own_hook = fetcher_host.implements(fetcher_name, "fetch")
        for case in fetcher_uris:
            scheme = uri_scheme(case.uri)
            candidates = router.candidates(scheme)
            assert candidates, (
                f"no fetcher takes {describe_scheme(scheme)} ('{case.uri}'): the fetchers "
                f"take {router.available()}; name the scheme in fetch_schemes"
            )
            if own_hook:
                assert candidates[0] == fetcher_name, (
                    f"'{case.uri}' goes to fetcher '{candidates[0]}' first, not to "
                    f"'{fetcher_name}': name {describe_scheme(scheme)} in fetch_schemes"
                )

    @pytest.mark.asyncio
    async def test_fetches_its_uris_into_the_sandbox(
        self,
        router: FetchRouter,
        new_config: Callable[[], ContainerConfig],
        fetcher_uris: Sequence[FetchCase],
    ) -> None:
        for case in fetcher_uris:
            config = new_config()
            name = case.file_name or "fetched"
            uri = URI(value=case.uri, extract=False, output_file=None if case.file_name else name)
            await router.fetch(config, [uri])
            assert (config.sandbox / name).read_bytes() == case.content, (
                f"'{case.uri}' did not land at '{name}' with the expected content"
            )

    @pytest.mark.asyncio
    async def test_output_file_places_it_in_new_directories(
        self,
        router: FetchRouter,
        new_config: Callable[[], ContainerConfig],
        fetcher_uris: Sequence[FetchCase],
    ) -> None:
        self.require("output_file")
        config, case = new_config(), fetcher_uris[0]
        uri = URI(value=case.uri, extract=False, output_file="deep/er/renamed")
        await router.fetch(config, [uri])
        assert (config.sandbox / "deep" / "er" / "renamed").read_bytes() == case.content

    @pytest.mark.asyncio
    async def test_the_later_of_two_uris_on_one_path_wins(
        self,
        router: FetchRouter,
        new_config: Callable[[], ContainerConfig],
        fetcher_uris: Sequence[FetchCase],
    ) -> None:
        self.require("order")
        distinct = {case.content: case for case in fetcher_uris}
        assert len(distinct) >= 2, (
            "give two fetcher_uris with different contents (or declare 'order' unsupported)"
        )
        first, second = list(distinct.values())[:2]
        for earlier, later in ((first, second), (second, first)):
            config = new_config()
            uris = [URI(value=c.uri, extract=False, output_file="both") for c in (earlier, later)]
            await router.fetch(config, uris)
            assert (config.sandbox / "both").read_bytes() == later.content, (
                f"of '{earlier.uri}' then '{later.uri}' on one path, the later one must win"
            )

    @pytest.mark.asyncio
    async def test_executable_makes_the_file_executable(
        self,
        router: FetchRouter,
        new_config: Callable[[], ContainerConfig],
        fetcher_uris: Sequence[FetchCase],
    ) -> None:
        self.require("executable")
        config, case = new_config(), fetcher_uris[0]
        await router.fetch(config, [URI(value=case.uri, executable=True, output_file="tool")])
        mode = stat.S_IMODE((config.sandbox / "tool").stat().st_mode)
        assert mode == 0o755, f"an executable URI must be 0755, not {mode:o}"

    @pytest.mark.asyncio
    async def test_failure_names_the_uri(
        self,
        router: FetchRouter,
        new_config: Callable[[], ContainerConfig],
        failing_uris: Sequence[str],
    ) -> None:
        self.require("failure")
        assert failing_uris, "give failing_uris of your scheme (or declare 'failure' unsupported)"
        for value in failing_uris:
            with pytest.raises(LaunchError) as raised:
                await router.fetch(new_config(), [URI(value=value, output_file="failed")])
            expected = [f"Failed to fetch '{form}': " for form in (value, value.lstrip())]
            assert str(raised.value).startswith(tuple(expected)), (
                f"the message must start with {expected[-1]!r}: {str(raised.value)!r}"
            )

    @pytest.mark.asyncio
    async def test_other_schemes_go_to_other_fetchers_in_order(
        self,
        router: FetchRouter,
        fetcher_host: PluginHost,
        fetcher_name: str,
        new_config: Callable[[], ContainerConfig],
        fetcher_uris: Sequence[FetchCase],
        companion: CompanionFetcher,
        recorder: HookRecorder,
    ) -> None:
        self.require("cooperation")
        taker = router.candidates(COMPANION)[0]
        assert taker == COMPANION, (
            f"fetcher '{taker}' takes the scheme {COMPANION}: of another fetcher, and was "
            "given its URIs: name only your own schemes in fetch_schemes"
        )
        config, case = new_config(), fetcher_uris[0]
        uris = [
            URI(value=f"{COMPANION}:before", output_file="before"),
            URI(value=case.uri, extract=False, output_file="mine"),
            URI(value=f"{COMPANION}:overwritten", output_file="shared"),
            URI(value=case.uri, extract=False, output_file="shared"),
            URI(value=f"{COMPANION}:after", output_file="after"),
        ]
        await router.fetch(config, uris)
        assert companion.fetched == [u.value for u in uris if u.value.startswith(COMPANION)]
        assert (config.sandbox / "mine").read_bytes() == case.content
        assert (config.sandbox / "shared").read_bytes() == case.content, (
            "URIs must land in the order given, whichever fetcher fetches them"
        )
        assert [(config.sandbox / n).read_text() for n in ("before", "after")] == [
            "before",
            "after",
        ]
        for call in recorder.named("fetch", fetcher_name):
            assert all(not u.value.startswith(COMPANION) for u in call.kwargs["uris"]), (
                f"'{fetcher_name}' was given another fetcher's URIs"
            )
