"""The awaitables (`encode_async`, `decode_async`) and the worker thread behind them.

Results and errors must equal the sync calls; jobs run one at a time in submission order on one
thread; cancellation, panics, closed loops, uvloop and several loops in several threads must all
work without an `InvalidStateError`, a hang or a crash. Every loop here is bounded in count and
time.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import mistral_tok
from mistral_tok import DecodeError, MistralTokError, _native
from tests.support.asyncutil import (
    TOKENIZER_FILES,
    assert_loop_stays_free,
    load_or_skip,
    measure_loop_work,
    prose,
    rss_bytes,
    sample_texts,
)

uvloop = pytest.importorskip("uvloop")


@pytest.fixture(params=TOKENIZER_FILES, scope="module")
def tok(request: pytest.FixtureRequest) -> mistral_tok.Tokenizer:
    return load_or_skip(request.param)


def _error(call):  # -> (type, message) of what `call()` raises
    try:
        call()
    except Exception as e:  # noqa: BLE001 - any exception is the value under test
        return type(e), str(e)
    raise AssertionError("expected an exception")


async def _aerror(awaitable_factory):
    try:
        await awaitable_factory()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)
    raise AssertionError("expected an exception")


class LoopErrors:
    """Collects what the loop's exception handler sees (e.g. InvalidStateError in callbacks)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.seen: list[dict] = []
        loop.set_exception_handler(lambda _loop, context: self.seen.append(context))


# --- results equal the sync calls ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_encode_async_equals_encode(tok: mistral_tok.Tokenizer) -> None:
    texts = sample_texts()
    flags = [(False, False), (True, False), (False, True), (True, True)]
    jobs = [(t, bos, eos) for t in texts for bos, eos in flags[: 1 + len(t) % 4]]
    got = await asyncio.gather(*[tok.encode_async(t, bos=b, eos=e) for t, b, e in jobs])
    assert got == [tok.encode(t, bos=b, eos=e) for t, b, e in jobs]


@pytest.mark.asyncio
async def test_encode_async_equals_encode_on_a_large_text(tok: mistral_tok.Tokenizer) -> None:
    text = prose(2_000_000)  # several slices of list building
    ids = await tok.encode_async(text, bos=True, eos=True)
    assert type(ids) is list
    assert ids == tok.encode(text, bos=True, eos=True)


@pytest.mark.asyncio
async def test_decode_async_equals_decode(tok: mistral_tok.Tokenizer) -> None:
    id_lists = [tok.encode(t, bos=True, eos=True) for t in sample_texts(100)]
    for policy in ("ignore", "keep"):
        got = await asyncio.gather(
            *[tok.decode_async(ids, special_token_policy=policy) for ids in id_lists]
        )
        assert got == [tok.decode(ids, special_token_policy=policy) for ids in id_lists]


@pytest.mark.asyncio
async def test_decode_async_raises_what_decode_raises(tok: mistral_tok.Tokenizer) -> None:
    ids = tok.encode("hello", bos=True)
    cases = [
        (ids, {"special_token_policy": "raise"}),
        (ids, {"special_token_policy": "no-such-policy"}),
        ([tok.vocab_size + 10], {}),
        ([-1], {}),
    ]
    for case_ids, kwargs in cases:
        sync = _error(lambda i=case_ids, k=kwargs: tok.decode(i, **k))
        got = await _aerror(lambda i=case_ids, k=kwargs: tok.decode_async(i, **k))
        assert got == sync
    assert issubclass(_error(lambda: tok.decode(ids, special_token_policy="raise"))[0], DecodeError)


@pytest.mark.asyncio
async def test_lone_surrogates_behave_as_in_encode(tok: mistral_tok.Tokenizer) -> None:
    text = "a\ud800b"
    try:
        expected = tok.encode(text)
    except MistralTokError as e:
        assert await _aerror(lambda: tok.encode_async(text)) == (type(e), str(e))
    else:
        assert await tok.encode_async(text) == expected


# --- encode_chat_async ---------------------------------------------------------------------------

CHAT_FILES = [
    "tekken_240911.json",
    "mistral_instruct_tokenizer_240323.model.v3",
    "mistral_instruct_tokenizer_241114.model.v7",
]


def _tool(name: str) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": "Look something up",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }


def _call(name: str, args: str, call_id: str = "abcdefghi") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


