"""Ollama API: `/api/chat`, `/api/generate` (NDJSON streams by default), tags, embed, version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.fakes.fake_openai import vector
from tests.fakes.wire import (
    BadRequest,
    Context,
    JsonReply,
    Reply,
    StreamReply,
    dumps,
    ndjson,
    plan_turn,
    split_text,
    tokens_of,
)

NDJSON = "application/x-ndjson"
VERSION = "0.12.6"
ERRORS = {
    400: "invalid request",
    401: "unauthorized",
    403: "forbidden",
    404: "model not found, try pulling it first",
    429: "too many requests",
    500: "an error was encountered while running the model",
    503: "server busy, please try again.  maximum pending requests exceeded",
}
TAGS = (
    ("llama3.2:latest", "llama", "3.2B", "Q4_K_M", 2019393189),
    ("qwen2.5:0.5b", "qwen2", "494.03M", "Q4_K_M", 397821319),
    ("nomic-embed-text:latest", "nomic-bert", "137M", "F16", 274302450),
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _require_model(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("invalid request body")
    if not body.get("model"):
        raise BadRequest("model is required")
    return body


def _stats(prompt_tokens: int, eval_tokens: int) -> dict[str, int]:
    load, prompt_ns, eval_ns = 1_000_000, prompt_tokens * 100_000, eval_tokens * 10_000_000
    return {
        "total_duration": load + prompt_ns + eval_ns + 500_000,
        "load_duration": load,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": eval_tokens,
        "eval_duration": eval_ns,
    }


def _stream(lines: list[dict[str, Any]]) -> StreamReply:
    return StreamReply(
        [ndjson(line) for line in lines],
        NDJSON,
        error_event=ndjson({"error": ERRORS[500]}),
        malformed_event=b"{not json\n",
    )


def chat_user_texts(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return [str(message.get("content") or "")]
    return []


def _tool_results(messages: list[Any]) -> list[str] | None:
    results: list[str] = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "tool":
            break
        results.insert(0, str(message.get("content") or ""))
    return results or None


def chat(ctx: Context) -> Reply:
    body = _require_model(ctx.body)
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tools = {
        t["function"]["name"]: t["function"].get("parameters") or {}
        for t in body.get("tools") or []
        if isinstance(t, dict)
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    }
    plan = plan_turn(
        user_texts=chat_user_texts(body),
        tool_results=_tool_results(messages),
        tools=tools,
        scenario=ctx.scenario,
        thinking=bool(body.get("think")),
    )
    n = ctx.scenario.chunks
    thoughts = split_text(plan.thinking, min(n, 3)) if plan.thinking else []
    pieces = split_text(plan.text, n) if plan.text else []
    calls = [{"function": {"name": plan.tool_name, "arguments": plan.tool_args}}]
    prompt = tokens_of(len(dumps(messages)) + len(dumps(body.get("tools") or [])))
    output = len(thoughts) + len(pieces) + (1 if plan.tool_name else 0)
    model = body["model"]
    final = {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        **_stats(prompt, output),
    }

    if body.get("stream") is False:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
        if thoughts:
            message["thinking"] = "".join(thoughts)
        if plan.tool_name:
            message["tool_calls"] = calls
        return JsonReply(200, {**final, "message": message})

    def line(**message: Any) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": "", **message},
            "done": False,
        }

    lines = [line(thinking=t) for t in thoughts] + [line(content=p) for p in pieces]
    if plan.tool_name:
        lines.append(line(tool_calls=calls))
    return _stream([*lines, {**final, "created_at": _now()}])


def generate_user_texts(body: Any) -> list[str]:
    prompt = body.get("prompt") if isinstance(body, dict) else None
    return [prompt] if isinstance(prompt, str) else []


def generate(ctx: Context) -> Reply:
    body = _require_model(ctx.body)
    plan = plan_turn(
        user_texts=generate_user_texts(body), tool_results=None, tools={}, scenario=ctx.scenario
    )
    pieces = split_text(plan.text, ctx.scenario.chunks)
    prompt = tokens_of(len(str(body.get("prompt") or "")) + len(str(body.get("system") or "")))
    final = {
        "model": body["model"],
        "created_at": _now(),
        "response": "",
        "done": True,
        "done_reason": "stop",
        "context": list(range(1, prompt + len(pieces) + 1)),
        **_stats(prompt, len(pieces)),
    }
    if body.get("stream") is False:
        return JsonReply(200, {**final, "response": "".join(pieces)})
    lines = [
        {"model": body["model"], "created_at": _now(), "response": p, "done": False} for p in pieces
    ]
    return _stream([*lines, {**final, "created_at": _now()}])


def tags(ctx: Context) -> Reply:
    models = [
        {
            "name": name,
            "model": name,
            "modified_at": "2025-06-01T12:00:00.000000000Z",
            "size": size,
            "digest": dumps(name).encode().hex().ljust(64, "0")[:64],
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family,
                "families": [family],
                "parameter_size": params,
                "quantization_level": quant,
            },
        }
        for name, family, params, quant, size in TAGS
    ]
    return JsonReply(200, {"models": models})


def embed(ctx: Context) -> Reply:
    body = _require_model(ctx.body)
    inputs = body.get("input") or ""
    inputs = [inputs] if isinstance(inputs, str) else [str(i) for i in inputs]
    dims = int(body.get("dimensions") or 768)
    tokens = sum(tokens_of(len(i)) for i in inputs)
    return JsonReply(
        200,
        {
            "model": body["model"],
            "embeddings": [vector(i, dims) for i in inputs],
            "total_duration": 14_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": tokens,
        },
    )


def embeddings(ctx: Context) -> Reply:
    body = _require_model(ctx.body)
    return JsonReply(200, {"embedding": vector(str(body.get("prompt") or ""), 768)})


def version(ctx: Context) -> Reply:
    return JsonReply(200, {"version": VERSION})


def error(ctx: Context, status: int, message: str | None = None) -> JsonReply:
    default = ERRORS[500] if status >= 500 else ERRORS[400]
    return JsonReply(status, {"error": message or ERRORS.get(status, default)})
