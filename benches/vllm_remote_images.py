"""Remote images through vLLM <= 0.14's ``OpenAIServing._preprocess_chat``, unpatched vs patched.

    <vllm venv>/bin/python benches/vllm_remote_images.py [--n 4] [--size 2000] [--repeat 3]

Needs a vLLM 0.10.2-0.14.x venv (``scripts/vllm_env.sh 0.14.1``); prints a note and exits
otherwise (``make bench-python`` runs every script in a venv without vLLM). The images are
photo-like PNGs served from a loopback HTTP server in this process's threads. Per request:
wall time, process CPU time, and the event loop's lag while it runs (``max_ms``: the longest
stall, GIL waits included; ``max_cpu_ms``: the longest stretch of work on the loop itself).
Unpatched, mistral_common downloads every image again with ``requests`` and decodes and resizes
it (on 0.11 on the loop itself, on 0.14 in a thread that holds the GIL); patched, vLLM's own fetch
is the only download and the sizes come from the Rust probe.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "vllm_integration"))


def photo_png(size: int, seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, size, dtype=np.float32)
    base = (np.add.outer(x, x[::-1] if seed % 2 else x) / 2)[:, :, None]
    arr = (base + rng.integers(0, 24, (size, size, 3))).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import vllm
    except ImportError:
        print("vLLM is not installed here: skipped (run it in scripts/vllm_env.sh 0.14.1's venv)")
        return
    from mistral_tok.vllm import versions

    if versions.profile_for(vllm.__version__) not in (versions.SYNC, versions.EXECUTOR):
        print(f"vLLM {vllm.__version__}: this benchmark is for 0.10.2-0.14.x; skipped")
        return

    import tempfile

    import image_server
    from vllm.connections import global_http_connection
    from vllm.entrypoints import chat_utils
    from vllm_doubles import chat_request, openai_serving
    from vllm_support import deep, load_vllm_tokenizer

    import mistral_tok.vllm as mv
    from mistral_tok._lag import LoopLag

    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    # vLLM's per-model processor, as in the tests: any number of images, no placeholder.
    tracker = chat_utils.BaseMultiModalItemTracker
    processor = SimpleNamespace(validate_num_items=lambda modality, n: None)
    model_cls = SimpleNamespace(get_placeholder_str=lambda modality, i: None)
    tracker.mm_processor = property(lambda self: processor)  # type: ignore[assignment]
    tracker.model_cls = property(lambda self: model_cls)  # type: ignore[assignment]

    for i in range(args.n):
        image_server.ROUTES[f"/photo{i}.png"] = (200, photo_png(args.size, i))
    tokenizer = load_vllm_tokenizer("tekken_240911.json", Path(tempfile.mkdtemp()))

    def run_once(base: str) -> tuple[float, float, float, float, list[int]]:
        serving = openai_serving()
        content = [{"type": "text", "text": "Describe these."}]
        content += [
            {"type": "image_url", "image_url": {"url": f"{base}/photo{i}.png"}}
            for i in range(args.n)
        ]
        messages = [{"role": "user", "content": content}]

        async def go():
            global_http_connection._async_client = None
            async with LoopLag() as lag:
                result = await serving._preprocess_chat(
                    chat_request(),
                    tokenizer,
                    deep(messages),
                    chat_template=None,
                    chat_template_content_format="string",
                    tool_dicts=None,
                    add_generation_prompt=True,
                    continue_final_message=False,
                )
            client = global_http_connection._async_client
            if client is not None:
                await client.close()
            return lag, result

        wall, cpu = time.perf_counter(), time.process_time()
        lag, result = asyncio.run(go())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        ids = list(result[-1][0]["prompt_token_ids"])
        return wall * 1e3, cpu * 1e3, lag.max_ms, lag.max_cpu_ms, ids

    print(
        f"vLLM {vllm.__version__}: one chat request with {args.n} remote {args.size}x{args.size} "
        f"PNGs, best of {args.repeat} (load {os.getloadavg()[0]:.2f})"
    )
    print(f"{'':10} {'wall ms':>9} {'CPU ms':>9} {'loop max_ms':>12} {'max_cpu_ms':>11}")
    ids_seen = []
    with image_server.serving() as base:
        for label in ("unpatched", "patched"):
            mv.unpatch()
            if label == "patched":
                mv.patch()
            runs = [run_once(base) for _ in range(args.repeat)]
            ids_seen.append(runs[0][4])
            best = [min(r[k] for r in runs) for k in range(4)]
            print(
                f"{label:10} "
                + " ".join(f"{v:>{w}.1f}" for v, w in zip(best, (9, 9, 12, 11), strict=False))
            )
            if label == "patched":
                print(f"           mistral-tok: {mv.stats()}")
            mv.unpatch()
    print("same prompt ids:", ids_seen[0] == ids_seen[1])


if __name__ == "__main__":
    main()
