"""Tokenize a JSONL chat data set (one ``{"messages": [...]}`` per line) with Hugging Face
``datasets.map(num_proc=N)`` or with Ray Data ``map_batches`` on a local Ray.

The ``mistral_tok.Tokenizer`` is handed to the workers as an argument: it pickles with its file's
contents, so the workers need not have the file. Each batch is one ``encode_chat_batch`` call
(GIL released; ``errors="return"``), so a rejected conversation becomes an ``error`` column
entry instead of failing the job. Writes JSONL: ``{"input_ids": [...], "error": null}`` per row,
in input order.

    python examples/tokenize_dataset.py datasets chats.jsonl out.jsonl [--num-proc 2]
    python examples/tokenize_dataset.py ray chats.jsonl out.jsonl [--concurrency 2]

``--tokenizer FILE`` (default: the tekken file mistral_common ships).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mistral_tok import Tokenizer, shipped_tokenizer_path


def tokenize_rows(conversations: list[Any], tok: Tokenizer) -> dict[str, list[Any]]:
    """Columns ``input_ids`` and ``error`` for a batch of conversations."""
    results = tok.encode_chat_batch(conversations, errors="return", num_threads=1)
    return {
        "input_ids": [r if isinstance(r, list) else [] for r in results],
        "error": [None if isinstance(r, list) else f"{type(r).__name__}: {r}" for r in results],
    }


def _plain(value: Any) -> Any:
    """Ray hands nested columns as numpy arrays; the encoder takes lists and dicts."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def with_datasets(source: Path, out: Path, tok: Tokenizer, num_proc: int, cache: Path) -> int:
    import datasets

    data = datasets.load_dataset("json", data_files=str(source), split="train", cache_dir=cache)
    tokenized = data.map(
        lambda batch, tok: tokenize_rows([_plain(m) for m in batch["messages"]], tok),
        batched=True,
        batch_size=64,
        num_proc=num_proc,
        fn_kwargs={"tok": tok},
        remove_columns=data.column_names,
    )
    return _write(out, tokenized)


def with_ray(source: Path, out: Path, tok: Tokenizer, concurrency: int) -> int:
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=concurrency, include_dashboard=False, log_to_driver=False)
    try:
        # Rows come out in input order (Ray Data otherwise yields blocks as they finish).
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        data = ray.data.read_json(str(source)).repartition(concurrency)

        def tokenize(batch: Any, tok: Tokenizer) -> dict[str, list[Any]]:
            return tokenize_rows([_plain(m) for m in batch["messages"]], tok)

        tokenized = data.map_batches(
            tokenize,
            batch_format="pandas",
            batch_size=64,
            fn_kwargs={"tok": tok},
            concurrency=concurrency,
        )
        return _write(out, tokenized.iter_rows())
    finally:
        if started_here:
            ray.shutdown()


def _write(out: Path, rows: Any) -> int:
    count = 0
    with out.open("w") as stream:
        for row in rows:
            ids = row["input_ids"]
            ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
            stream.write(json.dumps({"input_ids": ids, "error": row["error"]}) + "\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["datasets", "ray"])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokenizer", type=Path, default=None)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None, help="datasets' cache folder")
    args = parser.parse_args(argv)
    tok = Tokenizer.from_file(args.tokenizer or shipped_tokenizer_path())
    if args.engine == "datasets":
        cache = args.cache or args.out.parent / ".datasets_cache"
        count = with_datasets(args.source, args.out, tok, args.num_proc, cache)
    else:
        count = with_ray(args.source, args.out, tok, args.concurrency)
    print(f"{count:,} rows tokenized with {args.engine} into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
