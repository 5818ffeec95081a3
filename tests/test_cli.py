"""The ``mistral-tok`` command: encode, verify, bench, demo, and how ``--tokenizer`` is resolved.

Each subcommand runs through ``main(argv)`` in-process (so that a difference from mistral_common
can be planted by monkeypatching mistral-tok's encoder); a few run as ``python -m mistral_tok``.
Loop-lag figures are only printed, never asserted.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mistral_tok._bench as bench_module
import mistral_tok._verify as verify_module
from mistral_tok import RequestError, Tokenizer, UnsupportedFeatureError, shipped_tokenizer_path
from mistral_tok._bench import DEMO_REQUEST
from mistral_tok._files import SENTENCEPIECE_SUFFIXES, tokenizer_file_in
from mistral_tok._progress import Progress
from mistral_tok._scenarios import build_scenarios
from mistral_tok.cli import EXIT_DIFFERENT, EXIT_OK, EXIT_USAGE, main

TEKKEN = "tekken_240911.json"
SPM_V3 = "mistral_instruct_tokenizer_240323.model.v3"
SPM_V7 = "mistral_instruct_tokenizer_241114.model.v7"


def reference_ids(name: str, request: dict[str, Any]) -> list[int]:
    from mistral_tok._requests import Reference

    return Reference(shipped_tokenizer_path(name)).encode_chat(request)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def set_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode()), "utf-8"))


@pytest.fixture
def request_file(tmp_path: Path) -> Path:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(DEMO_REQUEST), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# encode


def test_encode_a_file_prints_mistral_commons_ids(capsys, request_file: Path) -> None:
    code, out, err = run(capsys, "encode", str(request_file))
    assert (code, err) == (EXIT_OK, "")
    assert json.loads(out) == reference_ids(TEKKEN, DEMO_REQUEST)


def test_encode_stdin_with_text_prints_the_prompt(capsys, monkeypatch) -> None:
    set_stdin(monkeypatch, json.dumps(DEMO_REQUEST))
    code, out, _ = run(capsys, "encode", "--text")
    ids_line, prompt = out.split("\n", 1)
    ids = json.loads(ids_line)
    assert code == EXIT_OK
    assert ids == reference_ids(TEKKEN, DEMO_REQUEST)
    tok = Tokenizer.from_file(shipped_tokenizer_path(TEKKEN))
    assert prompt == tok.decode(ids, special_token_policy="keep") + "\n"
    assert prompt.startswith("<s>[INST]What's the weather in Paris?[/INST][TOOL_CALLS]")
    assert "[AVAILABLE_TOOLS]" in prompt


def test_encode_dash_reads_stdin_and_a_list_is_the_messages(capsys, monkeypatch) -> None:
    messages = [{"role": "user", "content": "Hello"}]
    set_stdin(monkeypatch, json.dumps(messages))
    code, out, _ = run(capsys, "encode", "-", "--tokenizer", SPM_V3)
    assert code == EXIT_OK
    assert json.loads(out) == reference_ids(SPM_V3, {"messages": messages})


def test_encode_passes_request_fields(capsys, tmp_path: Path) -> None:
    request = {"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}
    path = tmp_path / "bad_field.json"
    path.write_text(json.dumps(request))
    code, out, err = run(capsys, "encode", str(path))
    assert (code, out) == (EXIT_DIFFERENT, "")
    assert "rejected" in err and "temperature" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"messages": []}', "rejected"), ('{"messages": ', "not JSON"), ("42", "rejected")],
)
def test_encode_bad_requests(capsys, monkeypatch, content: str, message: str) -> None:
    set_stdin(monkeypatch, content)
    code, out, err = run(capsys, "encode")
    assert out == ""
    assert code == (EXIT_USAGE if message == "not JSON" else EXIT_DIFFERENT)
    assert message in err


def test_usage_errors_exit_2(capsys, tmp_path: Path) -> None:
    assert run(capsys, "encode", str(tmp_path / "missing.json"))[0] == EXIT_USAGE
    assert run(capsys, "encode", "--frobnicate")[0] == EXIT_USAGE
    assert run(capsys)[0] == EXIT_USAGE
    assert run(capsys, "bench", "--scenarios", "x")[0] == EXIT_USAGE
    assert run(capsys, "demo", "--size-mb", "0")[0] == EXIT_USAGE
    code, _, err = run(capsys, "encode", "--tokenizer", str(tmp_path / "tekken_x.json"), "-")
    assert code == EXIT_USAGE and "tekken_x.json" in err
    assert run(capsys, "--help")[0] == EXIT_OK


def test_encode_text_still_works(capsys) -> None:
    code, out, _ = run(capsys, "encode-text", "Hello world")
    assert code == EXIT_OK and "ids (2" in out


# ------------------------------------------------------------------------------------------------
# --tokenizer: files, folders, names of shipped files


def link(folder: Path, name: str, shipped_name: str) -> None:
    (folder / name).symlink_to(shipped_tokenizer_path(shipped_name))


def test_folder_with_tekken_json_wins_over_sentencepiece(capsys, tmp_path, request_file) -> None:
    link(tmp_path, "tekken.json", TEKKEN)
    link(tmp_path, "tokenizer.model.v3", SPM_V3)
    (tmp_path / "config.json").write_text("{}")
    code, out, err = run(capsys, "encode", "--tokenizer", str(tmp_path), str(request_file))
    assert (code, err) == (EXIT_OK, "")
    assert json.loads(out) == reference_ids(TEKKEN, DEMO_REQUEST)


def test_folder_with_one_sentencepiece_file(capsys, tmp_path, request_file) -> None:
    link(tmp_path, "tokenizer.model.v3", SPM_V3)
    link(tmp_path, "tekken_240911.json", TEKKEN)  # only "tekken.json" counts in a folder
    code, out, err = run(capsys, "encode", "--tokenizer", str(tmp_path), str(request_file))
    assert (code, err) == (EXIT_OK, "")
    assert json.loads(out) == reference_ids(SPM_V3, DEMO_REQUEST)


def test_folder_with_several_sentencepiece_files_takes_the_last(
    capsys, tmp_path, request_file
) -> None:
    link(tmp_path, "tokenizer.model.v3", SPM_V3)
    link(tmp_path, "tokenizer.model.v7", SPM_V7)
    code, out, err = run(capsys, "encode", "--tokenizer", str(tmp_path), str(request_file))
    assert code == EXIT_OK
    assert "several tokenizer files" in err and "'tokenizer.model.v7'" in err
    assert json.loads(out) == reference_ids(SPM_V7, DEMO_REQUEST)


def test_folder_without_tokenizer_file(capsys, tmp_path, request_file) -> None:
    link(tmp_path, "tekken_240911.json", TEKKEN)
    (tmp_path / "tokenizer.json").write_text("{}")
    code, out, err = run(capsys, "encode", "--tokenizer", str(tmp_path), str(request_file))
    assert (code, out) == (EXIT_USAGE, "")
    assert "no tokenizer file in the folder" in err and "tekken.json" in err


@pytest.mark.parametrize(
    "names",
    [
        ["tekken.json"],
        ["tokenizer.model.v3", "tekken.json", "params.json"],
        ["tokenizer.model.v3", "tokenizer.model.v7m1", "tokenizer.mm.model.v7m1"],
        ["tokenizer.model"],
        ["a.model.v15", "b.model.v2", "c.model.v11m1", "d.model.v7m2", "e.model.v4"],
        ["tekken_240911.json", "tokenizer.json", "model.safetensors", "x.model.v3m1"],
        ["consolidated.model.v13"],
    ],
)
def test_folder_choice_is_mistral_commons(tmp_path: Path, names: list[str]) -> None:
    from mistral_common.tokens.tokenizers.utils import get_one_valid_tokenizer_file

    for name in names:
        (tmp_path / name).write_text("")
    try:
        expected: str | None = get_one_valid_tokenizer_file(os.listdir(tmp_path))
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(FileNotFoundError):
            tokenizer_file_in(tmp_path)
    else:
        assert tokenizer_file_in(tmp_path)[0] == tmp_path / expected


def test_sentencepiece_suffixes_are_mistral_commons() -> None:
    from mistral_common.tokens.tokenizers.base import TokenizerVersion
    from mistral_common.tokens.tokenizers.image import MultiModalVersion

    expected = {
        f".model.{v}{m}"
        for v in TokenizerVersion.__members__
        for m in [*MultiModalVersion.__members__, ""]
    } | {".model"}
    assert expected == SENTENCEPIECE_SUFFIXES


def test_tokenizer_by_shipped_name(capsys, monkeypatch) -> None:
    set_stdin(monkeypatch, json.dumps(chat("Hello")))
    code, out, _ = run(capsys, "encode", "--tokenizer", "tokenizer.model.v1")
    assert code == EXIT_OK
    assert json.loads(out) == reference_ids("tokenizer.model.v1", chat("Hello"))


def test_without_mistral_common(capsys, monkeypatch, request_file: Path, tmp_path: Path) -> None:
    tekken_copy = tmp_path / "tekken.json"
    tekken_copy.write_bytes(shipped_tokenizer_path(TEKKEN).read_bytes())
    expected = reference_ids(TEKKEN, DEMO_REQUEST)
    monkeypatch.setitem(sys.modules, "mistral_common", None)  # import raises ImportError

    code, out, err = run(capsys, "encode", str(request_file))
    assert (code, out) == (EXIT_USAGE, "")
    assert "mistral_common is not installed" in err and "pip install" in err

    code, out, _ = run(capsys, "encode", "--tokenizer", str(tmp_path), str(request_file))
    assert code == EXIT_OK and json.loads(out) == expected

    for command in (["verify", str(request_file)], ["bench"], ["demo"]):
        code, out, err = run(capsys, *command, "--tokenizer", str(tekken_copy))
        assert (code, out) == (EXIT_USAGE, ""), command
        assert f"`mistral-tok {command[0]}` needs mistral_common" in err
        assert 'pip install "mistral-common' in err


def long_conversation(turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"question {i}: " + "word " * 20})
        messages.append({"role": "assistant", "content": f"answer {i}"})
    messages.append({"role": "user", "content": "last question"})
    return {"messages": messages, "truncate_for_context_length": True}


def test_encode_max_model_input_len_truncates_as_mistral_common(capsys, tmp_path: Path) -> None:
    request = long_conversation(8)
    path = tmp_path / "long.json"
    path.write_text(json.dumps(request))
    full = reference_ids(SPM_V7, {**request, "truncate_for_context_length": False})
    code, out, _ = run(
        capsys, "encode", str(path), "--tokenizer", SPM_V7, "--max-model-input-len", "120"
    )
    from mistral_tok._requests import Reference

    expected = Reference(shipped_tokenizer_path(SPM_V7)).encode_chat(request, 120)
    assert code == EXIT_OK
    assert json.loads(out) == expected and len(expected) < len(full)
    # Without a length, mistral_common refuses a request that asks for truncation; so do we.
    code, out, err = run(capsys, "encode", str(path), "--tokenizer", SPM_V7)
    assert (code, out) == (EXIT_DIFFERENT, "") and "max model len" in err


def test_verify_max_model_input_len(capsys, tmp_path: Path) -> None:
    requests = [long_conversation(n) for n in (1, 4, 8, 30)]
    path = write_jsonl(tmp_path / "long.jsonl", requests)
    code, out, _ = run(
        capsys, "verify", str(path), "--tokenizer", SPM_V7, "--max-model-input-len", "200"
    )
    assert code == EXIT_OK and counts(out)["identical"] == 4


# ------------------------------------------------------------------------------------------------
# verify


def chat(content: str, role: str = "user") -> dict[str, Any]:
    return {"messages": [{"role": role, "content": content}]}


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def counts(out: str) -> dict[str, int]:
    return {
        label: int(n.replace(",", ""))
        for n, label in re.findall(r"^ +([\d,]+)  (.+)$", out.rsplit("\n\n", 1)[-1], re.MULTILINE)
    }


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    """mistral-tok's encoder, wrong on purpose for marked requests."""
    real = verify_module.encode_ours

    def encode(tok: Tokenizer, request: Any, max_len: int | None = None) -> list[int]:
        text = request["messages"][0]["content"] if isinstance(request, dict) else ""
        if text == "plant: a wrong id":
            ids = real(tok, request, max_len)
            ids[5] += 1
            return ids
        if text == "plant: a rejection":
            raise RequestError("planted rejection")
        if text == "plant: an acceptance":
            return [1, 3, 1000, 4]
        return real(tok, request, max_len)

    monkeypatch.setattr(verify_module, "encode_ours", encode)


