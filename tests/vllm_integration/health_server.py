"""An ASGI server around vLLM 0.33's real MistralRenderer, for the /health responsiveness test.

    python health_server.py MODEL_DIR PORT patched|unpatched

``POST /render`` takes an OpenAI-style ``{"messages": [...]}`` body, parses it on the event loop
(as vLLM's FastAPI app does: that alone stalls the loop for ~0.3 s at 25 MB, so the reply
carries the wall-clock window of the template step) and awaits
``MistralRenderer.render_messages_async`` with a real tokenizer; ``GET /health`` answers at
once; ``GET /stats`` returns mistral-tok's counters.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    model_dir, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    import uvicorn

    import mistral_tok.vllm as mv

    if mode == "patched":
        report = mv.patch()
        assert report.active, str(report)
    from vllm.renderers import ChatParams
    from vllm.renderers.mistral import MistralRenderer
    from vllm.tokenizers.mistral import MistralTokenizer
    from vllm_doubles import renderer_config

    tokenizer = MistralTokenizer.from_pretrained(model_dir)
    renderer = MistralRenderer(renderer_config(), tokenizer=tokenizer)

    async def send(send_fn, status: int, body: bytes) -> None:
        await send_fn(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send_fn({"type": "http.response.body", "body": body})

    async def app(scope, receive, send_fn):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/health":
            await send(send_fn, 200, b"{}")
            return
        if path == "/stats":
            await send(send_fn, 200, json.dumps(mv.stats()).encode())
            return
        if path == "/render":
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            request = json.loads(b"".join(chunks))
            started = time.time()
            try:
                _, prompt = await renderer.render_messages_async(request["messages"], ChatParams())
            except ValueError as exc:
                await send(send_fn, 400, json.dumps({"error": str(exc)}).encode())
                return
            ids = prompt["prompt_token_ids"]
            window = [started, time.time()]
            reply = {"tokens": len(ids), "head": ids[:8], "render_window": window}
            await send(send_fn, 200, json.dumps(reply).encode())
            return
        await send(send_fn, 404, b"{}")

    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", h11_max_incomplete_event_size=1 << 30
    )


if __name__ == "__main__":
    main()
