"""Hand-made WebP bitstreams on the edges of libwebp's decoders, each answer PIL's.

The fuzz tests (``test_webp_bitstreams.py``, ``test_webp_frames.py``) rarely land exactly on
these: every cut of one lossy payload; VP8L pixels that read no bits; the RIFF pad byte read as
part of a VP8L stream; the 8-bit alpha decoder's tolerance for an over-read by the last pixel;
prefix-code groups no tile uses, still read and checked.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image

from mistral_tok import RequestError, UnsupportedFeatureError, image_size
from tests.support.webp import riff, split


def pil(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception:  # noqa: BLE001 - PIL's refusals are of many types
        return "refused"
    return "ok"


def ours(data: bytes) -> str:
    try:
        image_size(data)
    except UnsupportedFeatureError:
        return "left to mistral_common"
    except RequestError:
        return "refused"
    return "ok"


def pack_bits(fields: list[tuple[int, int]], size: int = 0) -> bytes:
    """(value, bit count) fields written least significant bit first, zero-filled to ``size``."""
    acc, n = 0, 0
    for value, bits in fields:
        acc |= (value & ((1 << bits) - 1)) << n
        n += bits
    return acc.to_bytes(max(size, (n + 7) // 8), "little")


def with_pad(fourcc: bytes, payload: bytes, pad: int) -> bytes:
    """A simple file around ``payload``, its pad byte (after an odd payload) set to ``pad``."""
    data = riff([(fourcc, payload)])
    return data[:-1] + bytes([pad]) if len(payload) % 2 else data


# A simple prefix code holding only symbol 0 (reads no bits), and one holding symbols 0 and 1.
ONE_SYMBOL = [(1, 1), (0, 1), (0, 1), (0, 1)]
TWO_SYMBOLS = [(1, 1), (1, 1), (1, 1), (0, 8), (1, 8)]


def vp8l_header(w: int, h: int) -> list[tuple[int, int]]:
    return [(0x2F, 8), (w - 1, 14), (h - 1, 14), (0, 1), (0, 3)]


def test_every_cut_of_a_lossy_payload() -> None:
    """The answer flips where libwebp's partitions run dry, and nowhere else."""
    rng = random.Random("webp-cuts")
    arr = np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "WEBP", quality=70)
    [(fourcc, payload)] = split(buf.getvalue())
    first = int.from_bytes(payload[:3], "little") >> 5
    verdicts = []
    for n in range(11 + first, len(payload) + 1):
        cut = with_pad(fourcc, payload[:n], rng.randrange(256))
        verdicts.append(ours(cut))
        assert pil(cut) == verdicts[-1], n
        # without the pixel check only the headers are read
        assert image_size(cut, check_pixels=False) == (56, 40), n
    assert {"ok", "refused"} <= set(verdicts)


def test_pixels_that_read_no_bits() -> None:
    # five one-symbol codes: libwebp decodes any size from a few bytes (16384² is a bomb)
    for w, h in [(1, 1), (300, 200), (16384, 16384)]:
        fields = vp8l_header(w, h) + [(0, 3)] + ONE_SYMBOL * 5
        data = riff([(b"VP8L", pack_bits(fields))])
        assert ours(data) == pil(data) == ("ok" if w < 10000 else "refused"), (w, h)


def test_the_pad_byte_is_part_of_a_vp8l_stream() -> None:
    # n×1 pixels whose green code reads one bit each: 78 header bits in an 11-byte chunk
    # (88 bits) plus its pad byte (96): 18 pixels fit whatever the pad byte holds, 19 do not
    for n, want in [(10, "ok"), (18, "ok"), (19, "refused")]:
        fields = vp8l_header(n, 1) + [(0, 3)] + TWO_SYMBOLS + ONE_SYMBOL * 4
        for pad in (0, 0xFF):
            data = with_pad(b"VP8L", pack_bits(fields, 11), pad)
            assert pil(data) == ours(data) == want, (n, pad)


def test_the_8_bit_alpha_decoder_forgives_an_over_read_by_the_last_pixel() -> None:
    # a 1×h lossless ALPH: two-colour palette, then one bit a row after 70 header bits in 10
    # bytes; libwebp's 8-bit alpha path fails only when pixels remain after running dry
    fields = [(1, 1), (3, 2), (1, 8), (0, 1)] + ONE_SYMBOL * 5 + [(0, 3)]
    fields += TWO_SYMBOLS + ONE_SYMBOL * 4
    alpha = b"\x01" + pack_bits(fields, 10)
    for h, want in [(10, "ok"), (11, "ok"), (12, "refused")]:
        buf = io.BytesIO()
        Image.new("RGB", (1, h), (9, 99, 200)).save(buf, "WEBP", quality=80)
        [(_, vp8)] = split(buf.getvalue())
        vp8x = bytes([0x10, 0, 0, 0, 0, 0, 0]) + (h - 1).to_bytes(3, "little")
        data = riff([(b"VP8X", vp8x), (b"ALPH", alpha), (b"VP8 ", vp8)])
        assert pil(data) == ours(data) == want, h


def test_prefix_code_groups_no_tile_uses_are_still_checked() -> None:
    # a 4×4 image whose one-tile entropy image names group 1001: libwebp keeps only that group
    # but reads and checks all 1002; a distance code with no symbol in its alphabet (simple-code
    # symbols 200 and 201, of 40) fails in an unused group as in the used one
    def single(symbol: int) -> list[tuple[int, int]]:
        return [(1, 1), (0, 1), (1, 1), (symbol, 8)]

    no_symbol = [(1, 1), (1, 1), (1, 1), (200, 8), (201, 8)]
    for bad, want in [(None, "ok"), (5, "refused"), (1001, "refused")]:
        f = vp8l_header(4, 4) + [(0, 1), (0, 1), (1, 1), (0, 3)]
        f += [(0, 1)] + single(1001 & 0xFF) + single(1001 >> 8) + ONE_SYMBOL * 3
        for g in range(1002):
            f += ONE_SYMBOL * 4 + (no_symbol if g == bad else ONE_SYMBOL)
        data = riff([(b"VP8L", pack_bits(f))])
        assert pil(data) == ours(data) == want, bad
