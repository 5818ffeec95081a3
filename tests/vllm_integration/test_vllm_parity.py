"""Patched vs unpatched vLLM: identical tokens (or both ValueError) and identical side effects on
generated requests, for every tokenizer file mistral_common ships, through the entry points the
installed vLLM uses (sync function, and the async path its server awaits)."""

from __future__ import annotations

import asyncio
import random

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.33.0`")

from vllm_support import RENDERER, SHIPPED, SYNC, deep, generate_request, outcome, profile  # noqa: E402

N_REQUESTS = 120


def _sync_caller():
    """``call(fn_owner_module, tokenizer, messages, tools, flags)`` as vLLM's server calls it."""
    if profile() == RENDERER:
        import vllm.renderers.mistral as mod

        def call(tokenizer, messages, tools, flags):
            kwargs = dict(tools=tools, tokenize=True, return_dict=False, **flags)
            return mod.safe_apply_chat_template(tokenizer, messages, **kwargs)

    else:
        import vllm.entrypoints.openai.serving_engine as mod

        def call(tokenizer, messages, tools, flags):
            return mod.apply_mistral_chat_template(
                tokenizer,
                messages=messages,
                chat_template=None,
                tools=tools,
                documents=None,
                **flags,
            )

    return call


def _run_both(mv, tokenizer, cases, call, mode="native"):
    """[(unpatched outcome, inputs after), (patched outcome, inputs after)] per case."""
    results = []
    for messages, tools, flags in cases:
        mv.unpatch()
        m0, t0 = deep(messages), deep(tools)
        theirs = outcome(lambda m0=m0, t0=t0, f=flags: call(tokenizer, m0, t0, dict(f)))
        mv.patch(mode, shadow_rate=1.0)
        m1, t1 = deep(messages), deep(tools)
        ours = outcome(lambda m1=m1, t1=t1, f=flags: call(tokenizer, m1, t1, dict(f)))
        results.append((theirs, (m0, t0), ours, (m1, t1)))
    mv.unpatch()
    return results


def _check(results, name):
    mismatched = []
    for i, (theirs, inputs0, ours, inputs1) in enumerate(results):
        if theirs[0] == "ok" or ours[0] == "ok":
            same = theirs == ours
        else:
            # Both raised: vLLM turns every failure into ValueError.
            same = theirs[0] == ours[0] == "ValueError"
        if not same or inputs0 != inputs1:
            mismatched.append((i, theirs, ours, inputs0 == inputs1))
    assert not mismatched, f"{name}: {len(mismatched)} differ, first: {mismatched[:3]}"


@pytest.mark.parametrize("mode", ["native", "shadow"])
@pytest.mark.parametrize("name", SHIPPED)
def test_sync_parity(unpatched, vllm_tokenizers, name, mode):
    rng = random.Random(f"vllm-parity-{name}")
    cases = [generate_request(rng) for _ in range(N_REQUESTS)]
    results = _run_both(unpatched, vllm_tokenizers[name], cases, _sync_caller(), mode)
    _check(results, name)
    n_ok = sum(1 for r in results if r[0][0] == "ok")
    stats = unpatched.stats()
    print(f"{name} ({mode}): {n_ok} encoded, {len(results) - n_ok} rejected; {stats}")
    if mode == "shadow":
        assert stats["native"] == stats["fallback"] == 0  # shadow serves vLLM's own result
        assert stats["shadow_differences"] == 0, stats
    assert 0 < n_ok < len(results), "the generator should produce both valid and invalid requests"


@pytest.mark.skipif(
    profile() == SYNC,
    reason="vLLM <= 0.11.0 has no async template function (see test_vllm_preprocess.py)",
)
@pytest.mark.parametrize("mode", ["native", "shadow"])
@pytest.mark.parametrize(
    "name", ["mistral_instruct_tokenizer_241114.model.v7", "tekken_240911.json"]
)
def test_async_parity(unpatched, vllm_tokenizers, name, mode):
    """The awaitable vLLM's server uses, with the patch installed at startup as the plugin does."""
    mv = unpatched
    tokenizer = vllm_tokenizers[name]
    rng = random.Random(f"vllm-async-{name}")
    cases = [generate_request(rng) for _ in range(40)]
    sync_results = _run_both(mv, tokenizer, cases, _sync_caller())

    mv.reset_stats()

    async def run_patched():
        mv.patch(mode, shadow_rate=1.0)
        call = _async_caller()
        out = []
        for messages, tools, flags in cases:
            try:
                out.append(("ok", await call(tokenizer, deep(messages), deep(tools), dict(flags))))
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc).__name__, str(exc)))
        return out

    patched = asyncio.run(run_patched())
    stats = mv.stats()
    if mode == "shadow":
        assert stats["native"] == 0 and stats["shadow_differences"] == 0, stats
        assert stats["shadow_compared"] > 0, stats
    else:
        assert stats["native_async"] > 0, stats
    for (theirs, _, _, _), ours in zip(sync_results, patched, strict=False):
        if theirs[0] == "ok" or ours[0] == "ok":
            assert theirs == ours
        else:
            assert ours[0] == "ValueError"


@pytest.mark.parametrize("name", ["tekken_240911.json"])
def test_threads_share_one_tokenizer(unpatched, vllm_tokenizers, name):
    """vLLM >= 0.20 runs the template on `renderer_num_workers` threads against one tokenizer."""
    from concurrent.futures import ThreadPoolExecutor

    tokenizer = vllm_tokenizers[name]
    rng = random.Random(f"vllm-threads-{name}")
    cases = [generate_request(rng) for _ in range(48)]
    call = _sync_caller()
    unpatched.patch()
    sequential = [
        outcome(lambda c=c: call(tokenizer, deep(c[0]), deep(c[1]), dict(c[2]))) for c in cases
    ]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(
            pool.map(
                lambda c: outcome(lambda: call(tokenizer, deep(c[0]), deep(c[1]), dict(c[2]))),
                cases,
            )
        )
    assert parallel == sequential


def _async_caller():
    """The bound async template function of a freshly built vLLM object, as in a server."""
    if profile() == RENDERER:
        renderer = _renderer()

        def call(tokenizer, messages, tools, flags):
            kwargs = dict(tools=tools, tokenize=True, return_dict=False, **flags)
            return renderer._apply_chat_template_async(tokenizer, messages, **kwargs)

        return call
    serving = _serving()

    def call(tokenizer, messages, tools, flags):
        return serving._apply_mistral_chat_template_async(
            tokenizer, messages=messages, chat_template=None, tools=tools, documents=None, **flags
        )

    return call


def _renderer():
    from vllm.renderers.mistral import MistralRenderer
    from vllm_doubles import renderer_config

    return MistralRenderer(renderer_config(), tokenizer=None)


def _serving():
    from vllm_doubles import openai_serving

    return openai_serving()


def test_native_tokenizer_built_once_per_vllm_tokenizer(unpatched, vllm_tokenizers):
    from mistral_tok.vllm import shims

    tokenizer = vllm_tokenizers["tekken_240911.json"]
    call = _sync_caller()
    unpatched.patch()
    messages = [{"role": "user", "content": "hi"}]
    flags = {"add_generation_prompt": True, "continue_final_message": False}
    first = call(tokenizer, deep(messages), None, dict(flags))
    native = tokenizer.__dict__.get(shims._NATIVE_ATTR)
    assert native is not None and str(native.path).endswith("tekken.json")
    assert call(tokenizer, deep(messages), None, dict(flags)) == first
    assert tokenizer.__dict__[shims._NATIVE_ATTR] is native
    assert unpatched.stats()["native"] == 2


def test_unsupported_content_falls_back_counted_and_logged_once(unpatched, vllm_tokenizers, caplog):
    """Images go to vLLM's own function: same outcome, one log line, every use counted."""
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    call = _sync_caller()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        }
    ]
    flags = {"add_generation_prompt": True, "continue_final_message": False}
    theirs = outcome(lambda: call(tokenizer, deep(messages), None, dict(flags)))
    unpatched.patch()
    caplog.set_level("INFO", logger="mistral_tok.vllm")
    for _ in range(3):
        assert outcome(lambda: call(tokenizer, deep(messages), None, dict(flags))) == theirs
    stats = unpatched.stats()
    assert stats["native"] == 0 and stats["fallback"] == 3, stats
    (reason,) = stats["fallback_reasons"]
    lines = [r.getMessage() for r in caplog.records if r.name == "mistral_tok.vllm"]
    assert len([line for line in lines if reason in line]) == 1, lines


# What a request's ``chat_template_kwargs`` may put next to vLLM's own flags. vLLM never gives
# mistral_common a ``max_model_input_len`` nor forwards ``truncate_for_context_length`` (its
# Mistral tokenizer passes only the keys it knows, and transformers calls
# ``encode_chat_completion(request)`` without a length); ``truncation``/``max_length`` slice the ids
# afterwards (transformers), which the shims leave to vLLM. Patched or not, the same outcome.
TRUNCATION_FLAGS = [
    {"truncate_for_context_length": True},
    {"truncate_for_context_length": True, "max_model_input_len": 4},
    {"truncation": True, "max_length": 5},
    {"truncation": True, "max_length": 0},
    {"max_length": 3},
    {"truncation": False, "max_length": None},
]


@pytest.mark.parametrize(
    "name", ["mistral_instruct_tokenizer_241114.model.v7", "tekken_240911.json"]
)
def test_truncation_arguments_match_vllm(unpatched, vllm_tokenizers, name):
    rng = random.Random(f"vllm-truncation-{name}")
    cases = []
    for extra in TRUNCATION_FLAGS:
        for _ in range(6):
            messages, tools, flags = generate_request(rng)
            cases.append((messages, tools, {**flags, **extra}))
    results = _run_both(unpatched, vllm_tokenizers[name], cases, _sync_caller())
    _check(results, name)
    assert any(r[0][0] == "ok" for r in results)
