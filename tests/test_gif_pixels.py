"""Differential fuzz of the GIF first-frame check against mistral_common
(``crates/mistral-tok-image/src/gif_lzw.rs``).

GIFs written by PIL (sizes from 1×1 to ~600×400 so that the LZW data spans several 64 KiB reads,
L and P images, interlaced or not, animated ones), then corrupted: bits flipped in the first
frame's LZW data, sub-block lengths changed, the file cut anywhere. Our accept/reject (and ids when
accepted) must equal mistral_common's ``ImageEncoder`` on the shipped tekken file; with
``check_pixels=False`` every image mistral_common accepts is accepted with the same ids (or left
to mistral_common when its sub-blocks run past the end of the file).
"""

from __future__ import annotations

import base64
import io
import os
import random

import numpy as np
import pytest

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from PIL import Image  # noqa: E402

from tests.test_image_parity import ours, reference  # noqa: E402
from tests.test_png_pixels import outcome  # noqa: E402

NAME = "tekken_240911"
SEED = os.environ.get("MISTRAL_TOK_GIF_SEED", "gif-pixels-1")
CASES = int(os.environ.get("MISTRAL_TOK_GIF_CASES", "500"))


def random_gif(rng: random.Random) -> bytes:
    w, h = rng.choice([1, 2, 5, 16, 33, 100, 257]), rng.choice([1, 3, 8, 17, 60, 130])
    if rng.random() < 0.05:
        w, h = rng.choice([(600, 400), (900, 300)])  # LZW data over several reads
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    levels = rng.choice([2, 4, 16, 256])
    arr = nrng.integers(0, levels, size=(h, w), dtype=np.uint8)
    if rng.random() < 0.5:  # runs: long LZW strings
        arr = np.repeat(arr[:, :1], w, axis=1)
    im = Image.fromarray(arr, "L")
    if rng.random() < 0.3:
        im = im.convert("P")
    buf = io.BytesIO()
    kw = {"interlace": rng.random() < 0.5}
    if rng.random() < 0.15:
        frames = [im, Image.fromarray(255 - arr, "L")]
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], **kw)
    else:
        im.save(buf, format="GIF", **kw)
    return buf.getvalue()


def first_frame_data(data: bytes) -> list[int]:
    """Positions of the first frame's sub-block lengths and LZW bytes: (lengths, data)."""
    i = 13
    if data[10] & 0x80:
        i += 3 << ((data[10] & 7) + 1)
    while data[i] != 0x2C:
        if data[i] == 0x21:
            i += 2
            while data[i]:
                i += data[i] + 1
            i += 1
        else:
            i += 1
    flags = data[i + 9]
    i += 10
    if flags & 0x80:
        i += 3 << ((flags & 7) + 1)
    i += 1  # LZW minimum code size
    lengths, body = [], []
    while i < len(data) and data[i]:
        lengths.append(i)
        body += range(i + 1, i + 1 + data[i])
        i += data[i] + 1
    return lengths, body


def corrupt(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lengths, body = first_frame_data(data)
    m = bytearray(data)
    kind = rng.choice(["flip", "flip", "flip", "length", "truncate", "none"])
    if kind == "flip" and body:
        for _ in range(rng.choice([1, 1, 2, 5])):
            m[rng.choice(body)] ^= 1 << rng.randrange(8)
    elif kind == "length" and lengths:
        m[rng.choice(lengths)] = rng.randrange(256)
    elif kind == "truncate":
        return bytes(m[: rng.randrange(20, len(m))]), kind
    return bytes(m), kind


def test_gif_first_frame_fuzz_matches_mistral_common() -> None:
    rng = random.Random(SEED)
    tally: dict[tuple[str, str], int] = {}
    for i in range(CASES):
        data, kind = corrupt(rng, random_gif(rng))
        url = "data:image/gif;base64," + base64.b64encode(data).decode()
        got = outcome(lambda url=url: ours(url, NAME)[0])
        want = outcome(lambda url=url: reference(url, NAME))
        what = f"case {i} {kind}: {got[1]!s:.200} / {want[1]!s:.200}"
        assert got[0] == want[0], what
        if got[0] == "ok":
            assert got[1] == want[1], what
            unchecked = outcome(lambda url=url: ours(url, NAME, check_pixels=False)[0])
            # (left to mistral_common when the sub-blocks run past the end of the file)
            assert unchecked == want or unchecked[0] == "fallback", what
        tally[(kind, got[0])] = tally.get((kind, got[0]), 0) + 1
    print(sorted(tally.items()))
    for kind in ("flip", "truncate"):
        assert tally.get((kind, "ok"), 0) > 0 and tally.get((kind, "reject"), 0) > 0, kind
