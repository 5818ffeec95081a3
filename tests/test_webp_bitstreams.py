"""Corrupt WebP bitstreams (lossy ``VP8 ``, lossless ``VP8L``) vs mistral_common.

PIL loads a WebP by having libwebp decode its first frame; mistral-tok parses the bitstream as
libwebp 1.6.0 does (``crates/mistral-tok-image/src/webp_lossy.rs``, ``webp_lossless.rs``) and must
refuse exactly what it refuses. Files PIL wrote (noise, gradients, flat colour, palettes; L, RGB,
RGBA; every quality and method) are corrupted: bit flips anywhere after the frame header, flips in
the headers that follow it (first partition, transforms and prefix codes), cuts with the RIFF sizes
fixed (the decoder runs out of data), and cuts to an odd length whose pad byte the decoder reads.
``MISTRAL_TOK_WEBP_BITSTREAM_SEED`` / ``_CASES`` vary the run.
"""

from __future__ import annotations

import base64
import io
import os
import random

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from tests.support.webp import riff, split  # noqa: E402
from tests.test_png_pixels import same_verdict  # noqa: E402

SEED = os.environ.get("MISTRAL_TOK_WEBP_BITSTREAM_SEED", "webp-bitstreams")
CASES = int(os.environ.get("MISTRAL_TOK_WEBP_BITSTREAM_CASES", "300"))


def image(rng: random.Random, w: int, h: int) -> Image.Image:
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    kind = rng.choice(["noise", "gradient", "flat", "busy"])
    if kind == "noise":
        a = nrng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif kind == "flat":
        a = np.full((h, w, 3), rng.randrange(256), np.uint8)
    else:
        base = (np.add.outer(np.arange(h), np.arange(w)) % 256).astype(np.uint8)
        noise = nrng.integers(0, 8 if kind == "gradient" else 64, (h, w, 3), dtype=np.uint8)
        a = np.repeat(base[:, :, None], 3, axis=2) ^ noise
    im = Image.fromarray(a, "RGB")
    return rng.choice([im, im, im.convert("L"), im.convert("RGBA")])


def bitstream(rng: random.Random, lossless: bool) -> tuple[bytes, int]:
    """A PIL-written simple-format file's bitstream and the length of its frame header."""
    w, h = rng.choice([(1, 1), (7, 5), (16, 16), (17, 33), (37, 29), (64, 48), (120, 80)])
    im = image(rng, w, h)
    buf = io.BytesIO()
    if lossless:
        if rng.random() < 0.3:
            im = im.convert("RGB").quantize(rng.choice([2, 4, 16, 200]))
        kw = {"lossless": True, "exact": rng.random() < 0.5}
    else:
        im = im.convert(rng.choice(["RGB", "L"]))
        kw = {}
    im.save(
        buf, "WEBP", quality=rng.choice([0, 10, 50, 80, 95, 100]), method=rng.randrange(7), **kw
    )
    [(fourcc, payload)] = split(buf.getvalue())
    assert fourcc == (b"VP8L" if lossless else b"VP8 ")
    return payload, 5 if lossless else 10


def corrupt(rng: random.Random, lossless: bool) -> tuple[str, bytes]:
    payload, head = bitstream(rng, lossless)
    p = bytearray(payload)
    how = rng.choice(["flip", "flip", "headers", "cut", "odd"])
    if how == "flip":
        for _ in range(rng.choice([1, 1, 3, 10])):
            p[rng.randrange(head, len(p))] ^= 1 << rng.randrange(8)
    elif how == "headers":
        for _ in range(rng.choice([1, 2])):
            p[rng.randrange(head, min(len(p), head + 30))] ^= 1 << rng.randrange(8)
    elif how == "cut":
        p = p[: rng.randrange(head, len(p))]
    else:  # an odd length: the decoder also reads the pad byte, whatever it holds
        p = p[: len(p) - rng.choice([1, 2, 3])]
    data = riff([(b"VP8L" if lossless else b"VP8 ", bytes(p))])
    if how == "odd" and len(p) % 2:
        data = data[:-1] + bytes([rng.choice([0, 0xFF, 0x80])])
    return how, data


@pytest.mark.parametrize("lossless", [False, True], ids=["VP8", "VP8L"])
def test_corrupt_bitstreams(lossless: bool) -> None:
    rng = random.Random(f"{SEED}-{lossless}")
    tally: dict[tuple[str, str], int] = {}
    for i in range(CASES):
        how, data = corrupt(rng, lossless)
        url = "data:image/webp;base64," + base64.b64encode(data).decode()
        verdict = same_verdict(url, f"case {i} {how}")
        tally[(how, verdict)] = tally.get((how, verdict), 0) + 1
    print(sorted(tally.items()))
    assert {w for _, w in tally} == {"ok", "reject"}, tally