# (messages, tools, keyword arguments): accepted and rejected requests alike.
CHAT_CASES: list[tuple[list, list | None, dict]] = [
    ([{"role": "user", "content": "Hello!"}], None, {}),
    (
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello, how can I help?"},
            {"role": "user", "content": "Zahlen 123 und Ümlaute 日本語 🙂"},
        ],
        None,
        {},
    ),
    (
        [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [_call("lookup", '{"q": "x"}')]},
            {"role": "tool", "content": "sunny", "tool_call_id": "abcdefghi"},
            {"role": "user", "content": "thanks"},
        ],
        [_tool("lookup")],
        {},
    ),
    (
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
        None,
        {"continue_final_message": True},
    ),
    ([{"role": "user", "content": "a"}], None, {"temperature": "0.5", "foo": 1}),
    ([], None, {}),
    ([{"role": "bot", "content": "x"}], None, {}),
    ([{"role": "user", "content": "a"}], [_tool("bad name")], {}),
    ([{"role": "user", "content": "a"}], None, {"seed": 1, "random_seed": 2}),
    ([{"role": "user", "content": 3}], None, {}),
    ([{"role": "user", "content": "a\ud800b"}], None, {}),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("name", CHAT_FILES)
async def test_encode_chat_async_equals_encode_chat(name: str) -> None:
    tok = load_or_skip(name)

    def sync(messages, tools, kw):
        try:
            return tok.encode_chat(messages, tools, **kw)
        except Exception as e:  # noqa: BLE001
            return type(e), str(e)

    async def awaited(messages, tools, kw):
        try:
            return await tok.encode_chat_async(messages, tools, **kw)
        except Exception as e:  # noqa: BLE001
            return type(e), str(e)

    expected = [sync(*case) for case in CHAT_CASES]
    assert any(isinstance(e, list) for e in expected)
    assert any(isinstance(e, tuple) for e in expected)
    got = await asyncio.gather(*[awaited(*case) for case in CHAT_CASES * 3])
    assert got == expected * 3


@pytest.mark.asyncio
async def test_encode_chat_async_owns_its_arguments() -> None:
    """The request is converted at the call: changing the messages afterwards changes nothing."""
    tok = load_or_skip("tekken_240911.json")
    messages = [{"role": "user", "content": "first"}]
    future = tok.encode_chat_async(messages)
    messages[0]["content"] = "changed before the worker ran"
    messages.append({"role": "bot"})
    assert await future == tok.encode_chat([{"role": "user", "content": "first"}])


def _big_chat(n_chars: int) -> tuple[list, list]:
    """A request whose long strings sit in every place the awaitable streams them from."""
    big = prose(n_chars)
    args = '{"q": "' + "y" * n_chars + '"}'
    messages = [
        {"role": "system", "content": "Be brief. " + big[:1000]},
        {"role": "user", "content": big},
        {"role": "assistant", "content": None, "tool_calls": [_call("lookup", args)]},
        {"role": "tool", "content": big[::-1], "tool_call_id": "abcdefghi"},
        {"role": "user", "content": [{"type": "text", "text": big.upper()}]},
    ]
    return messages, [_tool("lookup")]


@pytest.mark.asyncio
@pytest.mark.parametrize("name", CHAT_FILES)
async def test_encode_chat_async_streams_long_strings_exactly(name: str) -> None:
    tok = load_or_skip(name)
    messages, tools = _big_chat(600_000)  # above the streaming threshold (2**18 code points)
    before = repr(messages)
    expected = tok.encode_chat(messages, tools)
    got = await asyncio.gather(*[tok.encode_chat_async(messages, tools) for _ in range(2)])
    assert got == [expected, expected]
    assert repr(messages) == before  # the caller's objects are untouched


async def _outcome(awaitable_factory):
    try:
        return await awaitable_factory()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)


def _sync_outcome(call):
    try:
        return call()
    except Exception as e:  # noqa: BLE001
        return type(e), str(e)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", CHAT_FILES)
@pytest.mark.parametrize("where", [1, 3, 4])
async def test_lone_surrogates_in_a_long_chat_string_as_encode_chat(name: str, where: int) -> None:
    """A long (staged) string with a lone surrogate: same ids or same error as the sync call,
    whether the surrogate reaches the tokens (message 1, 3, 4) or not."""
    tok = load_or_skip(name)
    messages, tools = _big_chat(300_000)
    long_text = "z" * 400_000 + "\ud800" + "z" * 10
    if where == 4:
        messages[4]["content"][0]["text"] = long_text
    else:
        messages[where]["content"] = long_text
    messages[0]["x-ignored"] = "\udfff" * 300_000  # ignored key: mistral_common never reads it
    sync = _sync_outcome(lambda: tok.encode_chat(messages, tools))
    assert await _outcome(lambda: tok.encode_chat_async(messages, tools)) == sync


