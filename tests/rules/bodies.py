"""Realistic request and response bodies in the three dialects rules must treat alike.

A conversation is written once as a list of steps and rendered as an Anthropic Messages, OpenAI
Chat or Ollama `/api/chat` body, then parsed into the neutral model with `addons.wire`, exactly
as the proxy will.

    steps = [user("fix the build"), call("Bash", {"command": "make"}), result("Error: ...")]
    request("openai_chat", steps, tools=[BASH])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import addons.wire as wire
from addons.wire.model import Request, Response

DIALECTS = ("anthropic", "openai_chat", "ollama")
PATHS = {"anthropic": "/v1/messages", "openai_chat": "/v1/chat/completions", "ollama": "/api/chat"}
UPSTREAMS = {"anthropic": "anthropic", "openai_chat": "ollama", "ollama": "ollama"}
MODELS = {
    "anthropic": "claude-sonnet-4-5-20250929",
    "openai_chat": "qwen2.5-coder:32b",
    "ollama": "qwen2.5-coder:32b",
}
SYSTEM = "You are a careful coding agent. Use the tools to inspect before you edit."


@dataclass(frozen=True)
class ToolDef:
    name: str
    description: str
    schema: dict[str, Any]

    def render(self, dialect: str) -> dict[str, Any]:
        if dialect == "anthropic":
            return {"name": self.name, "description": self.description, "input_schema": self.schema}
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.schema,
            },
        }


BASH = ToolDef(
    "Bash",
    "Executes a bash command in a persistent shell session.",
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The command to execute"},
            "timeout": {"type": "number", "description": "Optional timeout in milliseconds"},
            "description": {"type": "string"},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
)
READ = ToolDef(
    "Read",
    "Reads a file from the local filesystem.",
    {
        "type": "object",
        "properties": {
            "file_path": {"type": "string"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer", "default": 2000},
        },
        "required": ["file_path"],
    },
)
GREP = ToolDef(
    "Grep",
    "Searches file contents with ripgrep.",
    {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "path": {"type": "string"},
            "output_mode": {"enum": ["content", "files_with_matches", "count"]},
            "options": {
                "type": "object",
                "properties": {"case": {"type": "boolean"}, "glob": {"type": "string"}},
                "required": ["case"],
            },
        },
        "required": ["pattern", "output_mode"],
    },
)
TODO = ToolDef(
    "TodoWrite",
    "Writes the todo list.",
    {
        "type": "object",
        "properties": {"todos": {"type": "array", "items": {"type": "string"}}},
        "required": ["todos"],
    },
)
TOOLS = [BASH, READ, GREP, TODO]


@dataclass(frozen=True)
class User:
    text: str


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    args: Any  # dict, or a raw string (OpenAI arguments text)


@dataclass(frozen=True)
class Calls:
    """Parallel calls in one assistant message."""

    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Result:
    text: str
    error: bool = False
    with_user_text: str | None = None  # Anthropic: user text merged into the results message


def user(text: str) -> User:
    return User(text)


def say(text: str) -> Say:
    return Say(text)


def call(name: str, args: Any = None) -> Call:
    return Call(name, {} if args is None else args)


def result(text: str, error: bool = False) -> Result:
    return Result(text, error)


def loop(name: str, args: Any, times: int, output: str = "ok") -> list[Any]:
    """`times` identical calls, each answered."""
    return [s for _ in range(times) for s in (call(name, args), result(output))]


@dataclass
class _Builder:
    dialect: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[str, str]] = field(default_factory=list)  # (call id, name) unanswered
    n: int = 0

    def _id(self) -> str:
        self.n += 1
        return f"toolu_{self.n:04d}" if self.dialect == "anthropic" else f"call_{self.n:04d}"

    def _args(self, args: Any) -> Any:
        if self.dialect == "openai_chat":
            return args if isinstance(args, str) else json.dumps(args)
        return args

    def calls(self, calls: tuple[Call, ...]) -> None:
        ids = [self._id() for _ in calls]
        self.pending = [(i, c.name) for i, c in zip(ids, calls, strict=True)]
        if self.dialect == "anthropic":
            content = [
                {"type": "tool_use", "id": i, "name": c.name, "input": c.args}
                for i, c in zip(ids, calls, strict=True)
            ]
            self.messages.append({"role": "assistant", "content": content})
        elif self.dialect == "openai_chat":
            tool_calls = [
                {
                    "id": i,
                    "type": "function",
                    "function": {"name": c.name, "arguments": self._args(c.args)},
                }
                for i, c in zip(ids, calls, strict=True)
            ]
            self.messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
        else:
            tool_calls = [{"function": {"name": c.name, "arguments": c.args}} for c in calls]
            self.messages.append({"role": "assistant", "content": "", "tool_calls": tool_calls})

    def result(self, r: Result) -> None:
        call_id, name = self.pending.pop(0) if self.pending else ("call_orphan", "?")
        if self.dialect == "anthropic":
            block = {"type": "tool_result", "tool_use_id": call_id, "content": r.text}
            if r.error:
                block["is_error"] = True
            last = self.messages[-1] if self.messages else None
            if last and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(block)
            else:
                self.messages.append({"role": "user", "content": [block]})
            if r.with_user_text:
                self.messages[-1]["content"].append({"type": "text", "text": r.with_user_text})
        elif self.dialect == "openai_chat":
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": r.text})
        else:
            self.messages.append({"role": "tool", "content": r.text, "tool_name": name})

    def step(self, s: Any) -> None:
        if isinstance(s, User):
            self.messages.append({"role": "user", "content": s.text})
        elif isinstance(s, Say):
            self.messages.append({"role": "assistant", "content": s.text})
        elif isinstance(s, Call):
            self.calls((s,))
        elif isinstance(s, Calls):
            self.calls(s.calls)
        elif isinstance(s, Result):
            self.result(s)
        else:
            raise TypeError(s)


def body(
    dialect: str,
    steps: list[Any],
    *,
    tools: list[ToolDef] | None = None,
    system: str | None = SYSTEM,
    model: str | None = None,
    stream: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    b = _Builder(dialect)
    for s in steps:
        b.step(s)
    out: dict[str, Any] = {"model": model or MODELS[dialect]}
    if dialect == "anthropic":
        out["max_tokens"] = 8192
        if system:
            out["system"] = [{"type": "text", "text": system}]
        out["messages"] = b.messages
    else:
        out["messages"] = ([{"role": "system", "content": system}] if system else []) + b.messages
    if tools:
        out["tools"] = [t.render(dialect) for t in tools]
    out["stream"] = stream
    out.update(extra)
    return out


def parse(dialect: str, data: dict[str, Any], path: str | None = None) -> Request:
    req = wire.parse_request(dialect, json.dumps(data).encode(), path or PATHS[dialect])
    assert req is not None
    return req


def request(dialect: str, steps: list[Any], **kw: Any) -> Request:
    return parse(dialect, body(dialect, steps, **kw))


def response_body(dialect: str, calls: list[Call], text: str = "") -> dict[str, Any]:
    if dialect == "anthropic":
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [
            {"type": "tool_use", "id": f"toolu_r{i}", "name": c.name, "input": c.args}
            for i, c in enumerate(calls)
        ]
        return {
            "id": "msg_01XYZ",
            "type": "message",
            "role": "assistant",
            "model": MODELS[dialect],
            "content": content,
            "stop_reason": "tool_use" if calls else "end_turn",
            "usage": {"input_tokens": 1200, "output_tokens": 80},
        }
    if dialect == "openai_chat":
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": f"call_r{i}",
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.args if isinstance(c.args, str) else json.dumps(c.args),
                    },
                }
                for i, c in enumerate(calls)
            ]
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": MODELS[dialect],
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
            ],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280},
        }
    return {
        "model": MODELS[dialect],
        "message": {
            "role": "assistant",
            "content": text,
            "tool_calls": [{"function": {"name": c.name, "arguments": c.args}} for c in calls],
        },
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 1200,
        "eval_count": 80,
    }


def response(dialect: str, calls: list[Call], text: str = "") -> Response:
    resp = wire.parse_response(dialect, json.dumps(response_body(dialect, calls, text)).encode())
    assert resp is not None
    return resp


def openai_stream(calls: list[Call]) -> Response:
    """An OpenAI Chat stream with these calls, accumulated as the proxy would."""
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}]
    for i, c in enumerate(calls):
        args = c.args if isinstance(c.args, str) else json.dumps(c.args)
        head = {"index": i, "id": f"call_s{i}", "type": "function"}
        chunks.append(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [{**head, "function": {"name": c.name, "arguments": ""}}]
                        },
                    }
                ]
            }
        )
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            chunks.append(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": i, "function": {"arguments": piece}}]
                            },
                        }
                    ]
                }
            )
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    data = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    resp = wire.parse_stream("openai_chat", data.encode())
    assert resp is not None
    return resp


def options(rule: Any, **overrides: Any) -> dict[str, Any]:
    """A rule's default options, enabled, with `overrides`."""
    return {**rule.defaults, "enabled": True, **overrides}


def context(dialect: str, **kw: Any) -> Any:
    from rules.base import RuleContext

    values: dict[str, Any] = {
        "client_ip": "10.0.0.5",
        "client_app": "claude-code" if dialect == "anthropic" else "openai-python",
        "path": PATHS[dialect],
        "upstream": UPSTREAMS[dialect],
        "dialect": dialect,
        "conversation_id": "c0ffee0000000001",
    }
    values.update(kw)
    return RuleContext(**values)
