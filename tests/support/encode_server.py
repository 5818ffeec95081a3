"""A real HTTP server (Starlette on uvicorn, loopback only) that encodes request bodies through
the awaitable, in its own process (as in production, so the client does not share its GIL).

``/health`` answers ``encoding`` while an encode is under way and ``idle`` otherwise; ``/encode``
answers a summary of the ids and the server loop's :class:`~tests.support.asyncutil.LoopWork`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SERVER = textwrap.dedent(
    """
    import dataclasses, socket, sys
    sys.path.insert(0, sys.argv[2])
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route
    from mistral_tok import Tokenizer
    from tests.support.asyncutil import measure_loop_work

    tok = Tokenizer.from_file(sys.argv[1])

    state = {"phase": "idle"}

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse(state["phase"])

    async def encode(request: Request) -> JSONResponse:
        text = (await request.body()).decode("utf-8")
        # Reading and decoding the body is the app's own blocking work, not the awaitable's:
        # /health reports when the encode starts, and only answers from then on are judged.
        async def job():
            state["phase"] = "encoding"
            try:
                return await tok.encode_async(text)
            finally:
                state["phase"] = "idle"

        ids, work = await measure_loop_work(job)
        # A summary, not the ids: serialising millions of ints would itself block the loop.
        return JSONResponse({
            "n_tokens": len(ids), "head": ids[:16], "tail": ids[-16:],
            "work": dataclasses.asdict(work),
        })

    app = Starlette(routes=[
        Route("/health", health),
        Route("/encode", encode, methods=["POST"]),
    ])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
    """
)


@contextmanager
def encode_server(tokenizer_path: Path) -> Iterator[str]:
    """The server's base URL, once ``/health`` answers; the server is stopped on exit. Bounded:
    30 s to start, 10 s to stop."""
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tokenizer_path), str(REPO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline().strip() or 0) if proc.stdout else 0
        assert port, proc.stderr.read() if proc.poll() is not None and proc.stderr else "no port"
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).text == "idle":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server died"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def encode_while_polling(url: str, body: bytes) -> tuple[dict, list[float]]:
    """POSTs ``body`` to ``/encode`` and polls ``/health`` every 10 ms until it is answered:
    the response and the latency (ms) of every ``/health`` answered ``encoding``. Bounded: 60 s."""
    import asyncio

    import httpx

    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        encode = asyncio.ensure_future(client.post("/encode", content=body))
        deadline = time.monotonic() + 60
        while not encode.done():
            assert time.monotonic() < deadline, "encode request did not finish in 60 s"
            t0 = time.perf_counter()
            answer = await client.get("/health")
            if answer.text == "encoding":
                latencies.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.01)
        response = (await encode).json()
    return response, latencies
