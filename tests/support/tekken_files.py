"""Generated tekken files for the versions mistral_common ships no tekken file for (v7 … v15).

Each file is the shipped ``tekken_240911.json`` vocabulary and pattern with ``config.version`` set
to the target version, ``default_vocab_size`` 131072 and ``default_num_special_tokens`` 1000, and
the special-token layout of mistral_common's own test helper (behaviour map §2.4 "Layout used by
the test suite"): the 20 historical tokens at 0–19, ``[ARGS]`` 32 and ``[CALL_ID]`` 33 (v11+),
``[THINK]`` 35 and ``[/THINK]`` 36 (v13+), ``[MODEL_SETTINGS]`` 37 and ``[/MODEL_SETTINGS]`` 38
(v15); every other position up to the last defined one is an explicit ``<SPECIAL_i>``, and
``Tekkenizer`` generates the rest up to 1000. An ``image`` section (patch 14, max 1540, merge 2)
and, for v15, a ``model_settings_builder`` (reasoning effort none|high, default none, plus a JSON
schema builder) are added as the mistral_common test files have them.
"""

from __future__ import annotations

import json
from pathlib import Path

from mistral_common.tokens.tokenizers.base import SpecialTokens, TokenizerVersion
from mistral_common.tokens.tokenizers.tekken import Tekkenizer

from mistral_tok import shipped_tokenizer_path

VERSIONS = ("v7", "v11", "v13", "v15")
NUM_SPECIAL_TOKENS = 1000
VOCAB_SIZE = 131072
IMAGE_SECTION = {"image_patch_size": 14, "max_image_size": 1540, "spatial_merge_size": 2}

_source_cache: dict[str, dict] = {}


def _source() -> dict:
    if "data" not in _source_cache:
        path = shipped_tokenizer_path("tekken_240911.json")
        with open(path, encoding="utf-8") as f:
            _source_cache["data"] = json.load(f)
    return _source_cache["data"]


def special_token_layout(version: str) -> list[dict]:
    """The special tokens written into the file for ``version`` (mistral_common's test layout)."""
    v = TokenizerVersion(version)
    named: dict[int, str] = {
        t["rank"]: str(t["token_str"]) for t in Tekkenizer.DEPRECATED_SPECIAL_TOKENS
    }
    if v > TokenizerVersion.v7:
        named[32] = SpecialTokens.args.value
        named[33] = SpecialTokens.call_id.value
    if v >= TokenizerVersion.v13:
        named[35] = SpecialTokens.begin_think.value
        named[36] = SpecialTokens.end_think.value
    if v >= TokenizerVersion.v15:
        named[37] = SpecialTokens.begin_model_settings.value
        named[38] = SpecialTokens.end_model_settings.value
    return [
        {
            "rank": i,
            "token_str": named.get(i, Tekkenizer.SPECIAL_TOKEN_TEMPLATE.format(id=i)),
            "is_control": True,
        }
        for i in range(max(named) + 1)
    ]


def model_settings_builder_section() -> dict:
    from mistral_common.protocol.instruct.request import ReasoningEffort
    from mistral_common.tokens.tokenizers.model_settings_builder import (
        JSONSchemaBuilder,
        ModelSettingsBuilder,
        ReasoningEffortEnumBuilder,
    )

    builder = ModelSettingsBuilder(
        reasoning_effort=ReasoningEffortEnumBuilder(
            values=[ReasoningEffort.none, ReasoningEffort.high], default=ReasoningEffort.none
        ),
        json_schema=JSONSchemaBuilder(),
    )
    return builder.model_dump(mode="json")


def write_tekken_file(directory: Path, version: str, *, image: bool = True) -> Path:
    """Writes ``tekken_<version>.json`` into ``directory`` and returns its path."""
    if version not in VERSIONS:
        raise ValueError(f"no generated tekken layout for {version!r}; expected one of {VERSIONS}")
    src = _source()
    data: dict = {
        "config": {
            **src["config"],
            "default_vocab_size": VOCAB_SIZE,
            "default_num_special_tokens": NUM_SPECIAL_TOKENS,
            "version": version,
        },
        "vocab": src["vocab"],
        "special_tokens": special_token_layout(version),
    }
    if image:
        data["image"] = dict(IMAGE_SECTION)
    if TokenizerVersion(version).supports_model_settings:
        data["model_settings_builder"] = model_settings_builder_section()
    path = Path(directory) / f"tekken_{version}.json"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
    return path


def check_loads_in_mistral_common(path: Path) -> None:
    """Raises unless ``MistralTokenizer.from_file`` accepts the file (it builds the instruct
    tokenizer, which resolves every special token its version needs)."""
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    tok = MistralTokenizer.from_file(str(path))
    version = tok.instruct_tokenizer.tokenizer.version.value
    if f"tekken_{version}.json" != Path(path).name:
        raise AssertionError(f"{path} loaded as version {version}")
