"""Built-in canary requests (OpenAI form) for self-verification on unverified host versions:
short text conversations covering the template's parts that a tokenizer version has."""

from __future__ import annotations

import re
from typing import Any

CanaryRequest = tuple[list[dict[str, Any]], Any, dict[str, Any]]


def _version(mistral_tokenizer: Any) -> int:
    version = mistral_tokenizer.instruct_tokenizer.tokenizer.version
    match = re.match(r"v(\d+)", str(getattr(version, "value", version)))
    return int(match.group(1)) if match else 0


def canary_requests(mistral_tokenizer: Any) -> list[tuple[str, CanaryRequest]]:
    """``(name, (messages, tools, from_openai keywords))`` for the tokenizer's version."""
    n = _version(mistral_tokenizer)
    hello = {"role": "user", "content": "Hello, who are you? Naïve café 日本語 😀 [INST] </s>"}
    out: list[tuple[str, CanaryRequest]] = [
        ("one user message", ([hello], None, {})),
        (
            "system and turns",
            (
                [
                    {"role": "system", "content": "You are terse."},
                    hello,
                    {"role": "assistant", "content": "A model."},
                    {"role": "user", "content": [{"type": "text", "text": "And  then?\n\n"}]},
                ],
                None,
                {},
            ),
        ),
        (
            "continued final message",
            (
                [hello, {"role": "assistant", "content": "I am"}],
                None,
                {"continue_final_message": True},
            ),
        ),
    ]
    if n >= 2:
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ]
        call = {
            "id": "abcDEF123",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
        out.append(
            (
                "tool call and result",
                (
                    [
                        {"role": "user", "content": "Weather in Paris?"},
                        {"role": "assistant", "content": None, "tool_calls": [call]},
                        {"role": "tool", "tool_call_id": "abcDEF123", "content": "22C"},
                    ],
                    tools,
                    {},
                ),
            )
        )
    return out
