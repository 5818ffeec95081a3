"""Patched vs unpatched vLLM with the request fields 0.34 forwards to mistral_common
(response_format, reasoning_effort, the truncation flag, tool choice, seeds, unknown fields; what a
request's ``chat_template_kwargs`` or the server's ``--default-chat-template-kwargs`` add), on
every tokenizer file, including generated V11/V13/V15 tekken files. Earlier releases drop these
fields: the same requests check that the patch drops them too."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.34.0`")

from test_vllm_parity import _sync_caller  # noqa: E402
from vllm_support import (  # noqa: E402
    SHIPPED,
    SYNC,
    deep,
    forwards_everything,
    generate_fields,
    generate_request,
    outcome,
    profile,
)

N_REQUESTS = 300


def _cases(name: str) -> list[tuple]:
    rng = random.Random(f"vllm-fields-{name}")
    return [(*generate_request(rng), generate_fields(rng)) for _ in range(N_REQUESTS)]


def _run(call, tokenizer, cases) -> list[tuple]:
    return [
        outcome(lambda c=c: call(tokenizer, deep(c[0]), deep(c[1]), {**c[2], **deep(c[3])}))
        for c in cases
    ]


def _differences(theirs: list[tuple], ours: list[tuple]) -> list[tuple]:
    differ = []
    for i, (a, b) in enumerate(zip(theirs, ours, strict=False)):
        # Equal outcomes, or both a ValueError (the HTTP 400; messages may be worded apart).
        same = a == b or a[0] == b[0] == "ValueError"
        if not same:
            differ.append((i, a, b))
    return differ


def _check(mv, tokenizer, name):
    cases = _cases(name)
    call = _sync_caller()
    mv.unpatch()
    theirs = _run(call, tokenizer, cases)
    mv.patch()
    mv.reset_stats()
    ours = _run(call, tokenizer, cases)
    stats = mv.stats()
    mv.unpatch()
    differ = _differences(theirs, ours)
    assert not differ, f"{name}: {len(differ)} of {len(cases)} differ, first: {differ[:2]}"
    n_ok = sum(1 for r in theirs if r[0] == "ok")
    print(f"{name}: {n_ok} encoded, {len(cases) - n_ok} rejected; {stats}")
    # Served by mistral-tok (answer or rejection) unless a keyword was outside the verified set
    # (on vLLM <= 0.14 a `chat_template` field is a TypeError before the template function).
    assert stats["native"] + stats["native_rejected"] + stats["fallback"] <= len(cases), stats
    if n_ok == 0 and "request keyword forwarded to transformers 4" in stats["fallback_reasons"]:
        # vLLM 0.18 - 0.20 with transformers 4: every V15 request is refused (transformers 4
        # takes no reasoning_effort), by vLLM's own function.
        return cases, theirs, stats
    assert 0 < n_ok < len(cases)
    assert stats["native"] > 0, stats
    if profile() != SYNC:  # vLLM <= 0.11.0 serves only a plain subset of shapes natively
        assert stats["fallback"] < len(cases) // 2, stats
    return cases, theirs, stats


@pytest.mark.parametrize("name", SHIPPED)
def test_fields_parity_shipped(unpatched, vllm_tokenizers, name):
    _check(unpatched, vllm_tokenizers[name], name)


@pytest.mark.parametrize("name", ["tekken_v11.json", "tekken_v13.json", "tekken_v15.json"])
def test_fields_parity_generated(unpatched, generated_vllm_tokenizers, name):
    cases, theirs, stats = _check(unpatched, generated_vllm_tokenizers[name], name)
    if forwards_everything() and name == "tekken_v15.json":
        # vLLM 0.34 writes the schema of a json response_format into a V15 prompt.
        plain = {i for i, c in enumerate(cases) if not c[3] and theirs[i][0] == "ok"}
        schema = {
            i
            for i, c in enumerate(cases)
            if c[3].get("response_format", {}).get("type") == "json_object" and theirs[i][0] == "ok"
        }
        assert plain and schema
    if forwards_everything():
        # Keywords outside the verified set went to vLLM's own function.
        assert any("outside the verified set" in r for r in stats["fallback_reasons"]), stats


def test_response_format_schema_reaches_a_v15_prompt(unpatched, generated_vllm_tokenizers):
    """The case the issue measured: 16 ids without the schema, 39 with it (unpatched 0.34)."""
    if not forwards_everything():
        pytest.skip("vLLM before 0.34 drops response_format")
    tokenizer = generated_vllm_tokenizers["tekken_v15.json"]
    call = _sync_caller()
    messages = [{"role": "user", "content": "hi"}]
    flags = {"add_generation_prompt": True, "continue_final_message": False}
    unpatched.patch()
    plain = call(tokenizer, deep(messages), None, dict(flags))
    with_schema = call(
        tokenizer, deep(messages), None, {**flags, "response_format": {"type": "json_object"}}
    )
    assert len(with_schema) > len(plain)
    assert unpatched.stats()["native"] == 2
    unpatched.unpatch()
    assert (
        call(tokenizer, deep(messages), None, {**flags, "response_format": {"type": "json_object"}})
        == with_schema
    )


# Server-wide `--default-chat-template-kwargs` merged under a request's own chat_template_kwargs
# (``ChatParams.with_defaults``), through the real renderer, sync and async.
DEFAULTS = [
    ({"reasoning_effort": "high"}, {}),
    ({"reasoning_effort": "high"}, {"reasoning_effort": "none"}),
    ({"reasoning_effort": "low"}, {}),
    ({"truncate_for_context_length": True}, {}),
    ({"enable_thinking": True}, {}),
    ({}, {"response_format": {"type": "json_object"}}),
]


@pytest.mark.parametrize("name", ["tekken_v13.json", "tekken_v15.json"])
def test_server_default_chat_template_kwargs(unpatched, generated_vllm_tokenizers, name):
    import asyncio

    from vllm_support import RENDERER

    if profile() != RENDERER:
        pytest.skip("ChatParams.with_defaults belongs to the renderer (0.16+)")
    from vllm.renderers.mistral import MistralRenderer
    from vllm.renderers.params import ChatParams
    from vllm_doubles import renderer_config

    tokenizer = generated_vllm_tokenizers[name]
    messages = [{"role": "user", "content": "What is 2 + 2?"}]

    def params(defaults, own):
        return ChatParams(
            chat_template_kwargs={"add_generation_prompt": True, **own}
        ).with_defaults(default_chat_template_kwargs=defaults)

    def render_all():
        renderer = MistralRenderer(renderer_config(), tokenizer=tokenizer)
        out = []
        for defaults, own in DEFAULTS:
            chat = params(defaults, own)
            out.append(outcome(lambda p=chat: renderer.render_messages(deep(messages), p)))

            async def render_async(d=defaults, o=own):
                return await renderer.render_messages_async(deep(messages), params(d, o))

            out.append(outcome(lambda: asyncio.run(render_async())))
        return [(kind, v[1]["prompt_token_ids"] if kind == "ok" else v) for kind, v in out]

    theirs = render_all()
    unpatched.patch()
    ours = render_all()
    stats = unpatched.stats()
    assert not _differences(theirs, ours), list(zip(theirs, ours, strict=False))
    assert stats["native"] + stats["native_rejected"] > 0, stats
