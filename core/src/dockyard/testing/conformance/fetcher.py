"""The behaviours every fetcher plugin (``dockyard.fetchers``) must have, as a test class."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar

import pytest
import pytest_asyncio

from dockyard.containers import AgentContext, ContainerConfig, LaunchError
from dockyard.core_flags import core_flag_set
from dockyard.discovery import FETCHERS, instantiate
from dockyard.host import PluginHost
from dockyard.messages import URI
from dockyard.testing.factories import container_config
from dockyard.testing.plugins import make_host


class FetcherConformance:
    """Subclass in a test module to check a fetcher plugin::

        class TestMyFetcher(FetcherConformance):
            @pytest.fixture
            def fetcher_name(self) -> str:
                return "s3"

    Fixtures to override: ``fetcher_name`` (required), ``fetcher_factory`` (a callable
    returning a fresh plugin; by default the entry point's), ``unhandled_uri`` (a URI
    the fetcher must leave to others, or None if it handles every URI),
    ``agent_flags``.
    """

    timeout: ClassVar[float] = 30.0

    @pytest.fixture
    def fetcher_name(self) -> str:
        """Override: the plugin's name in ``dockyard.fetchers``."""
        pytest.fail("define a `fetcher_name` fixture in your conformance subclass")

    @pytest.fixture
    def fetcher_factory(self, fetcher_name: str) -> Callable[[], object]:
        def load() -> object:
            (entry_point,) = entry_points(group=FETCHERS, name=fetcher_name)
            return instantiate(entry_point.load())

        return load

    @pytest.fixture
    def unhandled_uri(self) -> str | None:
        """A URI this fetcher does not handle; None if it takes every URI."""
        return "conformance-unknown-scheme://nowhere/file"

    @pytest.fixture
    def agent_flags(self) -> Sequence[str]:
        return []

    @pytest_asyncio.fixture
    async def fetcher_host(
        self,
        tmp_path: Path,
        fetcher_name: str,
        fetcher_factory: Callable[[], object],
        agent_flags: Sequence[str],
    ) -> AsyncIterator[PluginHost]:
        """A host with only the fetcher, started as the agent starts it."""
        host = make_host({}, {fetcher_name: fetcher_factory()})
        flags = core_flag_set()
        host.add_flags(flags)
        work_dir = tmp_path / "work"
        state_dir = work_dir / "meta" / "plugins" / fetcher_name
        state_dir.mkdir(parents=True)
        context = AgentContext(
            flags=flags.parse([f"--work_dir={work_dir}", *agent_flags], {}),
            agent_id="conformance-S0",
            work_dir=work_dir,
            state_dir=state_dir,
        )
        await host.start(fetcher_name, context)
        try:
            yield host
        finally:
            await host.stop(fetcher_name)

    @pytest.fixture
    def config(self, tmp_path: Path) -> ContainerConfig:
        sandbox = tmp_path / "sandbox"
        sandbox.mkdir()
        return container_config("true", sandbox=sandbox)

    def test_entry_point_loads_the_plugin(
        self, fetcher_name: str, fetcher_factory: Callable[[], object]
    ) -> None:
        found = entry_points(group=FETCHERS, name=fetcher_name)
        assert found, f"no entry point '{fetcher_name}' in group {FETCHERS}"
        (entry_point,) = found
        assert type(instantiate(entry_point.load())) is type(fetcher_factory())

    @pytest.mark.asyncio
    async def test_leaves_uris_it_does_not_handle(
        self,
        fetcher_host: PluginHost,
        fetcher_name: str,
        config: ContainerConfig,
        unhandled_uri: str | None,
    ) -> None:
        if unhandled_uri is None:
            pytest.skip("this fetcher handles every URI")
        fetched = await fetcher_host.fetch([fetcher_name], config, [URI(value=unhandled_uri)])
        assert not fetched, f"the fetcher took {unhandled_uri}, which it cannot handle"

    @pytest.mark.asyncio
    async def test_fetches_files_into_the_sandbox_in_order(
        self, fetcher_host: PluginHost, fetcher_name: str, config: ContainerConfig, tmp_path: Path
    ) -> None:
        sources = tmp_path / "sources"
        sources.mkdir()
        for name in ("first", "second", "plain.txt"):
            (sources / name).write_text(f"{name}\n")
        uris = [
            URI(value=(sources / "first").as_uri(), extract=False, output_file="both"),
            URI(value=(sources / "second").as_uri(), extract=False, output_file="both"),
            URI(value=(sources / "plain.txt").as_uri(), extract=False),
        ]
        assert await fetcher_host.fetch([fetcher_name], config, uris), "no fetcher took file://"
        assert (config.sandbox / "plain.txt").read_text() == "plain.txt\n"
        assert (config.sandbox / "both").read_text() == "second\n", (
            "URIs were not fetched in the order given: the later one must win"
        )

    @pytest.mark.asyncio
    async def test_missing_file_fails_with_the_uri(
        self, fetcher_host: PluginHost, fetcher_name: str, config: ContainerConfig, tmp_path: Path
    ) -> None:
        missing = (tmp_path / "no-such-file").as_uri()
        with pytest.raises(LaunchError) as raised:
            await fetcher_host.fetch([fetcher_name], config, [URI(value=missing)])
        assert str(raised.value).startswith(f"Failed to fetch '{missing}'"), str(raised.value)
