"""vLLM's ``/v1/audio/transcriptions`` preprocessing for Voxtral and Voxtral Realtime, patched vs
unpatched: vLLM's real ``_preprocess_speech_to_text`` (its decode, chunking, prompt parsing) on an
``OpenAIServingTranscription`` over doubles for the engine, with a Voxtral-like tokenizer file.
Prompts (ids) and multimodal arrays must be identical, bit for bit, and the patched prompts must be
built on mistral-tok's worker thread, not on the event loop's."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.34.0`")
pytest.importorskip("soundfile", reason="vLLM's audio extra is not installed")

from stt_support import (  # noqa: E402
    REALTIME,
    VOXTRAL,
    model_class,
    model_dir,
    prompts_as_data,
    recording,
    serving_for,
    transcription_request,
)

from mistral_tok.vllm.profiles import SPEECH_TO_TEXT  # noqa: E402

pytestmark = pytest.mark.skipif(
    SPEECH_TO_TEXT.select().profile is None,
    reason="no speech-to-text contract matches this vLLM",
)


def preprocess(serving: Any, upload: bytes, language: str | None) -> tuple[list[Any], list[str]]:
    """vLLM's ``_preprocess_speech_to_text``: the prompts it renders, and which thread built each
    Voxtral prompt: ``"loop"``, ``"worker"`` (mistral-tok's) or another thread's name."""
    from mistral_common.tokens.tokenizers.audio import Audio

    from mistral_tok import _native

    loop_tid: list[int] = []
    native_tids: list[int] = []
    vllm_threads: list[int] = []
    original_b64 = Audio.to_base64

    def to_base64(audio: Any, *args: Any, **kwargs: Any) -> Any:
        # vLLM's Voxtral prompt writes each chunk as a base64 WAV: the thread doing its work.
        vllm_threads.append(threading.get_native_id())
        return original_b64(audio, *args, **kwargs)

    async def go() -> Any:
        loop_tid.append(threading.get_native_id())
        return await serving._preprocess_speech_to_text(
            transcription_request(language), upload, "req-1"
        )

    _native._samples_encode_threads()
    Audio.to_base64 = to_base64  # type: ignore[method-assign]
    try:
        engine_inputs, duration, offsets = asyncio.run(go())
    finally:
        Audio.to_base64 = original_b64  # type: ignore[method-assign]
        native_tids = _native._samples_encode_threads()
    assert duration > 0 and len(offsets) == len(engine_inputs)
    worker = worker_tid()
    names = {loop_tid[0]: "loop", worker: "worker"}
    built = [names.get(t, str(t)) for t in vllm_threads + native_tids]
    return engine_inputs, built


def worker_tid() -> int | None:
    """The OS thread id of mistral-tok's worker thread (``comm`` is cut to 15 bytes)."""

    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/comm") as f:
            if f.read().strip() == "mistral-tok-wor":
                return int(tid)
    return None


def run_both(mv, which, folder, upload, language):
    """The same upload through an unpatched and a patched serving object."""
    model_cls = model_class(which)
    theirs, theirs_threads = preprocess(serving_for(folder, model_cls), upload, language)
    report = mv.patch()
    assert any("_preprocess_speech_to_text" in p for p in report.patched), report
    ours, ours_threads = preprocess(serving_for(folder, model_cls), upload, language)
    stats = mv.stats()["transcription"]
    mv.unpatch()
    return (theirs, theirs_threads), (ours, ours_threads), stats


@pytest.mark.parametrize(
    ("which", "language", "seconds"),
    [(VOXTRAL, "en", 95.0), (VOXTRAL, None, 61.5), (REALTIME, None, 75.0), (REALTIME, "fr", 2.0)],
    ids=["voxtral-en", "voxtral", "realtime", "realtime-fr-short"],
)
def test_transcription_prompts_native_off_the_loop(unpatched, tmp_path, which, language, seconds):
    folder = model_dir(tmp_path, which[2])
    upload = recording(seconds, seed=int(seconds))
    (theirs, theirs_threads), (ours, ours_threads), stats = run_both(
        unpatched, which, folder, upload, language
    )
    assert prompts_as_data(ours) == prompts_as_data(theirs)
    n = len(theirs)
    if which is VOXTRAL and seconds > 60:
        # vLLM hands Voxtral the whole recording (its config disables vLLM's own splitting);
        # mistral_common pads it to whole 30-second chunks.
        ((array, _),) = theirs[0]["multi_modal_data"]["audio"]
        assert n == 1 and array.shape[0] == 30 * 16000 * int(-(-seconds // 30))
    # Unpatched: every chunk's prompt is built by vLLM's code on the event loop's thread.
    # Patched: every one by mistral-tok's worker thread, none by vLLM's code.
    assert theirs_threads == ["loop"] * n
    assert ours_threads == ["worker"] * n
    assert stats["chunks_native"] == n and stats["chunks_original"] == 0, stats


def test_other_model_classes_keep_vllms_code(unpatched, tmp_path):
    """A subclass of Voxtral (it may build its prompt differently) is left to vLLM's code."""
    voxtral = model_class(VOXTRAL)
    subclass = type("MyVoxtral", (voxtral,), {})
    folder = model_dir(tmp_path, "chunked")
    upload = recording(40.0, seed=3)
    theirs, theirs_threads = preprocess(serving_for(folder, subclass), upload, "en")
    unpatched.patch()
    ours, ours_threads = preprocess(serving_for(folder, subclass), upload, "en")
    stats = unpatched.stats()["transcription"]
    assert prompts_as_data(ours) == prompts_as_data(theirs)
    assert ours_threads == theirs_threads == ["loop"] * len(theirs)
    assert stats["chunks_native"] == 0


def test_unseen_version_self_verifies(unpatched, tmp_path, monkeypatch):
    """On a combination nobody verified, a serving object's first request runs vLLM's code
    while the canaries run; identical canaries make the next requests native."""
    from mistral_tok.vllm import transcription

    monkeypatch.setenv("MISTRAL_TOK_VLLM_VERIFY", "unverified")
    mv = unpatched
    report = mv.patch(version="0.99.0")
    assert "transcription: each Voxtral server self-verifies" in report.verification, report
    folder = model_dir(tmp_path, "chunked")
    serving = serving_for(folder, model_class(VOXTRAL))
    upload = recording(35.0, seed=5)
    first, first_threads = preprocess(serving, upload, "en")
    assert first_threads == ["loop"] * len(first)
    verdict = transcription.LAYER.verifier.wait(serving, timeout=120)
    assert verdict is not None and verdict.native, verdict
    second, second_threads = preprocess(serving, upload, "en")
    assert prompts_as_data(second) == prompts_as_data(first)
    assert second_threads == ["worker"] * len(first)
    (entry,) = mv.stats()["transcription"]["tokenizers"].values()
    assert entry["path"] == "native" and "canaries identical" in entry["why"], entry


def test_a_canary_difference_keeps_vllms_code(unpatched, tmp_path, monkeypatch):
    """A vLLM whose Voxtral prompt differs from ours (here: one more token) fails the canaries."""
    from mistral_tok.vllm import transcription

    monkeypatch.setenv("MISTRAL_TOK_VLLM_VERIFY", "always")
    unpatched.patch()
    voxtral = model_class(VOXTRAL)
    serving = serving_for(model_dir(tmp_path, "chunked"), voxtral)
    assert transcription.voxtral_class(serving) is voxtral  # patches Voxtral's classes
    original = transcription.ORIGINALS[voxtral]

    def changed(cls: Any, stt_params: Any) -> Any:
        prompt = original(cls, stt_params)
        prompt["prompt_token_ids"] = [*prompt["prompt_token_ids"], 1]
        return prompt

    monkeypatch.setitem(transcription.ORIGINALS, voxtral, changed)
    verdict = transcription.LAYER.verifier.wait(serving, timeout=120)
    assert verdict is not None and not verdict.native and "differs" in verdict.why, verdict
    _, threads = preprocess(serving, recording(3.0), None)
    assert threads == ["loop"]


def test_patched_when_vllm_imports_its_speech_to_text_serving():
    """In a process that has not imported vLLM's speech-to-text serving (an engine process),
    ``patch()`` does not import it; vLLM's own import of it later patches it."""
    import subprocess
    import sys

    script = """
import sys
import vllm.renderers.mistral
import mistral_tok.vllm as mv
from mistral_tok.vllm.patching import SPEECH_TO_TEXT_MODULE
report = mv.patch()
assert SPEECH_TO_TEXT_MODULE not in sys.modules, "patch() imported it"
assert any("when vLLM imports" in s for s in report.skipped), report
import vllm.entrypoints.speech_to_text.base.serving as serving
assert any("_preprocess_speech_to_text" in p for p in report.patched), report
assert not any("when vLLM imports" in s for s in report.skipped), report
assert hasattr(serving.SpeechToTextBaseServing._preprocess_speech_to_text, "__wrapped__")
mv.unpatch()
assert not hasattr(serving.SpeechToTextBaseServing._preprocess_speech_to_text, "__wrapped__")
print("ok")
"""
    env = {**os.environ, "MISTRAL_TOK_VLLM_VERIFY": "never"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
