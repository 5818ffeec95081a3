"""Images in chat requests: ``Tokenizer.encode_chat`` against mistral_common 1.13.1 (which decodes
and resizes every image with its opencv extra), on every file with and without image settings."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("cv2", reason="mistral_common's ImageEncoder needs the opencv extra")

from mistral_common.tokens.tokenizers.mistral import MistralTokenizer  # noqa: E402

import mistral_tok  # noqa: E402
from tests.support.tekken_files import write_tekken_file  # noqa: E402
from tests.test_chat_golden import ALL_FILES, _assert_same, _ours  # noqa: E402

IMAGE_FILES = ALL_FILES + ["mistral_instruct_tokenizer_241114.model.v7m1"]


@pytest.fixture(scope="session")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any]]:
    """File name → (mistral_common tokenizer, mistral_tok tokenizer), loaded on first use."""
    directory = tmp_path_factory.mktemp("tekken_files_images")

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, name: str) -> tuple[Any, Any]:
            if name.startswith("tekken_v"):
                path = write_tekken_file(directory, name[len("tekken_") : -len(".json")])
            else:
                path = mistral_tok.shipped_tokenizer_path(name)
            pair = (MistralTokenizer.from_file(str(path)), mistral_tok.Tokenizer.from_file(path))
            self[name] = pair
            return pair

    return Lazy()


def _url(w: int, h: int, fmt: str = "PNG", color: str = "red") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def img(w: int = 40, h: int = 20, fmt: str = "PNG") -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": _url(w, h, fmt)}}


def txt(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def user(*chunks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(chunks)}


CALL = {
    "id": "abcDEF123",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

CASES: dict[str, tuple[list[dict[str, Any]], list | None]] = {
    "text_then_image_moves_first": ([user(txt("What is this?"), img())], None),
    "image_then_text": ([user(img(), txt("What is this?"))], None),
    "text_image_text_kept": ([user(txt("A"), img(33, 17), txt("B"))], None),
    "two_texts_then_image": ([user(txt("A"), txt("B"), img())], None),
    "two_images": ([user(txt("A"), img(40, 20), img(1000, 3))], None),
    "image_only": ([user(img(2048, 512))], None),
    "jpeg_webp_gif": (
        [user(img(64, 64, "JPEG"), txt("x"), img(70, 30, "WEBP"), img(5, 900, "GIF"))],
        None,
    ),
    "system_and_image": (
        [{"role": "system", "content": "Be brief."}, user(txt("Describe"), img(100, 100))],
        None,
    ),
    "history_with_images": (
        [
            user(txt("first"), img(20, 20)),
            {"role": "assistant", "content": "A cat."},
            user(img(1500, 700), txt("and this?")),
        ],
        None,
    ),
    "image_and_tools": (
        [
            user(txt("Weather where this was taken?"), img(30, 30)),
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": '{"temp": 20}'},
        ],
        TOOLS,
    ),
    "image_in_system_message": (
        [{"role": "system", "content": [txt("s"), img()]}, user(txt("q"))],
        None,
    ),
    "image_in_assistant_message": (
        [user(txt("q")), {"role": "assistant", "content": [img()]}, user(txt("r"))],
        None,
    ),
    "image_in_tool_message": (
        [
            user(txt("look")),
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "abcDEF123", "content": [txt("result"), img(50, 25)]},
        ],
        TOOLS,
    ),
    "truncated_png": (
        [user(txt("x"), {"type": "image_url", "image_url": {"url": _url(40, 20)[:-24] + "A==="}})],
        None,
    ),
    "truncated_jpeg": (
        [user({"type": "image_url", "image_url": _url(40, 20, "JPEG")[:-8]})],
        None,
    ),
    "bad_data_url": (
        [user(txt("x"), {"type": "image_url", "image_url": "data:image/png,xx"})],
        None,
    ),
    "bad_base64": ([user({"type": "image_url", "image_url": "data:image/png;base64,QQ"})], None),
    "unknown_scheme": ([user({"type": "image_url", "image_url": "ftp://x/y.png"})], None),
}


@pytest.mark.parametrize("name", IMAGE_FILES)
@pytest.mark.parametrize("case", list(CASES))
def test_image_requests(tokenizers: dict, name: str, case: str) -> None:
    messages, tools = CASES[case]
    pair = tokenizers[name]
    if case == "truncated_png":
        # PIL may or may not accept a PNG cut inside its image data: we leave it to
        # mistral_common (UnsupportedFeatureError), which _assert_same refuses; check that alone.
        got = _ours(pair[1], messages, tools)
        assert isinstance(got, (list, mistral_tok.RequestError)), got
        return
    _assert_same(pair, messages, tools)


def test_remote_urls_are_left_to_mistral_common(tokenizers: dict) -> None:
    _, tok = tokenizers["tekken_240911.json"]
    messages = [user(txt("x"), {"type": "image_url", "image_url": "https://example.com/a.png"})]
    with pytest.raises(mistral_tok.UnsupportedFeatureError):
        tok.encode_chat(messages)


def test_worked_example_trailing_image_moved_first(tokenizers: dict) -> None:
    """Behaviour map §9: tekken_240911, 40×20 px after "What is this?"."""
    _, tok = tokenizers["tekken_240911.json"]
    got = tok.encode_chat([user(txt("What is this?"), img(40, 20))])
    assert got == [1, 3, 10, 10, 10, 12, 10, 10, 10, 13, 7493, 1395, 1593, 1063, 4]


def test_image_sizes_are_exposed(tokenizers: dict) -> None:
    """The sizes match mistral_common's ``Tokenized.images`` (CHW arrays), in encoding order."""
    mt, tok = tokenizers["tekken_v15.json"]
    messages = [
        user(txt("A"), img(2048, 512)),  # trailing image: encoded first
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "abcDEF123", "content": [img(40, 20), txt("r")]},
    ]
    ids, images = tok.encode_chat_with_images(messages, TOOLS)
    assert ids == tok.encode_chat(messages, TOOLS)
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    ref = mt.encode_chat_completion(ChatCompletionRequest.from_openai(messages, TOOLS))
    assert ids == ref.tokens
    assert [(i["width"], i["height"]) for i in images] == [(2048, 512), (40, 20)]
    assert [(i["width_tokens"], i["height_tokens"]) for i in images] == [(55, 14), (2, 1)]
    shapes = [tuple(a.shape) for a in ref.images]
    assert shapes == [(3, i["resized_height"], i["resized_width"]) for i in images]


def test_known_sizes_of_remote_images(tokenizers: dict) -> None:
    """vLLM fetches remote images before tokenizing: with their sizes given, an http(s) URL is
    encoded natively, with the ids mistral_common gives for the same image inline."""
    mt, tok = tokenizers["tekken_240911.json"]
    remote = "https://example.com/cat.png"
    with_url = [user(txt("What is this?"), {"type": "image_url", "image_url": {"url": remote}})]
    inline = [user(txt("What is this?"), img(300, 1200))]
    ids, images = tok.encode_chat_with_images(with_url, image_sizes={remote: (300, 1200)})
    assert ids == tok.encode_chat(inline)
    assert (images[0]["width"], images[0]["height"]) == (300, 1200)
    with pytest.raises(mistral_tok.UnsupportedFeatureError):
        tok.encode_chat_with_images(with_url, image_sizes={"https://other/": (1, 1)})
