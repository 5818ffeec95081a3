"""``mistral-tok run -- CMD``: every Python process CMD starts is patched, without importing
mistral_tok itself; an existing sitecustomize still runs; ``MISTRAL_TOK_PATCH=0`` turns it off.
And ``mistral-tok encode`` on a JSONL file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import subprocess, sys
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    method = MistralTokenizer.encode_chat_completion
    print("patched" if method.__module__.startswith("mistral_tok") else "unpatched")
    print("chained" if "CHAINED_MARKER" in sys.modules else "alone")
    if len(sys.argv) > 1:  # a child process started by the program
        out = subprocess.run([sys.executable, __file__], capture_output=True, text=True)
        print("child:" + out.stdout.split()[0])
    """
)


def _run(tmp_path: Path, env_extra: dict[str, str], *program_args: str) -> list[str]:
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_TOK")}
    env.update(env_extra)
    command = [sys.executable, "-m", "mistral_tok", "run", "--", sys.executable, str(script)]
    out = subprocess.run(
        [*command, *program_args], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_run_patches_every_python_process(tmp_path):
    assert _run(tmp_path, {}, "spawn") == ["patched", "alone", "child:patched"]


def test_run_chains_an_existing_sitecustomize(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['CHAINED_MARKER'] = sys\n")
    assert _run(tmp_path, {"PYTHONPATH": str(site)}) == ["patched", "chained"]


def test_mistral_tok_patch_0_turns_it_off(tmp_path):
    assert _run(tmp_path, {"MISTRAL_TOK_PATCH": "0"}, "spawn") == [
        "unpatched",
        "alone",
        "child:unpatched",
    ]


def test_run_without_a_command():
    out = subprocess.run(
        [sys.executable, "-m", "mistral_tok", "run"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "give the command" in out.stderr


def test_encode_jsonl(tmp_path, shipped):
    from mistral_tok import Tokenizer

    requests = tmp_path / "requests.jsonl"
    lines = [
        {"messages": [{"role": "user", "content": "hi"}]},
        "not json",
        {"messages": [{"role": "assistant", "content": "x"}]},
        {"messages": [{"role": "user", "content": "bye"}], "tools": []},
    ]
    requests.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "mistral_tok", "encode", str(requests), "--progress"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    tok = Tokenizer.from_file(shipped("tekken_240911.json"))
    assert rows[0] == tok.encode_chat(lines[0]["messages"])
    assert rows[1]["line"] == 2 and rows[1]["type"] == "JSONDecodeError"
    assert rows[2]["type"] == "RequestError"
    assert rows[3] == tok.encode_chat(lines[3]["messages"], [])
    assert "100%" in out.stderr and "1 of 4" not in out.stderr and "2 of 4" in out.stderr
