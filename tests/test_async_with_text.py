"""``encode_chat_async(..., with_text=...)``: the prompt's text comes back from the worker with the
ids, equal to ``decode(ids, policy)``."""

from __future__ import annotations

import asyncio

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
