"""mistral-tok: Mistral chat requests to token ids, as mistral_common encodes them (also
`python -m mistral_tok`).

  encode   a chat request (OpenAI JSON, from a file or stdin) -> token ids [--text: the prompt];
           a JSONL file of requests -> one line of ids (or of error) per request
  run      run a program with mistral_tok.patch() applied in every Python process it starts
  verify   a JSONL file of requests, each encoded by mistral-tok and mistral_common, compared
  bench    mistral-tok vs mistral_common (inline, in a thread): time, tokens/s, event-loop lag
  demo     a tour: a request's tokens and prompt, then the event loop while 5 MB are encoded

--tokenizer takes a tokenizer file, a model folder (the file vLLM loads from it: tekken.json, else
the last *.model[.vN[m1]] by name, as mistral_common chooses), or the name of a file
mistral_common ships; by default the tekken_240911.json mistral_common ships.

Exit status: 0 success; 1 a difference from mistral_common (verify, bench, demo) or a rejected
request (encode); 2 a usage error (bad arguments, unreadable input, no tokenizer file, a missing
optional dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mistral_tok._files import resolve_tokenizer
from mistral_tok._native import (
    MistralTokError,
    RequestError,
    Tokenizer,
    UnsupportedFeatureError,
)
from mistral_tok._requests import (
    MissingDependencyError,
    Reference,
    encode_ours,
    require_mistral_common,
)

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_USAGE = 2

SAMPLE_TEXT = (
    "Mistral tokenizers split text like this: [INST] is plain text here, naïve café 日本語 😀!"
)


class UsageError(Exception):
    """Bad input from the user: reported on stderr, exit status 2."""


def _load(args: argparse.Namespace) -> Tokenizer:
    try:
        path, warning = resolve_tokenizer(args.tokenizer)
    except FileNotFoundError as exc:
        if args.tokenizer is None:
            raise UsageError(
                "no --tokenizer given, and the default, the tekken file mistral_common ships, "
                f"is not available: {exc}"
            ) from None
        raise UsageError(str(exc)) from None
    if warning:
        print(f"mistral-tok: warning: {warning}", file=sys.stderr)
    return Tokenizer.from_file(path)


def _reference(tok: Tokenizer, command: str) -> Reference:
    try:
        return Reference(str(tok.path), purpose=f"`mistral-tok {command}`")
    except MissingDependencyError:
        raise
    except Exception as exc:  # mistral_common's own load errors come in many types
        raise UsageError(
            f"mistral_common cannot load {tok.path}: {type(exc).__name__}: {exc}"
        ) from None


def _read_json(source: str | None) -> Any:
    if source in (None, "-"):
        if sys.stdin is None or (source is None and sys.stdin.isatty()):
            raise UsageError("give a request file, or pipe a request on stdin (`-`)")
        text, name = sys.stdin.read(), "stdin"
    else:
        try:
            text, name = Path(source).read_text(encoding="utf-8"), source
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {source!r}: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{name} is not JSON: {exc}") from None


# ------------------------------------------------------------------------------------------------
# Commands


def _is_jsonl(source: str | None, jsonl: bool | None) -> bool:
    if jsonl is not None:
        return jsonl
    return source is not None and source.endswith(".jsonl")


def _cmd_encode(args: argparse.Namespace) -> int:
    tok = _load(args)
    if _is_jsonl(args.request, args.jsonl):
        return _encode_jsonl(tok, args)
    request = _read_json(args.request)
    try:
        ids = encode_ours(tok, request, args.max_model_input_len)
    except UnsupportedFeatureError as exc:
        print(
            f"mistral-tok: not handled by mistral-tok's native encoder ({exc}); mistral_common "
            "encodes such requests (vLLM's plugin falls back to it)",
            file=sys.stderr,
        )
        return EXIT_DIFFERENT
    except (RequestError, TypeError) as exc:
        print(f"mistral-tok: the request is rejected: {exc}", file=sys.stderr)
        return EXIT_DIFFERENT
    print(json.dumps(ids))
    if args.text:
        print(tok.decode(ids, special_token_policy="keep"))
    return EXIT_OK


def _open_lines(source: str | None) -> tuple[Any, int | None, str]:
    """``(binary stream, size or None, name)`` of a JSONL input ('-' or None: stdin)."""
    if source in (None, "-"):
        return sys.stdin.buffer, None, "stdin"
    try:
        stream = open(source, "rb")  # closed by the caller
        return stream, os.fstat(stream.fileno()).st_size, source
    except OSError as exc:
        raise UsageError(f"cannot read {source!r}: {exc}") from None


def _encode_jsonl(tok: Tokenizer, args: argparse.Namespace) -> int:
    """One output line per request line: the ids as a JSON list, or ``{"line": n, "error":
    "...", "type": "RequestError"}``; exit status 1 if any request was rejected."""
    from mistral_tok._progress import Progress
    from mistral_tok._verify import read_lines

    stream, total, name = _open_lines(args.request)
    enabled = args.progress if args.progress is not None else sys.stderr.isatty()
    progress = Progress(sys.stderr, total, enabled)
    count = rejected = 0
    try:
        for number, consumed, line in read_lines(stream):
            try:
                ids = encode_ours(tok, json.loads(line), args.max_model_input_len)
                out = json.dumps(ids)
            except (ValueError, TypeError) as exc:  # bad JSON, RequestError (a ValueError)
                rejected += 1
                error = {"line": number, "error": str(exc), "type": type(exc).__name__}
                out = json.dumps(error, ensure_ascii=False)
            progress.clear()
            sys.stdout.write(out + "\n")
            count += 1
            progress.update(count, consumed)
        progress.update(count, total or 0)  # trailing blank lines read too
    finally:
        progress.close()
        if stream is not sys.stdin.buffer:
            stream.close()
    if count == 0:
        print(f"mistral-tok: no request in {name}", file=sys.stderr)
        return EXIT_USAGE
    if rejected:
        print(f"mistral-tok: {rejected:,} of {count:,} request(s) rejected", file=sys.stderr)
    return EXIT_DIFFERENT if rejected else EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from mistral_tok._bootstrap import FOLDER

    command = list(args.command_line)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("give the command to run: mistral-tok run -- CMD ARGS...")
    env = dict(os.environ)
    previous = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(FOLDER) + (os.pathsep + previous if previous else "")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        print(f"mistral-tok: cannot run {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    return EXIT_OK  # not reached: exec replaced this process


def _cmd_verify(args: argparse.Namespace) -> int:
    from mistral_tok._progress import Progress
    from mistral_tok._verify import read_lines, summary, verify

    require_mistral_common("`mistral-tok verify`")
    tok = _load(args)
    reference = _reference(tok, "verify")
    if args.requests == "-":
        stream, total, name = sys.stdin.buffer, None, "stdin"
    else:
        try:
            stream = open(args.requests, "rb")  # closed below
            total = os.fstat(stream.fileno()).st_size
        except OSError as exc:
            raise UsageError(f"cannot read {args.requests!r}: {exc}") from None
        name = args.requests
    enabled = args.progress if args.progress is not None else sys.stderr.isatty()
    progress = Progress(sys.stderr, total, enabled)
    print(
        f"verify {name}: mistral-tok vs mistral_common {reference.version} on {tok.path} "
        f"({tok.kind} v{tok.version})",
        flush=True,
    )
    started = time.perf_counter()
    try:
        report = verify(
            tok,
            reference,
            read_lines(stream),
            sys.stdout,
            progress,
            show=args.show,
            max_model_input_len=args.max_model_input_len,
        )
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    elapsed = time.perf_counter() - started
    print()
    for line in summary(report):
        print(line)
    if report.requests == 0:
        print(f"mistral-tok: no chat request in {name}", file=sys.stderr)
        return EXIT_USAGE
    verdict = (
        f"{report.differences:,} difference(s) from mistral_common"
        if report.differences
        else "no difference from mistral_common"
    )
    print(f"{verdict} ({elapsed:.1f} s, {report.requests / max(elapsed, 1e-9):,.0f} requests/s)")
    return EXIT_DIFFERENT if report.differences else EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from mistral_tok._bench import bench

    require_mistral_common("`mistral-tok bench`")
    tok = _load(args)
    reference = _reference(tok, "bench")
    batch = _bench_requests(args.requests, tok, reference) if args.requests else None
    same = bench(tok, reference, sys.stdout, args.scenarios, args.size_mb, args.reps, batch)
    return EXIT_OK if same else EXIT_DIFFERENT


def _bench_requests(path: str, tok: Tokenizer, reference: Reference) -> tuple[str, list[Any]]:
    """The requests of a JSONL file that both encoders accept (a bench times encodings)."""
    from mistral_tok._verify import read_lines

    kept, dropped = [], 0
    try:
        with open(path, "rb") as stream:
            for _, _, line in read_lines(stream):
                try:
                    request = json.loads(line)
                    reference.encode_chat(request)
                    encode_ours(tok, request)
                except Exception:
                    dropped += 1
                    continue
                kept.append(request)
    except OSError as exc:
        raise UsageError(f"cannot read {path!r}: {exc}") from None
    if dropped:
        print(
            f"mistral-tok: {dropped:,} line(s) of {path} left out of the bench: not JSON, or "
            "rejected by mistral_common or mistral-tok (`mistral-tok verify` says which)",
            file=sys.stderr,
        )
    if not kept:
        raise UsageError(f"no chat request in {path} that both encoders accept")
    return Path(path).name, kept


def _cmd_demo(args: argparse.Namespace) -> int:
    from mistral_tok._bench import demo

    started = time.perf_counter()
    require_mistral_common("`mistral-tok demo`")
    tok = _load(args)
    reference = _reference(tok, "demo")
    same = demo(tok, reference, sys.stdout, args.size_mb, args.reps, started=started)
    return EXIT_OK if same else EXIT_DIFFERENT


def _cmd_encode_text(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    tok = _load(args)
    loaded = time.perf_counter()
    text = args.text if args.text is not None else SAMPLE_TEXT
    ids = tok.encode(text, bos=args.bos, eos=args.eos)
    done = time.perf_counter()
    print(f"tokenizer: {tok!r} (loaded in {(loaded - started) * 1e3:.1f} ms)")
    print(f"text:      {text!r}")
    print(f"ids ({len(ids)}, encoded in {(done - loaded) * 1e3:.3f} ms): {ids}")
    print("pieces:    " + " | ".join(tok.id_to_piece(i) for i in ids))
    print(f"decoded:   {tok.decode(ids, special_token_policy='keep')!r}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# Parser


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _max_len_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-model-input-len",
        type=int,
        default=None,
        metavar="N",
        help="the model's input length: requests with truncate_for_context_length=true are cut "
        "to it, as mistral_common's encode_chat_completion(request, max_model_input_len=N) does",
    )


def _scenarios(text: str) -> str:
    if not text or set(text) - set("abc"):
        raise argparse.ArgumentTypeError(f"letters among a, b, c expected, not {text!r}")
    return "".join(dict.fromkeys(text))


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="mistral-tok",
        description=doc.split("\n\n")[0],
        epilog="\n\n".join(doc.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tokenizer = argparse.ArgumentParser(add_help=False)
    tokenizer.add_argument(
        "--tokenizer",
        metavar="FILE_OR_FOLDER",
        help="a tekken .json or SentencePiece .model[.vN] file, a model folder (the file vLLM "
        "loads from it), or the name of a file mistral_common ships (default: tekken_240911.json "
        "from mistral_common)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "encode",
        parents=[tokenizer],
        help="a chat request (OpenAI JSON) -> token ids",
        description='Encode one chat request, {"messages": [...], "tools": [...], ...other '
        "request fields}, read from a JSON file or stdin; print the ids as a JSON list.",
    )
    p.add_argument(
        "request",
        nargs="?",
        help="the request's JSON file, or a .jsonl file of requests ('-' or absent: stdin)",
    )
    p.add_argument(
        "--text", action="store_true", help="also print the prompt, decoded with special tokens"
    )
    p.add_argument(
        "--jsonl",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the input is JSONL, one request per line (default: when the file ends in .jsonl); "
        "one line out per request: its ids, or an error object",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with JSONL: progress bar on stderr (default: when stderr is a terminal)",
    )
    _max_len_option(p)
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser(
        "run",
        help="run a program with mistral_tok.patch() in every Python process it starts",
        description="Run CMD with this package's sitecustomize first on PYTHONPATH: every Python "
        "process it starts (the program, its workers, subprocesses) applies mistral_tok.patch() "
        "at start-up, after any sitecustomize that was already there. No code change: "
        "`mistral-tok run -- python -m sglang.launch_server ...`. MISTRAL_TOK_PATCH=0 turns it "
        "off; MISTRAL_TOK_RUN_VERBOSE=1 prints each process's patch report on stderr. Python "
        "started with -S or -I (no site, or isolated) is not patched.",
    )
    p.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "verify",
        parents=[tokenizer],
        help="compare mistral-tok with mistral_common on a JSONL file of requests",
        description="Encode every request of a JSONL file (one request per line, as clients send "
        "them) with mistral-tok and with mistral_common and count identical / different / "
        "rejected-by-both / rejected-by-one; the first differences are shown in full. Exit "
        "status 1 on any difference.",
    )
    p.add_argument("requests", help="the JSONL file ('-': stdin)")
    _max_len_option(p)
    p.add_argument(
        "--show",
        type=int,
        default=5,
        metavar="N",
        help="differences shown in full (default 5)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser(
        "bench",
        parents=[tokenizer],
        help="time, tokens/s and event-loop lag: mistral-tok vs mistral_common",
        description="Encode benchmark chat requests with mistral_common (inline and in a thread) "
        "and with mistral-tok (inline and awaited) in one run, and tabulate wall time, CPU time, "
        "tokens/s and the event loop's lag. Scenarios: a) one prose message of --size-mb MB, "
        "b) a system prompt + 2,000 short turns, c) 50 tools + 100 tool calls and results.",
    )
    p.add_argument("--scenarios", type=_scenarios, default="abc", help="default abc")
    p.add_argument(
        "--requests",
        metavar="JSONL",
        help="bench these requests instead (one per line; those both encoders accept, encoded "
        "one after the other)",
    )
    p.add_argument(
        "--size-mb", type=_positive_float, default=1.0, help="scenario a's size (default 1)"
    )
    p.add_argument("--reps", type=_positive_int, default=3, help="repetitions (default 3)")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "demo",
        parents=[tokenizer],
        help="a request's tokens and prompt, then the event loop while a big request is encoded",
    )
    p.add_argument(
        "--size-mb", type=_positive_float, default=5.0, help="the big request (default 5)"
    )
    p.add_argument("--reps", type=_positive_int, default=1, help="repetitions (default 1)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "encode-text", parents=[tokenizer], help="encode a plain text and show ids and pieces"
    )
    p.add_argument("text", nargs="?", help="the text (default: a sample sentence)")
    p.add_argument("--bos", action="store_true", help="prepend <s>")
    p.add_argument("--eos", action="store_true", help="append </s>")
    p.set_defaults(func=_cmd_encode_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `mistral-tok ... | head`: the reader is gone, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (UsageError, MissingDependencyError, MistralTokError, OSError) as exc:
        print(f"mistral-tok: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mistral-tok: interrupted", file=sys.stderr)
        return 130
