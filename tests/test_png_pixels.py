"""Differential fuzz of the PNG image-data check against mistral_common
(``crates/mistral-tok-image/src/png_data.rs``).

PNGs of every bit depth and colour type PIL reads, interlaced or not, with the zlib stream split
over IDAT chunks at random points (zero-length chunks included), then corrupted: bytes flipped in
the compressed data, the file cut anywhere after the header, the image data cut short before
IEND, unknown filter bytes, a bad Adler-32, too few or too many rows. Our accept/reject (and ids
when accepted) must equal mistral_common's ``ImageEncoder`` on the shipped tekken file, and, for a
sample, ``encode_chat_completion`` against ``Tokenizer.encode_chat``. With ``check_pixels=False``
every image mistral_common accepts is accepted with the same ids (the opt-out only accepts more).
"""

from __future__ import annotations

import base64
import os
import random
import struct
import zlib

import pytest

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from mistral_common.protocol.instruct.request import ChatCompletionRequest  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

from mistral_tok import shipped_tokenizer_path  # noqa: E402
from mistral_tok._native import RequestError, Tokenizer, UnsupportedFeatureError  # noqa: E402
from tests.support.png import chunk  # noqa: E402
from tests.test_image_parity import REF_ERRORS, ours, reference  # noqa: E402

NAME = "tekken_240911"
SEED = os.environ.get("MISTRAL_TOK_PNG_SEED", "png-pixels-1")
CASES = int(os.environ.get("MISTRAL_TOK_PNG_CASES", "1200"))

# (bit depth, colour type) → samples per pixel, as PngImagePlugin._MODES lists them.
MODES = {
    (1, 0): 1, (2, 0): 1, (4, 0): 1, (8, 0): 1, (16, 0): 1,
    (8, 2): 3, (16, 2): 3,
    (1, 3): 1, (2, 3): 1, (4, 3): 1, (8, 3): 1,
    (8, 4): 2, (16, 4): 2,
    (8, 6): 4, (16, 6): 4,
}  # fmt: skip

ADAM7 = [  # (starting row, starting col... as ZipDecode.c: offset, col increment, row start/incr)
    (7, 8, 0, 8),
    (3, 8, 0, 8),
    (3, 4, 4, 8),
    (1, 4, 0, 4),
    (1, 2, 2, 4),
    (0, 2, 0, 2),
    (0, 1, 1, 2),
]


