"""``examples/tokenize_dataset.py``: a JSONL chat data set tokenized with ``datasets.map``
(worker processes) and with Ray Data ``map_batches`` (a local Ray) gives, row by row, what
``Tokenizer.encode_chat`` gives; rejected rows carry the error. Skipped where datasets or Ray is
not installed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from mistral_tok import Tokenizer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tokenize_dataset.py"


def _chats(n: int = 150) -> list[dict]:
    rng = random.Random(3)
    words = ["tokens", "Mistral", "naïve", "café", "日本語", "😀", "[INST]", "data", "set"]
    rows = []
    for i in range(n):
        turns = rng.randint(1, 4) * 2 - 1
        messages = [
            {
                "role": "user" if t % 2 == 0 else "assistant",
                "content": " ".join(rng.choice(words) for _ in range(rng.randint(1, 40))),
            }
            for t in range(turns)
        ]
        if i % 37 == 5:  # rejected: ends with an assistant message
            messages.append({"role": "assistant", "content": "too late"})
        rows.append({"messages": messages})
    return rows


def _run(engine: str, tmp_path: Path, shipped) -> None:
    pytest.importorskip(engine)
    rows = _chats()
    source, out = tmp_path / "chats.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), engine, str(source), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tok = Tokenizer.from_file(shipped("tekken_240911.json"))
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(got) == len(rows)
    rejected = 0
    for row, result in zip(rows, got, strict=False):
        try:
            want = tok.encode_chat(row["messages"])
        except Exception as exc:
            rejected += 1
            assert result["input_ids"] == [] and result["error"].startswith(type(exc).__name__)
        else:
            assert result == {"input_ids": want, "error": None}
    assert rejected == 4


def test_datasets_map(tmp_path, shipped):
    _run("datasets", tmp_path, shipped)


def test_ray_data_map_batches(tmp_path, shipped):
    _run("ray", tmp_path, shipped)
