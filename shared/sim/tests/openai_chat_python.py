"""The streaming chat completions simulator as OpenAI's own Python SDK (openai) sees it.

Run by `tests/pipeline.rs` (`openai_sdk_streams_from_the_chat_simulator`), which
scripts a spoken reply, then a tool call:

    openai_chat_python.py <base_url> <api_key>

Each request streams with `stream_options.include_usage`; every chunk is the SDK's
`ChatCompletionChunk` with nothing in any `model_extra` (no field the SDK lacks), and
the pieces add up to the scripted text and the function call. A tool message without
its call is refused with a 400. Exits non-zero on failure; prints `ok` on success.
"""

import json
import sys

import openai
from openai import OpenAI

BASE_URL, KEY = sys.argv[1], sys.argv[2]
client = OpenAI(api_key=KEY, base_url=BASE_URL)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Looks up an order.",
            "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
        },
    }
]


def strict(model, path):
    extra = getattr(model, "model_extra", None) or {}
    assert not extra, f"{path}: fields the SDK does not know: {list(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "model_fields"):
                strict(item, f"{path}.{name}")


def stream(messages):
    text, calls, finish, usage = "", {}, None, None
    for chunk in client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=messages,
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    ):
        assert chunk.object == "chat.completion.chunk"
        strict(chunk, "chunk")
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert usage is not None and usage.total_tokens > 0
    return text, calls, finish


messages = [{"role": "system", "content": "You answer the phone."}, {"role": "user", "content": "Where is my order?"}]
text, calls, finish = stream(messages)
assert (text, calls, finish) == ("Let me check that for you.", {}, "stop"), (text, calls, finish)
messages.append({"role": "assistant", "content": text})
messages.append({"role": "user", "content": "It's A-1."})
text, calls, finish = stream(messages)
assert finish == "tool_calls" and text == "", (text, finish)
call = calls[0]
assert call["name"] == "lookup_order" and json.loads(call["arguments"]) == {"order": "A-1"}, call

try:
    stream(messages + [{"role": "tool", "tool_call_id": "call_nope", "content": "{}"}])
    raise AssertionError("a tool message without its call was accepted")
except openai.BadRequestError as e:
    assert "tool" in e.message, e.message

print("ok")
