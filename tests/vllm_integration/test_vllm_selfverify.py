"""A vLLM release nobody has read: the installed vLLM under a version number no profile covers.
It is served natively only after each tokenizer's canaries agree with vLLM's own function, and a
contract that changed (a forwarding probe answering differently, a body that changes the prompt)
is caught and left to vLLM."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.34.0`")

from test_vllm_fields import _differences  # noqa: E402
from test_vllm_parity import _sync_caller  # noqa: E402
from vllm_support import (  # noqa: E402
    RENDERER,
    deep,
    generate_fields,
    generate_request,
    outcome,
    profile,
    profile_name,
    tokenizer_class,
)

from mistral_tok.vllm.shims import LAYER  # noqa: E402

UNSEEN = "0.99.0"
FLAGS = {"add_generation_prompt": True, "continue_final_message": False}
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(autouse=True)
def verify_unverified(monkeypatch):
    monkeypatch.setenv("MISTRAL_TOK_VLLM_VERIFY", "unverified")


def _cases(n=60):
    rng = random.Random("vllm-selfverify")
    return [(*generate_request(rng), generate_fields(rng)) for _ in range(n)]


def _run(call, tokenizer, cases):
    return [
        outcome(lambda c=c: call(tokenizer, deep(c[0]), deep(c[1]), {**c[2], **deep(c[3])}))
        for c in cases
    ]


def test_unseen_version_verifies_itself_then_serves_natively(unpatched, vllm_tokenizers):
    mv = unpatched
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    call = _sync_caller()
    cases = _cases()
    theirs = _run(call, tokenizer, cases)

    rep = mv.patch(version=UNSEEN)
    assert rep.active and rep.vllm_version == UNSEEN, str(rep)
    assert rep.profile == profile_name() and "unseen" in rep.why, rep
    assert "self-verifies" in rep.verification, rep
    # Before the verdict: vLLM's own function answers.
    assert call(tokenizer, deep(HELLO), None, dict(FLAGS)) == theirs_of(call, tokenizer)
    assert mv.stats()["native"] == 0 and mv.stats()["before_verdict"] == 1
    verdict = LAYER.verifier.wait(tokenizer, timeout=120)
    assert verdict is not None and verdict.native, verdict
    print(f"canaries: {verdict.why} in {verdict.seconds:.3f} s")
    ours = _run(call, tokenizer, cases)
    assert not _differences(theirs, ours)
    stats = mv.stats()
    assert stats["native"] > 0, stats
    (entry,) = stats["tokenizers"].values()
    assert entry["path"] == "native" and "canaries identical" in entry["why"], stats


def theirs_of(call, tokenizer):
    from mistral_tok._integration import context

    with context.all_layers_off():
        return call(tokenizer, deep(HELLO), None, dict(FLAGS))


def test_verify_never_serves_an_unseen_version_at_once(unpatched, vllm_tokenizers, monkeypatch):
    monkeypatch.setenv("MISTRAL_TOK_VLLM_VERIFY", "never")
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    rep = unpatched.patch(version=UNSEEN)
    assert "never" in rep.verification
    _sync_caller()(tokenizer, deep(HELLO), None, dict(FLAGS))
    assert unpatched.stats()["native"] == 1


def test_verify_always_checks_a_verified_version(unpatched, vllm_tokenizers, monkeypatch):
    monkeypatch.setenv("MISTRAL_TOK_VLLM_VERIFY", "always")
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    rep = unpatched.patch()
    assert "self-verifies" in rep.verification, rep
    verdict = LAYER.verifier.wait(tokenizer, timeout=120)
    assert verdict is not None and verdict.native, verdict


def _changed_body(monkeypatch, change):
    """vLLM's ``MistralTokenizer.apply_chat_template`` with a body that differs (signatures
    unchanged), as a release might ship."""
    cls = tokenizer_class()
    original = cls.apply_chat_template

    def apply_chat_template(self, messages, tools=None, **kwargs):
        return change(original, self, messages, tools, kwargs)

    monkeypatch.setattr(cls, "apply_chat_template", apply_chat_template)


def test_a_prompt_change_the_probe_cannot_see_is_caught_by_canaries(
    unpatched, vllm_tokenizers, monkeypatch
):
    """A body that adds a token to prompts with tools: the canaries differ, vLLM answers."""

    def change(original, self, messages, tools, kwargs):
        ids = original(self, messages, tools, **kwargs)
        return [*ids, 1] if tools else ids

    _changed_body(monkeypatch, change)
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    unpatched.patch(version=UNSEEN)
    verdict = LAYER.verifier.wait(tokenizer, timeout=120)
    assert verdict is not None and not verdict.native
    assert "'tools and calls'" in verdict.why or "json_schema" in verdict.why, verdict
    call = _sync_caller()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    result = call(tokenizer, deep(HELLO), tools, dict(FLAGS))
    assert result[-1] == 1  # vLLM's (changed) answer
    (entry,) = unpatched.stats()["tokenizers"].values()
    assert entry["path"] == "original", entry


def test_a_forwarding_change_is_caught_by_the_probe(unpatched, vllm_tokenizers, monkeypatch):
    """vLLM's version says one contract, its tokenizer forwards another: every call goes to
    vLLM's own function, and the report says why."""
    if profile() != RENDERER:
        pytest.skip("the forwarding probe covers vLLM's transformers-backed tokenizer")
    everything = profile_name() == "forwarding-renderer"

    def change(original, self, messages, tools, kwargs):
        if everything:  # drop every keyword vLLM does not consume (as 0.16 - 0.17 did)
            keep = {"add_generation_prompt", "continue_final_message", "tokenize"}
        else:  # forward one more (as 0.34 does)
            keep = set(kwargs)
        return original(self, messages, tools, **{k: v for k, v in kwargs.items() if k in keep})

    _changed_body(monkeypatch, change)
    if not everything:
        # 0.16 - 0.33's tokenizer only reads the keys it knows: make it forward a new one.
        cls = tokenizer_class()
        backend_call = cls.apply_chat_template

        def forwarding(self, messages, tools=None, **kwargs):
            backend = self.transformers_tokenizer
            extra = {k: v for k, v in kwargs.items() if k == "mistral_tok_probe_sentinel"}
            if extra and hasattr(backend, "calls"):
                backend.apply_chat_template(conversation=messages, **extra)
                return [1]
            return backend_call(self, messages, tools, **kwargs)

        monkeypatch.setattr(cls, "apply_chat_template", forwarding)
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    rep = unpatched.patch()
    assert rep.active and "every call served by vLLM's own function" in rep.verification, rep
    call = _sync_caller()
    call(tokenizer, deep(HELLO), None, dict(FLAGS))
    stats = unpatched.stats()
    assert stats["native"] == 0, stats
    (entry,) = stats["tokenizers"].values()
    assert entry["path"] == "original" and "probe" in entry["why"], entry
