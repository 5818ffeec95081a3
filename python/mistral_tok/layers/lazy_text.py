"""``Tokenized._text`` decoded the first time anyone reads it.

mistral_common fills the deprecated ``Tokenized._text`` with ``decode(tokens, KEEP)`` on every
encoding; on a 1 MB request that decode costs as much as half the native encoding, for a value
almost nobody reads. The layer stores a :class:`LazyPrivate` as the model's
``__pydantic_private__``: a real ``dict`` whose ``_text`` entry is decoded on the first access of
any kind (item, iteration, comparison, copy, pickling), so every observer, pydantic's ``==``
included, sees exactly what mistral_common would have stored. Pickling and copying give a plain
``dict``, so the object never travels with a reference to this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_KEY = "_text"


class LazyPrivate(dict):  # type: ignore[type-arg]
    __slots__ = ("_decode", "_lock")

    def __init__(self, decode: Callable[[], str]) -> None:
        super().__init__()
        self._decode: Callable[[], str] | None = decode
        self._lock = threading.Lock()

    def _fill(self) -> None:
        if object.__getattribute__(self, "_decode") is None:
            return
        with object.__getattribute__(self, "_lock"):
            decode = object.__getattribute__(self, "_decode")
            if decode is not None:
                dict.__setitem__(self, _KEY, decode())
                object.__setattr__(self, "_decode", None)

    def __getattribute__(self, name: str) -> Any:
        # Named methods (items, get, keys, values, copy, pop, update, ...) see the full dict.
        if not name.startswith("_"):
            LazyPrivate._fill(self)
        return object.__getattribute__(self, name)

    # Operators go through the type's slots, not __getattribute__: each one fills first.
    def __getitem__(self, key: Any) -> Any:
        self._fill()
        return dict.__getitem__(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._fill()
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self._fill()
        dict.__delitem__(self, key)

    def __iter__(self) -> Any:
        self._fill()
        return dict.__iter__(self)

    def __reversed__(self) -> Any:
        self._fill()
        return dict.__reversed__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def __contains__(self, key: Any) -> bool:
        self._fill()
        return dict.__contains__(self, key)

    def __eq__(self, other: Any) -> bool:
        self._fill()
        if isinstance(other, LazyPrivate):
            other._fill()
        return dict.__eq__(self, other)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Any) -> Any:
        self._fill()
        return dict(self) | other

    def __ror__(self, other: Any) -> Any:
        self._fill()
        return other | dict(self)

    def __ior__(self, other: Any) -> Any:
        self._fill()
        dict.update(self, other)
        return self

    def __repr__(self) -> str:
        self._fill()
        return dict.__repr__(self)

    def __copy__(self) -> dict[str, Any]:
        self._fill()
        return dict(dict.items(self))

    def __deepcopy__(self, memo: Any) -> dict[str, Any]:
        import copy

        self._fill()
        return copy.deepcopy(dict(dict.items(self)), memo)

    def __reduce_ex__(self, protocol: Any) -> Any:
        self._fill()
        return (dict, (list(dict.items(self)),))


def tokenized_with_lazy_text(
    tokens: list[int], prefix_ids: list[int] | None, decode: Callable[[], str]
) -> Any:
    """A ``Tokenized`` as ``encode_instruct`` builds it (every field passed, so the same
    fields-set), its ``_text`` decoded on first access."""
    from mistral_common.tokens.tokenizers.base import Tokenized

    tokenized = Tokenized.model_construct(
        tokens=tokens, prefix_ids=prefix_ids, images=[], audios=[]
    )
    object.__setattr__(tokenized, "__pydantic_private__", LazyPrivate(decode))
    return tokenized
