"""The state a request carries through every mistral-tok layer: one immutable :class:`Context` in
one ContextVar.

Layers keep their per-request values under their own names (``"vllm.fetched_image_sizes"``, ...).
Setting a value makes a new :class:`Context` (copy on write), so tasks and threads started with a
copy of the caller's context see the values set before they started and nothing set after, as
with any ContextVar. :func:`reset` restores one name only, so tokens may be reset in any order.

``layers_off`` is the switch every layer obeys first: inside :func:`all_layers_off` each patched
function calls its original straight away. Canaries, shadow comparisons and fallbacks run the
original under it, so the reference result never goes through one of our own layers (vLLM's
function calling transformers calling mistral_common, each of them possibly patched).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

_MISSING = object()


class Context:
    """Immutable; get the current one with :func:`current`."""

    __slots__ = ("layers_off", "values")

    def __init__(self, layers_off: bool = False, values: Mapping[str, Any] | None = None) -> None:
        self.layers_off = layers_off
        self.values: Mapping[str, Any] = MappingProxyType(dict(values or {}))

    def replace(self, *, layers_off: bool | None = None, **changes: Any) -> Context:
        values = dict(self.values)
        for name, value in changes.items():
            if value is _MISSING:
                values.pop(name, None)
            else:
                values[name] = value
        return Context(self.layers_off if layers_off is None else layers_off, values)

    def __repr__(self) -> str:
        return f"Context(layers_off={self.layers_off}, values={dict(self.values)!r})"


_CONTEXT: contextvars.ContextVar[Context] = contextvars.ContextVar(
    "mistral_tok_context",
    default=Context(),  # noqa: B039 - immutable
)


class Token:
    """What :func:`set` returns: enough to put one name back as it was."""

    __slots__ = ("name", "previous")

    def __init__(self, name: str, previous: Any) -> None:
        self.name = name
        self.previous = previous


def current() -> Context:
    return _CONTEXT.get()


def get(name: str, default: Any = None) -> Any:
    return _CONTEXT.get().values.get(name, default)


def set(name: str, value: Any) -> Token:  # noqa: A001 - mirrors ContextVar.set
    context = _CONTEXT.get()
    token = Token(name, context.values.get(name, _MISSING))
    _CONTEXT.set(context.replace(**{name: value}))
    return token


def reset(token: Token) -> None:
    _CONTEXT.set(_CONTEXT.get().replace(**{token.name: token.previous}))


def take(name: str, match: Any = None) -> Any:
    """The value under ``name``, removed from the context; with ``match``, only when
    ``match(value)`` holds (else ``None`` and the value stays)."""
    value = get(name)
    if value is None or (match is not None and not match(value)):
        return None
    _CONTEXT.set(_CONTEXT.get().replace(**{name: None}))
    return value


@contextlib.contextmanager
def scoped(name: str, value: Any) -> Iterator[Any]:
    token = set(name, value)
    try:
        yield value
    finally:
        reset(token)


def layers_are_off() -> bool:
    return _CONTEXT.get().layers_off


@contextlib.contextmanager
def all_layers_off() -> Iterator[None]:
    """Every mistral-tok layer calls its original inside this block (this thread or task, and
    what it starts with a copy of its context)."""
    previous = _CONTEXT.get()
    token = _CONTEXT.set(previous.replace(layers_off=True))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def run_with_layers_off(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a copy of the current context with every layer off: for work
    handed to an executor thread, which does not inherit the caller's context."""
    copied = contextvars.copy_context()
    copied.run(_CONTEXT.set, copied.run(_CONTEXT.get).replace(layers_off=True))
    return copied.run(fn, *args, **kwargs)


class Slot:
    """One name in the context with a ContextVar's interface (``get``/``set``/``reset``), for a
    layer's per-request value."""

    __slots__ = ("name", "default")

    def __init__(self, name: str, default: Any = None) -> None:
        self.name = name
        self.default = default

    def get(self) -> Any:
        return get(self.name, self.default)

    def set(self, value: Any) -> Token:
        return set(self.name, value)

    def reset(self, token: Token) -> None:
        reset(token)

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"
