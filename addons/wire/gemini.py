"""Google Gemini API: `models/{model}:generateContent`, `:streamGenerateContent?alt=sse` and
`:countTokens` (the model and the stream flag come from the URL path).

`promptTokenCount` includes cached tokens, so the neutral input is it minus
`cachedContentTokenCount`; the neutral output counts thoughts too (`candidatesTokenCount +
thoughtsTokenCount`), as OpenAI's `completion_tokens` does. Gemini answers "STOP" also after a
function call: with a tool call in the output that becomes "tool_use". Field names are read in
camelCase or snake_case, as the REST API accepts both.
"""

from __future__ import annotations

import re
from typing import Any

from .common import (
    Accumulator,
    PrefixMemo,
    as_dict,
    as_int,
    as_list,
    as_str,
    dict_or_none,
    dump_json,
    error_text,
    leftover,
    load_event,
)
from .framing import SSEEvent
from .model import (
    IMAGE,
    OTHER,
    TEXT,
    THINKING,
    TOOL_CALL,
    TOOL_RESULT,
    Block,
    Message,
    Request,
    Response,
    Tool,
    Usage,
)

DIALECT = "gemini"

_PATH = re.compile(r"/(?:models|tunedModels)/([^/:?]+):(\w+)")
FINISH_REASONS = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_ROLES = {"user": "user", "model": "assistant", "function": "tool", "tool": "tool"}
_CONFIG_PARAMS = (
    ("temperature", "temperature", "temperature"),
    ("topP", "top_p", "top_p"),
    ("topK", "top_k", "top_k"),
    ("maxOutputTokens", "max_output_tokens", "max_tokens"),
    ("stopSequences", "stop_sequences", "stop"),
    ("thinkingConfig", "thinking_config", "thinking"),
)
_REQUEST_KEYS = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "system_instruction",
        "tools",
        "toolConfig",
        "tool_config",
        "generationConfig",
        "generation_config",
    }
)
_RESPONSE_KEYS = frozenset(
    {
        "responseId",
        "response_id",
        "modelVersion",
        "model_version",
        "candidates",
        "usageMetadata",
        "usage_metadata",
        "error",
    }
)


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    value = d.get(camel)
    return d.get(snake) if value is None else value


def model_from_path(path: str | None) -> tuple[str | None, str | None]:
    """(model, method) from ".../models/gemini-2.5-flash:streamGenerateContent?alt=sse"."""
    m = _PATH.search(path or "")
    return (m.group(1), m.group(2)) if m else (None, None)


def parse_part(p: Any) -> Block:
    if not isinstance(p, dict):
        return Block(OTHER, raw=p)
    signature = as_str(_get(p, "thoughtSignature", "thought_signature"))
    if "text" in p:
        kind = THINKING if p.get("thought") is True else TEXT
        more = any(k not in ("text", "thought", "thoughtSignature", "thought_signature") for k in p)
        return Block(
            kind, text=as_str(p["text"]) or "", signature=signature, raw=p if more else None
        )
    call = _get(p, "functionCall", "function_call")
    if isinstance(call, dict):
        return Block(
            TOOL_CALL,
            id=as_str(call.get("id")),
            name=as_str(call.get("name")),
            arguments=call.get("args", {}),
            signature=signature,
            raw=p,
        )
    result = _get(p, "functionResponse", "function_response")
    if isinstance(result, dict):
        response = result.get("response")
        return Block(
            TOOL_RESULT,
            id=as_str(result.get("id")),
            name=as_str(result.get("name")),
            text=response if isinstance(response, str) else dump_json(response),
            raw=p,
        )
    inline = _get(p, "inlineData", "inline_data")
    if isinstance(inline, dict):
        media_type = as_str(_get(inline, "mimeType", "mime_type"))
        if media_type and media_type.startswith("image/"):
            return Block(IMAGE, media_type=media_type, data=as_str(inline.get("data")))
    file = _get(p, "fileData", "file_data")
    if isinstance(file, dict):
        media_type = as_str(_get(file, "mimeType", "mime_type"))
        if media_type and media_type.startswith("image/"):
            return Block(
                IMAGE, media_type=media_type, url=as_str(_get(file, "fileUri", "file_uri")), raw=p
            )
    return Block(OTHER, raw=p)


