"""``Tokenizer`` pickling (with its file's contents) and ``encode_chat_batch`` == one by one."""

from __future__ import annotations

import copy
import gc
import pickle
import shutil
from pathlib import Path

import pytest

from mistral_tok import RequestError, Tokenizer, TokenizerFileError, UnsupportedFeatureError
from tests.support.chat_files import chat_file_ids, chat_file_path
from tests.support.chat_gen import gen_cases, profile_for

FILES = chat_file_ids()


@pytest.mark.parametrize("file_id,version", FILES, ids=[f for f, _ in FILES])
def test_pickle_round_trip_without_the_file(file_id, version, tmp_path):
    # A copy of the file, deleted before unpickling: the worker side never opens it.
    source = chat_file_path(file_id, tmp_path / "generated")
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    tok = Tokenizer.from_file(path)
    data = pickle.dumps(tok)
    path.unlink()
    back = pickle.loads(data)
    assert repr(back) == repr(tok)
    assert (back.kind, back.version, back.vocab_size, back.image) == (
        tok.kind,
        tok.version,
        tok.vocab_size,
        tok.image,
    )
    text = "Pickled tokenizers encode the same: naïve café 日本語 😀 [INST]"
    assert back.encode(text, bos=True) == tok.encode(text, bos=True)
    messages = [{"role": "user", "content": text}]
    assert back.encode_chat(messages) == tok.encode_chat(messages)


def test_pickle_refuses_a_changed_file(tmp_path, shipped):
    path = tmp_path / "tekken_240911.json"
    shutil.copyfile(shipped("tekken_240911.json"), path)
    tok = Tokenizer.from_file(path)
    path.write_bytes(path.read_bytes().replace(b'"version"', b'"version" ', 1))
    with pytest.raises(TokenizerFileError, match="changed since"):
        pickle.dumps(tok)
    path.unlink()
    with pytest.raises(TokenizerFileError, match="cannot read the file to pickle"):
        pickle.dumps(tok)


def test_unpickled_bad_contents_are_a_file_error():
    from mistral_tok._native import _tokenizer_from_bytes

    with pytest.raises(TokenizerFileError):
        _tokenizer_from_bytes("tekken_x.json", b"{}")


def _one_by_one(tok, conversations, tools, **fields):
    out = []
    for messages in conversations:
        try:
            out.append(tok.encode_chat(copy.deepcopy(messages), copy.deepcopy(tools), **fields))
        except Exception as exc:
            out.append(exc)
    return out


def _same(batch, single):
    assert len(batch) == len(single)
    for got, want in zip(batch, single, strict=False):
        if isinstance(want, Exception):
            assert type(got) is type(want) and str(got) == str(want)
        else:
            assert got == want


@pytest.mark.parametrize("file_id,version", FILES, ids=[f for f, _ in FILES])
@pytest.mark.parametrize("num_threads", [1, 3])
def test_batch_equals_one_by_one(file_id, version, num_threads, tmp_path_factory):
    tok = Tokenizer.from_file(chat_file_path(file_id, tmp_path_factory.getbasetemp() / "gen"))
    profile = profile_for(file_id, version)
    cases = gen_cases(7, profile, 60, 30)
    # The batch takes one tools list and fields for every row: group by them, as a caller would.
    conversations = [c.messages for c in cases if c.tools is None and not c.fields]
    # Rows every file refuses, among the generated ones: errors in place, at both ends and inside.
    refused = [[{"role": "user"}], [], [{"role": "tool", "content": "x"}]]
    conversations = (
        refused[:1] + conversations[:20] + refused[1:2] + conversations[20:] + refused[2:]
    )
    batch = tok.encode_chat_batch(conversations, num_threads=num_threads, errors="return")
    single = _one_by_one(tok, conversations, None)
    _same(batch, single)
    assert any(isinstance(x, list) for x in batch)
    assert any(isinstance(x, RequestError) for x in batch)
    for case in cases:
        if case.tools is not None:
            messages = case.messages
            rows = [messages, messages[:1] if isinstance(messages, list) else messages]
            fields = dict(case.fields, continue_final_message=case.continue_final_message)
            got = tok.encode_chat_batch(
                rows, case.tools, num_threads=num_threads, errors="return", **fields
            )
            _same(got, _one_by_one(tok, rows, case.tools, **fields))


def test_batch_errors_raise_and_return(shipped):
    tok = Tokenizer.from_file(shipped("tekken_240911.json"))
    good = [{"role": "user", "content": "hi"}]
    rejected = [{"role": "assistant", "content": "no user"}]
    image = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
        }
    ]
    malformed = 42
    rows = [good, rejected, image, malformed, good]
    out = tok.encode_chat_batch(rows, errors="return", num_threads=2)
    assert out[0] == out[4] == tok.encode_chat(good)
    assert type(out[1]) is RequestError
    assert type(out[2]) is UnsupportedFeatureError
    assert isinstance(out[3], Exception)
    with pytest.raises(RequestError) as first:
        tok.encode_chat_batch(rows, num_threads=2)
    assert type(first.value) is RequestError  # the first failing row's error, in row order
    assert tok.encode_chat_batch([]) == []
    assert tok.encode_chat_batch(iter([good, good]), num_threads=8) == [tok.encode_chat(good)] * 2
    with pytest.raises(ValueError, match="errors must be"):
        tok.encode_chat_batch([good], errors="ignore")
    with pytest.raises(ValueError, match="num_threads"):
        tok.encode_chat_batch([good], num_threads=0)


def test_batch_continue_final_message_and_fields(shipped):
    tok = Tokenizer.from_file(shipped("tekken_240911.json"))
    rows = [
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
        [{"role": "user", "content": "c"}],
    ]
    out = tok.encode_chat_batch(rows, continue_final_message=True, errors="return")
    _same(out, _one_by_one(tok, rows, None, continue_final_message=True))
    assert isinstance(out[0], list)


def test_batch_lists_are_tracked_by_the_gc(shipped):
    """The rows' lists are built untracked (so the collections the batch triggers skip them) and
    must be tracked again when returned, or a cycle through one would never be collected."""
    tok = Tokenizer.from_file(shipped("tekken_240911.json"))
    rows = [[{"role": "user", "content": f"row {i}"}] for i in range(50)]
    rows.append([{"role": "assistant", "content": "rejected"}])
    for threads in (1, 2):
        out = tok.encode_chat_batch(rows, num_threads=threads, errors="return")
        assert all(gc.is_tracked(ids) for ids in out[:-1])
        assert gc.is_tracked(out)
        cycle = out[0]
        cycle.append(cycle)
        del cycle, out
        assert gc.collect() >= 1  # the self-referencing list is found and freed


def test_path_survives(tmp_path, shipped):
    tok = Tokenizer.from_file(shipped("tekken_240911.json"))
    assert Path(pickle.loads(pickle.dumps(tok)).path) == Path(tok.path)
