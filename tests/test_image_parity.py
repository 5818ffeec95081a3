"""Differential tests of the native image path against mistral_common's ``ImageEncoder``.

``mistral_tok._native._image_tokens`` returns an image's ``[IMG]`` layout from its headers; the
reference decodes and resizes the pixels (it needs ``mistral-common[opencv]``). Contract:

* native result → mistral_common gives the same ids;
* native ``RequestError`` (not the ``UnsupportedFeatureError`` subclass) → mistral_common raises;
* native ``UnsupportedFeatureError`` → the caller falls back to mistral_common (counted, allowed).
"""

from __future__ import annotations

import base64
import io
import random
import struct

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from mistral_common.exceptions import MistralCommonException  # noqa: E402
from mistral_common.protocol.instruct.chunk import ImageChunk, ImageURLChunk  # noqa: E402
from mistral_common.tokens.tokenizers.image import (  # noqa: E402
    ImageConfig,
    ImageEncoder,
    SpecialImageIDs,
)
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

from mistral_tok import shipped_tokenizer_path  # noqa: E402
from mistral_tok._native import (  # noqa: E402
    RequestError,
    Tokenizer,
    TokenizerFileError,
    UnsupportedFeatureError,
    _image_tokens,
)
from tests.support.png import chunk  # noqa: E402


def _encoder_from_file(name: str) -> tuple[ImageEncoder, tuple[int, int, int]]:
    """mistral_common's encoder for a shipped file, checked against what our loader reads."""
    path = shipped_tokenizer_path(name)
    enc = MistralTokenizer.from_file(str(path)).instruct_tokenizer.image_encoder
    assert enc is not None
    cfg = enc.image_config
    ids = (enc.special_ids.img, enc.special_ids.img_break, enc.special_ids.img_end)
    try:
        tok = Tokenizer.from_file(path)
    except TokenizerFileError as e:  # a text tokenizer still being written on another branch
        if "not implemented" not in str(e):
            raise
        return enc, ids
    assert tok.image == {
        "image_patch_size": cfg.image_patch_size,
        "max_image_size": cfg.max_image_size,
        "spatial_merge_size": cfg.spatial_merge_size,
    }
    names = ("[IMG]", "[IMG_BREAK]", "[IMG_END]")
    assert tuple(tok.special_token_id(n) for n in names) == ids
    return enc, ids


ENCODERS = {
    "tekken_240911": _encoder_from_file("tekken_240911.json"),
    "spm_v7m1": _encoder_from_file("mistral_instruct_tokenizer_241114.model.v7m1"),
    "patch14_merge2": (
        ImageEncoder(ImageConfig(14, 1540, 2), SpecialImageIDs(10, 12, 13)),
        (10, 12, 13),
    ),
}


# What mistral_common raises on bad images: ValueError (data URLs, pydantic), RuntimeError (image
# chunks), OSError (PIL while loading pixels, missing files), ImageDecodeException, AssertionError.
REF_ERRORS = (ValueError, RuntimeError, OSError, AssertionError, MistralCommonException)


def ours(image: str | bytes, name: str, kind: str = "image_url", check_pixels: bool = True):
    enc, ids = ENCODERS[name]
    c = enc.image_config
    return _image_tokens(
        image,
        c.image_patch_size,
        c.max_image_size,
        c.spatial_merge_size,
        kind=kind,
        ids=ids,
        check_pixels=check_pixels,
    )


def reference(image: str | bytes, name: str, kind: str = "image_url") -> list[int]:
    enc, _ = ENCODERS[name]
    chunk = ImageURLChunk(image_url=image) if kind == "image_url" else ImageChunk(image=image)
    return enc(chunk).tokens


class Outcome:
    """Tallies how often each branch of the contract was taken (printed with -s)."""

    def __init__(self) -> None:
        self.counts = {"same": 0, "both_reject": 0, "fallback": 0}

    def check(self, image: str | bytes, name: str, kind: str = "image_url", what: str = "") -> str:
        try:
            got = ours(image, name, kind)
        except UnsupportedFeatureError:
            self.counts["fallback"] += 1
            return "fallback"
        except RequestError as e:
            with pytest.raises(REF_ERRORS):
                reference(image, name, kind)
            self.counts["both_reject"] += 1
            return f"reject: {e}"
        want = reference(image, name, kind)
        assert got[0] == want, f"{what}: native {got[1]} vs mistral_common"
        self.counts["same"] += 1
        return "same"


