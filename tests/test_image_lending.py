"""Long image URLs are lent to the encoder, not copied (``src/python/image.rs``): the answers must
not change. Requests with image data URLs above the lending threshold (64 Ki characters), valid
and broken, against mistral_common 1.13.1; the four entry points (``encode_chat``,
``encode_chat_with_images`` and their awaitables) against each other; the caller's objects left
as they were; and the event loop's CPU while 100 MB of image data is encoded."""

from __future__ import annotations

import asyncio
import base64
import copy
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

import mistral_tok  # noqa: E402
from mistral_tok import _native  # noqa: E402
from tests.support.asyncutil import assert_loop_stays_free, measure_loop_work  # noqa: E402
from tests.test_chat_golden import _reference  # noqa: E402
from tests.test_image_chat import CALL, TOOLS, txt, user  # noqa: E402
from tests.test_image_chat import tokenizers as _tokenizers  # noqa: E402

tokenizers = _tokenizers  # test_image_chat's fixture, used through `pairs`


@pytest.fixture(scope="session")
def pairs(tokenizers: dict) -> dict:
    """File name → (mistral_common tokenizer, mistral_tok tokenizer), as in test_image_chat."""
    return tokenizers


FILES = ["tekken_240911.json", "mistral_instruct_tokenizer_241114.model.v7m1", "tekken_v15.json"]


def _noise(w: int, h: int, fmt: str, seed: int = 0) -> bytes:
    """Incompressible pixels: the encoded image is big (a PNG of w*h*3 bytes or more)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format=fmt, **({"compress_level": 1} if fmt == "PNG" else {}))
    return buf.getvalue()


def _data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


PNG = _data_url(_noise(200, 150, "PNG"))
JPEG = _data_url(_noise(400, 300, "JPEG", seed=1), "image/jpeg")
assert len(PNG) > 1 << 16 and len(JPEG) > 1 << 16


class Text(str):
    """A str subclass: never lent, read as usual."""


def _cut(url: str, at: float) -> str:
    i = int(len(url) * at)
    return url[:i] + url[i + 1 :]


def iu(url: Any, as_dict: bool = True) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url} if as_dict else url}


BIG_CASES: dict[str, tuple[list[dict[str, Any]], list | None]] = {
    "png_dict": ([user(txt("What is this?"), iu(PNG))], None),
    "png_str_and_jpeg": ([user(iu(PNG, as_dict=False), txt("and"), iu(JPEG))], None),
    "same_object_twice": ([user(txt("a"), iu(PNG), iu(PNG))], None),
    "history_and_tool": (
        [
            user(txt("Weather where this was taken?"), iu(JPEG)),
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": [txt("r"), iu(PNG)]},
        ],
        TOOLS,
    ),
    "newlines_in_payload": ([user(iu(PNG[:70000] + "\n" + PNG[70000:]))], None),
    "char_missing_mid_payload": ([user(iu(_cut(PNG, 0.5)))], None),
    "padding_missing": ([user(iu(PNG.rstrip("=") + "A"))], None),
    "truncated_jpeg": ([user(txt("x"), iu(JPEG[: len(JPEG) * 7 // 8 // 4 * 4]))], None),
    "non_ascii_payload": ([user(iu(PNG[:-4] + "é==="))], None),
    "non_ascii_mime": ([user(iu("data:imagé/png;base64," + PNG.split(",", 1)[1]))], None),
    "str_subclass": ([user(txt("x"), iu(Text(PNG)))], None),
    "not_base64_header": ([user(iu("data:image/png," + PNG.split(",", 1)[1]))], None),
    "long_unknown_scheme": ([user(iu("ftp://x/" + "a" * 70000))], None),
    "image_in_assistant_message": (
        [user(txt("q")), {"role": "assistant", "content": [iu(PNG)]}, user(txt("r"))],
        None,
    ),
    "extra_key_is_still_refused": (
        [user({"type": "image_url", "image_url": {"url": PNG, "zzz": 1}})],
        None,
    ),
}


# How many URLs of each case are lent (the others are copied as before).
LENT = {case: 1 for case in BIG_CASES} | {
    "png_str_and_jpeg": 2,
    "same_object_twice": 2,
    "history_and_tool": 2,
    "non_ascii_payload": 0,
    "non_ascii_mime": 0,
    "str_subclass": 0,
}


def _outcome(call) -> Any:
    try:
        return call()
    except mistral_tok.MistralTokError as e:
        return type(e)


async def _aoutcome(factory) -> Any:
    try:
        return await factory()
    except mistral_tok.MistralTokError as e:
        return type(e)


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("case", list(BIG_CASES))
def test_long_image_urls_match_mistral_common(pairs: dict, name: str, case: str) -> None:
    messages, tools = BIG_CASES[case]
    before = copy.deepcopy(messages)
    mt, tok = pairs[name]
    ref = _reference(mt, messages, tools)
    got = _outcome(lambda: tok.encode_chat(messages, tools))
    with_images = _outcome(lambda m=messages, t=tools: tok.encode_chat_with_images(m, t))
    if isinstance(ref, Exception):
        assert (
            got is mistral_tok.RequestError
            or got is mistral_tok.UnsupportedFeatureError
            and ("bad_" in case)
        ), (case, ref, got)
        assert with_images is got
    else:
        assert got == ref
        assert with_images[0] == ref

    async def both():
        return (
            await _aoutcome(lambda: tok.encode_chat_async(messages, tools)),
            await _aoutcome(lambda m=messages, t=tools: tok.encode_chat_with_images_async(m, t)),
        )

    got_async, with_images_async = asyncio.run(both())
    assert _native._lent_images(messages) == LENT[case]
    assert got_async == got
    assert with_images_async == with_images
    # the caller's objects are left as they were
    assert messages == before


def test_lent_urls_stay_the_callers_objects(pairs: dict) -> None:
    _, tok = pairs["tekken_240911.json"]
    chunk = iu(PNG)
    messages = [user(txt("x"), chunk)]
    ids, images = tok.encode_chat_with_images(messages)
    assert messages[0]["content"][1] is chunk and chunk["image_url"]["url"] is PNG
    assert (images[0]["width"], images[0]["height"]) == (200, 150)
    inline_small = [user(txt("x"), iu(_data_url(_png_of_size(200, 150))))]
    assert ids == tok.encode_chat(inline_small)


def _png_of_size(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_a_stand_in_lookalike_is_an_ordinary_url(pairs: dict) -> None:
    """A request cannot name another request's lent text: a string shaped like a stand-in is an
    unknown URL scheme, as for mistral_common."""
    mt, tok = pairs["tekken_240911.json"]
    fake = "\ufdd0mistral-tok-image:0000000000000000:0"
    messages = [user(txt("x"), iu(PNG), iu(fake))]
    assert isinstance(_reference(mt, messages, None), Exception)
    with pytest.raises(mistral_tok.RequestError, match="Unsupported image url scheme"):
        tok.encode_chat(messages)


def test_async_with_images_equals_sync_on_small_requests(pairs: dict) -> None:
    from tests.test_image_chat import CASES

    _, tok = pairs["tekken_v15.json"]

    async def run_all():
        out = []
        for messages, tools in CASES.values():
            out.append(
                await _aoutcome(lambda m=messages, t=tools: tok.encode_chat_with_images_async(m, t))
            )
        return out

    want = [
        _outcome(lambda m=messages, t=tools: tok.encode_chat_with_images(m, t))
        for messages, tools in CASES.values()
    ]
    assert asyncio.run(run_all()) == want


def test_async_with_images_takes_known_sizes_and_long_texts(pairs: dict) -> None:
    _, tok = pairs["tekken_240911.json"]
    remote = "https://example.com/cat.png"
    long_text = "word " * 200_000  # staged on the loop, as in encode_chat_async
    messages = [user(txt(long_text), iu(remote), iu(PNG))]
    sizes = {remote: (300, 1200)}
    want = tok.encode_chat_with_images(messages, image_sizes=sizes)

    async def go():
        return await tok.encode_chat_with_images_async(messages, image_sizes=sizes)

    assert asyncio.run(go()) == want
    lone = [user(txt(long_text + "\ud800"), iu(PNG))]
    with pytest.raises(mistral_tok.UnsupportedFeatureError):
        tok.encode_chat_with_images(lone)

    async def go_lone():
        return await tok.encode_chat_with_images_async(lone)

    with pytest.raises(mistral_tok.UnsupportedFeatureError):
        asyncio.run(go_lone())


def _hundred_megabytes_of_images() -> list[str]:
    """Ten distinct ~10 MB PNG data URLs (stored, not compressed: cheap to build)."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (1400, 1800, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=0)
    payload = base64.b64encode(buf.getvalue()).decode()
    # distinct objects (each its own 10 MB), same image
    return ["".join(["data:image/png;base64,", payload]) for _ in range(10)]


