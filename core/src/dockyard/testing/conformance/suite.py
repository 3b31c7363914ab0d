"""What every conformance suite shares: a table of the behaviours a plugin may declare
unsupported, checked when the author's subclass is defined rather than when a test runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest


class ConformanceSuite:
    behaviours: ClassVar[Mapping[str, str]] = {}
    """The suite's behaviours a plugin may leave out, with what each one means."""
    unsupported: ClassVar[Mapping[str, str]] = {}
    """Set by the author: behaviour -> why the plugin does not support it."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(set(cls.unsupported) - set(cls.behaviours))
        if unknown:
            raise TypeError(
                f"{cls.__name__}.unsupported names unknown behaviour(s) {unknown}; "
                f"known: {sorted(cls.behaviours)}"
            )

    def require(self, behaviour: str) -> None:
        """Skip the calling test if the subclass declared ``behaviour`` unsupported."""
        reason = self.unsupported.get(behaviour)
        if reason is not None:
            pytest.skip(f"{behaviour} unsupported: {reason}")
