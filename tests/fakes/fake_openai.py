"""OpenAI API: chat completions, legacy completions, embeddings, models and the Responses API."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
from typing import Any

from tests.fakes.wire import (
    HEX,
    BadRequest,
    Context,
    JsonReply,
    Plan,
    Reply,
    StreamReply,
    dumps,
    plan_turn,
    split_fragments,
    split_text,
    sse,
    tokens_of,
)

ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in 1s.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o4-mini", "text-embedding-3-small")
SSE = "text/event-stream; charset=utf-8"
DONE = b"data: [DONE]\n\n"
MALFORMED = b"data: {not json\n\n"
FINGERPRINT = "fp_fake0001"


def _headers(ctx: Context) -> list[tuple[str, str]]:
    return [("x-request-id", ctx.ids.make("req_", 32, HEX)), ("openai-version", "2020-10-01")]


def _part_texts(content: Any, kinds: tuple[str, ...]) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [
        p.get("text") or "" for p in content or [] if isinstance(p, dict) and p.get("type") in kinds
    ]


def _require(body: Any, *names: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("We could not parse the JSON body of your request.")
    if "model" in names and "model" not in body:
        raise BadRequest("you must provide a model parameter")
    for name in names:
        if name not in body:
            raise BadRequest(f"Missing required parameter: '{name}'.")
    return body


def _cached_chars(ctx: Context, blocks: list[str]) -> int:
    """Automatic prefix caching: the longest prefix of this prompt sent before is cached."""
    return ctx.cache.lookup(blocks, list(range(1, len(blocks) + 1)), len(blocks))


def _prompt_usage(ctx: Context, blocks: list[str]) -> tuple[int, int]:
    cached = _cached_chars(ctx, blocks) // 4
    return tokens_of(sum(map(len, blocks))), cached


# --- chat completions ------------------------------------------------------------------------


def chat_user_texts(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _part_texts(message.get("content"), ("text",))
    return []


def _chat_tool_results(messages: list[Any]) -> list[str] | None:
    results: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") not in ("tool", "function"):
            break
        results.insert(0, "\n".join(_part_texts(message.get("content"), ("text",))))
    return results or None


def _function_tools(tools: Any, nested: bool) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tool in tools or []:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function") if nested else tool
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            out[spec["name"]] = spec.get("parameters") or {}
    return out


def _chat_usage(prompt: int, completion: int, cached: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _stream_error() -> bytes:
    return sse(
        None,
        {"error": {"message": ERRORS[500][2], "type": "server_error", "param": None, "code": None}},
    )


def chat_completions(ctx: Context) -> Reply:
    body = _require(ctx.body, "model", "messages")
    messages = body["messages"] if isinstance(body["messages"], list) else []
    plan = plan_turn(
        user_texts=chat_user_texts(body),
        tool_results=_chat_tool_results(messages),
        tools=_function_tools(body.get("tools"), nested=True),
        scenario=ctx.scenario,
    )
    blocks = [dumps(t) for t in body.get("tools") or []] + [dumps(m) for m in messages]
    prompt, cached = _prompt_usage(ctx, blocks)
    n = ctx.scenario.chunks
    cid = ctx.ids.make("chatcmpl-", 29)
    created = int(time.time())
    model = body["model"]
    pieces = split_text(plan.text, n) if plan.text else []
    call: dict[str, Any] | None = None
    fragments: list[str] = []
    if plan.tool_name:
        arguments = dumps(plan.tool_args)
        fragments = split_fragments(arguments, n)
        call = {
            "id": ctx.ids.make("call_", 24),
            "type": "function",
            "function": {"name": plan.tool_name, "arguments": arguments},
        }
    finish = "tool_calls" if call else "stop"
    usage = _chat_usage(prompt, len(pieces) + len(fragments), cached)

    if not body.get("stream"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(pieces) if pieces else None,
            "refusal": None,
            "annotations": [],
        }
        if call:
            message["tool_calls"] = [call]
        completion = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
        return JsonReply(200, completion, _headers(ctx))

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            data["usage"] = None
        return sse(None, data)

    if call:
        first = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": plan.tool_name, "arguments": ""},
        }
        events = [
            chunk({"role": "assistant", "content": None, "tool_calls": [first], "refusal": None})
        ]
        events += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in fragments
        ]
    else:
        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": p}) for p in pieces]
    events.append(chunk({}, finish))
    if include_usage:
        events.append(
            sse(
                None,
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "service_tier": "default",
                    "system_fingerprint": FINGERPRINT,
                    "choices": [],
                    "usage": usage,
                },
            )
        )
    events.append(DONE)
    return StreamReply(
        events, SSE, _headers(ctx), error_event=_stream_error(), malformed_event=MALFORMED
    )


# --- legacy completions ----------------------------------------------------------------------


def completion_user_texts(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = next((p for p in reversed(prompt) if isinstance(p, str)), "")
    return [prompt] if isinstance(prompt, str) else []


def completions(ctx: Context) -> Reply:
    body = _require(ctx.body, "model", "prompt")
    plan = plan_turn(
        user_texts=completion_user_texts(body), tool_results=None, tools={}, scenario=ctx.scenario
    )
    pieces = split_text(plan.text, ctx.scenario.chunks)
    prompt, _ = _prompt_usage(ctx, [dumps(body["prompt"])])
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": len(pieces),
        "total_tokens": prompt + len(pieces),
    }
    base = {
        "id": ctx.ids.make("cmpl-", 29),
        "object": "text_completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": FINGERPRINT,
    }

    def choice(text: str, finish: str | None) -> dict[str, Any]:
        return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}

    if not body.get("stream"):
        return JsonReply(
            200,
            {**base, "choices": [choice("".join(pieces), "stop")], "usage": usage},
            _headers(ctx),
        )
    events = [sse(None, {**base, "choices": [choice(p, None)]}) for p in pieces]
    events.append(sse(None, {**base, "choices": [choice("", "stop")]}))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(sse(None, {**base, "choices": [], "usage": usage}))
    events.append(DONE)
    return StreamReply(
        events, SSE, _headers(ctx), error_event=_stream_error(), malformed_event=MALFORMED
    )


# --- embeddings and models -------------------------------------------------------------------


def vector(text: str, dims: int) -> list[float]:
    """A unit vector derived from the text, every component exactly representable in float32."""
    raw = b""
    block = 0
    while len(raw) < dims * 2:
        raw += hashlib.sha256(f"{block}:{text}".encode()).digest()
        block += 1
    values = [(int.from_bytes(raw[2 * i : 2 * i + 2], "big") - 32768) / 32768 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    packed = struct.pack(f"<{dims}f", *(v / norm for v in values))
    return list(struct.unpack(f"<{dims}f", packed))


def embeddings(ctx: Context) -> Reply:
    body = _require(ctx.body, "model", "input")
    inputs = body["input"]
    if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    dims = int(body.get("dimensions") or 1536)
    data = []
    for index, item in enumerate(inputs):
        values = vector(item if isinstance(item, str) else dumps(item), dims)
        embedding: Any = values
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{dims}f", *values)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(tokens_of(len(i) if isinstance(i, str) else 4 * len(i)) for i in inputs)
    return JsonReply(
        200,
        {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        _headers(ctx),
    )


def models(ctx: Context) -> Reply:
    data = [
        {"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in MODELS
    ]
    return JsonReply(200, {"object": "list", "data": data}, _headers(ctx))


# --- Responses API ---------------------------------------------------------------------------


def responses_user_texts(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    items = body.get("input")
    if isinstance(items, str):
        return [items]
    for item in reversed(items or []):
        if (
            isinstance(item, dict)
            and item.get("role") == "user"
            and item.get("type", "message") == "message"
        ):
            return _part_texts(item.get("content"), ("input_text", "text"))
    return []


def _responses_tool_results(items: Any) -> list[str] | None:
    if not isinstance(items, list):
        return None
    results: list[str] = []
    for item in reversed(items):
        if not isinstance(item, dict) or item.get("type") != "function_call_output":
            break
        output = item.get("output")
        text = (
            output
            if isinstance(output, str)
            else "\n".join(_part_texts(output, ("input_text", "output_text", "text")))
        )
        results.insert(0, text)
    return results or None


def responses(ctx: Context) -> Reply:
    body = _require(ctx.body, "model")
    plan: Plan = plan_turn(
        user_texts=responses_user_texts(body),
        tool_results=_responses_tool_results(body.get("input")),
        tools=_function_tools(body.get("tools"), nested=False),
        scenario=ctx.scenario,
    )
    items = body.get("input")
    blocks = [dumps(body.get("instructions"))] + [dumps(t) for t in body.get("tools") or []]
    blocks += [dumps(i) for i in items] if isinstance(items, list) else [dumps(items)]
    prompt, cached = _prompt_usage(ctx, blocks)
    n = ctx.scenario.chunks
    rid = ctx.ids.make("resp_", 48, HEX)
    pieces = split_text(plan.text, n) if plan.text else []
    fragments = split_fragments(dumps(plan.tool_args), n) if plan.tool_name else []
    usage = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": len(pieces) + len(fragments),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + len(pieces) + len(fragments),
    }
    if plan.tool_name:
        item: dict[str, Any] = {
            "id": ctx.ids.make("fc_", 48, HEX),
            "type": "function_call",
            "status": "completed",
            "arguments": "".join(fragments),
            "call_id": ctx.ids.make("call_", 24),
            "name": plan.tool_name,
        }
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": "".join(pieces)}
        item = {
            "id": ctx.ids.make("msg_", 48, HEX),
            "type": "message",
            "status": "completed",
            "content": [part],
            "role": "assistant",
        }
    response = {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": body["model"],
        "output": [item],
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }
    if not body.get("stream"):
        return JsonReply(200, response, _headers(ctx))

    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(sse(kind, {"type": kind, "sequence_number": len(events), **fields}))

    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=pending)
    emit("response.in_progress", response=pending)
    where = {"item_id": item["id"], "output_index": 0}
    if plan.tool_name:
        emit(
            "response.output_item.added",
            output_index=0,
            item={**item, "status": "in_progress", "arguments": ""},
        )
        for fragment in fragments:
            emit("response.function_call_arguments.delta", **where, delta=fragment)
        emit("response.function_call_arguments.done", **where, arguments=item["arguments"])
    else:
        where["content_index"] = 0
        emit(
            "response.output_item.added",
            output_index=0,
            item={**item, "status": "in_progress", "content": []},
        )
        emit("response.content_part.added", **where, part={**part, "text": ""})
        for piece in pieces:
            emit("response.output_text.delta", **where, delta=piece, logprobs=[])
        emit("response.output_text.done", **where, text=part["text"], logprobs=[])
        emit("response.content_part.done", **where, part=part)
    emit("response.output_item.done", output_index=0, item=item)
    emit("response.completed", response=response)
    failure = {
        "type": "error",
        "code": "server_error",
        "message": ERRORS[500][2],
        "param": None,
        "sequence_number": len(events) // 2,
    }
    return StreamReply(
        events,
        SSE,
        _headers(ctx),
        error_event=sse("error", failure),
        malformed_event=b"event: response.output_text.delta\n" + MALFORMED,
    )


def error(ctx: Context, status: int, message: str | None = None) -> JsonReply:
    default = ("server_error", None, ERRORS[500][2]) if status >= 500 else ERRORS[400]
    kind, code, text = ERRORS.get(status, default)
    headers = _headers(ctx)
    if status == 429:
        headers.append(("retry-after", str(ctx.scenario.retry_after)))
    body = {"error": {"message": message or text, "type": kind, "param": None, "code": code}}
    return JsonReply(status, body, headers)
