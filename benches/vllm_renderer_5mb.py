"""A 5 MB chat request through vLLM's real server-side path, unpatched vs patched.

    <vllm venv>/bin/python benches/vllm_renderer_5mb.py [--mb 5] [--repeat 3]

Needs a vLLM venv (``scripts/vllm_env.sh 0.34.0``, or 0.11.0 – 0.33.0); prints a note and exits
otherwise (``make bench-python`` runs every script in a venv without vLLM). One run is, as a chat
request in the server: on 0.16+ ``await MistralRenderer.render_messages_async(messages, params)``
(vLLM's parse and its template call); on 0.10.2 – 0.14 ``await
OpenAIServing._preprocess_chat(...)`` (parse, template, prompt decode). Reported: wall time and
the event loop's lag while it runs (``max_ms``: the longest stall, GIL waits included;
``max_cpu_ms``: the longest stretch of work on the loop itself). Best of ``--repeat`` runs after
one warm-up, tokenizer already loaded. Also the time a tokenizer's self-verification (canaries)
takes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "vllm_integration"))

WORDS = ["hello", "world", "naïve", "日本語", "🙂", "code()", "[INST]", "Paris", "42", "\n"]


def big_request(megabytes: float) -> list[dict]:
    rng = random.Random(5)
    target = int(megabytes * 1_000_000)
    parts: list[str] = []
    size = 0
    while size < target:
        word = rng.choice(WORDS)
        parts.append(word)
        size += len(word.encode()) + 1
    text = " ".join(parts)
    return [
        {"role": "system", "content": "Summarise the document."},
        {"role": "user", "content": text},
    ]


def renderer_request(tokenizer, messages):
    """vLLM 0.16+: the renderer's async path; returns the prompt ids."""
    from vllm.renderers.mistral import MistralRenderer
    from vllm.renderers.params import ChatParams
    from vllm_doubles import renderer_config

    renderer = MistralRenderer(renderer_config(), tokenizer=tokenizer)
    params = ChatParams(chat_template_kwargs={"add_generation_prompt": True})

    async def request() -> list[int]:
        _, prompt = await renderer.render_messages_async(messages, params)
        return prompt["prompt_token_ids"]

    return request


def serving_request(tokenizer, messages):
    """vLLM 0.10.2 - 0.14: ``OpenAIServing._preprocess_chat`` (template and prompt decode)."""
    from vllm_doubles import chat_request, openai_serving

    serving = openai_serving()

    async def request() -> list[int]:
        result = await serving._preprocess_chat(
            chat_request(),
            tokenizer,
            messages,
            chat_template=None,
            chat_template_content_format="string",
            add_generation_prompt=True,
        )
        return result[-1][0]["prompt_token_ids"]

    return request


def prepared(megabytes: float):
    """The tokenizer, the request and a function making one server-side call with it, for this
    vLLM; None (the reason printed) without vLLM or a profile for it."""
    try:
        import vllm
    except ImportError:
        print("vLLM is not installed here: skipped (run it in scripts/vllm_env.sh 0.34.0's venv)")
        return None
    from vllm_support import RENDERER, load_vllm_tokenizer, profile

    if profile() is None:
        print(f"vLLM {vllm.__version__}: no profile; skipped")
        return None
    tokenizer = load_vllm_tokenizer("tekken_240911.json", Path(tempfile.mkdtemp()))
    render = renderer_request if profile() == RENDERER else serving_request
    return tokenizer, big_request(megabytes), render


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    # A release nobody has verified: the patch self-verifies the tokenizer with its canaries
    # (waited for before timing), then serves natively.
    parser.add_argument("--as-version", metavar="VERSION", help="patch as if vLLM were VERSION")
    args = parser.parse_args()
    setup = prepared(args.mb)
    if setup is None:
        return
    tokenizer, messages, render = setup
    import vllm

    import mistral_tok.vllm as mv
    from mistral_tok._lag import LoopLag
    from mistral_tok.vllm.shims import LAYER

    def run(patched: bool) -> tuple[float, float, float, float, list[int]]:
        mv.unpatch()
        if patched:
            report = mv.patch(version=args.as_version)
            if args.as_version:
                print(f"patched as vLLM {report.vllm_version}: {report.why}")
        request = render(tokenizer, messages)
        if patched and args.as_version:
            asyncio.run(request())  # served by vLLM's own function, starts the canaries
            verdict = LAYER.verifier.wait(tokenizer, timeout=60)
            print(f"  verdict before timing: {verdict.why if verdict else None}")

        async def once() -> tuple[float, float, float, float, list[int]]:
            start, cpu = time.perf_counter(), time.process_time()
            async with LoopLag() as lag:
                ids = await request()
            wall = (time.perf_counter() - start) * 1e3
            return wall, (time.process_time() - cpu) * 1e3, lag.max_ms, lag.max_cpu_ms, ids

        results = [asyncio.run(once()) for _ in range(args.repeat + 1)][1:]  # first: warm-up
        return min(results, key=lambda r: r[0])

    print(f"vLLM {vllm.__version__}, {args.mb} MB request, best of {args.repeat}")
    unpatched = run(False)
    patched = run(True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, (wall, cpu, max_ms, max_cpu_ms, _) in (
        ("unpatched", unpatched),
        ("patched", patched),
    ):
        print(
            f"{name:>9}: {wall:8.1f} ms wall, {cpu:8.1f} ms process CPU;"
            f" loop stall max {max_ms:6.2f} ms (on-loop work {max_cpu_ms:.2f} ms)"
        )
    print(
        f"speed-up: {unpatched[0] / patched[0]:.1f}x wall, {unpatched[1] / patched[1]:.1f}x CPU;"
        f" same ids: {unpatched[4] == patched[4]} ({len(patched[4])} ids)"
    )
    stats = mv.stats()
    print(
        f"stats: native={stats['native']} fallback={stats['fallback']}"
        f" decode_offloaded={stats['decode_offloaded']}"
    )

    mv.unpatch()
    os.environ["MISTRAL_TOK_VLLM_VERIFY"] = "always"
    mv.patch(version=args.as_version)
    verdict = LAYER.verifier.wait(tokenizer, timeout=60)
    print(f"self-verification: {verdict.why if verdict else None} in {verdict.seconds:.3f} s")
    mv.unpatch()


if __name__ == "__main__":
    main()