def _content_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [Block(TEXT, text=content)]
    return [parse_part(p) for p in as_list(as_dict(content).get("parts"))]


def parse_tools(tools: Any) -> list[Tool]:
    out = []
    for t in as_list(tools):
        t = as_dict(t)
        decls = _get(t, "functionDeclarations", "function_declarations")
        if not isinstance(decls, list):  # googleSearch, codeExecution, urlContext, ...
            out.append(Tool(name=next(iter(t), ""), raw=t))
            continue
        for d in map(as_dict, decls):
            schema = d.get("parameters")
            if schema is None:
                schema = _get(d, "parametersJsonSchema", "parameters_json_schema")
            out.append(
                Tool(
                    name=as_str(d.get("name")) or "",
                    description=as_str(d.get("description")) or "",
                    parameters=dict_or_none(schema),
                    raw=d
                    if any(k not in ("name", "description", "parameters") for k in d)
                    else None,
                )
            )
    return out


def _tool_choice(config: Any) -> Any:
    fc = as_dict(_get(as_dict(config), "functionCallingConfig", "function_calling_config"))
    mode = as_str(fc.get("mode"))
    if mode is None:
        return None
    allowed = as_list(_get(fc, "allowedFunctionNames", "allowed_function_names"))
    if mode.upper() == "ANY" and len(allowed) == 1:
        return {"name": allowed[0]}
    if mode.upper() in ("AUTO", "ANY", "NONE") and not allowed:
        return mode.lower()
    return config


_CONTENTS = PrefixMemo()  # a conversation's history, parsed once rather than every turn


def parse_content(c: Any) -> Message:
    """One element of `contents`: a turn of the user's or the model's."""
    c = as_dict(c)
    role = as_str(c.get("role")) or "user"
    more = any(k not in ("role", "parts") for k in c)
    return Message(
        _ROLES.get(role, role), _content_blocks(c), raw=c if more or role not in _ROLES else None
    )


def parse_request(body: dict[str, Any], path: str | None = None) -> Request:
    model, method = model_from_path(path)
    req = Request(
        DIALECT,
        model=model or as_str(body.get("model")),
        stream=method == "streamGenerateContent",
    )
    system = _get(body, "systemInstruction", "system_instruction")
    if system is not None:
        req.system = _content_blocks(system)
    req.messages = _CONTENTS.map(as_list(body.get("contents")), parse_content)
    req.tools = parse_tools(body.get("tools"))
    choice = _tool_choice(_get(body, "toolConfig", "tool_config"))
    if choice is not None:
        req.params["tool_choice"] = choice
    config = _get(body, "generationConfig", "generation_config")
    if isinstance(config, dict):
        known = set()
        for camel, snake, neutral in _CONFIG_PARAMS:
            for key in (camel, snake):
                if key in config:
                    req.params[neutral] = config[key]
                    known.add(key)
        rest = leftover(config, frozenset(known))
        if rest:
            req.extra["generationConfig"] = rest
    req.extra.update(leftover(body, _REQUEST_KEYS))
    return req


def parse_usage(u: Any) -> Usage:
    u = as_dict(u)
    prompt = as_int(_get(u, "promptTokenCount", "prompt_token_count"))
    cached = as_int(_get(u, "cachedContentTokenCount", "cached_content_token_count"))
    output = as_int(_get(u, "candidatesTokenCount", "candidates_token_count"))
    thoughts = as_int(_get(u, "thoughtsTokenCount", "thoughts_token_count"))
    if thoughts:
        output = (output or 0) + thoughts
    if prompt is None:
        prompt = as_int(_get(u, "totalTokens", "total_tokens"))  # :countTokens
    return Usage(
        input=prompt - cached if prompt is not None and cached else prompt,
        output=output,
        cache_read=cached,
    )


def _stop_reason(reason: Any, blocks: list[Block]) -> str | None:
    if not isinstance(reason, str):
        return None
    if reason == "STOP" and any(b.type == TOOL_CALL for b in blocks):
        return "tool_use"
    return FINISH_REASONS.get(reason, reason)