def test_verify_reports_every_kind_of_outcome(capsys, planted, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "requests.jsonl",
        [
            DEMO_REQUEST,
            chat("Hello there, how are you?"),
            "",
            chat("plant: a wrong id"),
            {"messages": []},  # rejected by both
            chat("plant: a rejection"),
            chat("plant: an acceptance", role="assistant"),  # mistral_common rejects this
            "not json",
            "[1, 2",
            '"a string"',
            {"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"},
        ],
    )
    code, out, err = run(capsys, "verify", str(path))
    assert code == EXIT_DIFFERENT
    assert err == ""  # no progress bar: stderr is not a terminal
    assert counts(out) == {
        "requests": 7,
        "identical": 2,
        "different ids": 1,
        "rejected by both": 2,
        "rejected by one: mistral_common only": 1,
        "rejected by one: mistral-tok only": 1,
        "lines skipped (not a JSON object or list)": 3,
    }
    assert "line 4: DIFFERENT IDS (1 message" in out
    assert "first difference at position 5" in out
    assert re.search(r"^    >> +5 ", out, flags=re.MULTILINE)  # the window marks position 5
    assert re.search(r"^ +4 +\d+ '.*' +\d+ '", out, flags=re.MULTILINE)  # with context
    assert "line 6: REJECTED BY MISTRAL-TOK ONLY" in out
    assert "mistral-tok:    RequestError: planted rejection" in out
    assert "line 7: REJECTED BY MISTRAL_COMMON ONLY" in out
    assert "mistral_common: InvalidMessageStructureException:" in out
    assert "mistral-tok:    accepted, 4 ids" in out
    assert "line 8: skipped, not JSON" in out
    assert "line 10: skipped, a JSON string is not a chat request" in out
    assert "3 difference(s) from mistral_common" in out


