"""Contracts as data: what a host library (vLLM, transformers, mistral_common) must look like for
one of our patches to apply, and which installed combinations of versions were verified.

A :class:`Profile` names the symbols it replaces with their ``inspect.signature`` text, the request
keywords whose forwarding was verified, an optional behaviour probe (signatures cannot see a
change inside a function body), and the function that patches. A :class:`Registry` holds a host's
profiles; ``patch()``, the tests, the Makefile and the README table all read it.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def parse_version(text: str) -> tuple[int, int, int]:
    """``"0.14.1rc1+cu129"`` -> ``(0, 14, 1)``; missing parts are 0."""
    match = re.match(r"\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part or 0) for part in match.groups())  # type: ignore[return-value]


def installed_version(distribution: str) -> str | None:
    """A distribution's version without importing it (importing vLLM pulls in torch)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def resolve(path: str) -> Any:
    """``"package.module:Class.attr"`` -> the object."""
    module_name, _, attribute = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        obj = getattr(obj, part)
    return obj


class _Default:
    def __repr__(self) -> str:
        return "…"


_DEFAULT = _Default()


def shape(obj: Any) -> str:
    """``inspect.signature(obj)`` without annotations, defaults shown as ``…``:
    ``"(tokenizer, messages, **kwargs)"``. What a caller relies on, stable across releases
    that only retype a parameter."""
    signature = inspect.signature(obj)
    parameters = [
        p.replace(
            annotation=inspect.Parameter.empty,
            default=inspect.Parameter.empty if p.default is inspect.Parameter.empty else _DEFAULT,
        )
        for p in signature.parameters.values()
    ]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


@dataclass(frozen=True)
class Symbol:
    """A replaced (or relied-on) object and its :func:`shape` (``None``: only its presence)."""

    path: str
    signature: str | None = None

    def check(self) -> str | None:
        """``None`` when present with that signature, else what differs. ``path`` may list
        alternatives, ``"a:X | b:X"`` (a symbol that moved): the first that imports counts."""
        paths = [p.strip() for p in self.path.split("|")]
        for path in paths:
            try:
                obj = resolve(path)
                break
            except (ImportError, AttributeError):
                continue
        else:
            return f"{self.path} not found"
        if self.signature is None:
            return None
        try:
            found = shape(obj)
        except (TypeError, ValueError):
            return f"{path} has no signature"
        if found != self.signature:
            return f"{path}{found} is not {self.signature}"
        return None


@dataclass(frozen=True)
class Combination:
    """Versions verified together: distribution name -> ``fnmatch`` pattern ("5.22.*")."""

    versions: tuple[tuple[str, str], ...]

    def matches(self, installed: dict[str, str | None]) -> bool:
        return all(
            installed.get(name) is not None and fnmatch.fnmatch(installed[name] or "", pattern)
            for name, pattern in self.versions
        )

    def __str__(self) -> str:
        return " × ".join(f"{name} {pattern}" for name, pattern in self.versions)


@dataclass(frozen=True)
class Profile:
    """One contract of a host library.

    ``first``/``last``: the host versions whose sources were read for it (inclusive);
    ``symbols``: what the patch replaces or relies on; ``forwarded``: the request keywords the
    native path was verified to treat as the host does (others go to the original);
    ``probe()``: ``None`` when the host behaves as the profile says, else the difference;
    ``verified``: combinations whose test suites ran against the patch.
    """

    name: str
    summary: str
    first: str
    last: str
    symbols: tuple[Symbol, ...]
    patch: Callable[..., Any]
    forwarded: frozenset[str] = frozenset()
    probe: Callable[[], str | None] | None = None
    verified: tuple[Combination, ...] = ()
    notes: str = ""

    def covers(self, version: str) -> bool:
        return parse_version(self.first) <= parse_version(version) <= parse_version(self.last)

    def check(self) -> list[str]:
        """Every way the installed host differs from the declared symbols (imports them)."""
        return [problem for symbol in self.symbols if (problem := symbol.check()) is not None]

    def verified_for(self, installed: dict[str, str | None]) -> Combination | None:
        return next((c for c in self.verified if c.matches(installed)), None)


@dataclass
class Selection:
    """What :meth:`Registry.select` found for the installed host."""

    profile: Profile | None
    version: str | None
    why: str
    # None when the installed combination was verified; else why canaries must decide.
    unverified: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Registry:
    """The profiles of one host distribution, oldest first."""

    host: str
    companions: tuple[str, ...]
    profiles: list[Profile] = field(default_factory=list)

    def add(self, profile: Profile) -> Profile:
        self.profiles.append(profile)
        return profile

    def installed(self) -> dict[str, str | None]:
        return {name: installed_version(name) for name in (self.host, *self.companions)}

    def for_version(self, version: str) -> Profile | None:
        return next((p for p in self.profiles if p.covers(version)), None)

    def select(self, version: str | None = None) -> Selection:
        """The profile for ``version`` (default: installed). A version no profile was read for
        gets the newest profile whose symbols match and whose probe agrees, to be verified by
        canaries."""
        installed = self.installed()
        if version is None:
            version = installed[self.host]
        else:
            installed[self.host] = version
        if version is None:
            return Selection(None, None, f"{self.host} is not installed")
        known = self.for_version(version)
        candidates = [known] if known is not None else list(reversed(self.profiles))
        problems: list[str] = []
        for profile in candidates:
            found = profile.check()
            if not found and known is None and profile.probe is not None:
                # An unseen version must also behave as the profile says; a known one whose probe
                # differs keeps its profile and is blocked by patch().
                difference = profile.probe()
                found = [difference] if difference is not None else []
            if found:
                problems.extend(f"{profile.name}: {p}" for p in found)
                continue
            unverified = None
            if profile.verified_for(installed) is None:
                versions = ", ".join(f"{k} {v}" for k, v in installed.items())
                unverified = f"{versions} not in the verified list of profile {profile.name}"
            why = (
                f"{self.host} {version} is in profile {profile.name}'s range"
                if known is not None
                else f"{self.host} {version} is unseen; profile {profile.name}'s symbols match"
            )
            return Selection(profile, version, why, unverified, problems)
        return Selection(
            None,
            version,
            f"no profile's symbols match {self.host} {version}: {'; '.join(problems)}",
            problems=problems,
        )

    def table(self) -> list[dict[str, str]]:
        """One row per profile (the README's table is generated from this)."""
        return [
            {
                "profile": p.name,
                "versions": f"{p.first} – {p.last}",
                "contract": p.summary,
                "verified": "; ".join(str(c) for c in p.verified) or "none",
            }
            for p in self.profiles
        ]