@pytest.mark.asyncio
@pytest.mark.parametrize("name", CHAT_FILES)
async def test_a_lone_surrogate_only_in_an_ignored_long_field(name: str) -> None:
    tok = load_or_skip(name)
    messages, tools = _big_chat(300_000)
    messages[1]["x-ignored"] = "\ud800" * 300_000
    sync = _sync_outcome(lambda: tok.encode_chat(messages, tools))
    assert isinstance(sync, list)
    assert await tok.encode_chat_async(messages, tools) == sync


@pytest.mark.asyncio
async def test_a_lone_surrogate_in_a_long_text_behaves_as_in_encode(
    tok: mistral_tok.Tokenizer,
) -> None:
    # A surrogate pair split across the streaming slice boundary (2**18 code points) too.
    text = "x" * (2**18 - 1) + "\ud83d\ude00" + "y" * 300_000 + "\udc00"
    try:
        expected = tok.encode(text)
    except MistralTokError as e:
        assert await _aerror(lambda: tok.encode_async(text)) == (type(e), str(e))
    else:
        assert await tok.encode_async(text) == expected


@pytest.mark.asyncio
async def test_cancelling_a_long_text_while_it_streams() -> None:
    tok = load_or_skip("tekken_240911.json")
    errors = LoopErrors(asyncio.get_running_loop())
    text = prose(3_000_000)
    future = tok.encode_async(text)
    future.cancel()
    chat = tok.encode_chat_async(*_big_chat(1_000_000))
    await asyncio.sleep(0)
    chat.cancel()
    assert await tok.encode_async("after") == tok.encode("after")
    await asyncio.sleep(0.05)
    assert errors.seen == []
    assert _native._pending_jobs() == 0


def test_a_stalled_loop_staging_a_long_text_does_not_hold_up_other_loops() -> None:
    """Long strings are copied on their own loop before the job is queued: a loop that stops
    running mid-copy (here: never resumed, never closed) keeps the worker free for others."""
    tok = load_or_skip("tekken_240911.json")
    text = prose(3_000_000)
    stalled = asyncio.new_event_loop()

    async def start() -> asyncio.Future:
        return tok.encode_async(text)

    abandoned = stalled.run_until_complete(start())

    async def elsewhere() -> list:
        return await asyncio.wait_for(
            asyncio.gather(_native._test_sleep_job(0, 1), tok.encode_async("x")), 20
        )

    assert asyncio.run(elsewhere()) == [1, tok.encode("x")]
    assert not abandoned.done()
    # Resumed, the stalled loop finishes its own job.
    assert stalled.run_until_complete(asyncio.wait_for(abandoned, 60)) == tok.encode(text)
    stalled.close()


@pytest.mark.asyncio
async def test_jobs_queued_behind_a_staging_text_keep_their_order() -> None:
    tok = load_or_skip("tekken_240911.json")
    finished: list[str] = []
    futures = [
        tok.encode_async(prose(2_000_000)),
        _native._test_sleep_job(0, 1),
        tok.encode_chat_async([{"role": "user", "content": prose(700_000)}]),
        _native._test_sleep_job(0, 2),
    ]
    for i, f in enumerate(futures):
        f.add_done_callback(lambda _f, i=i: finished.append(i))
    await asyncio.gather(*futures)
    await asyncio.sleep(0)
    assert finished == [0, 1, 2, 3]


# --- worker semantics (hidden test hooks; no tokenizer needed) -----------------------------------


@pytest.mark.asyncio
async def test_jobs_complete_in_submission_order() -> None:
    finished: list[int] = []
    futures = []
    for i in range(20):
        fut = _native._test_sleep_job(0.002 * (20 - i), i)  # earlier jobs are slower
        fut.add_done_callback(lambda f: finished.append(f.result()))
        futures.append(fut)
    assert await asyncio.gather(*futures) == list(range(20))
    await asyncio.sleep(0)
    assert finished == list(range(20))


@pytest.mark.asyncio
async def test_ten_thousand_concurrent_awaits_in_order_with_flat_memory() -> None:
    async def batch() -> None:
        order: list[int] = []

        async def one(i: int) -> None:
            assert await _native._test_sleep_job(0, i) == i
            order.append(i)

        await asyncio.gather(*[one(i) for i in range(10_000)])
        assert order == list(range(10_000))

    await batch()
    gc.collect()
    before = rss_bytes()
    for _ in range(5):
        await batch()
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 64 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over 50,000 awaits"
    assert _native._pending_jobs() == 0


