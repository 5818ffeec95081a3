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


def _corrupt_png(w: int, h: int) -> bytes:
    """Intact chunks, broken zlib data: PIL opens it, mistral_common's decode refuses it."""
    data = bytearray(_png(w, h))
    at = data.index(b"IDAT") + 4
    data[at + 2 : at + 8] = b"\xff" * 6
    return bytes(data)


def test_bytes_mistral_common_would_refuse_are_not_recorded() -> None:
    """A remote image whose data does not decode is left to vLLM's own function (unpatched,
    mistral_common refuses it), synchronously and through the async fetch."""
    ok, bad = "https://example.com/ok.png", "https://example.com/bad.png"
    assert not _decodes(_corrupt_png(64, 64)) and _decodes(_png(64, 64))

    async def fetches() -> Any:
        with shims.collecting_image_sizes():
            await shims.record_fetched_image_async(ok, Fetched(_png(64, 32)))
            await shims.record_fetched_image_async(bad, Fetched(_corrupt_png(64, 64)))
            await shims.record_fetched_image_async("data:image/png;base64,AA", Fetched(_png(1, 1)))
            return shims.fetched_image_sizes()

    assert asyncio.run(fetches()) == {ok: (64, 32)}
    with shims.collecting_image_sizes():
        shims.record_fetched_image(ok, Fetched(_png(64, 32)))
        shims.record_fetched_image(bad, Fetched(_corrupt_png(64, 64)))
        assert shims.fetched_image_sizes() == {ok: (64, 32)}


def _decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        return True
    except Exception:  # noqa: BLE001 - any PIL failure is a refusal
        return False


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


# ---------------------------------------------------------------------------------------------
# vLLM <= 0.14: the request's own fetches, shared with the template call (shims.RemoteImages).


def test_remote_image_urls() -> None:
    messages = [
        {"role": "system", "content": "x"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": "https://h/1.png"}},
                {"type": "image_url", "image_url": "http://h/2.png"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://h/1.png"}},
                {"type": "image", "image": "https://h/3.png"},
            ],
        },
    ]
    assert shims.remote_image_urls(messages) == ["https://h/1.png", "http://h/2.png"]
    assert shims.remote_image_urls(_messages("data:image/png;base64,AAAA")) == []
    assert shims.remote_image_urls("not messages") == []


class Loaded:
    """What vLLM 0.11's MediaConnector returns: a decoded PIL image, no bytes."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size


def _fetches(images: dict[str, Any], started: list[int], fail: BaseException | None = None):
    """A stand-in for vLLM's ``mm_tracker.all_mm_data()``: one task per image, as vLLM gathers
    them, each recording what it got."""

    async def fetch(url: str, image: Any) -> Any:
        await asyncio.sleep(0)
        if fail is not None:
            raise fail
        shims.record_remote_image(url, image)
        return image

    async def all_mm_data() -> Any:
        started.append(1)
        return {"image": await asyncio.gather(*(fetch(u, i) for u, i in images.items()))}

    return all_mm_data()


def test_remote_images_share_one_fetch_with_vllm() -> None:
    png, jpeg = _png(300, 1200), _jpeg_rotated(640, 200)
    images = {
        "https://h/a.png": Fetched(png),
        "https://h/b.jpg": Fetched(jpeg),
        "https://h/c": Loaded((33, 17)),
    }
    started: list[int] = []

    async def request() -> Any:
        remote = shims.RemoteImages("msgs", _fetches(images, started), list(images))
        sizes = await remote.sizes()  # the template call
        assert await remote.sizes() == sizes
        mm_data = await remote  # vLLM's own await: the same fetch, not a second one
        assert await remote.sizes() is None  # released
        return sizes, mm_data

    sizes, mm_data = asyncio.run(request())
    assert sizes == {
        "https://h/a.png": (300, 1200),
        "https://h/b.jpg": (640, 200),
        "https://h/c": (33, 17),
    }
    assert mm_data == {"image": list(images.values())}
    assert started == [1]


def test_remote_images_that_failed_or_are_unvouched_go_to_vllm() -> None:
    async def request(images: dict[str, Any], fail: BaseException | None = None) -> Any:
        remote = shims.RemoteImages("msgs", _fetches(images, [], fail), list(images))
        sizes = await remote.sizes()
        try:
            await remote
        except Exception as exc:  # noqa: BLE001
            return sizes, exc
        return sizes, None

    error = ValueError("vLLM's own fetch error")
    assert asyncio.run(request({"https://h/a.png": Fetched(_png(3, 4))}, error)) == (None, error)
    truncated = _jpeg_rotated(64, 64)[:-40]
    assert asyncio.run(request({"https://h/t.jpg": Fetched(truncated)})) == (None, None)
    assert asyncio.run(request({"https://h/x": Loaded((0, 5))})) == (None, None)
    # A URL vLLM fetched under another spelling: no size for the one mistral_common would get.
    remote_urls = ["https://h/a.png", "https://h/other.png"]

    async def mismatch() -> Any:
        remote = shims.RemoteImages(
            "m", _fetches({"https://h/a.png": Fetched(_png(3, 4))}, []), remote_urls
        )
        return await remote.sizes()

    assert asyncio.run(mismatch()) is None


def test_cancelling_the_template_call_cancels_the_fetches() -> None:
    gate: list[asyncio.Future[Any]] = []

    async def slow_fetches() -> Any:
        gate.append(asyncio.get_running_loop().create_future())
        return await gate[0]

    async def request() -> Any:
        remote = shims.RemoteImages("m", slow_fetches(), ["https://h/a.png"])
        waiting = asyncio.ensure_future(remote.sizes())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        with pytest.raises(asyncio.CancelledError):
            await remote

    asyncio.run(request())
    assert gate and gate[0].cancelled()


def test_remote_images_for_matches_the_same_messages_once() -> None:
    messages: list[Any] = []

    async def request() -> Any:
        remote = shims.RemoteImages(messages, asyncio.sleep(0), [])
        token = shims.REMOTE_IMAGES.set(remote)
        try:
            assert shims.remote_images_for(list(messages)) is None  # equal, not the same
            assert shims.remote_images_for(messages) is remote
            assert shims.remote_images_for(messages) is None  # taken
        finally:
            shims.REMOTE_IMAGES.reset(token)
        await remote

    asyncio.run(request())


@pytest.mark.parametrize(
    "fmt,mode", [("PNG", "RGB"), ("JPEG", "RGB"), ("GIF", "P"), ("WEBP", "RGB"), ("BMP", "RGB")]
)
def test_image_size_reads_what_pil_reads(fmt: str, mode: str) -> None:
    for w, h in [(1, 1), (33, 17), (2000, 3), (640, 480)]:
        buf = io.BytesIO()
        Image.new(mode, (w, h)).save(buf, format=fmt)
        data = buf.getvalue()
        assert mistral_tok.image_size(data) == Image.open(io.BytesIO(data)).size == (w, h)
    with pytest.raises(mistral_tok.RequestError):
        mistral_tok.image_size(data[:30])
    with pytest.raises(TypeError):
        mistral_tok.image_size(base64.b64encode(data).decode())  # type: ignore[arg-type]
