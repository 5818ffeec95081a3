"""Ten 2000×2000 PNG images as data URLs: the native size + layout path vs mistral_common.

    python benches/compare_images.py [--n 10] [--size 2000] [--repeat 3] [--format png]

``--format webp`` / ``webp-lossless`` / ``jpeg`` time the same photo-like images in those formats
(WebP: the first frame's bitstream is decoded as libwebp does, without pixels).

Build with ``maturin develop --release`` first (debug builds are far slower). mistral_common
decodes every image, converts it to RGB and resizes it with OpenCV (``mistral-common[opencv]``);
the native path decodes the base64 payload, reads the PNG chunks and inflates the image data as
PIL's loader does (``check_pixels=True``, the default: corrupt or cut image data is refused as
mistral_common refuses it), reading the data URL in place (no copy of the ``str``); each native
figure is shown with the check on and off (``check_pixels=False``: chunk headers only, for
callers that have loaded the images with PIL themselves), measured in the same run. Timed: the
image step alone (``_image_tokens`` vs ``ImageEncoder``), the whole chat request (``encode_chat`` vs
``encode_chat_completion``) and its awaitable (``encode_chat_async``, worker thread included).
Figures are the process's CPU time (what the ratios rest on: the machine may be loaded) with
wall time alongside, best of ``--repeat``; issue #7 asks for the chat request to be >= 20x.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import time

import numpy as np
from PIL import Image

SAVE = {
    "png": ("PNG", {}),
    "webp": ("WEBP", {"quality": 85}),
    "webp-lossless": ("WEBP", {"lossless": True}),
    "jpeg": ("JPEG", {"quality": 90}),
}


def make_images(n: int, size: int, fmt: str = "png") -> list[str]:
    """Photo-like images (gradients plus noise): realistic sizes, not trivially compressible."""
    name, save = SAVE[fmt]
    rng = np.random.default_rng(0)
    x = np.linspace(0, 255, size, dtype=np.float32)
    urls = []
    for i in range(n):
        base = (np.add.outer(x, x[::-1] if i % 2 else x) / 2)[:, :, None]
        arr = (base + rng.integers(0, 24, (size, size, 3))).clip(0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=name, **save)
        mime = f"image/{name.lower()}"
        urls.append(f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode())
    return urls


def best_of(repeat: int, fn) -> tuple[float, float]:
    """The best (CPU time of the process, wall time) over ``repeat`` runs: CPU time is what the
    comparison rests on (the machine may be loaded); wall time is shown alongside."""
    cpu, wall = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return min(cpu), min(wall)


def report(label: str, ref: tuple[float, float], native: tuple[float, float]) -> None:
    print(
        f"{label:<22} mistral_common {ref[0] * 1e3:8.1f} ms CPU ({ref[1] * 1e3:7.1f} wall)   "
        f"mistral_tok {native[0] * 1e3:7.2f} ms CPU ({native[1] * 1e3:6.2f} wall)   "
        f"{ref[0] / native[0]:5.0f}x CPU  {ref[1] / native[1]:5.0f}x wall"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--format", choices=sorted(SAVE), default="png")
    args = ap.parse_args()

    from mistral_common.protocol.instruct.chunk import ImageURLChunk
    from mistral_common.tokens.tokenizers.image import ImageConfig, ImageEncoder, SpecialImageIDs

    from mistral_tok._native import _image_tokens

    urls = make_images(args.n, args.size, args.format)
    mb = sum(len(u) for u in urls) / 1e6
    print(f"{args.n} {args.format} images {args.size}x{args.size}, {mb:.1f} MB of data URLs")

    enc = ImageEncoder(ImageConfig(16, 1024, 1), SpecialImageIDs(10, 12, 13))
    ref = [enc(ImageURLChunk(image_url=u)).tokens for u in urls]
    mine = [_image_tokens(u, 16, 1024, 1)[0] for u in urls]
    assert mine == ref, "native layout differs from mistral_common"

    t_ref = best_of(args.repeat, lambda: [enc(ImageURLChunk(image_url=u)) for u in urls])
    t_native = best_of(args.repeat, lambda: [_image_tokens(u, 16, 1024, 1) for u in urls])
    t_off = best_of(
        args.repeat, lambda: [_image_tokens(u, 16, 1024, 1, check_pixels=False) for u in urls]
    )
    print(f"load average {os.getloadavg()[0]:.2f}; best of {args.repeat}")
    report("image step", t_ref, t_native)
    report("  check_pixels=False", t_ref, t_off)

    # The full request, when the chat path encodes images natively.
    try:
        from mistral_common.protocol.instruct.messages import UserMessage
        from mistral_common.protocol.instruct.request import ChatCompletionRequest
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

        from mistral_tok import Tokenizer, shipped_tokenizer_path

        path = shipped_tokenizer_path("tekken_240911.json")
        content = [{"type": "text", "text": "Describe these images."}]
        content += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
        messages = [{"role": "user", "content": content}]
        ours = Tokenizer.from_file(path)
        theirs = MistralTokenizer.from_file(str(path))
        req = ChatCompletionRequest(messages=[UserMessage(content=content)])
        want = theirs.encode_chat_completion(req).tokens
        got = ours.encode_chat(messages)
    except Exception as e:  # noqa: BLE001 - the chat path may not take images yet
        print(f"chat request: not timed ({type(e).__name__}: {str(e)[:120]})")
        return
    assert got == want, "native chat encoding differs from mistral_common"
    t_ref = best_of(args.repeat, lambda: theirs.encode_chat_completion(req))
    t_native = best_of(args.repeat, lambda: ours.encode_chat(messages))
    t_off = best_of(args.repeat, lambda: ours.encode_chat(messages, check_pixels=False))
    report("chat request", t_ref, t_native)
    report("  check_pixels=False", t_ref, t_off)

    async def encode_async(check_pixels: bool = True):
        return await ours.encode_chat_async(messages, check_pixels=check_pixels)

    assert asyncio.run(encode_async()) == want
    t_async = best_of(args.repeat, lambda: asyncio.run(encode_async()))
    t_async_off = best_of(args.repeat, lambda: asyncio.run(encode_async(False)))
    report("chat request (async)", t_ref, t_async)
    report("  check_pixels=False", t_ref, t_async_off)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
