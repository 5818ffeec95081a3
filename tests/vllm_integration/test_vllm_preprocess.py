"""vLLM <= 0.14: ``OpenAIServing._preprocess_chat`` patched vs unpatched, end to end through the
server's own preprocessing (template + prompt decode), and the decode the patch takes off the
event loop against vLLM's ``tokenizer.decode``."""

from __future__ import annotations

import asyncio
import random

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.33.0`")

from vllm_support import EXECUTOR, SHIPPED, SYNC, deep, generate_request, profile  # noqa: E402

from mistral_tok import Tokenizer  # noqa: E402
from mistral_tok.vllm import shims  # noqa: E402

pytestmark = pytest.mark.skipif(
    profile() not in (SYNC, EXECUTOR),
    reason="OpenAIServing._preprocess_chat applies the Mistral template only up to vLLM 0.14",
)


def _preprocess(tokenizer, messages, tools, flags):
    from vllm_doubles import chat_request, openai_serving

    serving = openai_serving()

    async def go():
        return await serving._preprocess_chat(
            chat_request(),
            tokenizer,
            messages,
            chat_template=None,
            chat_template_content_format="string",
            tool_dicts=tools,
            **flags,
        )

    try:
        result = asyncio.run(
            go()
        )  # 0.11: (conversation, prompts, engine prompts); 0.14: no prompts
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__, None
    return "ok", (*result[:-1], [dict(p) for p in result[-1]])


@pytest.mark.parametrize(
    "name", ["mistral_instruct_tokenizer_240323.model.v3", "tekken_240911.json"]
)
def test_preprocess_chat_parity(unpatched, vllm_tokenizers, name):
    mv = unpatched
    tokenizer = vllm_tokenizers[name]
    rng = random.Random(f"vllm-preprocess-{name}")
    n_ok = 0
    for _ in range(40):
        messages, tools, flags = generate_request(rng)
        m0, t0, m1, t1 = deep(messages), deep(tools), deep(messages), deep(tools)
        mv.unpatch()
        theirs = _preprocess(tokenizer, m0, t0, dict(flags))
        mv.patch()
        ours = _preprocess(tokenizer, m1, t1, dict(flags))
        mv.unpatch()
        assert theirs == ours, (messages, tools, flags)
        assert (m0, t0) == (m1, t1), "side effects on the request differ"
        n_ok += theirs[0] == "ok"
    print(f"{name}: {n_ok}/40 preprocessed; {mv.stats()}")
    if profile() == SYNC and not name.endswith(".json"):
        # vLLM 0.11.0 decodes SentencePiece prompts with special_token_policy=None, which
        # mistral_common 1.13 rejects: every chat request fails there, patched or not.
        assert n_ok == 0
    else:
        assert n_ok > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_offloaded_decode_equals_vllm_decode(vllm_tokenizers, name):
    """The text the patch serves for ``tokenizer.decode(prompt_ids)`` in ``_preprocess_chat``."""
    tokenizer = vllm_tokenizers[name]
    if profile() == SYNC:
        policy = shims.legacy_decode_policy(tokenizer)
        if policy is None:
            pytest.skip(
                f"{name}: vLLM's decode policy is {tokenizer._special_token_policy!r}; "
                "the decode stays vLLM's"
            )
    else:
        if not shims.decode_offload_supported(tokenizer):
            pytest.skip(f"{name}: transformers cleans up spaces; the decode stays vLLM's")
        policy = "keep"
    native = Tokenizer.from_file(tokenizer.tokenizer.file_path)
    rng = random.Random(name)
    checked = 0
    for _ in range(60):
        messages, tools, flags = generate_request(rng)
        try:
            ids = tokenizer.apply_chat_template(deep(messages), tools=deep(tools), **flags)
        except Exception:  # noqa: BLE001 - only valid prompts are decoded by vLLM
            continue
        assert native.decode(list(ids), special_token_policy=policy) == tokenizer.decode(ids)
        checked += 1
    assert checked > 10
