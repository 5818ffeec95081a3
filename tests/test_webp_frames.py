"""The frame PIL decodes in a WebP file, and its alpha, vs mistral_common.

PIL opens a WebP with libwebp's demuxer and, to load the pixels, decodes the first frame: the
``VP8 ``/``VP8L`` bitstream and, for a ``VP8 `` frame, its ``ALPH`` chunk (raw or lossless
compressed, filtered, quantized) — except in a still ``VP8X`` file whose flags have no alpha bit,
where the demuxer drops the ``ALPH`` chunk. Later frames of an animation are not decoded. These
cases corrupt exactly those parts of files PIL wrote (lossy with alpha at several alpha
qualities, ``VP8X`` stills with EXIF, lossy and lossless animations) and require mistral_common's
answer, natively: the same ids, or a refusal. ``MISTRAL_TOK_WEBP_SEED`` / ``_CASES`` vary the run.
"""

from __future__ import annotations

import base64
import os
import random
import struct

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from tests.support.webp import join, riff, split  # noqa: E402
from tests.test_image_parity import encode, ours, random_image, reference  # noqa: E402
from tests.test_png_pixels import outcome, same_verdict  # noqa: E402

NAME = "tekken_240911"
SEED = os.environ.get("MISTRAL_TOK_WEBP_SEED", "webp-frames")
CASES = int(os.environ.get("MISTRAL_TOK_WEBP_CASES", "240"))


def rgba(rng: random.Random, w: int, h: int) -> Image.Image:
    """Colour with an alpha plane the encoder stores raw (noise) or compressed (smooth, levels)."""
    im = random_image(rng, w, h, "RGBA")
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    kind = rng.choice(["noise", "gradient", "levels", "opaque"])
    if kind == "noise":
        alpha = nrng.integers(0, 256, (h, w), dtype=np.uint8)
    elif kind == "gradient":
        alpha = (np.add.outer(np.arange(h) * 3, np.arange(w)) % 256).astype(np.uint8)
    elif kind == "levels":
        alpha = (nrng.integers(0, 4, (h, w), dtype=np.uint8) * 85).astype(np.uint8)
    else:
        alpha = np.full((h, w), 255, np.uint8)
    im.putalpha(Image.fromarray(alpha, "L"))
    return im


def flip(data: bytes, rng: random.Random, lo: int = 0) -> bytes:
    m = bytearray(data)
    for _ in range(rng.choice([1, 1, 3, 10])):
        if len(m) > lo:
            m[rng.randrange(lo, len(m))] ^= 1 << rng.randrange(8)
    return bytes(m)


def replace(chunks: list, i: int, payload: bytes) -> list:
    return [*chunks[:i], (chunks[i][0], payload), *chunks[i + 1 :]]


def index(chunks: list, fourcc: bytes) -> int:
    return next(i for i, (c, _) in enumerate(chunks) if c == fourcc)


def size(rng: random.Random) -> tuple[int, int]:
    return rng.choice([(1, 1), (7, 5), (16, 16), (37, 29), (64, 48), (120, 80), (130, 17)])


def still_alpha(rng: random.Random) -> tuple[str, bytes]:
    """A lossy still with an ALPH chunk, corrupted in its alpha."""
    w, h = size(rng)
    kw = {"quality": rng.choice([10, 50, 80, 100]), "method": rng.randrange(7)}
    kw["alpha_quality"] = rng.choice([100, 100, 70, 20, 0])
    chunks = split(encode(rgba(rng, w, h), "WEBP", **kw))
    if not any(c == b"ALPH" for c, _ in chunks):  # fully opaque: the encoder drops the alpha
        return "no-alpha", riff(chunks)
    a = index(chunks, b"ALPH")
    alph = chunks[a][1]
    how = rng.choice(["flip", "flip", "cut", "header", "raw", "flag-off"])
    if how == "flip":
        alph = flip(alph, rng, lo=1)
    elif how == "cut":
        alph = alph[: rng.randrange(len(alph))]
    elif how == "header":
        alph = bytes([rng.randrange(256)]) + alph[1:]
    elif how == "raw":  # uncompressed, one byte a pixel, maybe one short
        alph = bytes([rng.randrange(4) << 2]) + bytes(w * h - rng.choice([0, 0, 1]))
    else:  # the VP8X flags lose their alpha bit: the demuxer drops the ALPH chunk
        v = chunks[index(chunks, b"VP8X")][1]
        chunks = replace(chunks, index(chunks, b"VP8X"), bytes([v[0] & ~0x10]) + v[1:])
        alph = flip(alph, rng)
    return f"alpha-{how}/{alph[:1].hex()}", riff(replace(chunks, a, alph))


