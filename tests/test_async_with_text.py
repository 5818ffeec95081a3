"""``encode_chat_async(..., with_text=...)``: the prompt's text comes back from the worker with the
ids, equal to ``decode(ids, policy)``."""

from __future__ import annotations

import asyncio
import sys

import pytest

import mistral_tok

REQUESTS = [
    [{"role": "user", "content": "hello [INST] </s>"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "naïve 日本語 🙂 " * 20_000},
    ],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hel"}],
]


@pytest.mark.parametrize(
    "name", ["tekken_240911.json", "mistral_instruct_tokenizer_241114.model.v7"]
)
@pytest.mark.parametrize("with_text", [True, "keep", "ignore"])
def test_text_is_the_decoded_ids(name: str, with_text: object) -> None:
    tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path(name))
    policy = "keep" if with_text is True else with_text

    async def run() -> list[tuple[list[int], str]]:
        return [
            await tok.encode_chat_async(
                m, continue_final_message=m[-1]["role"] == "assistant", with_text=with_text
            )
            for m in REQUESTS
        ]

    for messages, (ids, text) in zip(REQUESTS, asyncio.run(run()), strict=False):
        cfm = messages[-1]["role"] == "assistant"
        assert ids == tok.encode_chat(messages, continue_final_message=cfm)
        assert text == tok.decode(ids, special_token_policy=policy)


def test_without_text_the_ids_alone() -> None:
    tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path("tekken_240911.json"))

    async def run() -> tuple[object, object]:
        return (
            await tok.encode_chat_async(REQUESTS[0]),
            await tok.encode_chat_async(REQUESTS[0], with_text=False),
        )

    plain, without = asyncio.run(run())
    assert plain == without == tok.encode_chat(REQUESTS[0])


def test_a_bad_policy_is_an_error_at_the_call() -> None:
    tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path("tekken_240911.json"))

    async def run() -> None:
        await tok.encode_chat_async(REQUESTS[0], with_text="loud")

    with pytest.raises(ValueError, match="special_token_policy"):
        asyncio.run(run())


# Texts longer than a drain step's budget, so the str is written over several loop iterations:
# each width CPython stores (ASCII, Latin-1, UCS-2, UCS-4), the widest character first or last.
LONG_TEXTS = {
    "ascii": "plain words. " * 30_000,
    "latin-1 last": "plain words. " * 30_000 + "é",
    "ucs-2 first": "日本語 " + "plain words. " * 30_000,
    "ucs-4 last": "naïve 日本語 " * 40_000 + "🙂",
    "ucs-4 throughout": "naïve 日本語 🙂 " * 40_000,
}


@pytest.mark.parametrize("kind", list(LONG_TEXTS))
def test_a_long_text_is_written_across_iterations_in_canonical_form(kind: str) -> None:
    tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path("tekken_240911.json"))
    ids = tok.encode(LONG_TEXTS[kind], bos=False, eos=False)
    expected = tok.decode(ids)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def run() -> str:
        ticker = asyncio.get_running_loop().create_task(tick())
        try:
            return await tok.decode_async(ids)
        finally:
            ticker.cancel()

    text = asyncio.run(run())
    assert text == expected and hash(text) == hash(expected)
    # The same width (a str stored wider than its largest character would differ in size).
    assert sys.getsizeof(text) == sys.getsizeof(expected)
    assert text.isascii() == expected.isascii()
    assert ticks >= 3  # the loop ran other tasks while the str was written


def test_with_text_on_a_long_prompt_equals_the_decode() -> None:
    tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path("tekken_240911.json"))
    messages = [{"role": "user", "content": LONG_TEXTS["ucs-4 last"]}]

    async def run() -> tuple[list[int], str]:
        return await tok.encode_chat_async(messages, with_text=True)

    ids, text = asyncio.run(run())
    assert ids == tok.encode_chat(messages)
    expected = tok.decode(ids, special_token_policy="keep")
    assert text == expected and sys.getsizeof(text) == sys.getsizeof(expected)


# Over 2**18 ids: the text is decoded on a thread of its own while the loop builds the id list.
THREADED = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "naïve 日本語 🙂 words, " * 50_000},
]


@pytest.mark.parametrize(
    "name", ["tekken_240911.json", "mistral_instruct_tokenizer_241114.model.v7"]
)
def test_a_text_decoded_on_its_own_thread_equals_the_decode(name: str) -> None:
    tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path(name))
    ids = tok.encode_chat(THREADED)
    assert len(ids) >= 1 << 18

    async def run() -> list[tuple[list[int], str]]:
        # Several at once, with a short one between: answered in order, each its own text.
        return list(
            await asyncio.gather(
                tok.encode_chat_async(THREADED, with_text="keep"),
                tok.encode_chat_async(REQUESTS[0], with_text="keep"),
                tok.encode_chat_async(THREADED, with_text="ignore"),
            )
        )

    (ids_keep, keep), (ids_short, short), (ids_ignore, ignore) = asyncio.run(run())
    assert ids_keep == ids_ignore == ids
    assert keep == tok.decode(ids, special_token_policy="keep")
    assert ignore == tok.decode(ids, special_token_policy="ignore")
    assert ids_short == tok.encode_chat(REQUESTS[0])
    assert short == tok.decode(ids_short, special_token_policy="keep")


def test_an_error_of_the_text_thread_is_the_decode_error() -> None:
    tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path("tekken_240911.json"))
    ids = tok.encode_chat(THREADED)
    with pytest.raises(mistral_tok.DecodeError) as expected:
        tok.decode(ids, special_token_policy="raise")

    async def run() -> None:
        await tok.encode_chat_async(THREADED, with_text="raise")

    with pytest.raises(mistral_tok.DecodeError) as raised:
        asyncio.run(run())
    assert str(raised.value) == str(expected.value)
