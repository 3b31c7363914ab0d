"""Records every hook call the core makes, through pluggy's call monitoring."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy


@dataclass(frozen=True)
class HookCall:
    """One call of a hook: its name, the plugins it reached, and its arguments."""

    hook: str
    plugins: tuple[str, ...]
    kwargs: Mapping[str, Any]


class HookRecorder:
    """Collects :class:`HookCall` objects from one or more plugin managers.

    Coroutine hooks are recorded when the core calls them, before they are awaited.
    """

    def __init__(self) -> None:
        self.calls: list[HookCall] = []
        self._undo: list[Callable[[], None]] = []

    def attach(self, pm: pluggy.PluginManager) -> None:
        """Start recording the calls made through ``pm`` (until :meth:`detach`)."""

        def before(hook: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
            plugins = tuple(impl.plugin_name for impl in impls)
            self.calls.append(HookCall(hook, plugins, dict(kwargs)))

        def after(
            _outcome: pluggy.Result[Any],
            _hook: str,
            _impls: Sequence[pluggy.HookImpl],
            _kwargs: Mapping[str, Any],
        ) -> None:
            return None

        self._undo.append(pm.add_hookcall_monitoring(before, after))

    def detach(self) -> None:
        while self._undo:
            self._undo.pop()()

    def named(self, hook: str, plugin: str | None = None) -> list[HookCall]:
        """The calls of ``hook``, optionally only those that reached ``plugin``."""
        return [
            call
            for call in self.calls
            if call.hook == hook and (plugin is None or plugin in call.plugins)
        ]

    def hooks(self, plugin: str | None = None) -> list[str]:
        """The names of the hooks called, in call order."""
        return [call.hook for call in self.calls if plugin is None or plugin in call.plugins]

    def assert_called(
        self, hook: str, *, plugin: str | None = None, times: int | None = None
    ) -> list[HookCall]:
        """Fail unless ``hook`` was called (exactly ``times`` times if given); returns the calls."""
        __tracebackhide__ = True
        calls = self.named(hook, plugin)
        where = f" on plugin '{plugin}'" if plugin else ""
        if times is None and not calls:
            raise AssertionError(f"hook '{hook}' was never called{where}; called: {self.hooks()}")
        if times is not None and len(calls) != times:
            raise AssertionError(
                f"hook '{hook}' was called {len(calls)} time(s){where}, expected {times}"
            )
        return calls

    def clear(self) -> None:
        self.calls.clear()
