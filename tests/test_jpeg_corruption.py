"""Corrupt JPEGs of many shapes vs mistral_common: the native reader must decide as PIL does.

Files PIL writes (L, RGB and CMYK; baseline, optimized and progressive; 4:4:4, 4:2:2 and 4:2:0; with
and without restart markers; sizes 1…900 px) are corrupted by bit flips after the first SOS, bit
flips anywhere after the magic bytes (headers too), a cut at a random point, or both. libjpeg's
marker reader is modelled natively (``crates/mistral-tok-image/src/jpeg_stream.rs``,
``jpeg_scan.rs``), so every answer must agree with mistral_common, except for the few cases left to
it (``FALLBACKS``). A single-scan file cut inside its scan data is decided by following libjpeg's
Huffman decoder (``jpeg_huffman.rs``). ``MISTRAL_TOK_JPEG_SEED`` / ``MISTRAL_TOK_JPEG_CASES``
vary the run (counts printed with ``-s``)."""

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
CASES = int(os.environ.get("MISTRAL_TOK_JPEG_CASES", "1000"))


# What the native reader leaves to mistral_common (crates/mistral-tok-image/src/jpeg_stream.rs,
# jpeg_scan.rs).
FALLBACKS = (
    "fractional sampling factors",
    "EOI marker before its first scan",
)


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
    start = rng.choice([3, sos + 2 + (data[sos + 2] << 8 | data[sos + 3])])
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
            assert any(why in str(got[1]) for why in FALLBACKS), what
        else:
            assert got[0] == want[0], what
            if got[0] == "ok":
                assert got == want, what
        tally[(got[0], want[0])] = tally.get((got[0], want[0]), 0) + 1
    print(f"JPEG ({SEED}, {CASES}): {sorted(tally.items())}")
    assert tally.get(("ok", "ok"), 0) > 0 and tally.get(("reject", "reject"), 0) > 0