def _error(body: dict[str, Any]) -> str | None:
    err = body.get("error")
    if isinstance(err, dict):
        return error_text(err.get("status") or err.get("code"), err.get("message"))
    return None


def parse_response(body: dict[str, Any]) -> Response:
    resp = Response(
        DIALECT,
        id=as_str(_get(body, "responseId", "response_id")),
        model=as_str(_get(body, "modelVersion", "model_version")),
    )
    resp.error = _error(body)
    candidates = as_list(body.get("candidates"))
    candidate = as_dict(candidates[0]) if candidates else {}
    resp.blocks = _content_blocks(candidate.get("content")) if "content" in candidate else []
    resp.stop_reason = _stop_reason(_get(candidate, "finishReason", "finish_reason"), resp.blocks)
    feedback = as_dict(_get(body, "promptFeedback", "prompt_feedback"))
    if not candidates and _get(feedback, "blockReason", "block_reason"):
        resp.stop_reason = "content_filter"
    usage = _get(body, "usageMetadata", "usage_metadata")
    if isinstance(usage, dict):
        resp.usage = parse_usage(usage)
        resp.extra["usageMetadata"] = usage
    elif as_int(_get(body, "totalTokens", "total_tokens")) is not None:
        resp.usage = parse_usage(body)
    more = leftover(candidate, frozenset({"content", "finishReason", "finish_reason"}))
    if more:
        resp.extra["candidate"] = more
    if len(candidates) > 1:
        resp.extra["candidates"] = candidates
    resp.extra.update(leftover(body, _RESPONSE_KEYS))
    return resp


class StreamAccumulator(Accumulator):
    """SSE events, each a whole GenerateContentResponse holding the next parts."""

    dialect = DIALECT

    def __init__(self) -> None:
        super().__init__()
        self._text: Block | None = None
        self._thinking: Block | None = None

    def _event(self, item: SSEEvent) -> None:
        ev = load_event(item.data)
        if not isinstance(ev, dict):
            raise ValueError("event is not an object")
        self.apply(ev)

    def apply(self, ev: dict[str, Any]) -> None:
        """Merge one GenerateContentResponse (a stream event, or an element of a JSON array)."""
        resp = self._response
        resp.error = _error(ev) or resp.error
        resp.id = as_str(_get(ev, "responseId", "response_id")) or resp.id
        resp.model = as_str(_get(ev, "modelVersion", "model_version")) or resp.model
        candidates = as_list(ev.get("candidates"))
        candidate = as_dict(candidates[0]) if candidates else {}
        for part in as_list(as_dict(candidate.get("content")).get("parts")):
            self._part(part)
        reason = _get(candidate, "finishReason", "finish_reason")
        if reason is not None:
            resp.stop_reason = _stop_reason(reason, resp.blocks)
            self.done = True
        feedback = as_dict(_get(ev, "promptFeedback", "prompt_feedback"))
        if not candidates and _get(feedback, "blockReason", "block_reason"):
            resp.stop_reason = "content_filter"
        usage = _get(ev, "usageMetadata", "usage_metadata")
        if isinstance(usage, dict):
            resp.usage.merge(parse_usage(usage))

    def _part(self, part: Any) -> None:
        block = parse_part(part)
        if block.type in (TEXT, THINKING):
            current = self._text if block.type == TEXT else self._thinking
            if current is None:
                current = self._add_block(Block(block.type))
                if block.type == TEXT:
                    self._text = current
                else:
                    self._thinking = current
            self._grow(current, "text", block.text)
            if block.signature:
                current.signature = block.signature
            if block.text:
                self.output_started = True
            return
        if block.type == TOOL_CALL:
            args = block.arguments
            block.arguments = args if isinstance(args, str) else dump_json(args)
            self.output_started = True
        self._add_block(block)


def parse_stream_array(items: list[Any]) -> Response:
    """A `:streamGenerateContent` body without `alt=sse`: one JSON array of responses."""
    acc = StreamAccumulator()
    for ev in items:
        acc.events += 1
        if isinstance(ev, dict):
            acc.apply(ev)
        else:
            acc.malformed += 1
    return acc.finish()
