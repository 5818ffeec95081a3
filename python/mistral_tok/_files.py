"""Where tokenizer files are: the ones mistral_common ships (found without importing it) and the
one vLLM loads from a model folder."""

from __future__ import annotations

import importlib.util
import os
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
            "tokenizer files, or pass the path of a tokenizer file or model folder"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"mistral_common does not ship a tokenizer file named {name!r}")


# The names vLLM (through transformers' ``MistralCommonBackend.from_pretrained``) and
# mistral_common's ``get_one_valid_tokenizer_file`` accept in a model folder: ``tekken.json``, or
# a name whose suffixes are ``.model`` or ``.model.<version>[<multimodal version>]`` for the
# versions mistral_common 1.13.1 knows.
_INSTRUCT_VERSIONS = ("v1", "v2", "v3", "v7", "v11", "v13", "v15")
_MULTIMODAL_VERSIONS = ("m1",)
SENTENCEPIECE_SUFFIXES = frozenset(
    [f".model.{v}{m}" for v in _INSTRUCT_VERSIONS for m in ("", *_MULTIMODAL_VERSIONS)] + [".model"]
)


def is_tokenizer_file_name(name: str) -> bool:
    """Whether a model folder's entry ``name`` counts as a tokenizer file for mistral_common."""
    return name == "tekken.json" or "".join(Path(name).suffixes) in SENTENCEPIECE_SUFFIXES


def tokenizer_file_in(folder: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """The tokenizer file vLLM would load from a local model ``folder``, and a warning or None.

    Same choice as mistral_common: ``tekken.json`` wins over SentencePiece files; among several
    SentencePiece files the last by name is taken, with a warning. Raises ``FileNotFoundError``
    when the folder holds none.
    """
    folder = Path(folder)
    names = sorted(name for name in os.listdir(folder) if is_tokenizer_file_name(name))
    if not names:
        raise FileNotFoundError(
            f"no tokenizer file in the folder {str(folder)!r}: vLLM and mistral_common look for "
            "'tekken.json' or a SentencePiece file named like 'tokenizer.model.v3' "
            "('.model' or '.model.v1' … '.model.v15', optionally followed by 'm1')"
        )
    if "tekken.json" in names:
        return folder / "tekken.json", None
    chosen = names[-1]
    warning = None
    if len(names) > 1:
        warning = (
            f"several tokenizer files in {str(folder)!r} ({', '.join(names)}); using {chosen!r}, "
            "the last by name, as mistral_common and vLLM do"
        )
    return folder / chosen, warning


def resolve_tokenizer(spec: str | os.PathLike[str] | None) -> tuple[Path, str | None]:
    """Path of the tokenizer file named by ``spec``, and a warning or None.

    ``spec`` is a tokenizer file, a model folder (see :func:`tokenizer_file_in`), the name of a
    file mistral_common ships (``tekken_240911.json``), or None for the default shipped file.
    """
    if spec is None:
        return shipped_tokenizer_path(), None
    path = Path(spec)
    if path.is_dir():
        return tokenizer_file_in(path)
    if not path.exists() and path.name == str(spec):
        try:
            return shipped_tokenizer_path(path.name), None
        except FileNotFoundError:
            pass  # let the loader report the missing file under the name given
    return path, None