def test_verify_show_limits_the_details(capsys, planted, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [chat("plant: a wrong id")] * 3)
    code, out, _ = run(capsys, "verify", str(path), "--show", "1")
    assert code == EXIT_DIFFERENT
    assert out.count("DIFFERENT IDS") == 1
    assert counts(out)["different ids"] == 3
    assert "the first 1 differences are shown above" in out


def test_verify_identical_file_exits_0(capsys, tmp_path: Path) -> None:
    requests = [DEMO_REQUEST, chat("Bonjour"), {"messages": []}] + [
        request for _, request in build_scenarios("c").values()
    ]
    path = write_jsonl(tmp_path / "ok.jsonl", requests)
    code, out, _ = run(capsys, "verify", str(path), "--tokenizer", SPM_V7)
    assert code == EXIT_OK
    assert counts(out)["identical"] == 3 and counts(out)["rejected by both"] == 1
    assert "no difference from mistral_common" in out


def test_verify_lists_requests_left_to_mistral_common(capsys, monkeypatch, tmp_path) -> None:
    def unsupported(tok: Tokenizer, request: Any, max_len: int | None = None) -> list[int]:
        raise UnsupportedFeatureError("planted: images are left to mistral_common")

    monkeypatch.setattr(verify_module, "encode_ours", unsupported)
    path = write_jsonl(tmp_path / "r.jsonl", [chat("Hello"), {"messages": []}])
    code, out, _ = run(capsys, "verify", str(path))
    assert code == EXIT_OK  # vLLM's plugin hands these to mistral_common: not a difference
    assert "line 1: not handled natively, UnsupportedFeatureError: planted: images" in out
    assert "line 2" not in out
    assert counts(out)["not handled natively (vLLM falls back to mistral_common)"] == 1
    assert counts(out)["rejected by both"] == 1


