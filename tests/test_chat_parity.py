"""Chat requests → token ids: ``Tokenizer.encode_chat`` against mistral_common, on every instruct
version.

For each shipped tokenizer file and the generated v7/v11/v13/v15 tekken files, generated
OpenAI-format requests (``tests/support/chat_gen.py``: valid ones, and invalid mutations of them)
are encoded by both ``mistral_tok.Tokenizer.encode_chat`` and mistral_common 1.13.1
(``ChatCompletionRequest.from_openai`` + ``encode_chat_completion``, default validation mode). They
must agree exactly: the same ids, or both reject (ours with ``RequestError``). The only tolerated
difference is the documented fallback: a request with an image, audio, or a str with lone
surrogates that the native encoder cannot represent may raise ``UnsupportedFeatureError`` (counted
and printed as a warning, not a failure; a caller falls back to mistral_common).

Knobs (environment variables):

* ``MISTRAL_TOK_PARITY_SCALE=N`` multiplies the number of requests per file (default 1: 800 valid +
  250 invalid per file, 11 files: 2m10s with a release build on a shared 2-core machine at load 8,
  mostly mistral_common's time;
  ``MISTRAL_TOK_PARITY_SCALE=100`` is the long run, about 100× the requests and the time).
* ``MISTRAL_TOK_PARITY_SEED=S`` changes the seed (default fixed, so a failure reproduces);
  ``random`` picks one, and every file prints the seed it used (run with ``-s`` to see it).

Failures print one example per kind of difference (the request, both outputs and the first
differing index), then the first difference minimised. The generator's own acceptance rates against
mistral_common: ``python -m tests.support.chat_gen [n_valid n_invalid seed]``.
"""

from __future__ import annotations

import collections
import copy
import warnings
import zlib
from pathlib import Path

import pytest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok import RequestError, Tokenizer, UnsupportedFeatureError
from tests.support.chat_files import chat_file_ids, chat_file_path
from tests.support.chat_gen import ChatCase, gen_cases, profile_for, reference_tokens
from tests.support.chat_parity import (
    BASE_SEED,
    MISMATCH,
    SCALE,
    UNSUPPORTED,
    classify,
    explain,
    minimize,
    mismatch_predicate,
    ours_tokens,
    summarize,
)

N_VALID = 800 * SCALE
N_INVALID = 250 * SCALE
SHOWN = 6  # kinds of mismatch spelled out in a failure message

FILES = chat_file_ids()


@pytest.fixture(scope="session")
def chat_files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chat_tokenizer_files")


def _pair(file_id: str, out_dir: Path) -> tuple:
    path = chat_file_path(file_id, out_dir)
    return Tokenizer.from_file(path), MistralTokenizer.from_file(str(path))


def _seed(file_id: str) -> int:
    return BASE_SEED ^ zlib.crc32(file_id.encode())


@pytest.mark.parametrize(("file_id", "version"), FILES, ids=[f for f, _ in FILES])
def test_chat_requests_match_mistral_common(
    file_id: str, version: str, chat_files_dir: Path
) -> None:
    ours, ref = _pair(file_id, chat_files_dir)
    profile = profile_for(file_id, version)
    seed = _seed(file_id)
    cases = gen_cases(seed, profile, N_VALID, N_INVALID)
    counts: collections.Counter = collections.Counter()
    mismatches = []
    for index, case in enumerate(cases):
        outcome = classify(
            case,
            reference_tokens(ref, case),
            ours_tokens(ours, case),
            RequestError,
            UnsupportedFeatureError,
        )
        counts[f"{case.intent}/{outcome.kind}"] += 1
        if outcome.kind == MISMATCH:
            mismatches.append((index, case, outcome))
    print(f"\n{file_id} (seed {seed}): {summarize(counts)}")
    if counts[f"valid/{UNSUPPORTED}"]:
        # tolerated, but visible in the warnings summary of every run
        warnings.warn(
            f"{file_id}: {counts[f'valid/{UNSUPPORTED}']} of {N_VALID} valid requests with images, "
            "audio or lone surrogates raised UnsupportedFeatureError in mistral_tok",
            stacklevel=1,
        )
    if not mismatches:
        return
    # One example per kind of difference, so that a frequent known one does not hide the others.
    by_kind: dict = {}
    for index, case, outcome in mismatches:
        by_kind.setdefault((outcome.why, _kind(case)), []).append((index, case, outcome))
    report = [
        f"{len(mismatches)} of {len(cases)} requests differ on {file_id} (seed {seed})",
        f"outcomes: {summarize(counts)}",
        "differences by kind: "
        + "; ".join(f"{why} [{kind}]: {len(v)}" for (why, kind), v in by_kind.items()),
    ]
    for index, case, outcome in [group[0] for group in by_kind.values()][:SHOWN]:
        report.append(explain(case, outcome, ref, index))
    index, case, outcome = mismatches[0]
    small = minimize(
        case, mismatch_predicate(ours, ref, RequestError, UnsupportedFeatureError, outcome.why)
    )
    small_outcome = classify(
        small,
        reference_tokens(ref, small),
        ours_tokens(ours, small),
        RequestError,
        UnsupportedFeatureError,
    )
    report.append("minimised first difference:\n" + explain(small, small_outcome, ref, index))
    pytest.fail("\n\n".join(report), pytrace=False)


def _kind(case: ChatCase) -> str:
    """The generator's label without the conversation-shape tags (calls<k>, end=<role>)."""
    tags = [t for t in case.label.split() if not t.startswith(("calls", "end="))]
    return " ".join(tags) or case.intent


def _snapshot(value: object) -> object:
    """A deep comparable copy keeping types and NaNs apart (NaN != NaN; repr fails on huge ints)."""
    if isinstance(value, dict):
        return ("dict", tuple((_snapshot(k), _snapshot(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_snapshot(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


@pytest.mark.parametrize(
    ("file_id", "version"),
    [
        f
        for f in FILES
        if f[0]
        in (
            "mistral_instruct_tokenizer_240216.model.v2",
            "tekken_240911.json",
            "tekken_v15(generated)",
        )
    ],
)
def test_encode_chat_does_not_mutate_arguments(
    file_id: str, version: str, chat_files_dir: Path
) -> None:
    ours, _ = _pair(file_id, chat_files_dir)
    profile = profile_for(file_id, version)
    for case in gen_cases(_seed(file_id) + 1, profile, 60, 40):
        (messages, tools), kwargs = case.args()
        before = _snapshot((messages, tools, kwargs))
        inner_ids = [id(m) for m in messages] if isinstance(messages, list) else []
        try:
            ours.encode_chat(messages, tools, **copy.copy(kwargs))
        except RequestError:
            pass
        assert _snapshot((messages, tools, kwargs)) == before, case.describe()
        if isinstance(messages, list):
            assert [id(m) for m in messages] == inner_ids, case.describe()
