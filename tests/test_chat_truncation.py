"""Truncation: ``encode_chat(..., truncate_for_context_length=True, max_model_input_len=N)``
against mistral_common's ``encode_chat_completion(ChatCompletionRequest.from_openai(...,
truncate_for_context_length=True), max_model_input_len=N)``, on every shipped tokenizer file and
the generated v7/v11/v13/v15 tekken files.

mistral_common's rules (``InstructTokenizerV7._truncate_for_max_tokens``, behaviour map §8): the
budget ignores BOS; whole messages are dropped from the front; system messages and the last user
message are kept; after a user message everything up to the next user message goes too, without
re-checking the budget; what still does not fit is ``TokenizerException("Input couldn't fit in
truncate_at_max_token")``. V1–V3 ignore the length. The flag without a length is an error on every
version (after validation); a length without the flag is ignored.

Each generated conversation (``tests/support/chat_gen.py``, with tools, system prompts, tool calls
and results, images on the image-capable files) is encoded with limits around its full length:
well above, exactly at, one below, anywhere below, far below (errors), and negative or huge. Ids
and accept/reject must agree exactly (the truncation errors also by message); the only tolerated
difference is the documented media/lone-surrogate fallback (``UnsupportedFeatureError``).
``encode_chat_with_images`` (ids, and the images of dropped turns still listed, as in
``Tokenized.images``) and ``encode_chat_async`` are checked on the same cases.

``MISTRAL_TOK_PARITY_SCALE`` and ``MISTRAL_TOK_PARITY_SEED`` work as in ``test_chat_parity.py``.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import random
import zlib
from pathlib import Path
from typing import Any

import pytest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from mistral_tok import RequestError, Tokenizer, UnsupportedFeatureError
from tests.support.chat_files import chat_file_ids, chat_file_path
from tests.support.chat_gen import (
    HAVE_IMAGE_DEPS,
    ChatCase,
    gen_valid,
    profile_for,
    rand_image_chunk,
    reference_encoding,
)
from tests.support.chat_parity import (
    BASE_SEED,
    MISMATCH,
    SAME_IDS,
    SCALE,
    classify,
    explain,
    minimize,
    mismatch_predicate,
    ours_tokens,
    summarize,
)

N_CONVERSATIONS = 45 * SCALE
FILES = chat_file_ids()
TRUNCATION_ERRORS = ("Input couldn't fit", "no max model len")


@pytest.fixture(scope="module")
def chat_files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("truncation_tokenizer_files")


def _limits(rng: random.Random, full: int) -> list[tuple[str, int]]:
    """(label, max_model_input_len) around ``full`` (the length without BOS)."""
    out = [
        ("above", full + rng.randint(1, 40)),
        ("at", full),
        ("one_below", full - 1),
        ("below", rng.randint(0, max(0, full - 2))),
        ("below", rng.randint(0, max(0, full - 2))),
        ("far_below", rng.randint(0, 3)),
    ]
    if rng.random() < 0.15:
        out.append(("odd", rng.choice([-1, -(2**70), 2**70, True, False])))
    return out


def _cases(seed: int, file_id: str, version: str, ref: Any) -> list[tuple[ChatCase, int | None]]:
    """The cases, each with the untruncated length (BOS included) when mistral_common accepts
    the conversation without truncation."""
    profile = profile_for(file_id, version)
    rng = random.Random(seed)
    cases = []
    for _ in range(N_CONVERSATIONS):
        base = gen_valid(rng, profile)
        base.fields.pop("truncate_for_context_length", None)
        if profile.has_image and HAVE_IMAGE_DEPS and rng.random() < 0.3:
            _add_image(rng, base)
        full = reference_encoding(ref, base)
        full_len = None if isinstance(full, Exception) else len(full.tokens)
        length = rng.randint(0, 50) if full_len is None else full_len - 1
        for label, limit in _limits(rng, length):
            case = copy.deepcopy(base)
            case.fields["truncate_for_context_length"] = True
            case.max_model_input_len = limit
            case.intent, case.label = "truncate", f"{label} {base.label}"
            cases.append((case, full_len))
        r = rng.random()
        if r < 0.1:
            case = copy.deepcopy(base)
            case.fields["truncate_for_context_length"] = True
            case.intent, case.label = "truncate", "no_max_len"
            cases.append((case, full_len))
        elif r < 0.2:
            # a length without the flag is ignored
            case = copy.deepcopy(base)
            case.fields["truncate_for_context_length"] = rng.choice([False, None, 0])
            if case.fields["truncate_for_context_length"] is None:
                del case.fields["truncate_for_context_length"]
            case.max_model_input_len = rng.randint(-2, 3)
            case.intent, case.label = "truncate", "no_flag"
            cases.append((case, full_len))
    return cases


def _add_image(rng: random.Random, case: ChatCase) -> None:
    """An image in one user message (the generator puts few), so that dropped turns take
    images with them."""
    users = [m for m in case.messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return
    msg = rng.choice(users)
    content = msg.get("content")
    chunks = content if isinstance(content, list) else [{"type": "text", "text": content or "x"}]
    chunks.insert(rng.randint(0, len(chunks)), rand_image_chunk(rng))
    msg["content"] = chunks
    case.has_media = True


def _same_truncation_error(expected: Any, got: Any) -> bool:
    """A truncation refusal must also say what mistral_common says."""
    if not isinstance(expected, Exception) or not any(
        m in str(expected) for m in TRUNCATION_ERRORS
    ):
        return True
    return isinstance(got, RequestError) and str(got) == str(expected)


def _images_agree(ours: Any, ref_out: Any, case: ChatCase) -> str | None:
    """``encode_chat_with_images`` against ``Tokenized``: same ids, same images (dropped turns'
    images included); None when they agree or ours is the tolerated fallback."""
    (messages, tools), kwargs = case.args()
    try:
        ids, images = ours.encode_chat_with_images(messages, tools, **kwargs)
    except UnsupportedFeatureError:
        return None
    except RequestError as exc:
        if isinstance(ref_out, Exception):
            return None
        return f"encode_chat_with_images rejects: {exc!r}"
    if isinstance(ref_out, Exception):
        return f"encode_chat_with_images accepts what mistral_common rejects: {ref_out!r}"
    if ids != ref_out.tokens:
        return "encode_chat_with_images ids differ"
    shapes = [tuple(a.shape) for a in ref_out.images]
    if shapes != [(3, i["resized_height"], i["resized_width"]) for i in images]:
        return f"images differ: {shapes} vs {images}"
    return None


async def _async_ids(tok: Any, cases: list[ChatCase]) -> list[Any]:
    async def one(case: ChatCase) -> Any:
        (messages, tools), kwargs = case.args()
        try:
            return await tok.encode_chat_async(messages, tools, **kwargs)
        except Exception as exc:
            return exc

    return await asyncio.gather(*(one(c) for c in cases))


@pytest.mark.parametrize(("file_id", "version"), FILES, ids=[f for f, _ in FILES])
def test_truncation_matches_mistral_common(
    file_id: str, version: str, chat_files_dir: Path
) -> None:
    path = chat_file_path(file_id, chat_files_dir)
    ours, ref = Tokenizer.from_file(path), MistralTokenizer.from_file(str(path))
    seed = BASE_SEED ^ zlib.crc32(b"truncation " + file_id.encode())
    cases = _cases(seed, file_id, version, ref)
    counts: collections.Counter = collections.Counter()
    problems: list[str] = []
    first_mismatch = None
    sync_results = []
    for index, (case, full_len) in enumerate(cases):
        ref_out = reference_encoding(ref, case)
        expected = ref_out if isinstance(ref_out, Exception) else ref_out.tokens
        got = ours_tokens(ours, case)
        sync_results.append(got)
        outcome = classify(case, expected, got, RequestError, UnsupportedFeatureError)
        if outcome.kind != MISMATCH and not _same_truncation_error(expected, got):
            outcome.kind, outcome.why = MISMATCH, "different truncation error"
        label = case.label.split()[0]
        counts[f"{label}/{outcome.kind}"] += 1
        if outcome.kind == SAME_IDS and full_len is not None:
            counts["dropped turns" if len(expected) < full_len else "kept all"] += 1
        if isinstance(expected, Exception) and "couldn't fit" in str(expected):
            counts["couldn't fit"] += 1
        if outcome.kind == MISMATCH:
            problems.append(explain(case, outcome, ref, index))
            first_mismatch = first_mismatch or (case, outcome)
        if case.has_media and outcome.kind != MISMATCH:
            counts["with images"] += 1
            if not isinstance(ref_out, Exception) and len(ref_out.images) > ref_out.tokens.count(
                ours.special_token_id("[IMG_END]")
            ):
                counts["images of dropped turns"] += 1
            why = _images_agree(ours, ref_out, case)
            if why:
                problems.append(f"case #{index}: {why}\n{case.describe(2000)}")
    # The awaitable path gives the same answers (a sample: every fifth case).
    sample = list(range(0, len(cases), 5))
    async_results = asyncio.run(_async_ids(ours, [cases[i][0] for i in sample]))
    for i, got in zip(sample, async_results, strict=False):
        want = sync_results[i]
        same = got == want if isinstance(want, list) else type(got) is type(want)
        if not same:
            problems.append(f"case #{i}: encode_chat_async {got!r} != encode_chat {want!r}")
    print(f"\n{file_id} (seed {seed}): {summarize(counts)}")
    if int(version[1:]) >= 7:
        # the generated conversations do exercise the rules
        assert counts["dropped turns"] > 0 and counts["couldn't fit"] > 0, summarize(counts)
        if profile_for(file_id, version).has_image and HAVE_IMAGE_DEPS:
            assert counts["images of dropped turns"] > 0, summarize(counts)
    else:
        assert counts["dropped turns"] == 0, "v1-v3 never truncate"
    if problems:
        report = [f"{len(problems)} problems on {file_id} (seed {seed}): {summarize(counts)}"]
        report += problems[:6]
        if first_mismatch is not None:
            case, outcome = first_mismatch
            small = minimize(
                case,
                mismatch_predicate(ours, ref, RequestError, UnsupportedFeatureError, outcome.why),
            )
            report.append(f"minimised:\n{small.describe()}")
        pytest.fail("\n\n".join(report), pytrace=False)


def test_max_model_input_len_must_be_a_number() -> None:
    from tests.support.chat_files import DATA_DIR

    tok = Tokenizer.from_file(DATA_DIR / "tekken_240911.json")
    with pytest.raises(TypeError, match="max_model_input_len"):
        tok.encode_chat([{"role": "user", "content": "a"}], max_model_input_len="3")


def test_max_model_input_len_types(chat_files_dir: Path) -> None:
    """Whatever mistral_common's arithmetic accepts (floats act as their floor, NaN and inf as
    no limit, -inf as none fitting; numpy ints; ints beyond 64 bits) gives its answer."""
    import math

    import numpy as np

    path = chat_file_path("tekken_v7(generated)", chat_files_dir)
    ours, ref = Tokenizer.from_file(path), MistralTokenizer.from_file(str(path))
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question here"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "second"},
    ]
    n = len(ours.encode_chat(messages)) - 1
    limits: list[Any] = [math.nan, math.inf, -math.inf, np.float64(n - 0.5)]
    for shift in (1, 0, -1, -0.5, 0.5, -7):
        for base in (n, n - 9, 3):
            x = base + shift
            limits += [x, int(x), np.int64(int(x)), int(x) + (2**80 if x > 0 else -(2**80))]
    for limit in limits:
        case = ChatCase(
            messages, fields={"truncate_for_context_length": True}, max_model_input_len=limit
        )
        expected = reference_encoding(ref, case)
        expected = expected if isinstance(expected, Exception) else expected.tokens
        got = ours_tokens(ours, case)
        outcome = classify(case, expected, got, RequestError, UnsupportedFeatureError)
        assert outcome.kind != MISMATCH, explain(case, outcome, ref, 0)
        assert _same_truncation_error(expected, got), (limit, expected, got)


@pytest.mark.parametrize(
    "file_id",
    ["tekken_v7(generated)", "tekken_v15(generated)", "mistral_instruct_tokenizer_241114.model.v7"],
)
@pytest.mark.parametrize("where", ["dropped_turn", "last_turn", "both"])
def test_truncation_with_lone_surrogates(file_id: str, where: str, chat_files_dir: Path) -> None:
    """mistral_common meets a lone surrogate while encoding, before it truncates: tiktoken repairs
    it (U+FFFD, whose length decides what fits), SentencePiece refuses it even in a turn that
    truncation would drop."""
    from tests.support.chat_gen import reference_tokens

    path = chat_file_path(file_id, chat_files_dir)
    ours, ref = Tokenizer.from_file(path), MistralTokenizer.from_file(str(path))
    first = "first \ud800 turn" if where != "last_turn" else "first turn"
    last = "second turn \udc00!" if where != "dropped_turn" else "second turn"
    messages = [
        {"role": "user", "content": first},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": last},
    ]
    full = reference_tokens(ref, ChatCase(messages))
    n = len(full) - 1 if isinstance(full, list) else 40
    for limit in range(-1, n + 3):
        case = ChatCase(
            messages, fields={"truncate_for_context_length": True}, max_model_input_len=limit
        )
        expected = reference_tokens(ref, case)
        got = ours_tokens(ours, case)
        outcome = classify(case, expected, got, RequestError, UnsupportedFeatureError)
        assert outcome.kind != MISMATCH, explain(case, outcome, ref, limit)
        assert _same_truncation_error(expected, got), (limit, expected, got)
