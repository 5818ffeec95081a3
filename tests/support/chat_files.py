"""The tokenizer files the chat parity tests run on.

Shipped files come from mistral_common's ``data/`` folder. The v7/v11/v13/v15 tekken files do not
ship; ``tests.support.tekken_files`` generates them from the shipped ``tekken_240911.json``
vocabulary (behaviour map §2.4 and §9).
"""

from __future__ import annotations

from pathlib import Path

import mistral_common

from tests.support import tekken_files

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

GENERATED_VERSIONS: list[str] = list(tekken_files.VERSIONS)


def generated_tekken_file(version: str, out_dir: Path) -> Path:
    """Write (or reuse) the generated tekken file of ``version`` in ``out_dir``."""
    path = out_dir / f"tekken_{version}.json"
    if path.exists():
        return path
    return Path(tekken_files.write_tekken_file(out_dir, version))


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
