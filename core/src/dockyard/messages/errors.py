"""The one error raised for bad message JSON, carrying every problem with its JSON path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PathPart = str | int
"""A field name or a list index in a JSON path."""

JsonPath = tuple[PathPart, ...]


def render_path(parts: Iterable[PathPart]) -> str:
    """Join path parts the way users write them: ``task.resources[2].name``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


class MessageError(ValueError):
    """A message failed to load or validate.

    ``errors`` holds ``(json path, reason)`` pairs, sorted by path, so callers can
    report all problems at once; ``str()`` joins them as ``path: reason; ...``.
    """

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        super().__init__("; ".join(f"{p}: {r}" if p else r for p, r in self.errors))

    @classmethod
    def at(cls, path: str, reason: str) -> MessageError:
        """One problem at one path."""
        return cls([(path, reason)])

    @classmethod
    def from_tree(cls, tree: object, root: Iterable[PathPart] = ()) -> MessageError:
        """Flatten a nested error tree (marshmallow's ``ValidationError.messages``).

        Dict keys are field names or list indices, ``_schema`` marks an error of the
        enclosing object itself, and leaves are lists of reasons.
        """
        found: list[tuple[JsonPath, str]] = []

        def walk(node: object, parts: JsonPath) -> None:
            if isinstance(node, Mapping):
                for key, child in node.items():
                    walk(child, parts if key == "_schema" else (*parts, key))
            elif isinstance(node, list):
                for child in node:
                    walk(child, parts)
            else:
                found.append((parts, str(node)))

        walk(tree, tuple(root))
        return cls.from_problems(found)

    @classmethod
    def from_problems(cls, problems: Iterable[tuple[JsonPath, str]]) -> MessageError:
        """``(path parts, reason)`` pairs, sorted by path (list indices numerically)."""
        ordered = sorted(
            problems, key=lambda item: ([(isinstance(p, str), p) for p in item[0]], item[1])
        )
        return cls((render_path(parts), reason) for parts, reason in ordered)
