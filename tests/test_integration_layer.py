"""The shared integration machinery (mistral_tok._integration) on plain Python functions."""

from __future__ import annotations

import asyncio
import contextvars
import logging

import pytest

from mistral_tok import RequestError
from mistral_tok._integration import (
    ALWAYS,
    NEVER,
    SHADOW,
    UNVERIFIED,
    Canary,
    Combination,
    Fallback,
    Layer,
    Profile,
    Registry,
    Symbol,
    Verifier,
    context,
    require_keywords,
)


def make_layer() -> Layer:
    return Layer("test", original_name="the original", map_error=lambda e: ValueError(str(e)))


def test_context_values_are_per_name_and_copied_on_write() -> None:
    a = context.Slot("t.a")
    b = context.Slot("t.b")
    token_a = a.set(1)
    token_b = b.set(2)
    seen = contextvars.copy_context().run(lambda: (a.get(), b.get()))
    a.reset(token_a)  # out of order: b keeps its value
    assert (a.get(), b.get()) == (None, 2)
    b.reset(token_b)
    assert b.get() is None and seen == (1, 2)


def test_take_removes_only_a_matching_value() -> None:
    with context.scoped("t.x", "value"):
        assert context.take("t.x", lambda v: v == "other") is None
        assert context.take("t.x") == "value"
        assert context.get("t.x") is None


def test_layers_off_sends_calls_to_the_original() -> None:
    layer = make_layer()
    with context.all_layers_off():
        assert context.layers_are_off()
        assert layer.call(lambda: "original", lambda: "native", None) == "original"
    assert not context.layers_are_off()
    assert layer.call(lambda: "original", lambda: "native", None) == "native"
    assert context.run_with_layers_off(context.layers_are_off)


def test_the_original_runs_with_layers_off() -> None:
    layer = make_layer()

    def native() -> str:
        raise Fallback("not covered")

    assert layer.call(context.layers_are_off, native, None) is True


def test_fallbacks_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    layer = make_layer()

    def native() -> str:
        raise Fallback("reason A")

    with caplog.at_level(logging.INFO, logger="mistral_tok.test"):
        for _ in range(3):
            assert layer.call(lambda: "original", native, None) == "original"
    stats = layer.stats.snapshot()
    assert stats["fallback"] == 3 and stats["fallback_reasons"] == {"reason A": 3}
    assert sum("reason A" in r.getMessage() for r in caplog.records) == 1


def test_error_contract() -> None:
    layer = make_layer()

    def rejected() -> None:
        raise RequestError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        layer.call(lambda: "original", rejected, None)

    def unreadable() -> None:
        raise TypeError("not a dict")

    assert layer.call(lambda: "original", unreadable, None) == "original"
    assert layer.stats.snapshot()["fallback_reasons"] == {
        "input mistral-tok cannot read (TypeError)": 1
    }


def test_keywords_outside_the_verified_set_fall_back() -> None:
    require_keywords({"a": 1}, frozenset({"a", "b"}))
    with pytest.raises(Fallback, match="'c'"):
        require_keywords({"a": 1, "c": 2}, frozenset({"a", "b"}))


def test_shadow_serves_the_original_and_counts_differences() -> None:
    layer = make_layer()
    layer.mode = SHADOW
    assert layer.call(lambda: [1, 2], lambda: [1, 3], None) == [1, 2]
    assert layer.call(lambda: [1, 2], lambda: [1, 2], None) == [1, 2]
    stats = layer.stats.snapshot()
    assert (stats["shadow_compared"], stats["shadow_differences"]) == (2, 1)


def test_async_call_falls_back_to_the_original_awaitable() -> None:
    layer = make_layer()

    async def original() -> str:
        return "original"

    async def native() -> str:
        raise Fallback("async reason")

    async def native_ok() -> str:
        return "native"

    async def layers_off() -> bool:
        return context.layers_are_off()

    async def main() -> tuple[object, ...]:
        return (
            await layer.call_async(original, native, None),
            await layer.call_async(original, native_ok, None),
            await layer.call_async(layers_off, native, None),
            context.layers_are_off(),
        )

    assert asyncio.run(main()) == ("original", "native", True, False)


class Tok:
    """A stand-in tokenizer (weak-referenceable)."""


def verifier_for(layer: Layer, answers: dict[str, tuple[object, object]], **kw) -> Verifier:
    def canaries(tokenizer: object) -> list[Canary]:
        return [
            Canary(name, (lambda t=theirs: t), (lambda o=ours: o))
            for name, (theirs, ours) in answers.items()
        ]

    return Verifier(layer, canaries=canaries, label=lambda t: "tok", **kw)


def test_canaries_identical_admit_after_the_verdict() -> None:
    layer = make_layer()
    layer.verifier = verifier_for(
        layer, {"a": ([1], [1]), "b": ([2], [2])}, policy=UNVERIFIED, needed="unseen"
    )
    tok = Tok()
    # Before the verdict: the original.
    assert layer.call(lambda: "original", lambda: "native", tok) == "original"
    verdict = layer.verifier.wait(tok, timeout=10)
    assert verdict is not None and verdict.native
    assert layer.call(lambda: "original", lambda: "native", tok) == "native"
    assert layer.stats.snapshot()["tokenizers"]["tok"]["path"] == "native"


def test_a_differing_canary_keeps_the_original() -> None:
    layer = make_layer()
    layer.verifier = verifier_for(
        layer, {"same": ([1], [1]), "differs": ([1, 2], [1, 3])}, policy=ALWAYS, needed=None
    )
    tok = Tok()
    verdict = layer.verifier.wait(tok, timeout=10)
    assert verdict is not None and not verdict.native and "'differs'" in verdict.why
    assert layer.call(lambda: "original", lambda: "native", tok) == "original"
    assert layer.stats.snapshot()["tokenizers"]["tok"]["path"] == "original"


def test_policies() -> None:
    layer = make_layer()
    never = verifier_for(layer, {"x": (1, 2)}, policy=NEVER, needed="unseen")
    assert never.admits(Tok())
    verified = verifier_for(layer, {"x": (1, 2)}, policy=UNVERIFIED, needed=None)
    assert verified.admits(Tok())
    blocked = verifier_for(layer, {}, policy=NEVER, needed=None, blocked="probe differs")
    assert not blocked.admits(Tok())


def sample(a: int, b: str = "x") -> None:
    """A symbol for the registry tests."""


def test_registry_selects_by_range_then_by_symbols() -> None:
    here = f"{__name__}:sample"
    registry = Registry("pytest", ("no-such-distribution",))
    old = registry.add(Profile("old", "old", "1.0.0", "1.9.9", (Symbol(here, "(a)"),), patch=print))
    new = registry.add(
        Profile(
            "new",
            "new",
            "2.0.0",
            "2.1.0",
            (Symbol(here, "(a, b=…)"),),
            patch=print,
            verified=(
                Combination((("pytest", "2.0.*"),)),
                Combination((("pytest", "2.1.*"), ("no-such-distribution", "1.*"))),
            ),
        )
    )
    assert registry.select("1.5.0").profile is None  # in old's range, symbols differ
    assert registry.select("2.0.3").unverified is None
    chosen = registry.select("2.1.0")
    assert chosen.profile is new and chosen.unverified is not None  # companion missing
    unseen = registry.select("9.0.0")
    assert unseen.profile is new and "unseen" in unseen.why
    assert old.check() and not new.check()
    assert [row["profile"] for row in registry.table()] == ["old", "new"]
