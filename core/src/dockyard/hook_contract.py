"""The hook contract, checked when a plugin registers instead of when a hook is first called.

pluggy already refuses an implementation whose arguments are not in the spec
(``PluginManager._verify_hook``) and a hook name no spec declares
(``check_pending``). This adds what pluggy cannot know: which hooks the core awaits.
A plain ``def launch`` would otherwise register and fail on the first task with
"object Launched can't be used in 'await' expression"; an ``async def supports``
would hand the core a coroutine instead of an answer.
"""

from __future__ import annotations

import ast
import collections.abc
import difflib
import inspect
import typing

import pluggy


class ContractPluginManager(pluggy.PluginManager):
    """pluggy's manager, whose per-hook validation also checks ``async def`` against the spec."""

    def _verify_hook(self, hook: pluggy.HookCaller, hookimpl: pluggy.HookImpl) -> None:
        super()._verify_hook(hook, hookimpl)
        if hook.spec is None or hookimpl.hookwrapper or hookimpl.wrapper:
            return
        kind = result_kind(hook.spec.function)
        if kind == "either":
            return
        awaited = kind == "awaited"
        if awaited != inspect.iscoroutinefunction(hookimpl.function):
            raise pluggy.PluginValidationError(
                hookimpl.plugin, coroutine_mismatch(hook.name, awaited)
            )


ResultKind = typing.Literal["awaited", "either", "plain"]


def result_kind(spec: object) -> ResultKind:
    """How the core uses the hook's result: awaits it (``Awaitable[...]``), uses it as is,
    or either (a union such as ``Awaitable[None] | None``: an ``async def`` always
    answers, a plain ``def`` may return None or an awaitable)."""
    annotation = getattr(spec, "__annotations__", {}).get("return")
    if isinstance(annotation, str):  # postponed annotations, as in dockyard.hookspecs
        return _kind_of_node(ast.parse(annotation, mode="eval").body)
    if typing.get_origin(annotation) is collections.abc.Awaitable:
        return "awaited"
    arguments = typing.get_args(annotation)
    if any(typing.get_origin(argument) is collections.abc.Awaitable for argument in arguments):
        return "either"
    return "plain"


def _kind_of_node(node: ast.expr) -> ResultKind:
    if isinstance(node, ast.Subscript) and _is_awaitable_name(node.value):
        return "awaited"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = (_kind_of_node(node.left), _kind_of_node(node.right))
        return "either" if any(side != "plain" for side in sides) else "plain"
    return "plain"


def _is_awaitable_name(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "Awaitable") or (
        isinstance(node, ast.Attribute) and node.attr == "Awaitable"
    )


def coroutine_mismatch(hook: str, awaited: bool) -> str:
    if awaited:
        return (
            f"hook '{hook}' must be a coroutine, because the core awaits its result: "
            f"declare it 'async def {hook}(...)'"
        )
    return (
        f"hook '{hook}' must be a plain function, because the core uses its result "
        f"directly: declare it 'def {hook}(...)', not 'async def'"
    )


def unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> str:
    """The hooks of ``plugin`` that no spec declares, each with a did-you-mean if one is close."""
    known = [name for name in vars(pm.hook) if not name.startswith("_")]
    known = [name for name in known if getattr(pm.hook, name).has_spec()]
    problems = []
    for caller in pm.get_hookcallers(plugin) or []:
        impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
        if caller.has_spec() or all(impl.optionalhook for impl in impls):
            continue
        close = difflib.get_close_matches(caller.name, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"unknown hook '{caller.name}'{hint}")
    return "; ".join(problems)
