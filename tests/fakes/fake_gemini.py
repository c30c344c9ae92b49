"""Gemini API: `models/{model}:generateContent`, `:streamGenerateContent` and `:countTokens`.

Streams use `?alt=sse` with CRLF framing as the real service does; without `alt=sse` the stream
is a JSON array delivered piece by piece. Non-streamed bodies are pretty-printed, like Google's.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.wire import (
    BadRequest,
    Context,
    JsonReply,
    Reply,
    StreamReply,
    dumps,
    plan_turn,
    split_text,
    sse,
    tokens_of,
)

STATUSES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def _contents(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in body.get("contents") or [] if isinstance(c, dict)]


def _parts(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in content.get("parts") or [] if isinstance(p, dict)]


def user_texts(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    for content in reversed(_contents(body)):
        if content.get("role", "user") == "user":
            texts = [p["text"] for p in _parts(content) if isinstance(p.get("text"), str)]
            if texts:
                return texts
    return []


def _tool_results(body: dict[str, Any]) -> list[str] | None:
    contents = _contents(body)
    if not contents:
        return None
    results = []
    for part in _parts(contents[-1]):
        response = part.get("functionResponse")
        if isinstance(response, dict):
            value = response.get("response")
            if isinstance(value, dict):
                value = value.get("result", value.get("output", value))
            results.append(value if isinstance(value, str) else dumps(value))
    return results or None


def _tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tool in body.get("tools") or []:
        for decl in (tool or {}).get("functionDeclarations") or []:
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                out[decl["name"]] = (
                    decl.get("parameters")
                    or decl.get("parametersJsonSchema")
                    or decl.get("parameters_json_schema")  # google-genai 2.x sends snake_case
                    or {}
                )
    return out


def _prompt_tokens(body: dict[str, Any]) -> int:
    parts = [body.get("contents"), body.get("systemInstruction"), body.get("tools")]
    return tokens_of(sum(len(dumps(p)) for p in parts if p))


def _validate(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Invalid JSON payload received.")
    if not _contents(body):
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified\n")
    return body


def generate(ctx: Context) -> Reply:
    body = _validate(ctx.body)
    model, action = ctx.params["model"], ctx.params["action"]
    config = body.get("generationConfig") or {}
    thinking = bool((config.get("thinkingConfig") or {}).get("includeThoughts"))
    plan = plan_turn(
        user_texts=user_texts(body),
        tool_results=_tool_results(body),
        tools=_tools(body),
        scenario=ctx.scenario,
        thinking=thinking,
    )
    n = ctx.scenario.chunks
    parts: list[dict[str, Any]] = []
    if plan.thinking:
        parts += [{"text": t, "thought": True} for t in split_text(plan.thinking, min(n, 3))]
    thoughts = len(parts)
    if plan.text:
        parts += [{"text": p} for p in split_text(plan.text, n)]
    if plan.tool_name:
        parts.append({"functionCall": {"name": plan.tool_name, "args": plan.tool_args}})
    prompt = _prompt_tokens(body)
    output = len(parts) - thoughts
    details = [{"modality": "TEXT", "tokenCount": prompt}]
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output + thoughts,
        "promptTokensDetails": details,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    response_id = ctx.ids.make("", 22)

    def answer(chunk_parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": chunk_parts, "role": "model"}}
        if last:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        partial = {
            "promptTokenCount": prompt,
            "totalTokenCount": prompt,
            "promptTokensDetails": details,
        }
        return {
            "candidates": [candidate],
            "usageMetadata": usage if last else partial,
            "modelVersion": model,
            "responseId": response_id,
        }

    if action == "generateContent":
        merged = _merge_parts(parts)
        return JsonReply(200, answer(merged, True), indent=2)
    chunks = [answer([p], i == len(parts) - 1) for i, p in enumerate(parts)]
    failure = {"error": {"code": 500, "message": STATUSES[500][1], "status": "INTERNAL"}}
    if ctx.request.query.get("alt") == "sse":
        return StreamReply(
            [sse(None, c, newline="\r\n") for c in chunks],
            "text/event-stream",
            error_event=sse(None, failure, newline="\r\n"),
            malformed_event=b"data: {not json\r\n\r\n",
        )
    frames = [("[" if i == 0 else ",\r\n") + json.dumps(c, indent=2) for i, c in enumerate(chunks)]
    frames.append("]")
    return StreamReply(
        [f.encode() for f in frames],
        "application/json; charset=UTF-8",
        error_event=(",\r\n" + json.dumps(failure, indent=2)).encode(),
        malformed_event=b",\r\n{not json",
    )


def _merge_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A non-streamed answer has one text part per kind, not one per chunk."""
    merged: list[dict[str, Any]] = []
    for part in parts:
        if (
            merged
            and "text" in part
            and "text" in merged[-1]
            and (part.get("thought") == merged[-1].get("thought"))
        ):
            merged[-1] = {**merged[-1], "text": merged[-1]["text"] + part["text"]}
        else:
            merged.append(part)
    return merged


def count_tokens(ctx: Context) -> Reply:
    body = _validate(ctx.body)
    prompt = _prompt_tokens(body)
    return JsonReply(
        200,
        {
            "totalTokens": prompt,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        },
        indent=2,
    )


def error(ctx: Context, status: int, message: str | None = None) -> JsonReply:
    default = STATUSES[500] if status >= 500 else STATUSES[400]
    name, text = STATUSES.get(status, default)
    headers = [("retry-after", str(ctx.scenario.retry_after))] if status == 429 else []
    return JsonReply(
        status,
        {"error": {"code": status, "message": message or text, "status": name}},
        headers,
        indent=2,
    )
