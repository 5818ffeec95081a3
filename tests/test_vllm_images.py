"""The vLLM shim's image path without vLLM: sizes of the images vLLM fetched are recorded while
it renders a request and passed to the native encoder, which then needs no network I/O and gives
mistral_common's ids (checked against mistral_common on the same image bytes, inline)."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from mistral_common.protocol.instruct.request import ChatCompletionRequest  # noqa: E402
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

import mistral_tok  # noqa: E402
from mistral_tok.vllm import shims  # noqa: E402


class Fetched:
    """What vLLM's MediaConnector returns: the decoded image (EXIF-normalised by vLLM) with the
    bytes it received (``MediaWithBytes``)."""

    def __init__(self, data: bytes) -> None:
        self.original_bytes = data
        self.media = Image.open(io.BytesIO(data))


def _jpeg_rotated(w: int, h: int) -> bytes:
    """A w×h JPEG whose EXIF says "rotate 90°": vLLM's pixels are h×w, PIL's size (and
    mistral_common's) is w×h."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (w, h), "blue").save(buf, format="JPEG", exif=exif)
    return buf.getvalue()


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), "red").save(buf, format="PNG")
    return buf.getvalue()


def test_fetches_are_recorded_only_while_a_request_renders() -> None:
    url = "https://example.com/a.png"
    shims.record_fetched_image(url, Fetched(_png(30, 10)))
    assert shims.fetched_image_sizes() is None
    with shims.collecting_image_sizes():
        assert shims.fetched_image_sizes() is None
        shims.record_fetched_image(url, Fetched(_png(30, 10)))
        shims.record_fetched_image("https://example.com/r.jpg", Fetched(_jpeg_rotated(40, 20)))
        shims.record_fetched_image("data:image/png;base64,AAAA", Fetched(_png(1, 1)))
        shims.record_fetched_image("https://example.com/nobytes.png", Image.new("RGB", (5, 5)))
        shims.record_fetched_image("https://example.com/junk", Fetched.__new__(Fetched))
        assert shims.fetched_image_sizes() == {url: (30, 10), "https://example.com/r.jpg": (40, 20)}
    assert shims.fetched_image_sizes() is None


def test_fetches_in_tasks_of_the_request_are_recorded() -> None:
    """vLLM resolves a request's images with ``asyncio.gather`` (one task each)."""

    async def fetch(i: int) -> None:
        await asyncio.sleep(0)
        shims.record_fetched_image(f"https://example.com/{i}.png", Fetched(_png(i + 1, 2)))

    async def render() -> Any:
        with shims.collecting_image_sizes():
            await asyncio.gather(*(fetch(i) for i in range(3)))
            return shims.fetched_image_sizes()

    got = asyncio.run(render())
    assert got == {f"https://example.com/{i}.png": (i + 1, 2) for i in range(3)}


@pytest.fixture(scope="module")
def pair() -> tuple[Any, Any]:
    path = mistral_tok.shipped_tokenizer_path("tekken_240911.json")
    return MistralTokenizer.from_file(str(path)), mistral_tok.Tokenizer.from_file(path)


def _messages(url: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


@pytest.mark.parametrize("data", [_png(300, 1200), _jpeg_rotated(640, 200)], ids=["png", "exif"])
def test_a_plan_with_fetched_sizes_encodes_remote_urls_natively(pair, data: bytes) -> None:
    mt, tok = pair
    url = "https://example.com/photo"
    inline = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    want = mt.encode_chat_completion(ChatCompletionRequest.from_openai(_messages(inline))).tokens
    with shims.collecting_image_sizes():
        shims.record_fetched_image(url, Fetched(data))
        sizes = shims.fetched_image_sizes()
    plan = shims.Plan(tok, _messages(url), None, False, {}, True)
    with pytest.raises(mistral_tok.UnsupportedFeatureError):
        shims.run_plan(plan)  # without the sizes: left to vLLM's own function
    plan.image_sizes = sizes
    assert shims.run_plan(plan) == want
    assert asyncio.run(shims.run_plan_async(plan)) == want
    plan.tokenize = False
    text = mt.decode(want, special_token_policy=shims_keep())
    assert shims.run_plan(plan) == text
    assert asyncio.run(shims.run_plan_async(plan)) == text


def shims_keep() -> Any:
    from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

    return SpecialTokenPolicy.KEEP