@pytest.mark.asyncio
async def test_a_panicking_job_raises_and_the_worker_serves_the_next() -> None:
    errors = LoopErrors(asyncio.get_running_loop())
    with pytest.raises(MistralTokError, match="internal error.*test panic inside a worker job"):
        await _native._test_panic_job()
    assert await _native._test_sleep_job(0, 42) == 42
    assert errors.seen == []


@pytest.mark.asyncio
async def test_a_job_cancelled_before_it_starts_never_runs() -> None:
    errors = LoopErrors(asyncio.get_running_loop())
    blocker = _native._test_sleep_job(2.0, 0)  # outlasts the cancels below on any machine
    started = _native._test_jobs_started()
    skipped = [_native._test_sleep_job(5.0, i) for i in range(3)]
    for fut in skipped:
        fut.cancel()
    assert await _native._test_sleep_job(0, 7) == 7
    assert await blocker == 0
    # The blocker may or may not have started when `started` was read; the skipped jobs never.
    assert _native._test_jobs_started() - started in (1, 2)
    assert all(f.cancelled() for f in skipped)
    assert _native._pending_jobs() == 0
    assert errors.seen == []


@pytest.mark.asyncio
async def test_a_job_cancelled_while_running_drops_its_result() -> None:
    errors = LoopErrors(asyncio.get_running_loop())
    started = _native._test_jobs_started()
    # 2 s: long enough that the cancel below reaches the job while it runs, however loaded the
    # machine (0.3 s were not).
    task = asyncio.ensure_future(_native._test_sleep_job(2.0, 1))
    for _ in range(3000):  # bounded wait for the worker to pick the job up
        if _native._test_jobs_started() > started:
            break
        await asyncio.sleep(0.01)
    assert _native._test_jobs_started() > started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _native._test_sleep_job(0, 2) == 2
    await asyncio.sleep(0.05)
    assert errors.seen == []
    assert _native._pending_jobs() == 0


@pytest.mark.asyncio
async def test_wait_for_timeout_cancels_cleanly() -> None:
    errors = LoopErrors(asyncio.get_running_loop())
    with pytest.raises(asyncio.TimeoutError):
        # the job outlasts the timeout by far, however loaded the machine
        await asyncio.wait_for(_native._test_sleep_job(2.0, 1), timeout=0.01)
    assert await _native._test_sleep_job(0, 3) == 3
    assert errors.seen == []


def test_an_awaitable_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        _native._test_sleep_job(0, 1)


@pytest.mark.asyncio
async def test_the_queue_limit_raises_a_clear_error() -> None:
    assert mistral_tok.max_queue() == 0
    started = _native._test_jobs_started()
    blocker = _native._test_sleep_job(0.3, 0)
    for _ in range(3000):  # bounded wait for the worker to take the blocker off the queue
        if _native._test_jobs_started() > started:
            break
        await asyncio.sleep(0.01)
    assert _native._test_jobs_started() > started
    mistral_tok.set_max_queue(2)
    try:
        queued = [_native._test_sleep_job(0, i) for i in (1, 2)]
        with pytest.raises(MistralTokError, match="queue is full.*set_max_queue"):
            _native._test_sleep_job(0, 3)
    finally:
        mistral_tok.set_max_queue(0)
    assert await asyncio.gather(blocker, *queued) == [0, 1, 2]
    assert await _native._test_sleep_job(0, 4) == 4


def test_uvloop() -> None:
    async def main() -> None:
        errors = LoopErrors(asyncio.get_running_loop())
        assert await asyncio.gather(*[_native._test_sleep_job(0, i) for i in range(2000)]) == list(
            range(2000)
        )
        fut = _native._test_sleep_job(0.2, 0)
        cancelled = _native._test_sleep_job(0, 1)
        cancelled.cancel()
        with pytest.raises(MistralTokError):
            await _native._test_panic_job()
        assert await fut == 0
        assert errors.seen == []

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(main(), 30))
    finally:
        loop.close()


def test_uvloop_encode(tok: mistral_tok.Tokenizer) -> None:
    texts = sample_texts(50)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*[tok.encode_async(t) for t in texts])

    loop = uvloop.new_event_loop()
    try:
        assert loop.run_until_complete(main()) == [tok.encode(t) for t in texts]
    finally:
        loop.close()


def test_several_loops_in_several_threads() -> None:
    results: dict[int, list[int]] = {}

    def run(n: int) -> None:
        async def main() -> list[int]:
            return await asyncio.gather(
                *[_native._test_sleep_job(0, n * 1000 + i) for i in range(300)]
            )

        if n % 2:
            loop = uvloop.new_event_loop()
            try:
                results[n] = loop.run_until_complete(main())
            finally:
                loop.close()
        else:
            results[n] = asyncio.run(main())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert results == {n: [n * 1000 + i for i in range(300)] for n in range(6)}


