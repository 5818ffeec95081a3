"""Remote (http) images through vLLM <= 0.14's own ``OpenAIServing._preprocess_chat``, patched vs
unpatched: same ids, prompt text, multimodal data and conversation, and the same answer where
the request fails (what ``serving_chat`` turns into the HTTP reply: status and message). Patched,
vLLM's own fetches give the sizes (nothing downloaded twice) and mistral_common's image code is
not called unless a fetch failed or the bytes need its judgement. ``LLM.chat``'s path (a
synchronous parse that fetches, then the template call) is checked the same way.

The images come from a loopback server (``image_server.py``); vLLM's per-model multimodal
processor is replaced by a stub that accepts any number of images (there is no model here).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from types import SimpleNamespace

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.14.1`")

import image_server  # noqa: E402
from vllm_support import EXECUTOR, SYNC, deep, profile  # noqa: E402

pytestmark = pytest.mark.skipif(
    profile() not in (SYNC, EXECUTOR),
    reason="OpenAIServing._preprocess_chat applies the Mistral template only up to vLLM 0.14",
)

# Pixtral (tekken, V7 image settings), SentencePiece V7 with images, and a file without images.
REMOTE_FALLBACK = "remote image vLLM could not fetch or mistral-tok cannot vouch for"
NAMES = ["tekken_240911.json", "mistral_instruct_tokenizer_241114.model.v7m1", "tekken_240718.json"]


@pytest.fixture()
def multimodal(monkeypatch):
    """vLLM's parse as for a model that takes images; calls of mistral_common's image encoder."""
    import mistral_common.tokens.tokenizers.image as mc_image
    from vllm.entrypoints import chat_utils

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    tracker = chat_utils.BaseMultiModalItemTracker
    processor = SimpleNamespace(validate_num_items=lambda modality, n: None)
    model_cls = SimpleNamespace(get_placeholder_str=lambda modality, i: None)
    monkeypatch.setattr(tracker, "mm_processor", property(lambda self: processor))
    monkeypatch.setattr(tracker, "model_cls", property(lambda self: model_cls))

    calls: list[str] = []
    original = mc_image.ImageEncoder.__call__

    def spy(self, content):
        calls.append(content.get_url() if hasattr(content, "get_url") else "image")
        return original(self, content)

    monkeypatch.setattr(mc_image.ImageEncoder, "__call__", spy)
    return calls


def _messages(*urls: str, role: str = "user", text: str = "What are these?") -> list:
    content = [{"type": "text", "text": text}]
    content += [{"type": "image_url", "image_url": {"url": u}} for u in urls]
    return [{"role": "system", "content": "Be brief."}, {"role": role, "content": content}]


def _requests(base: str) -> list[tuple[list, bool]]:
    """(messages, whether the patched run may call mistral_common's image code)."""
    good = [base + p for p in image_server.GOOD]
    data_url = (
        "data:image/png;base64," + base64.b64encode(image_server.encoded("PNG", 50, 70)).decode()
    )
    out: list[tuple[list, bool]] = [(_messages(u), False) for u in good]
    out += [
        (_messages(*good), False),
        (_messages(good[0], good[1], good[0]), False),  # the same URL twice
        (_messages(data_url, good[3]), False),
        (_messages(), False),
        (_messages(good[0], role="robot"), False),  # invalid request with a remote image
        (
            [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": good[2]}}]},
                {"role": "assistant", "content": "A green square."},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": good[4]}}]},
            ],
            False,
        ),
        # A bare string as image_url: mistral_common takes it, vLLM's parse does not.
        ([{"role": "user", "content": [{"type": "image_url", "image_url": good[0]}]}], False),
    ]
    out += [(_messages(base + p), True) for p in image_server.BAD]
    out += [
        (_messages(image_server.unreachable_url()), True),
        (_messages(good[1], base + "/missing.png"), True),
        (_messages(base + "/text.png", role="robot"), True),
    ]
    return out


def _scrub(text: str) -> str:
    # Object addresses; the path mistral-tok puts before a validation error (README: deliberate
    # differences), e.g. "messages[1]: Unknown message role: robot".
    text = re.sub(r" at 0x[0-9a-f]+", " at 0x?", text)
    return re.sub(r"(^| )messages\[\d+\]: ", r"\1", text)


def _as_http(exc: BaseException) -> tuple[int, str]:
    """What vLLM's ``create_chat_completion`` answers when ``_preprocess_chat`` raises: these
    types become a 400 with ``f"{e} {e.__cause__}"``; anything else escapes (a 500)."""
    import jinja2

    if isinstance(exc, (ValueError, TypeError, RuntimeError, jinja2.TemplateError)):
        return 400, _scrub(f"{exc} {exc.__cause__}")
    return 500, type(exc).__name__


def _image_summary(item) -> tuple:
    media = getattr(item, "media", item)
    data = getattr(item, "original_bytes", None)
    try:
        pixels = hashlib.sha1(media.tobytes()).hexdigest()
    except Exception as exc:  # noqa: BLE001 - vLLM 0.14 decodes lazily: this is its first decode
        pixels = f"undecodable: {type(exc).__name__}"
    return (
        type(item).__name__,
        media.size,
        media.mode,
        pixels,
        hashlib.sha1(data).hexdigest() if data is not None else None,
    )


def _summary(result) -> tuple:
    *rest, engine_prompts = result
    prompts = []
    for prompt in engine_prompts:
        prompt = dict(prompt)
        mm = prompt.pop("multi_modal_data", None)
        if mm is not None:
            prompt["multi_modal_data"] = {k: [_image_summary(i) for i in v] for k, v in mm.items()}
        prompts.append(prompt)
    return (*rest, prompts)


def _preprocess_all(tokenizer, requests, calls) -> list[tuple]:
    """Each request through a fresh ``OpenAIServing._preprocess_chat``, in one event loop:
    ``(outcome, calls of mistral_common's image encoder)``."""
    from vllm.connections import global_http_connection
    from vllm_doubles import chat_request, openai_serving

    serving = openai_serving()

    async def go():
        global_http_connection._async_client = None  # its aiohttp session is per event loop
        results = []
        for messages in requests:
            before = len(calls)
            try:
                result = await serving._preprocess_chat(
                    chat_request(),
                    tokenizer,
                    messages,
                    chat_template=None,
                    chat_template_content_format="string",
                    tool_dicts=None,
                    add_generation_prompt=True,
                    continue_final_message=False,
                )
                outcome: tuple = ("ok", _summary(result))
            except Exception as exc:  # noqa: BLE001 - compared as the HTTP reply
                outcome = ("error", _as_http(exc))
            results.append((outcome, len(calls) - before))
        client = global_http_connection._async_client
        if client is not None:
            await client.close()
        global_http_connection._async_client = None
        return results

    return asyncio.run(go())


@pytest.mark.parametrize("name", NAMES)
def test_remote_images_patched_equal_unpatched(
    unpatched, vllm_tokenizers, image_base, multimodal, name
):
    mv = unpatched
    tokenizer = vllm_tokenizers[name]
    cases = _requests(image_base)
    requests = [m for m, _ in cases]
    theirs = _preprocess_all(tokenizer, deep(requests), multimodal)
    report = mv.patch()
    assert any("remote images" in p for p in report.patched), str(report)
    ours = _preprocess_all(tokenizer, deep(requests), multimodal)
    stats = mv.stats()
    mv.unpatch()

    n_ok = 0
    for (messages, may_call), (t, _), (o, o_calls) in zip(cases, theirs, ours, strict=False):
        assert t == o, messages
        n_ok += t[0] == "ok"
        if not may_call:
            assert o_calls == 0, ("mistral_common encoded an image", messages)
    if name == "tekken_240911.json":
        # The control: vLLM's own function runs mistral_common's image encoder.
        assert sum(c for _, c in theirs) > 0
        assert n_ok >= 13, theirs
    print(f"{name}: {n_ok}/{len(cases)} accepted, unpatched = patched; {stats}")
    # Remote images never reach the native encoder without their size; the fallbacks are the
    # broken images (mistral_common words the error) and, on 0.11, the invalid roles.
    fallbacks = stats["fallback_reasons"]
    assert fallbacks.get(REMOTE_FALLBACK) == sum(may for _, may in cases), fallbacks
    assert not any("http" in reason for reason in fallbacks), fallbacks
    assert stats["fallback"] <= sum(may for _, may in cases) + 2, stats


def test_error_replies(unpatched, vllm_tokenizers, image_base, multimodal):
    """The HTTP replies users get for broken remote images (unpatched, and so patched too)."""
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    urls = {
        "404": image_base + "/missing.png",
        "500": image_base + "/broken.png",
        "text": image_base + "/text.png",
        "truncated": image_base + "/truncated.jpg",
        "refused": image_server.unreachable_url(),
    }
    requests = [_messages(u) for u in urls.values()]
    theirs = _preprocess_all(tokenizer, deep(requests), multimodal)
    unpatched.patch()
    ours = _preprocess_all(tokenizer, deep(requests), multimodal)
    replies = dict(zip(urls, (t for t, _ in theirs), strict=False))
    assert [t for t, _ in theirs] == [o for o, _ in ours]
    for key, (kind, (status, message)) in replies.items():
        print(f"{key}: {status} {message[:160]!r}")
        assert kind == "error" and status == 400, (key, status, message)
    assert "404 Client Error" in replies["404"][1][1]
    assert "500 Server Error" in replies["500"][1][1]
    assert "cannot identify image file" in replies["text"][1][1]
    assert "truncated" in replies["truncated"][1][1]
    assert (
        "Connection refused" in replies["refused"][1][1]
        or "Max retries" in (replies["refused"][1][1])
    )


def test_image_chunk_shapes(unpatched, vllm_tokenizers, image_base, multimodal):
    """The shapes of ``image_url`` chunks (0.11 validates them directly, not via ``from_openai``:
    the shim's gate lets through only those both read alike), data and remote URLs."""
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    data_url = (
        "data:image/png;base64," + base64.b64encode(image_server.encoded("PNG", 90, 30)).decode()
    )
    remote = image_base + "/c.gif"

    def user(*chunks):
        return [{"role": "user", "content": list(chunks)}]

    text = {"type": "text", "text": "x"}
    requests = []
    for url in (data_url, remote):
        requests += [
            user({"type": "image_url", "image_url": {"url": url, "detail": "high"}}, text),
            user(text, {"type": "image_url", "image_url": {"url": url, "detail": None}}),
            user(text, {"type": "image_url", "image_url": {"url": url}, "uuid": "img-1"}),
            user({"type": "image_url", "image_url": {"url": url, "other": 1}}),
            [
                {
                    "role": "system",
                    "content": [text, {"type": "image_url", "image_url": {"url": url}}],
                },
                *user(text),
            ],
            [
                *user(text),
                {
                    "role": "assistant",
                    "content": [{"type": "image_url", "image_url": {"url": url}}],
                },
                *user(text),
            ],
        ]
    theirs = _preprocess_all(tokenizer, deep(requests), multimodal)
    unpatched.patch()
    ours = _preprocess_all(tokenizer, deep(requests), multimodal)
    for messages, (t, _), (o, _) in zip(requests, theirs, ours, strict=False):
        if t[0] == "error" and "validation error" in t[1][1]:
            # pydantic's layout vs mistral-tok's path (README: deliberate differences)
            assert o[0] == "error" and o[1][0] == t[1][0], (messages, t, o)
        else:
            assert t == o, messages
    print([t[0] for t, _ in theirs], unpatched.stats())
    assert any(t[0] == "ok" for t, _ in theirs)


@pytest.mark.parametrize(
    ("path", "error"), [("/corrupt.png", "data stream"), ("/corrupt.webp", "next frame")]
)
def test_corrupt_compressed_data(
    unpatched, vllm_tokenizers, image_base, multimodal, path: str, error: str
):
    """A complete PNG with corrupt zlib data, a WebP whose VP8 data stops halfway: vLLM 0.14
    does not decode them when it fetches them, but mistral-tok's probe decodes them as PIL does,
    refuses them, and leaves the request to vLLM's own function (mistral_common's decode fails:
    the unpatched 400)."""
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    requests = [_messages(image_base + path)]
    theirs = _preprocess_all(tokenizer, deep(requests), multimodal)
    assert theirs[0][0][0] == "error" and error in theirs[0][0][1][1], theirs
    unpatched.patch()
    ours = _preprocess_all(tokenizer, deep(requests), multimodal)
    assert [t for t, _ in theirs] == [o for o, _ in ours]


def _chat_offline(tokenizer, requests, calls) -> list[tuple]:
    """What ``LLM.chat`` does per conversation (vLLM <= 0.14): the synchronous parse (which
    fetches the images), then the template call."""
    import inspect

    import vllm.entrypoints.llm as llm
    from vllm_doubles import openai_serving

    model_config = openai_serving().model_config
    with_tokenizer = "tokenizer" in inspect.signature(llm.parse_chat_messages).parameters
    results = []
    for messages in requests:
        before = len(calls)
        try:
            args = (tokenizer,) if with_tokenizer else ()
            _, mm_data, _ = llm.parse_chat_messages(
                messages, model_config, *args, content_format="string"
            )
            ids = llm.apply_mistral_chat_template(
                tokenizer,
                messages=messages,
                chat_template=None,
                tools=None,
                add_generation_prompt=True,
                continue_final_message=False,
            )
            images = [_image_summary(i) for i in (mm_data or {}).get("image", [])]
            outcome: tuple = ("ok", list(ids), images)
        except Exception as exc:  # noqa: BLE001
            outcome = ("error", _as_http(exc))
        results.append((outcome, len(calls) - before))
    return results


def test_llm_chat_remote_images(unpatched, vllm_tokenizers, image_base, multimodal):
    tokenizer = vllm_tokenizers["tekken_240911.json"]
    cases = _requests(image_base)
    requests = [m for m, _ in cases]
    theirs = _chat_offline(tokenizer, deep(requests), multimodal)
    unpatched.patch()
    ours = _chat_offline(tokenizer, deep(requests), multimodal)
    stats = unpatched.stats()
    for (messages, may_call), (t, _), (o, o_calls) in zip(cases, theirs, ours, strict=False):
        assert t == o, messages
        if not may_call:
            assert o_calls == 0, ("mistral_common encoded an image", messages)
    n_ok = sum(t[0] == "ok" for t, _ in theirs)
    print(f"LLM.chat: {n_ok}/{len(cases)} accepted, unpatched = patched; {stats}")
    assert n_ok >= 13
    assert not any("http" in reason for reason in stats["fallback_reasons"]), stats
