"""The tokenizer files the chat parity tests run on.

Shipped files come from mistral_common's ``data/`` folder. The v7/v11/v13/v15 tekken files do not
ship, so they are generated from the shipped ``tekken_240911.json`` vocabulary (behaviour map §2.4
and §9): by ``tests.support.tekken_files`` when that module exists, else by the small fallback
below, which follows the same layout (20 deprecated specials, ``[ARGS]``32 ``[CALL_ID]``33,
``[THINK]``35 ``[/THINK]``36, ``[MODEL_SETTINGS]``37 ``[/MODEL_SETTINGS]``38, fillers elsewhere,
1000 special ids).
"""

from __future__ import annotations

import json
from pathlib import Path

import mistral_common

DATA_DIR = Path(mistral_common.__file__).parent / "data"

# (file name, tokenizer version) for every file mistral_common ships.
SHIPPED: list[tuple[str, str]] = [
    ("tokenizer.model.v1", "v1"),
    ("mistral_instruct_tokenizer_240216.model.v2", "v2"),
    ("mistral_instruct_tokenizer_240323.model.v3", "v3"),
    ("mistral_instruct_tokenizer_241114.model.v7", "v7"),
    ("mistral_instruct_tokenizer_241114.model.v7m1", "v7"),
    ("tekken_240718.json", "v3"),
    ("tekken_240911.json", "v3"),
]

GENERATED_VERSIONS: list[str] = ["v7", "v11", "v13", "v15"]

_DEPRECATED_SPECIALS = [
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
]


def _fallback_special_tokens(version: str) -> list[dict]:
    n = int(version[1:])
    fixed: dict[int, str] = dict(enumerate(_DEPRECATED_SPECIALS))
    if n > 7:
        fixed.update({32: "[ARGS]", 33: "[CALL_ID]"})
    if n >= 13:
        fixed.update({35: "[THINK]", 36: "[/THINK]"})
    if n >= 15:
        fixed.update({37: "[MODEL_SETTINGS]", 38: "[/MODEL_SETTINGS]"})
    last = max(fixed)
    return [
        {"rank": i, "token_str": fixed.get(i, f"<SPECIAL_{i}>"), "is_control": True}
        for i in range(last + 1)
    ]


def _fallback_tekken_file(version: str, out_dir: Path) -> Path:
    base = json.loads((DATA_DIR / "tekken_240911.json").read_text(encoding="utf-8"))
    base["config"]["version"] = version
    base["special_tokens"] = _fallback_special_tokens(version)
    base["image"] = {"image_patch_size": 14, "max_image_size": 1540, "spatial_merge_size": 2}
    if version == "v15":
        base["model_settings_builder"] = {
            "reasoning_effort": {
                "type": "enum",
                "accepts_none": True,
                "default": "none",
                "values": ["none", "high"],
            },
            "json_schema": {"type": "json_schema", "accepts_none": False, "default": None},
        }
    path = out_dir / f"tekken_{version}.json"
    path.write_text(json.dumps(base), encoding="utf-8")
    return path


def generated_tekken_file(version: str, out_dir: Path) -> Path:
    """Write (or reuse) the generated tekken file of ``version`` in ``out_dir``."""
    try:
        from tests.support import tekken_files  # type: ignore[attr-defined]
    except ImportError:
        tekken_files = None
    if tekken_files is not None and hasattr(tekken_files, "write_tekken_file"):
        return Path(tekken_files.write_tekken_file(version, out_dir))
    path = out_dir / f"tekken_{version}.json"
    if path.exists():
        return path
    return _fallback_tekken_file(version, out_dir)


def chat_file_ids() -> list[tuple[str, str]]:
    """(test id, version) of every file the chat tests run on; known without writing anything."""
    return list(SHIPPED) + [(f"tekken_{v}(generated)", v) for v in GENERATED_VERSIONS]


def chat_file_path(file_id: str, out_dir: Path) -> Path:
    """The path of a file named by ``chat_file_ids``; generated files are written to ``out_dir``."""
    if file_id.endswith("(generated)"):
        out_dir.mkdir(parents=True, exist_ok=True)
        return generated_tekken_file(file_id[len("tekken_") : -len("(generated)")], out_dir)
    return DATA_DIR / file_id


def all_chat_files(out_dir: Path) -> list[tuple[str, Path, str]]:
    """(test id, path, version) for the shipped files and the generated tekken files."""
    return [(fid, chat_file_path(fid, out_dir), version) for fid, version in chat_file_ids()]