def test_verify_stdin_and_forced_progress(capsys, monkeypatch) -> None:
    set_stdin(monkeypatch, "\n".join(json.dumps(chat(f"message {i}")) for i in range(5)))
    code, out, err = run(capsys, "verify", "-", "--progress")
    assert code == EXIT_OK and counts(out)["identical"] == 5
    assert "5 requests" in err and "/s" in err  # no size known on stdin: no bar, no ETA


def test_verify_forced_progress_on_a_file(capsys, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [chat(f"message {i}") for i in range(20)])
    code, _, err = run(capsys, "verify", str(path), "--progress")
    assert code == EXIT_OK
    last = err.strip().splitlines()[-1]
    assert last.startswith("[########################] 100%  20 requests")
    assert "ETA 0:00:00" in last


def test_verify_empty_file_is_a_usage_error(capsys, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "empty.jsonl", ["", "   "])
    code, _, err = run(capsys, "verify", str(path))
    assert code == EXIT_USAGE and "no chat request" in err


def test_progress_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = Progress(stream, total=1000, enabled=True, interval=0)
    bar.update(10, 250)
    assert stream.getvalue().startswith("\r[######------------------]  25%  10 requests")
    bar.clear()
    assert stream.getvalue().endswith("\r")
    bar.update(40, 1000)
    bar.close()
    last = stream.getvalue().rsplit("\r", 1)[-1]
    assert last.startswith("[########################] 100%  40 requests")
    assert last.endswith("\n") and "ETA 0:00:00" in last
    disabled = io.StringIO()
    Progress(disabled, total=10, enabled=False).update(1, 5)
    assert disabled.getvalue() == ""


