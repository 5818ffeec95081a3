"""vLLM's transcription serving object over doubles, a Voxtral-like model folder and generated
recordings, for ``test_vllm_transcription.py`` and ``benches/vllm_transcription.py``."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from vllm_doubles import ModelConfig

from tests.support.audio_files import write_audio_tekken_file

# The model classes whose transcription prompts the patch builds natively, with the audio
# config of their tokenizer file (Voxtral: 30-second chunks; Voxtral Realtime: streaming).
VOXTRAL = ("voxtral", "VoxtralForConditionalGeneration", "chunked")
REALTIME = ("voxtral_realtime", "VoxtralRealtimeGeneration", "streaming")


@dataclass
class SttModelConfig(ModelConfig):
    def get_diff_sampling_param(self) -> dict[str, Any]:
        return {}


class Renderer:
    """The engine's renderer: keeps what ``_preprocess_speech_to_text`` hands it."""

    def __init__(self) -> None:
        self.rendered: list[Any] = []

    async def render_cmpl_async(self, prompts: list[Any]) -> list[Any]:
        self.rendered.append(prompts)
        return prompts


def model_class(which: tuple[str, str, str]) -> type:
    import importlib

    module, name, _ = which
    return getattr(importlib.import_module(f"vllm.model_executor.models.{module}"), name)


def model_dir(root: Path, config: str) -> Path:
    """A model folder whose ``tekken.json`` is a generated Voxtral-like tekken file."""
    folder = root / f"voxtral_{config}"
    folder.mkdir(exist_ok=True)
    source = write_audio_tekken_file(root, "v7", config)
    (folder / "tekken.json").write_bytes(source.read_bytes())
    return folder


def serving_for(folder: Path, model_cls: type) -> Any:
    """vLLM's ``OpenAIServingTranscription`` for a model of class ``model_cls`` whose tokenizer
    is in ``folder`` (the engine and the model registry are doubles; everything else is vLLM's)."""
    from vllm.entrypoints.openai.models.serving import OpenAIServingModels
    from vllm.entrypoints.speech_to_text.transcription.serving import OpenAIServingTranscription

    model_config = SttModelConfig(model=str(folder), tokenizer=str(folder))
    engine = mock.Mock()
    engine.model_config = model_config
    engine.renderer = Renderer()
    engine.vllm_config = None
    models = mock.Mock(spec=OpenAIServingModels)
    models.model_config = model_config
    # ``model_cls`` is a cached_property, read in ``__init__``.
    with mock.patch(
        "vllm.model_executor.model_loader.get_model_cls", lambda model_config: model_cls
    ):
        return OpenAIServingTranscription(engine, models, request_logger=None)


def recording(seconds: float, rate: int = 16000, seed: int = 0, subtype: str = "FLOAT") -> bytes:
    """A WAV upload: a tone with quiet gaps (vLLM splits at the quietest window), noise, and
    samples beyond full scale. ``FLOAT`` samples come back from vLLM's decode unchanged, so the
    PCM_16 round trip of Voxtral's prompt is what clips them; ``PCM_16`` is what most clients
    send."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    signal = 0.4 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.1 * t) > -0.8)
    signal = signal + rng.normal(0, 0.05, n)
    signal[::997] *= 4.0
    buf = io.BytesIO()
    sf.write(buf, signal.astype(np.float32), rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def transcription_request(language: str | None) -> Any:
    """The fields of a transcription request ``_preprocess_speech_to_text`` reads."""
    from vllm.entrypoints.speech_to_text.transcription.protocol import TranscriptionRequest

    return TranscriptionRequest.model_construct(language=language)  # defaults for the rest


def prompts_as_data(prompts: list[Any]) -> list[tuple[list[int], list[tuple]]]:
    """Each rendered prompt as its ids and, per audio, (array bytes, dtype, shape, rate)."""
    out = []
    for prompt in prompts:
        audio = prompt["multi_modal_data"]["audio"]
        pairs = [audio] if isinstance(audio, tuple) else list(audio)
        out.append(
            (
                list(prompt["prompt_token_ids"]),
                [(a.tobytes(), str(a.dtype), a.shape, rate) for a, rate in pairs],
            )
        )
    return out
