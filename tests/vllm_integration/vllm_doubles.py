"""Minimal config doubles for building vLLM objects without a model, as vLLM's own unit tests do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from unittest.mock import Mock


@dataclass
class HFConfig:
    model_type: str = "any"


@dataclass
class ModelConfig:
    runner_type = "generate"
    model: str = "local-mistral"
    tokenizer: str = "local-mistral"
    trust_remote_code: bool = False
    max_model_len: int = 1 << 24
    tokenizer_revision = None
    tokenizer_mode = "mistral"
    hf_config: HFConfig = field(default_factory=HFConfig)
    encoder_config: dict[str, Any] | None = None
    enable_prompt_embeds: bool = False
    skip_tokenizer_init: bool = False
    is_encoder_decoder: bool = False
    is_multimodal_model: bool = False
    supports_multimodal_inputs: bool = False
    renderer_num_workers: int = 1
    multimodal_config: Any = None


@dataclass
class ParallelConfig:
    _api_process_rank: int = 0


@dataclass
class VllmConfig:
    model_config: ModelConfig
    parallel_config: ParallelConfig


def renderer_config() -> VllmConfig:
    return VllmConfig(ModelConfig(), ParallelConfig())


def openai_serving() -> Any:
    """OpenAIServing over mocks (vLLM 0.10.2-0.14.x), like vLLM's test_serving_engine.py."""
    import inspect

    from vllm.config import ModelConfig as VllmModelConfig
    from vllm.entrypoints.openai.serving_engine import OpenAIServing
    from vllm.entrypoints.openai.serving_models import OpenAIServingModels

    model_config = Mock(spec=VllmModelConfig)
    model_config.max_model_len = 32768
    model_config.multimodal_config = None
    model_config.hf_config = HFConfig()
    model_config.allowed_local_media_path = ""
    model_config.allowed_media_domains = None
    models = Mock(spec=OpenAIServingModels)
    models.model_config = model_config
    models.input_processor = Mock()
    models.processor = Mock()
    models.io_processor = Mock()
    kwargs: dict[str, Any] = dict(engine_client=Mock(), models=models, request_logger=None)
    if "model_config" in inspect.signature(OpenAIServing.__init__).parameters:
        kwargs["model_config"] = model_config  # vLLM <= 0.11.0
    return OpenAIServing(**kwargs)


def chat_request() -> Any:
    """The fields of a chat request ``_preprocess_chat`` reads after templating."""
    from types import SimpleNamespace

    return SimpleNamespace(mm_processor_kwargs=None, cache_salt=None, tool_choice="none")