def still_vp8x(rng: random.Random) -> tuple[str, bytes]:
    """A VP8X still (EXIF forces it), lossy or lossless, corrupted in its bitstream."""
    w, h = size(rng)
    lossless = rng.random() < 0.4
    im = rgba(rng, w, h) if rng.random() < 0.5 else random_image(rng, w, h, "RGB")
    exif = b"Exif\0\0II*\0\x08\0\0\0\0\0"
    chunks = split(encode(im, "WEBP", lossless=lossless, quality=80, exif=exif))
    i = next(i for i, (c, _) in enumerate(chunks) if c in (b"VP8 ", b"VP8L"))
    return f"vp8x-{chunks[i][0].decode().strip()}", riff(
        replace(chunks, i, flip(chunks[i][1], rng, lo=10))
    )


def animation(rng: random.Random) -> tuple[str, bytes]:
    """An animation corrupted in its first frame (decoded) or a later one (not decoded)."""
    w, h = size(rng)
    lossless = rng.random() < 0.4
    frames = [rgba(rng, w, h) for _ in range(3)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=lossless)
    chunks = split(data)
    anmf = [i for i, (c, _) in enumerate(chunks) if c == b"ANMF"]
    if len(anmf) < 2:
        return "anim-merged", data
    which = rng.choice([0, 0, 1])
    i = anmf[which]
    head, inner = chunks[i][1][:16], split(chunks[i][1], 16)
    j = rng.randrange(len(inner))
    inner = replace(inner, j, flip(inner[j][1], rng, lo=1 if inner[j][0] == b"ALPH" else 10))
    kind = f"anim-{'first' if which == 0 else 'later'}-{inner[j][0].decode().strip()}"
    return kind, riff(replace(chunks, i, head + join(inner)))


MAKERS = [still_alpha, still_alpha, still_vp8x, animation]


def test_webp_frames_and_alpha() -> None:
    rng = random.Random(SEED)
    tally: dict[tuple[str, str], int] = {}
    for i in range(CASES):
        kind, data = rng.choice(MAKERS)(rng)
        url = "data:image/webp;base64," + base64.b64encode(data).decode()
        verdict = same_verdict(url, f"case {i} {kind}")
        key = (kind.split("/")[0], verdict)
        tally[key] = tally.get(key, 0) + 1
    print(sorted(tally.items()))
    assert {k[1] for k in tally} == {"ok", "reject"}, tally


def test_alpha_before_a_lossless_bitstream_is_left_to_mistral_common() -> None:
    """The demuxer refuses it (``VP8L`` has its own alpha); rare enough not to read natively."""
    rng = random.Random(1)
    lossy = split(encode(rgba(rng, 16, 16), "WEBP", quality=80))
    lossless = split(encode(rgba(rng, 16, 16), "WEBP", lossless=True))
    chunks = [lossy[0], lossy[index(lossy, b"ALPH")], lossless[0]]
    data = riff(chunks)
    url = "data:image/webp;base64," + base64.b64encode(data).decode()
    assert outcome(lambda: ours(url, NAME)[0])[0] == "fallback"
    assert outcome(lambda: reference(url, NAME))[0] == "reject"


def test_raw_alpha_needs_a_byte_per_pixel() -> None:
    rng = random.Random(2)
    chunks = split(encode(rgba(rng, 9, 7), "WEBP", quality=80))
    a = index(chunks, b"ALPH")
    for n, want in [(63, "ok"), (64, "ok"), (62, "reject"), (0, "reject")]:
        data = riff(replace(chunks, a, b"\x00" + bytes(n)))
        url = "data:image/webp;base64," + base64.b64encode(data).decode()
        got = outcome(lambda url=url: ours(url, NAME)[0])
        assert got[0] == want == outcome(lambda url=url: reference(url, NAME))[0], (n, got)
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
