"""Where the tokenizer files that mistral_common ships live, found without importing it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEFAULT_TOKENIZER = "tekken_240911.json"


def shipped_tokenizer_path(name: str = DEFAULT_TOKENIZER) -> Path:
    """Path of a tokenizer file shipped inside the installed ``mistral_common`` package.

    Raises ``FileNotFoundError`` with an actionable message when mistral_common is not installed
    or does not ship ``name``.
    """
    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "mistral_common is not installed; `pip install mistral-common` provides the "
            "tokenizer files, or pass the path of a tokenizer file"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"mistral_common does not ship a tokenizer file named {name!r}")
