"""Corrupt JPEGs of many shapes vs mistral_common: the native reader must decide as PIL does.

Files PIL writes (L, RGB and CMYK; baseline, optimized and progressive; 4:4:4, 4:2:2 and 4:2:0;
with and without restart markers; sizes 1…400 px) are corrupted by bit flips after the first
SOS, bit flips anywhere after the SOI (headers too), a cut at a random point, or both. libjpeg's
marker reader is modelled natively (``src/image/jpeg_stream.rs``, ``jpeg_scan.rs``), so every
answer must agree with mistral_common, except that a single-scan file ending inside its scan data
is left to it (``UnsupportedFeatureError``: whether libjpeg has decoded the last MCU depends on
the entropy-coded data). ``MISTRAL_TOK_JPEG_SEED`` / ``MISTRAL_TOK_JPEG_CASES`` vary the run
(counts printed with ``-s``)."""

from __future__ import annotations

import base64
import io
import os
import random

import pytest
from PIL import Image

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from tests.test_image_parity import ours, random_image, reference  # noqa: E402
from tests.test_png_pixels import outcome  # noqa: E402

NAME = "tekken_240911"
SEED = os.environ.get("MISTRAL_TOK_JPEG_SEED", "jpeg-corruption")
CASES = int(os.environ.get("MISTRAL_TOK_JPEG_CASES", "300"))


def jpeg(rng: random.Random) -> bytes:
    w, h = rng.randint(1, 400), rng.randint(1, 300)
    if rng.random() < 0.1:  # past PIL's 64 KiB reads
        w, h = rng.randint(500, 900), rng.randint(300, 600)
    mode = rng.choice(["RGB", "RGB", "L", "CMYK"])
    im = random_image(rng, w, h, "RGB" if mode == "CMYK" else mode)
    if mode == "CMYK":
        im = im.convert("CMYK")
    kw: dict[str, object] = {
        "quality": rng.choice([30, 75, 85, 95]),
        "progressive": rng.random() < 0.4,
        "optimize": rng.random() < 0.3,
        "subsampling": rng.choice([0, 1, 2]),
    }
    if rng.random() < 0.3:
        kw[rng.choice(["restart_marker_blocks", "restart_marker_rows"])] = rng.randint(1, 6)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def corrupted(rng: random.Random) -> bytes:
    data = jpeg(rng)
    sos = data.index(b"\xff\xda")
    start = rng.choice([2, sos + 2 + (data[sos + 2] << 8 | data[sos + 3])])
    m = bytearray(data)
    kind = rng.choice(["flip", "flip", "cut", "both"])
    if kind != "cut":
        for _ in range(rng.choice([1, 1, 3, 10])):
            m[rng.randrange(start, len(m))] ^= 1 << rng.randrange(8)
    if kind != "flip":
        del m[rng.randrange(start, len(m)) :]
    return bytes(m)


def test_corrupt_jpegs_decided_as_pil() -> None:
    rng = random.Random(SEED)
    tally: dict[tuple[str, str], int] = {}
    for i in range(CASES):
        url = "data:image/jpeg;base64," + base64.b64encode(corrupted(rng)).decode()
        got = outcome(lambda url=url: ours(url, NAME)[0])
        want = outcome(lambda url=url: reference(url, NAME))
        what = f"case {i}: {got[1]!s:.200} / {want[1]!s:.200}"
        if got[0] == "fallback":
            assert "ending inside its scan data" in str(got[1]), what
        else:
            assert got[0] == want[0], what
            if got[0] == "ok":
                assert got == want, what
        tally[(got[0], want[0])] = tally.get((got[0], want[0]), 0) + 1
    print(f"JPEG ({SEED}, {CASES}): {sorted(tally.items())}")
    assert tally.get(("ok", "ok"), 0) > 0 and tally.get(("reject", "reject"), 0) > 0


def test_pil_opens_what_it_wrote() -> None:
    rng = random.Random(SEED)
    for _ in range(20):
        data = jpeg(rng)
        url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
        assert Image.open(io.BytesIO(data)).size
        assert ours(url, NAME)[0] == reference(url, NAME)
