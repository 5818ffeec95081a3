"""Chat requests with audio (``input_audio``, ``audio_url`` data URLs) through the renderer
shims on a real vLLM (0.16+), Voxtral-like tokenizer files: the same ids (or both a ValueError) as
vLLM's own template function, served natively for WAV, FLAC and Ogg Vorbis; formats mistral-tok
does not read (MP3, AIFF, ADPCM WAV ...) and http(s) audio URLs go to vLLM's own function."""

from __future__ import annotations

import asyncio
import random

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.34.0`")
pytest.importorskip("soundfile", reason="vLLM's audio extra is not installed")

from vllm_support import RENDERER, deep, load_vllm_tokenizer, outcome, profile  # noqa: E402

from tests.support.audio_files import (  # noqa: E402
    FALLBACK_SUBTYPES,
    b64,
    random_audio,
    write_audio_tekken_file,
)

pytestmark = pytest.mark.skipif(profile() != RENDERER, reason="renderer profile (vLLM 0.16+)")

KWARGS = dict(tools=None, tokenize=True, return_dict=False, add_generation_prompt=True)
MIME = {"WAV": "audio/wav", "FLAC": "audio/flac", "OGG": "audio/ogg"}


@pytest.fixture(scope="module", params=["chunked", "streaming"])
def audio_tokenizer(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"audio_{request.param}")
    source = write_audio_tekken_file(root, "v7", request.param)
    return load_vllm_tokenizer(source.name, root, source)


def audio_chunk(rng: random.Random, data: bytes, fmt: str) -> dict:
    if rng.random() < 0.5 or fmt not in MIME:
        return {"type": "input_audio", "input_audio": {"data": b64(data), "format": fmt.lower()}}
    url = f"data:{MIME[fmt]};base64,{b64(data)}"
    return {"type": "audio_url", "audio_url": {"url": url}}


def requests(seed: str, n: int) -> list[tuple[list, dict]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        data, desc = random_audio(rng)
        content = [
            {"type": "text", "text": "Transcribe this."},
            audio_chunk(rng, data, desc["format"]),
        ]
        out.append(([{"role": "user", "content": content}], desc))
    return out


def test_audio_chat_requests_match_vllm(unpatched, audio_tokenizer):
    import vllm.renderers.mistral as mod

    tokenizer = audio_tokenizer
    cases = requests("vllm-audio-chat", 40)
    theirs = [
        outcome(lambda m=m: mod.safe_apply_chat_template(tokenizer, deep(m), **KWARGS))
        for m, _ in cases
    ]
    unpatched.patch()
    ours_sync = [
        outcome(lambda m=m: mod.safe_apply_chat_template(tokenizer, deep(m), **KWARGS))
        for m, _ in cases
    ]
    renderer = mod.MistralRenderer(_config(), tokenizer=None)

    async def render_all():
        out = []
        for m, _ in cases:
            try:
                out.append(
                    ("ok", await renderer._apply_chat_template_async(tokenizer, deep(m), **KWARGS))
                )
            except Exception as exc:  # noqa: BLE001
                out.append((type(exc).__name__, str(exc)))
        return out

    ours_async = asyncio.run(render_all())
    stats = unpatched.stats()
    for (_, desc), a, b, c in zip(cases, theirs, ours_sync, ours_async, strict=True):
        assert a[0] == b[0] == c[0], (desc, a, b, c)
        if a[0] == "ok":
            assert a == b == c, desc
    assert sum(t[0] == "ok" for t in theirs) > 10
    # Every well-formed WAV, FLAC or Ogg file is native; the rest may fall back.
    native_kinds = sum(1 for _, d in cases if read_natively(d))
    assert native_kinds > 10
    assert stats["native"] >= 2 * native_kinds, stats


def read_natively(desc: dict) -> bool:
    """A well-formed mono file of a layout mistral-tok reads (not µ-law/A-law/ADPCM WAV)."""
    if desc["damage"] is not None or desc["channels"] != 1 or desc["format"] not in MIME:
        return False
    return desc["subtype"] not in FALLBACK_SUBTYPES


def test_remote_audio_urls_go_to_vllms_function(unpatched, audio_tokenizer):
    """http(s) audio is not fetched by the native path: vLLM's own function answers (here it
    fails to download from a closed local port, patched as unpatched)."""
    import vllm.renderers.mistral as mod

    messages = [
        {
            "role": "user",
            "content": [{"type": "audio_url", "audio_url": {"url": "http://127.0.0.1:9/a.wav"}}],
        }
    ]
    theirs = outcome(
        lambda: mod.safe_apply_chat_template(audio_tokenizer, deep(messages), **KWARGS)
    )
    unpatched.patch()
    ours = outcome(lambda: mod.safe_apply_chat_template(audio_tokenizer, deep(messages), **KWARGS))
    assert ours[0] == theirs[0] == "ValueError", (theirs, ours)
    assert unpatched.stats()["fallback"] == 1


def _config():
    from vllm_doubles import renderer_config

    return renderer_config()