@pytest.mark.asyncio
async def test_a_hundred_megabytes_of_images_do_not_occupy_the_loop(pairs: dict, loop_lag):
    """The image URLs are lent to the worker in O(1) each, so the loop never works through a
    large share of the job at a stretch (CPU time against an idle baseline: see ``LoopWork``)."""
    _, tok = pairs["tekken_240911.json"]
    urls = _hundred_megabytes_of_images()
    assert sum(map(len, urls)) > 100_000_000
    messages = [user(txt("Describe these."), *[iu(u) for u in urls])]
    want = tok.encode_chat_with_images(messages)
    got, work = await measure_loop_work(
        lambda: tok.encode_chat_with_images_async(messages), loop_lag
    )
    assert got == want
    assert len(got[1]) == 10 and (got[1][0]["width"], got[1][0]["height"]) == (1800, 1400)
    print("encode_chat_with_images_async:", work)
    assert_loop_stays_free(work)
    ids, work = await measure_loop_work(lambda: tok.encode_chat_async(messages), loop_lag)
    assert ids == want[0]
    print("encode_chat_async:", work)
    assert_loop_stays_free(work)


def test_truncation_with_lent_images_async_equals_sync(pairs: dict) -> None:
    """Turns dropped by truncation keep their images listed, lent or not, sync or async."""
    _, tok = pairs["tekken_240911.json"]
    messages = [
        user(txt("first"), iu(PNG)),
        {"role": "assistant", "content": "A picture."},
        user(iu(JPEG), txt("and this one?")),
    ]
    whole = tok.encode_chat_with_images(messages)
    limit = len(whole[0]) - 5
    fields = {"truncate_for_context_length": True, "max_model_input_len": limit}
    want = _outcome(lambda: tok.encode_chat_with_images(messages, **fields))

    async def go():
        return await _aoutcome(lambda: tok.encode_chat_with_images_async(messages, **fields))

    assert asyncio.run(go()) == want
    assert want[0] == _outcome(lambda: tok.encode_chat(messages, **fields))
    assert len(want[1]) == 2
