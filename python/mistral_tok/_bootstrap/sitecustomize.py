"""Run by Python's ``site`` at start-up in every process ``mistral-tok run`` starts (this folder is
first on ``PYTHONPATH``): the ``sitecustomize`` that would have run without us runs first
(chained, as ``opentelemetry-instrument`` does), then ``mistral_tok.patch()`` unless
``MISTRAL_TOK_PATCH=0``. ``MISTRAL_TOK_RUN_VERBOSE=1``: each process prints its patch
report at start and its ``mistral_tok.stats()`` at exit, on stderr. A Python without
mistral_tok installed (another venv) is left alone;
nothing here may stop the program from starting."""

import os
import sys


def _chain_previous() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    saved = list(sys.path)
    ours = sys.modules.pop("sitecustomize", None)
    try:
        sys.path[:] = [p for p in saved if os.path.abspath(p or os.curdir) != here]
        try:
            import sitecustomize  # noqa: F401 - the next one on the path, if any
        except ImportError as exc:
            if exc.name != "sitecustomize":
                raise
            if ours is not None:
                sys.modules["sitecustomize"] = ours
    finally:
        sys.path[:] = saved


def _patch() -> None:
    try:
        import mistral_tok
    except ImportError:
        return
    report = mistral_tok.patch()  # MISTRAL_TOK_PATCH=0 makes it patch nothing
    if os.environ.get("MISTRAL_TOK_RUN_VERBOSE"):
        sys.stderr.write(f"{report} (pid {os.getpid()})\n")
        import atexit

        atexit.register(_print_stats, mistral_tok)


def _print_stats(mistral_tok) -> None:
    import json

    sys.stderr.write(f"mistral-tok stats (pid {os.getpid()}): {json.dumps(mistral_tok.stats())}\n")


try:
    _chain_previous()
except Exception as exc:  # noqa: BLE001
    sys.stderr.write(f"mistral-tok: the previous sitecustomize failed: {exc!r}\n")
try:
    _patch()
except Exception as exc:  # noqa: BLE001
    sys.stderr.write(f"mistral-tok: not patching ({type(exc).__name__}: {exc})\n")