def row_plan(w: int, h: int, bits: int, interlaced: bool) -> list[int]:
    """Bytes of each row PIL's decoder expects (filter byte included), in stream order."""
    if not interlaced:
        return [(w * bits + 7) // 8 + 1] * h
    rows = []
    for offset, col_inc, row_start, row_inc in ADAM7:
        row_len = ((w + offset) // col_inc * bits + 7) // 8
        if row_len > 0 and row_start < h:
            rows += [row_len + 1] * len(range(row_start, h, row_inc))
    return rows


def raw_rows(rng: random.Random, plan: list[int]) -> bytearray:
    """Rows with valid filter bytes (0-4) and pixels that are noise or runs (compressible)."""
    out = bytearray()
    for n in plan:
        out.append(rng.randrange(5))
        if rng.random() < 0.5:
            out += rng.randbytes(n - 1)
        else:
            out += bytes([rng.randrange(256)]) * (n - 1)
    return out


def assemble(head: bytes, z: bytes, cuts: list[int], empty: bool, after: bytes = b"") -> bytes:
    parts, last = [], 0
    for c in sorted(cuts):
        parts.append(z[last:c])
        last = c
    parts.append(z[last:])
    if empty:
        parts.insert(len(parts) // 2, b"")
    return head + b"".join(chunk(b"IDAT", p) for p in parts) + after + chunk(b"IEND", b"")


def random_png(rng: random.Random) -> tuple[bytes, dict]:
    """A valid PNG and what is needed to corrupt it."""
    (depth, color), samples = rng.choice(list(MODES.items()))
    w, h = rng.choice([1, 2, 3, 7, 8, 9, 33, 100, 257]), rng.choice([1, 2, 5, 8, 9, 40, 130])
    if rng.random() < 0.05:  # image data over several 64 KiB pieces
        w, h = rng.choice([(700, 200), (1500, 90)])
    interlaced = rng.random() < 0.4
    bits = depth * samples
    plan = row_plan(w, h, bits, interlaced)
    raw = raw_rows(rng, plan)
    head = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, int(interlaced))
    )
    if color == 3:
        head += chunk(b"PLTE", rng.randbytes(3 * 256))
    level = rng.choice([0, 1, 6, 9])
    info = dict(head=head, raw=raw, plan=plan, level=level, desc=f"{w}x{h} d{depth} c{color}")
    info["desc"] += f" i{int(interlaced)} l{level}"
    return info_png(rng, info, raw), info


def deflate(rng: random.Random, raw: bytes, level: int) -> bytes:
    """zlib data as various encoders write it: any window size, and sometimes sync or full
    flushes at random points (empty stored blocks, which zlib reads ahead after the last row)."""
    c = zlib.compressobj(level, zlib.DEFLATED, rng.choice([9, 12, 15, 15]))
    if rng.random() < 0.7:
        return c.compress(raw) + c.flush()
    out, last = [], 0
    for at in sorted(rng.randrange(len(raw) + 1) for _ in range(rng.randrange(1, 4))):
        out.append(c.compress(raw[last:at]))
        out.append(c.flush(rng.choice([zlib.Z_SYNC_FLUSH, zlib.Z_FULL_FLUSH])))
        last = at
    return b"".join(out) + c.compress(raw[last:]) + c.flush()


def info_png(rng: random.Random, info: dict, raw: bytes, z: bytes | None = None) -> bytes:
    z = deflate(rng, raw, info["level"]) if z is None else z
    info["z"] = z
    cuts = [rng.randrange(len(z) + 1) for _ in range(rng.choice([0, 0, 1, 3]))]
    if rng.random() < 0.2:
        cuts.append(max(0, len(z) - 4))  # the Adler-32 in a chunk of its own
    info["cuts"] = cuts
    return assemble(info["head"], z, cuts, rng.random() < 0.2)


def corrupt(rng: random.Random, data: bytes, info: dict) -> tuple[bytes, str]:
    head, z, raw = info["head"], info["z"], info["raw"]
    kind = rng.choice(
        ["flip", "flip", "flip", "truncate", "cut_short", "filter", "adler", "rows", "none"]
    )
    if kind == "flip":
        m = bytearray(z)
        for _ in range(rng.choice([1, 1, 2, 5])):
            m[rng.randrange(len(m))] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else 0xFF
        return assemble(head, bytes(m), info["cuts"], False), kind
    if kind == "truncate":
        return data[: rng.randrange(len(head) + 8, len(data))], kind
    if kind == "cut_short":
        return assemble(head, z[: rng.randrange(len(z))], [], False), kind
    if kind == "filter":
        m = bytearray(raw)
        starts = [0]
        for n in info["plan"][:-1]:
            starts.append(starts[-1] + n)
        m[rng.choice(starts)] = rng.randrange(5, 256)
        return info_png(rng, info, bytes(m)), kind
    if kind == "adler":
        m = bytearray(z)
        m[len(m) - 1 - rng.randrange(4)] ^= 1 + rng.randrange(255)
        return assemble(head, bytes(m), info["cuts"], False), kind
    if kind == "rows":  # fewer rows (on or off a row boundary) or more data than rows
        if rng.random() < 0.5:
            cut = rng.randrange(len(raw) + 1)
            if rng.random() < 0.5 and len(info["plan"]) > 1:
                cut = sum(info["plan"][: rng.randrange(len(info["plan"]))])
            return info_png(rng, info, bytes(raw[:cut])), kind
        return info_png(rng, info, bytes(raw) + rng.randbytes(rng.randrange(1, 300))), kind
    return data, kind


def outcome(fn) -> tuple[str, object]:
    try:
        return "ok", fn()
    except UnsupportedFeatureError as e:
        return "fallback", str(e)
    except RequestError as e:
        return "reject", str(e)
    except (*REF_ERRORS, SyntaxError) as e:
        # PIL's PNG loader lets a SyntaxError out ("broken PNG file (chunk b'')") when the file
        # ends inside a chunk header while it still wants image data.
        return "reject", repr(e)


def same_verdict(url: str, what: str) -> str:
    """mistral-tok's answer on ``url`` must be mistral_common's: the same ids, or a refusal (not
    a fallback to it); returns mistral_common's verdict, "ok" or "reject"."""
    got = outcome(lambda: ours(url, NAME)[0])
    want = outcome(lambda: reference(url, NAME))
    what = f"{what}: {got[1]!s:.200} / {want[1]!s:.200}"
    assert got[0] != "fallback", what
    if want[0] == "ok":
        assert got == want, what
    else:
        assert got[0] == "reject", what
    return want[0]


def url_of(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def check_case(rng: random.Random, i: int, tally: dict[tuple[str, str], int]) -> None:
    good, info = random_png(rng)
    data, kind = corrupt(rng, good, info)
    url = url_of(data)
    got = outcome(lambda: ours(url, NAME)[0])
    want = outcome(lambda: reference(url, NAME))
    what = f"case {i} {kind} {info['desc']} cuts={info['cuts']}: "
    what += f"{got[1]!s:.200} / {want[1]!s:.200}"
    assert got[0] != "fallback", what
    assert got[0] == want[0], what
    if got[0] == "ok":
        assert got[1] == want[1], what
    assert outcome(lambda: ours(data, NAME)[0])[0] == got[0], what  # raw bytes, not base64
    # The opt-out accepts everything mistral_common accepts, with the same ids.
    if want[0] == "ok":
        assert outcome(lambda: _unchecked(url)) == want, what
    tally[(kind, got[0])] = tally.get((kind, got[0]), 0) + 1


def test_png_image_data_fuzz_matches_mistral_common() -> None:
    rng = random.Random(SEED)
    tally: dict[tuple[str, str], int] = {}
    for i in range(CASES):
        check_case(rng, i, tally)
    print(sorted(tally.items()))
    # Both answers occur for the corruptions that can go either way.
    for kind in ("flip", "truncate", "rows", "adler"):
        assert tally.get((kind, "ok"), 0) > 0 and tally.get((kind, "reject"), 0) > 0, kind


def _unchecked(url: str) -> list[int]:
    return ours(url, NAME, check_pixels=False)[0]


def test_png_image_data_in_chat_requests() -> None:
    """The check runs inside ``encode_chat`` (all four entry points), ids as mistral_common."""
    path = shipped_tokenizer_path(f"{NAME}.json")
    mt = MistralTokenizer.from_file(str(path))
    tok = Tokenizer.from_file(path)
    rng = random.Random(SEED + "-chat")
    seen = set()
    for _ in range(60):
        good, info = random_png(rng)
        data, kind = corrupt(rng, good, info)
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": url_of(data)}},
                ],
            }
        ]

        def ref(messages=messages) -> list[int]:
            req = ChatCompletionRequest.from_openai(messages)
            return mt.encode_chat_completion(req).tokens

        want = outcome(ref)
        got = outcome(lambda messages=messages: tok.encode_chat(messages))
        assert got[0] == want[0], (kind, info["desc"], got, want)
        if want[0] == "ok":
            assert got[1] == want[1]
            ids, images = tok.encode_chat_with_images(messages)
            assert ids == want[1] and len(images) == 1
            assert tok.encode_chat(messages, check_pixels=False) == want[1]
        else:
            with pytest.raises(RequestError):
                tok.encode_chat_with_images(messages)
            # the opt-out: the caller vouches that PIL loaded the image
            unchecked = outcome(
                lambda messages=messages: tok.encode_chat(messages, check_pixels=False)
            )
            assert unchecked[0] in ("ok", "reject")
        seen.add(want[0])
    assert seen == {"ok", "reject"}


@pytest.mark.asyncio
async def test_png_check_pixels_async() -> None:
    path = shipped_tokenizer_path(f"{NAME}.json")
    tok = Tokenizer.from_file(path)
    rng = random.Random(SEED + "-async")
    good, info = random_png(rng)
    z = bytearray(info["z"])
    z[len(z) - 1] ^= 1  # bad Adler-32 in the piece that completes the last row
    bad = assemble(info["head"], bytes(z), [], False)
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": url_of(bad)}]}]
    with pytest.raises(RequestError):
        await tok.encode_chat_async(messages)
    with pytest.raises(RequestError):
        await tok.encode_chat_with_images_async(messages)
    ids = await tok.encode_chat_async(messages, check_pixels=False)
    ids2, images = await tok.encode_chat_with_images_async(messages, check_pixels=False)
    assert ids == ids2 == tok.encode_chat(messages, check_pixels=False) and len(images) == 1