# ------------------------------------------------------------------------------------------------
# bench and demo (small sizes; figures printed, not asserted)


def test_bench(capsys) -> None:
    code, out, _ = run(capsys, "bench", "--size-mb", "0.02", "--reps", "1", "--scenarios", "ca")
    assert code == EXIT_OK
    assert out.index("\nc. 50 tools") < out.index("\na. one 0.02 MB prose message")
    assert out.count("ids identical") == 2
    for row in (
        "mistral_common, inline",
        "mistral_common, in a thread",
        "mistral-tok encode_chat, inline",
        "mistral-tok await encode_chat_async",
    ):
        assert out.count(row) == 2
    assert re.search(r"mistral-tok await encode_chat_async +[\d,.]+ ms +[\d,.]+ ms", out)


def test_bench_on_a_requests_file(capsys, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl",
        [DEMO_REQUEST, chat("Hello"), {"messages": []}, "not json", chat("Bonjour")],
    )
    code, out, err = run(capsys, "bench", "--requests", str(path), "--reps", "1")
    assert code == EXIT_OK
    assert "2 line(s) of" in err and "left out of the bench" in err
    tokens = sum(
        len(reference_ids(TEKKEN, r)) for r in (DEMO_REQUEST, chat("Hello"), chat("Bonjour"))
    )
    assert "r.jsonl: 3 requests, " in out
    assert f", {tokens:,} tokens, ids identical" in out
    assert out.count("mistral-tok await encode_chat_async") == 1
    path = write_jsonl(tmp_path / "bad.jsonl", [{"messages": []}])
    code, _, err = run(capsys, "bench", "--requests", str(path))
    assert code == EXIT_USAGE and "no chat request" in err


def test_demo(capsys) -> None:
    code, out, _ = run(capsys, "demo", "--size-mb", "0.05")
    assert code == EXIT_OK
    assert "token ids (150)" in out
    assert "<s>[INST]What's the weather in Paris?[/INST]" in out
    assert "mistral_common gives the same ids." in out
    assert "a 0.05 MB request" in out
    for row in ("mistral_common, inline", "mistral_common, in a thread", "encode_chat_async"):
        assert row in out
    assert "Conclusion: identical ids" in out


def test_demo_reports_a_difference(capsys, monkeypatch) -> None:
    monkeypatch.setattr(bench_module, "encode_ours", lambda tok, request: [1, 2, 3])
    code, out, _ = run(capsys, "demo", "--size-mb", "0.01")
    assert code == EXIT_DIFFERENT
    assert "mistral_common gives DIFFERENT ids." in out
    assert "ids DIFFER from mistral_common's" in out


def test_scenarios_do_not_depend_on_the_subset() -> None:
    full = build_scenarios("abc", prose_bytes=10_000)
    assert build_scenarios("c")["c"] == full["c"]
    assert build_scenarios("ba", prose_bytes=10_000)["b"] == full["b"]
    prose = full["a"][1]["messages"][0]["content"]
    assert 9_996 < len(prose.encode()) <= 10_000


# ------------------------------------------------------------------------------------------------
# python -m mistral_tok


def module(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mistral_tok", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_module_encode_from_a_pipe() -> None:
    done = module("encode", "--text", stdin=json.dumps(chat("Hello world")))
    assert done.returncode == EXIT_OK, done.stderr
    ids_line, prompt = done.stdout.split("\n", 1)
    assert json.loads(ids_line) == reference_ids(TEKKEN, chat("Hello world"))
    assert prompt == "<s>[INST]Hello world[/INST]\n"


def test_module_verify_and_demo(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [DEMO_REQUEST, {"messages": []}])
    done = module("verify", str(path))
    assert done.returncode == EXIT_OK, done.stderr
    assert counts(done.stdout) == {
        "requests": 2,
        "identical": 1,
        "different ids": 0,
        "rejected by both": 1,
        "rejected by one: mistral_common only": 0,
        "rejected by one: mistral-tok only": 0,
    }
    done = module("demo", "--size-mb", "0.02")
    assert done.returncode == EXIT_OK, done.stderr
    assert "Conclusion: identical ids" in done.stdout
    assert module("verify").returncode == EXIT_USAGE