def test_a_loop_closed_with_jobs_pending() -> None:
    loop = asyncio.new_event_loop()

    async def start_and_leave() -> list[asyncio.Future]:
        return [_native._test_sleep_job(0.05, i) for i in range(5)]

    abandoned = loop.run_until_complete(start_and_leave())
    loop.close()
    assert not any(f.done() for f in abandoned)

    async def later() -> int:
        await asyncio.sleep(0.1)  # the abandoned jobs finish meanwhile, into a dead loop's slot
        return await _native._test_sleep_job(0, 9)

    assert asyncio.run(later()) == 9
    assert _native._pending_jobs() == 0
    assert not any(f.done() for f in abandoned)


def test_a_process_that_never_awaits_starts_no_thread() -> None:
    script = textwrap.dedent(
        """
        import os, mistral_tok
        from mistral_tok import _native
        try:
            tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path())
            tok.decode(tok.encode("hello"))
        except mistral_tok.TokenizerFileError:
            pass
        mistral_tok.set_max_queue(5)
        print(_native._worker_started(), len(os.listdir("/proc/self/task")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["False", "1"]


@pytest.mark.parametrize("when", ["queued", "running", "abandoned-loop", "staging"])
def test_interpreter_exit_with_pending_jobs(when: str) -> None:
    """The process exits without waiting for queued work (100 s of it here) and without a crash."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        import mistral_tok
        from mistral_tok import _native

        async def main():
            futs = [_native._test_sleep_job(50, i) for i in range(2)]
            if {when!r} == "staging":
                tok = mistral_tok.Tokenizer.from_file(mistral_tok.shipped_tokenizer_path())
                futs.append(tok.encode_async("word " * 2_000_000))
                futs.append(tok.encode_chat_async([{{"role": "user", "content": "w " * 600_000}}]))
            await asyncio.sleep(0.05)
            if {when!r} == "running":
                raise SystemExit(0)
            return futs

        if {when!r} in ("abandoned-loop", "staging"):
            loop = asyncio.new_event_loop()
            futs = loop.run_until_complete(main())
            print("leaving", flush=True)
        else:
            asyncio.run(main())
            print("leaving", flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=40)
    assert out.returncode == 0, out.stderr
    assert "Fatal" not in out.stderr and "panicked" not in out.stderr, out.stderr


@pytest.mark.asyncio
async def test_the_worker_is_one_thread_for_every_loop() -> None:
    await _native._test_sleep_job(0, 0)
    names = [
        (open(f"/proc/self/task/{t}/comm").read().strip()) for t in os.listdir("/proc/self/task")
    ]
    assert names.count("mistral-tok-wor") == 1  # comm is truncated to 15 bytes


# --- the event loop keeps running while big texts are encoded ------------------------------------
# CPU time only (see `LoopWork`); the wall-clock lags are in tests/timing (`make test-timing`).


@pytest.mark.asyncio
async def test_encoding_a_big_chat_request_does_not_stall_the_loop(loop_lag) -> None:
    tok = load_or_skip("tekken_240911.json")
    text = prose(25_000_000)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
    ids, work = await measure_loop_work(lambda: tok.encode_chat_async(messages), loop_lag)
    assert len(ids) > 2_500_000
    assert_loop_stays_free(work)


@pytest.mark.asyncio
@pytest.mark.parametrize("megabytes", [5, 25])
async def test_encoding_a_big_text_does_not_stall_the_loop(
    tok: mistral_tok.Tokenizer, loop_lag, megabytes: int
) -> None:
    text = prose(megabytes * 1_000_000)
    ids, work = await measure_loop_work(lambda: tok.encode_async(text), loop_lag)
    assert len(ids) > megabytes * 100_000
    assert_loop_stays_free(work)


@pytest.mark.asyncio
async def test_the_garbage_collector_sees_through_the_worker_bookkeeping() -> None:
    """A waiting future → its cancel hook → the loop's slot → the future: every edge is reported
    to the collector (``__traverse__``), so such cycles are found once the loop is gone."""
    future = _native._test_sleep_job(0, 5)
    hooks = [cb for cb, _ctx in future._callbacks if type(cb).__name__ == "CancelHook"]
    assert len(hooks) == 1 and gc.is_tracked(hooks[0])
    slots = [r for r in gc.get_referents(hooks[0]) if type(r).__name__ == "LoopSlot"]
    assert len(slots) == 1 and gc.is_tracked(slots[0])
    assert future in gc.get_referents(slots[0])
    assert await future == 5
    assert future not in gc.get_referents(slots[0])
