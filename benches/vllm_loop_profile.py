"""What runs on the event loop during the longest stall of a 5 MB chat request through vLLM.

    <vllm venv>/bin/python benches/vllm_loop_profile.py [--unpatched] [--mb 5] [--repeat 5]

The request of ``benches/vllm_renderer_5mb.py`` (same path, same warm-up). A profile function
(``sys.setprofile``) on the loop thread times every Python and builtin call; each event-loop
callback (``Handle._run``) is one stretch the loop cannot answer in. Printed for the run (of
``--repeat``, after a warm-up) whose longest callback is shortest: the longest callbacks, each
with its wall and thread-CPU time (a difference is time spent waiting, mostly for the GIL), and
the calls inside it that took ``--min-ms`` or more, each marked ``ours`` (mistral_tok), ``vllm``
or ``other``, and the garbage collections that ran. Builtins (Rust code included) show as one
call; the profile function slows Python code (not builtins) down, so Python-heavy stretches read
somewhat long, and its own allocations can start a collection that a run without it would not
see (``benches/vllm_renderer_5mb.py``'s runs see none): one that traverses the young 1.69 M-id
list takes ~6–9 ms wherever it lands, patched or not.

``--by-cpu`` ranks by thread CPU (independent of the machine's load), ``--worst`` shows the worst
run instead of the best, ``--owner`` only the callbacks of ``ours``/``vllm``/``other``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "vllm_integration"))


@dataclass
class Call:
    name: str
    owner: str
    depth: int
    start: float
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    children: list[Call] = field(default_factory=list)


def _owner(module: str | None) -> str:
    module = module or ""
    if module.startswith("mistral_tok"):
        return "ours"
    if module.startswith("vllm"):
        return "vllm"
    return "other"


def _describe_callback(frame: Any) -> tuple[str, str]:
    handle = frame.f_locals.get("self")
    callback = getattr(handle, "_callback", None)
    if callback is None:
        return "Handle._run", "other"
    # A task step: name the coroutine the task is running.
    task = getattr(callback, "__self__", None)
    coro = getattr(task, "get_coro", lambda: None)()
    if coro is not None:
        code = getattr(coro, "cr_code", None)
        module = getattr(coro, "cr_frame", None)
        module = module.f_globals.get("__name__") if module is not None else None
        return f"task step {getattr(code, 'co_qualname', coro)}", _owner(module)
    owner = getattr(callback, "__self__", None) or callback  # a bound method: its object
    module = getattr(callback, "__module__", None) or type(owner).__module__
    if module == "builtins":
        module = type(owner).__module__
    return f"callback {getattr(callback, '__qualname__', type(callback).__qualname__)}", _owner(
        module
    )


class LoopProfiler:
    """``sys.setprofile`` on the calling thread: a tree of the calls of each loop callback."""

    def __init__(self, min_ms: float) -> None:
        self.min_s = min_ms / 1e3
        self.roots: list[Call] = []
        self._stack: list[Call | None] = []
        self._root: Call | None = None

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        now = time.perf_counter()
        if event == "call" or event == "c_call":
            if self._root is None:
                if event == "call" and frame.f_code.co_name == "_run" and "self" in frame.f_locals:
                    name, owner = _describe_callback(frame)
                    self._root = Call(name, owner, 0, now)
                    self._root.cpu_ms = time.thread_time()
                    self._stack = [self._root]
                return
            if event == "call":
                code = frame.f_code
                name = getattr(code, "co_qualname", code.co_name)
                owner = _owner(frame.f_globals.get("__name__"))
            else:
                name = getattr(arg, "__qualname__", repr(arg))
                module = getattr(arg, "__module__", None)
                if module is None:
                    module = type(getattr(arg, "__self__", None)).__module__
                owner = _owner(module)
            self._stack.append(Call(name, owner, len(self._stack), now))
        elif event in ("return", "c_return", "c_exception"):
            if self._root is None or not self._stack:
                return
            call = self._stack.pop()
            call.wall_ms = (now - call.start) * 1e3
            if call is self._root:
                call.cpu_ms = (time.thread_time() - call.cpu_ms) * 1e3
                self.roots.append(call)
                self._root = None
                return
            if now - call.start >= self.min_s and self._stack:
                self._stack[-1].children.append(call)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self._gc_start is not None:
            ms = (time.perf_counter() - self._gc_start) * 1e3
            self.collections.append((info.get("generation", -1), ms))
            self._gc_start = None

    def __enter__(self) -> LoopProfiler:
        self.collections: list[tuple[int, float]] = []
        self._gc_start: float | None = None
        gc.callbacks.append(self._gc)
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
        gc.callbacks.remove(self._gc)

    def longest(self, n: int, by: str = "wall_ms") -> list[Call]:
        return sorted(self.roots, key=lambda c: getattr(c, by), reverse=True)[:n]


def _print_tree(call: Call, indent: int, max_depth: int) -> None:
    extra = f" (thread CPU {call.cpu_ms:.2f} ms)" if indent == 0 else ""
    print(f"{'  ' * indent}{call.wall_ms:7.2f} ms  [{call.owner:5}] {call.name}{extra}")
    if indent >= max_depth:
        return
    for child in call.children:
        _print_tree(child, indent + 1, max_depth)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--unpatched", action="store_true")
    parser.add_argument("--min-ms", type=float, default=0.3)
    parser.add_argument("--top", type=int, default=4)
    parser.add_argument("--owner", choices=("ours", "vllm", "other"), help="only these callbacks")
    parser.add_argument("--worst", action="store_true", help="show the worst run, not the best")
    parser.add_argument(
        "--by-cpu", action="store_true", help="rank callbacks by thread CPU, not wall time"
    )
    parser.add_argument("--depth", type=int, default=12)
    args = parser.parse_args()
    from vllm_renderer_5mb import prepared

    setup = prepared(args.mb)
    if setup is None:
        return
    tokenizer, messages, render = setup
    import vllm

    import mistral_tok.vllm as mv

    mv.unpatch()
    if not args.unpatched:
        mv.patch()
    request = render(tokenizer, messages)

    async def once() -> LoopProfiler:
        await asyncio.sleep(0)
        with LoopProfiler(args.min_ms) as profiler:
            await request()
            await asyncio.sleep(0)
        return profiler

    runs = [asyncio.run(once()) for _ in range(args.repeat + 1)][1:]  # first: warm-up
    by = "cpu_ms" if args.by_cpu else "wall_ms"
    pick = max if args.worst else min
    best = pick(runs, key=lambda p: getattr(p.longest(1, by)[0], by))
    label = "unpatched" if args.unpatched else "patched"
    stalls = ", ".join(f"{getattr(p.longest(1, by)[0], by):.2f}" for p in runs)
    print(
        f"vLLM {vllm.__version__} {label}, {args.mb} MB, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, {threading.active_count()} threads"
    )
    which = "worst" if args.worst else "best"
    print(f"longest callback ({by}) per run: {stalls}; the {which} run's {args.top} longest:")
    for root in best.longest(len(best.roots), by):
        if args.top <= 0:
            break
        if args.owner is None or root.owner == args.owner:
            _print_tree(root, 0, args.depth)
            args.top -= 1
    slow_gc = [f"gen {g}: {ms:.2f} ms" for g, ms in best.collections if ms >= args.min_ms]
    print(
        f"garbage collections: {len(best.collections)}"
        + (f" ({', '.join(slow_gc)} at >= {args.min_ms} ms)" if slow_gc else "")
    )
    owners: dict[str, list[float]] = {}
    for root in best.roots:
        owners.setdefault(root.owner, []).append(root.cpu_ms)
    for owner, cpu in sorted(owners.items()):
        print(
            f"callbacks of {owner}: {len(cpu)}, thread CPU {sum(cpu):.1f} ms in all,"
            f" longest {max(cpu):.2f} ms"
        )
    if not args.unpatched:
        print(f"stats: {mv.stats()['native']} native, {mv.stats()['fallback']} fallback")
    mv.unpatch()


if __name__ == "__main__":
    main()