def large(rng: random.Random) -> bytes:
    """A JPEG over several of PIL's 64 KiB reads, with a marker injected into (or after) its scan
    data, or cut near a 64 KiB boundary or its end: where PIL stands when the last row comes
    out decides (``jpeg_huffman.rs``)."""
    im = random_image(rng, rng.randint(400, 1200), rng.randint(300, 800), rng.choice(["RGB", "L"]))
    kw: dict[str, object] = {"quality": rng.choice([85, 95]), "subsampling": rng.choice([0, 2])}
    if rng.random() < 0.3:
        kw["restart_marker_rows"] = rng.randint(1, 4)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    m = bytearray(buf.getvalue())
    start = m.index(b"\xff\xda") + 14
    if rng.random() < 0.5:
        at = rng.choice([rng.randrange(start, len(m) - 2), len(m) - 2 - rng.randint(0, 3000)])
        code = rng.choice([0xC0, 0xD8, 0x02, 0xDA, 0xC4, 0xDB, 0xE1, 0xD0])
        m[at:at] = bytes([0xFF, code, rng.randrange(256), rng.randrange(256)])
    else:
        near = 65536 * rng.randint(1, max(1, len(m) // 65536)) + rng.randint(-20, 20)
        del m[max(start, min(near, len(m) - rng.randint(0, 12))) :]
    return bytes(m)


def test_large_jpegs_decided_as_pil() -> None:
    rng = random.Random(SEED + "-large")
    tally: dict[tuple[str, str], int] = {}
    for i in range(max(1, CASES // 25)):
        data = large(rng)
        got = outcome(lambda data=data: ours(data, NAME, kind="image")[0])
        want = outcome(lambda data=data: reference(base64.b64encode(data).decode(), NAME, "image"))
        what = f"large case {i}: {got[1]!s:.200} / {want[1]!s:.200}"
        assert got[0] == want[0], what
        if got[0] == "ok":
            assert got == want, what
        tally[(got[0], want[0])] = tally.get((got[0], want[0]), 0) + 1
    print(f"large JPEG ({SEED}): {sorted(tally.items())}")


def seg(code: int, body: bytes) -> bytes:
    return bytes([0xFF, code]) + (len(body) + 2).to_bytes(2, "big") + body


DQT = seg(0xDB, b"\x00" + bytes([1] * 64))
EOI = b"\xff\xd9"
DATA = b"\x12\x34\x56\x00"


def sof(code: int, w: int, h: int, comps: list[tuple[int, int, int]]) -> bytes:
    size = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return seg(code, b"\x08" + size + bytes([len(comps)]) + b"".join(map(bytes, comps)))


def dht(index: int) -> bytes:  # one 2-bit code, symbol 0
    return seg(0xC4, bytes([index, 0, 1] + [0] * 14 + [0]))


def sos(comps: list[tuple[int, int]], ss: int = 0, se: int = 63, a: int = 0) -> bytes:
    return seg(0xDA, bytes([len(comps)]) + b"".join(map(bytes, comps)) + bytes([ss, se, a]))


def baseline(extra: bytes, w: int = 8, dri: bytes = b"") -> bytes:
    return b"\xff\xd8" + DQT + sof(0xC0, w, 8, [(1, 0x11, 0)]) + dri + sos([(1, 0)]) + DATA + extra


def progressive(between: bytes, tail: bytes = EOI) -> bytes:
    frame = sof(0xC2, 8, 8, [(1, 0x11, 0), (2, 0x11, 0), (3, 0x11, 0)])
    dc = sos([(1, 0), (2, 0), (3, 0)], 0, 0, 0)
    return b"\xff\xd8" + DQT + frame + dht(0x00) + dc + DATA + between + tail


def ac(i: int) -> bytes:
    return sos([(i, 0)], 1, 63) + DATA


_J = baseline(EOI)
_AT = _J.index(b"\xff\xc0")
RST = b"\xff\x05\x11\xff\xd0\x22\xff\xd9"
# The files of crates/mistral-tok-image/src/tests/jpeg.rs; each was checked against PIL by hand too.
HANDMADE = {
    "baseline": _J,
    "sof_after_scan": baseline(b"\xff\xc0\x00\x0b"),
    "soi_after_scan": baseline(b"\xff\xd8"),
    "unknown_after_scan": baseline(b"\xff\x02"),
    "second_scan": baseline(sos([(1, 0)]) + EOI),
    "dht_past_end_after_last_row": baseline(b"\xff\xc4\x01\x00\x00"),
    "short_dqt_after_scan": baseline(b"\xff\xdb\x00\x08" + bytes(70) + EOI),
    "no_marker_after_scan": baseline(bytes(30)),
    "under_57_bits_after_scan": baseline(bytes(2)),
    "restart_resync": baseline(RST, 16, seg(0xDD, b"\x00\x01")),
    "no_restarts": baseline(RST, 16),
    "cut_before_restart": baseline(b"\x11\x22", 16, seg(0xDD, b"\x00\x01")),
    "progressive": progressive(dht(0x10) + ac(1) + ac(2) + ac(3)),
    "progressive_no_ac_table": progressive(ac(1)),
    "progressive_sos_order": progressive(sos([(2, 0), (1, 0), (3, 0)], 0, 0, 0x10) + DATA),
    "progressive_refine": progressive(sos([(1, 0), (2, 0), (3, 0)], 0, 0, 0x10) + DATA),
    "progressive_short_dqt": progressive(b"\xff\xdb\x00\x08" + bytes(70)),
    "progressive_cut_dqt": progressive(b"\xff\xdb\x00\x08" + bytes(20), b""),
    "progressive_past_end": progressive(b"\xff\xe1\x01\x00\x00", b""),
    "dac_l_above_u": progressive(b"\xff\xcc\x00\x04\x01\x12"),
    "dac_ok": progressive(b"\xff\xcc\x00\x04\x01\x21"),
    "two_sofs": _J[:_AT] + sof(0xC0, 8, 8, [(1, 0x11, 0)]) + _J[_AT:],
    "no_quant_table": _J[: _AT + 12] + b"\x01" + _J[_AT + 13 :],
    "fractional_sampling": b"\xff\xd8"
    + DQT
    + sof(0xC0, 8, 8, [(1, 0x22, 0), (2, 0x13, 0), (3, 0x11, 0)])
    + sos([(1, 0), (2, 0), (3, 0)])
    + DATA
    + EOI,
}
LEFT_TO_MISTRAL_COMMON = {"fractional_sampling"}


@pytest.mark.parametrize("name", list(HANDMADE))
def test_handmade(name: str) -> None:
    url = "data:image/jpeg;base64," + base64.b64encode(HANDMADE[name]).decode()
    got = outcome(lambda: ours(url, NAME)[0])
    want = outcome(lambda: reference(url, NAME))
    if name in LEFT_TO_MISTRAL_COMMON:
        assert got[0] == "fallback", got
    else:
        assert got[0] == want[0] and (got[0] != "ok" or got == want), (got, want)


def test_pil_opens_what_it_wrote() -> None:
    rng = random.Random(SEED)
    for _ in range(20):
        data = jpeg(rng)
        url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
        assert Image.open(io.BytesIO(data)).size
        assert ours(url, NAME)[0] == reference(url, NAME)
