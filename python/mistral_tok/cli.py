"""The ``mistral-tok`` command."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from mistral_tok import MistralTokError, Tokenizer, shipped_tokenizer_path

SAMPLE_TEXT = (
    "Mistral tokenizers split text like this: [INST] is plain text here, naïve café 日本語 😀!"
)


def _load(path: str | None) -> Tokenizer:
    return Tokenizer.from_file(path if path else shipped_tokenizer_path())


def _cmd_encode_text(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    tok = _load(args.tokenizer)
    loaded = time.perf_counter()
    text = args.text if args.text is not None else SAMPLE_TEXT
    ids = tok.encode(text, bos=args.bos, eos=args.eos)
    done = time.perf_counter()
    print(f"tokenizer: {tok!r} (loaded in {(loaded - started) * 1e3:.1f} ms)")
    print(f"text:      {text!r}")
    print(f"ids ({len(ids)}, encoded in {(done - loaded) * 1e3:.3f} ms): {ids}")
    print("pieces:    " + " | ".join(tok.id_to_piece(i) for i in ids))
    print(f"decoded:   {tok.decode(ids, special_token_policy='keep')!r}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mistral-tok", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("encode-text", help="encode a text with a tokenizer file and show the ids")
    p.add_argument("text", nargs="?", help="the text (default: a sample sentence)")
    p.add_argument(
        "--tokenizer",
        help="a tekken .json or SentencePiece .model file (default: the tekken file "
        "mistral_common ships)",
    )
    p.add_argument("--bos", action="store_true", help="prepend <s>")
    p.add_argument("--eos", action="store_true", help="append </s>")
    p.set_defaults(func=_cmd_encode_text)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (MistralTokError, FileNotFoundError) as exc:
        print(f"mistral-tok: error: {exc}", file=sys.stderr)
        return 2
