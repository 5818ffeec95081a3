"""Images through a real vLLM (renderer profile, 0.16+): data URLs are encoded natively; http(s)
images vLLM fetched are encoded natively from the sizes of the bytes vLLM received, with the ids
vLLM's own function gives (mistral_common downloading the same URL again). The images are served
by a local HTTP server on 127.0.0.1: no outside network."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.33.0`")

import image_server  # noqa: E402
from PIL import Image  # noqa: E402
from vllm_support import RENDERER, deep, outcome, profile  # noqa: E402

from mistral_tok.vllm import shims  # noqa: E402

pytestmark = pytest.mark.skipif(
    profile() != RENDERER, reason="fetched image sizes are used by the renderer profile"
)

FLAGS = {"add_generation_prompt": True, "continue_final_message": False}


def _messages(*urls: str) -> list:
    content = [{"type": "text", "text": "What are these?"}]
    content += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "user", "content": content}]


def _renderer():
    from vllm.renderers.mistral import MistralRenderer
    from vllm_doubles import renderer_config

    return MistralRenderer(renderer_config(), tokenizer=None)


def _connector():
    from mistral_tok.vllm.patching import media_connector

    return media_connector()()


def test_fetched_remote_images_are_native(unpatched, vllm_tokenizers, image_base, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    urls = [image_base + "/a.png", image_base + "/b.jpg"]
    messages = _messages(*urls)

    import vllm.renderers.mistral as mod

    kwargs = dict(tools=None, tokenize=True, return_dict=False, **FLAGS)
    # vLLM's own function: mistral_common downloads both images again.
    theirs = outcome(lambda: mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs))
    assert theirs[0] == "ok", theirs

    unpatched.patch()

    async def render_like_vllm():
        """What MistralRenderer.render_messages_async does around the template: fetch the images
        (each in a task of its own), then apply the template."""
        renderer = _renderer()
        connector = _connector()
        with shims.collecting_image_sizes():
            fetches = (connector.fetch_image_async(u) for u in urls)
            await asyncio.gather(*fetches, return_exceptions=True)
            assert set(shims.fetched_image_sizes() or {}) == set(urls)
            return await renderer._apply_chat_template_async(tokenizer, deep(messages), **kwargs)

    assert asyncio.run(render_like_vllm()) == theirs[1]

    def render_sync():
        connector = _connector()
        with shims.collecting_image_sizes():
            for u in urls:
                connector.fetch_image(u)
            return mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs)

    assert render_sync() == theirs[1]
    stats = unpatched.stats()
    assert stats["native"] == 2 and stats["fallback"] == 0, stats
    # Not fetched by vLLM (no render around the call): vLLM's own function, same answer.
    assert mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs) == theirs[1]
    assert unpatched.stats()["fallback"] == 1


def test_data_urls_are_encoded_natively(unpatched, vllm_tokenizers):
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    url = "data:image/png;base64," + base64.b64encode(image_server.encoded("PNG", 500, 90)).decode()
    messages = _messages(url, url)

    import vllm.renderers.mistral as mod

    kwargs = dict(tools=None, tokenize=True, return_dict=False, **FLAGS)
    theirs = outcome(lambda: mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs))
    unpatched.patch()
    assert outcome(lambda: mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs)) == (
        theirs
    )

    async def run_async():
        return await _renderer()._apply_chat_template_async(tokenizer, deep(messages), **kwargs)

    assert asyncio.run(run_async()) == theirs[1]
    stats = unpatched.stats()
    assert stats["native"] == 2 and stats["fallback"] == 0, stats


def test_pil_images_are_refused_as_vllm_refuses_them(unpatched, vllm_tokenizers):
    """``LLM.chat`` accepts ``image_pil`` chunks, but the raw messages reach mistral_common, which
    has no such chunk type: vLLM's own function raises, and so does the shim (ValueError)."""
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "x"},
                {"type": "image_pil", "image_pil": Image.new("RGB", (20, 10))},
            ],
        }
    ]

    import vllm.renderers.mistral as mod

    kwargs = dict(tools=None, tokenize=True, return_dict=False, **FLAGS)
    theirs = outcome(lambda: mod.safe_apply_chat_template(tokenizer, list(messages), **kwargs))
    unpatched.patch()
    ours = outcome(lambda: mod.safe_apply_chat_template(tokenizer, list(messages), **kwargs))
    assert theirs[0] == ours[0] == "ValueError", (theirs, ours)


def test_corrupt_png_data_is_refused_as_vllm_refuses_it(unpatched, vllm_tokenizers):
    """vLLM's media loading lets a PNG with corrupt zlib data through (its first ``load()`` runs
    inside ``ImageOps.exif_transpose``, which swallows the error, and the second is a no-op); the
    request then fails in mistral_common's own decode inside the template. The shims keep
    mistral-tok's PNG pixel check on, so the patched template fails the same way."""
    from vllm.multimodal.media.image import ImageMediaIO

    bad = image_server.corrupt_png(40, 30)
    ImageMediaIO(image_mode="RGB").load_bytes(bad)  # vLLM's loading accepts it
    with pytest.raises(OSError):
        Image.open(io.BytesIO(bad)).convert("RGB")  # PIL's plain load does not

    tokenizer = vllm_tokenizers["tekken_240911.json"]
    url = "data:image/png;base64," + base64.b64encode(bad).decode()
    messages = _messages(url, url)

    import vllm.renderers.mistral as mod

    kwargs = dict(tools=None, tokenize=True, return_dict=False, **FLAGS)
    theirs = outcome(lambda: mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs))
    unpatched.patch()
    ours = outcome(lambda: mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs))
    assert theirs[0] == ours[0] == "ValueError", (theirs, ours)
    assert unpatched.stats()["fallback"] == 0, unpatched.stats()  # refused natively


@pytest.mark.parametrize("path", ["/corrupt.png", "/corrupt.webp"])
def test_a_fetched_corrupt_image_is_refused_as_unpatched(
    unpatched, vllm_tokenizers, image_base, monkeypatch, path: str
):
    """vLLM fetches a remote PNG whose zlib data is corrupt without complaint (a WebP whose VP8
    data stops halfway may fail its fetch); unpatched, mistral_common downloads it again and its
    decode refuses it. Patched, the probe refuses the bytes vLLM received, so the size is not
    recorded and vLLM's own function answers."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    urls = [image_base + "/a.png", image_base + path]
    messages = _messages(*urls)

    import vllm.renderers.mistral as mod

    kwargs = dict(tools=None, tokenize=True, return_dict=False, **FLAGS)
    theirs = outcome(lambda: mod.safe_apply_chat_template(tokenizer, deep(messages), **kwargs))
    assert theirs[0] == "ValueError", theirs

    unpatched.patch()
    from vllm.connections import global_http_connection

    # Its aiohttp session belongs to the event loop of whichever test fetched first.
    monkeypatch.setattr(global_http_connection, "_async_client", None)

    async def render_like_vllm():
        renderer = _renderer()
        connector = _connector()
        with shims.collecting_image_sizes():
            fetches = (connector.fetch_image_async(u) for u in urls)
            await asyncio.gather(*fetches, return_exceptions=True)
            assert set(shims.fetched_image_sizes() or {}) == {urls[0]}
            return await renderer._apply_chat_template_async(tokenizer, deep(messages), **kwargs)

    assert outcome(lambda: asyncio.run(render_like_vllm())) == theirs
    assert unpatched.stats()["fallback"] == 1, unpatched.stats()