def random_image(rng: random.Random, w: int, h: int, mode: str = "RGB") -> Image.Image:
    """A cheap image with some structure (a gradient plus a little noise)."""
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    base = (np.add.outer(np.arange(h), np.arange(w)) % 256).astype(np.uint8)
    arr = np.repeat(base[:, :, None], channels, axis=2)
    arr = arr ^ nrng.integers(0, 8, size=arr.shape, dtype=np.uint8)
    return Image.fromarray(arr[:, :, 0] if mode == "L" else arr, mode)


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def log_uniform(rng: random.Random, hi: int) -> int:
    return max(1, min(hi, int(round(np.exp(rng.uniform(0, np.log(hi)))))))


FORMATS = {
    "PNG": {},
    "JPEG": {"quality": 85},
    "WEBP": {"quality": 80},
    "GIF": {},
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_random_sizes_all_configs(fmt: str) -> None:
    rng = random.Random(f"sizes-{fmt}")
    # WebP cannot hold more than 16383 px a side; every other limit is far above 4000.
    sizes = [(1, 1), (4000, 4000), (4000, 1), (1, 4000), (1024, 1024), (1025, 1024), (2048, 5)]
    sizes += [(log_uniform(rng, 4000), log_uniform(rng, 4000)) for _ in range(14)]
    out = Outcome()
    for w, h in sizes:
        im = random_image(rng, w, h, "L" if fmt == "GIF" else "RGB")
        data = encode(im, fmt, **FORMATS[fmt])
        assert Image.open(io.BytesIO(data)).size == (w, h)
        url = data_url(data, f"image/{fmt.lower()}")
        for name in ENCODERS:
            assert out.check(url, name, what=f"{fmt} {w}x{h} {name}") == "same"
        # the same bytes as an `image` chunk string and as raw bytes
        assert ours(url, "tekken_240911") == ours(url.split(",", 1)[1], "tekken_240911", "image")
        assert ours(url, "tekken_240911") == ours(data, "tekken_240911")
    print(fmt, out.counts)


def _png_header_only(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"\0") + chunk(b"IEND", b"")


class _Sized:
    def __init__(self, w: int, h: int) -> None:
        self.size = (w, h)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_resize_arithmetic_many_sizes(name: str) -> None:
    """Sizes only (no pixels): mistral_common's ``_image_to_num_tokens`` on thousands of sizes,
    including the half-to-even ties and the clamp, vs our arithmetic on a header-only PNG (read
    with the pixel check off: its image data is a placeholder)."""
    enc, _ = ENCODERS[name]
    rng = random.Random(f"arith-{name}")
    m = enc.image_config.max_image_size
    # PIL refuses to open more than 2 * MAX_IMAGE_PIXELS pixels (tested on the Rust side)
    sizes = [(rng.randint(1, 20000), rng.randint(1, 20000)) for _ in range(3000)]
    sizes = [(w, h) for w, h in sizes if w * h <= 2 * Image.MAX_IMAGE_PIXELS][:1500]
    sizes += [(log_uniform(rng, 13000), log_uniform(rng, 13000)) for _ in range(1500)]
    sizes += [(2 * m, k) for k in range(1, 60)] + [(k, 2 * m) for k in range(1, 60)]
    sizes += [(3 * m, k) for k in range(1, 60)] + [(m + 1, k) for k in range(1, 30)]
    sizes += [(100_000, 1), (1, 100_000), (13376, 13376)]
    for w, h in sizes:
        want = enc._image_to_num_tokens(_Sized(w, h))
        got = ours(_png_header_only(w, h), name, check_pixels=False)[1]
        assert got == want, (w, h)


def test_image_modes_and_transparency() -> None:
    rng = random.Random("modes")
    out = Outcome()
    for mode in ["RGB", "RGBA", "L"]:
        for fmt in ["PNG", "WEBP"]:
            im = random_image(rng, 33, 17, mode)
            out.check(data_url(encode(im, fmt)), "tekken_240911")
    # palette PNG, 16-bit PNG, interlaced GIF, progressive JPEG
    im = random_image(rng, 50, 21).convert("P")
    out.check(data_url(encode(im, "PNG")), "tekken_240911")
    im16 = Image.fromarray((np.arange(30 * 20).reshape(20, 30) * 97 % 65536).astype(np.uint16))
    out.check(data_url(encode(im16, "PNG")), "tekken_240911")
    out.check(
        data_url(encode(random_image(rng, 40, 41, "L"), "GIF", interlace=True)), "tekken_240911"
    )
    out.check(
        data_url(encode(random_image(rng, 61, 23), "JPEG", progressive=True)), "tekken_240911"
    )
    # an animated GIF: the size is the first frame's screen
    frames = [random_image(rng, 20, 10, "L") for _ in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out.check(data_url(buf.getvalue()), "tekken_240911")
    # an animated WebP: the canvas size
    buf = io.BytesIO()
    frames[0].convert("RGB").save(
        buf, format="WEBP", save_all=True, append_images=[f.convert("RGB") for f in frames[1:]]
    )
    out.check(data_url(buf.getvalue()), "tekken_240911")
    # EXIF orientation is not applied: a "rotate 90°" JPEG keeps its stored size
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = encode(random_image(rng, 64, 16), "JPEG", exif=exif.tobytes())
    assert ours(rotated, "tekken_240911")[2] == (64, 16)
    out.check(data_url(rotated), "tekken_240911")
    # grayscale and CMYK JPEG, BMP (24-bit, 8-bit palette, 1-bit)
    out.check(data_url(encode(random_image(rng, 30, 50, "L"), "JPEG")), "tekken_240911")
    out.check(data_url(encode(random_image(rng, 30, 50).convert("CMYK"), "JPEG")), "tekken_240911")
    for mode in ["RGB", "P", "1"]:
        out.check(data_url(encode(random_image(rng, 37, 21).convert(mode), "BMP")), "tekken_240911")
    assert out.counts["fallback"] == 0, out.counts
    assert out.counts["same"] == 18


@pytest.mark.parametrize("fmt", list(FORMATS) + ["BMP"])
def test_truncated_images(fmt: str) -> None:
    rng = random.Random(f"trunc-{fmt}")
    im = random_image(rng, 37, 29, "L" if fmt == "GIF" else "RGB")
    data = encode(im, fmt)
    # keep 16 bytes at least: shorter inputs are not recognised as any format (fallback)
    cuts = sorted(
        set(
            list(range(1, 40))
            + [rng.randrange(1, len(data) - 16) for _ in range(40)]
            + [len(data) // 2]
        )
    )
    out = Outcome()
    for cut in cuts:
        out.check(data_url(data[: len(data) - cut]), "tekken_240911", what=f"{fmt} minus {cut}")
    print(fmt, out.counts)
    if fmt in ("JPEG", "WEBP", "PNG"):
        assert out.counts["fallback"] == 0  # decided natively in every case


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_corrupted_headers_rejected_only_when_mistral_common_rejects(fmt: str) -> None:
    """Random byte changes in the first 64 bytes. Corrupt compressed data in a well-formed GIF,
    JPEG or WebP is a documented gap (accepted natively, refused by PIL), so only rejections are
    compared (PNG image data is compared in full by ``test_png_pixels.py``)."""
    rng = random.Random(f"mut-{fmt}")
    data = encode(random_image(rng, 45, 30, "L" if fmt == "GIF" else "RGB"), fmt)
    rejected = 0
    for _ in range(150):
        m = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            m[rng.randrange(min(64, len(m)))] = rng.randrange(256)
        try:
            ours(bytes(m), "tekken_240911")
        except UnsupportedFeatureError:
            continue
        except RequestError:
            rejected += 1
            with pytest.raises(REF_ERRORS):
                reference(data_url(bytes(m)), "tekken_240911")
    print(fmt, "rejected", rejected)


def test_data_url_errors_have_mistral_common_texts() -> None:
    png = encode(random_image(random.Random(1), 8, 8), "PNG")
    b64 = base64.b64encode(png).decode()
    cases = [
        "data:image/png," + b64,
        "data:image/png;base64,",
        "data:image/png;charset=utf-8," + b64,
        "data:image/png;base64,QQ",
        "data:image/png;base64,QUJDR",
        "data:image/png;base64," + b64[:40] + "é",
        "data:image/png;base64," + base64.b64encode(png[:30]).decode(),
        "ftp://example.com/x.png",
        b64,
    ]
    for url in cases:
        with pytest.raises(REF_ERRORS) as theirs:
            reference(url, "tekken_240911")
        with pytest.raises(RequestError) as mine:
            ours(url, "tekken_240911")
        assert not isinstance(mine.value, UnsupportedFeatureError), url
        assert str(mine.value) == str(theirs.value), url


def test_base64_leniency_matches() -> None:
    png = encode(random_image(random.Random(2), 19, 7), "PNG")
    b64 = base64.b64encode(png).decode()
    variants = [
        "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76)),  # MIME line breaks
        " ".join(b64[i : i + 5] for i in range(0, len(b64), 5)),
        b64.replace("A", "A-", 3),  # non-alphabet characters are skipped
        b64 + "====",  # excess padding
        b64.rstrip("=")
        + ("==" if len(b64.rstrip("=")) % 4 == 2 else "=" if len(b64.rstrip("=")) % 4 == 3 else "")
        + "junk",
        b64[:8] + "==" + b64[8:],  # padding after 8 characters: decoding stops, a 6-byte "image"
        b64.rstrip("="),  # missing padding (only an error when the length needs it)
    ]
    out = Outcome()
    for v in variants:
        for kind, s in [("image_url", "data:image/png;base64," + v), ("image", v)]:
            try:
                got = ours(s, "tekken_240911", kind)
            except UnsupportedFeatureError:
                out.counts["fallback"] += 1
                continue
            except RequestError as e:
                with pytest.raises(REF_ERRORS) as theirs:
                    reference(s, "tekken_240911", kind)
                assert str(e) == str(theirs.value) or kind == "image", (
                    v[:30],
                    str(e),
                    str(theirs.value),
                )
                out.counts["both_reject"] += 1
                continue
            assert got[0] == reference(s, "tekken_240911", kind)
            out.counts["same"] += 1
    print(out.counts)
    assert out.counts["same"] >= 8


def test_file_urls(tmp_path) -> None:
    png = encode(random_image(random.Random(3), 300, 200), "PNG")
    p = tmp_path / "img.png"
    p.write_bytes(png)
    assert ours(f"file://{p}", "tekken_240911")[0] == reference(f"file://{p}", "tekken_240911")
    with pytest.raises(RequestError):
        ours(f"file://{tmp_path / 'missing.png'}", "tekken_240911")
    with pytest.raises(FileNotFoundError):
        reference(f"file://{tmp_path / 'missing.png'}", "tekken_240911")


def test_http_is_left_to_mistral_common() -> None:
    with pytest.raises(UnsupportedFeatureError):
        ours("https://example.com/cat.png", "tekken_240911")


def test_behaviour_map_examples() -> None:
    cases = {
        "tekken_240911": {
            (40, 20): (3, 2),
            (1024, 1024): (64, 64),
            (2048, 512): (64, 16),
            (1000, 3): (63, 1),
            (5000, 1): (64, 1),
        },
        "patch14_merge2": {(40, 20): (2, 1), (1024, 1024): (37, 37), (2048, 512): (55, 14)},
    }
    for name, table in cases.items():
        for (w, h), want in table.items():
            url = data_url(encode(Image.new("RGB", (w, h), "white"), "PNG"))
            got = ours(url, name)
            assert got[1] == want and got[2] == (w, h)
            assert got[0] == reference(url, name)


def test_base64_random_noise_matches() -> None:
    """Random junk, whitespace and '=' inserted into the base64 of a small PNG: Python's lenient
    decoding decides what PIL sees; the native decoder must agree on every variant."""
    rng = random.Random("b64-noise")
    png = encode(random_image(rng, 23, 11), "PNG")
    b64 = base64.b64encode(png).decode()
    alphabet = "=\n\r\t -_.!*~#=="
    out = Outcome()
    for _ in range(300):
        chars = list(b64)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(chars) + 1)
            chars.insert(pos, rng.choice(alphabet))
        if rng.random() < 0.2:
            del chars[rng.randrange(len(chars))]
        variant = "".join(chars)
        for kind, s in [("image_url", "data:image/png;base64," + variant), ("image", variant)]:
            out.check(s, "tekken_240911", kind, what=variant[:40])
    print(out.counts)
    assert out.counts["same"] > 100
