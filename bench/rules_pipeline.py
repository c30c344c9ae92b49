"""Cost of the rule pipeline, every rule on, for a ~150 KB Claude Code request (not a test).

    .venv/bin/python bench/rules_pipeline.py [--runs 2000]

Builds a request shaped like Claude Code's (a ~20 KB system prompt in two blocks, 24 tools with
real JSON schemas, ~100 messages of tool_use / tool_result history), parses it once with
`addons.wire`, and times `Engine.preflight` + `Engine.postflight` (a response with two valid
tool calls) with every rule enabled. Two scenarios:

- `anthropic`: the request as Claude Code sends it, to the Anthropic upstream (ollama_options
  and context_overflow_guard step aside there, as they should);
- `ollama`: the same conversation in the OpenAI Chat dialect to an Ollama upstream, where every
  rule does its full work (options set, tools pruned, tokens estimated).

Prints p50/p95/p99 per scenario, then each rule's own p50/p95 from `engine.stats`. The target
is under 1 ms at p95 for the whole pipeline. Parsing the body is not included (wire's cost).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from addons.wire import parse_request, parse_response  # noqa: E402
from rules.base import HistoryItem, RuleContext  # noqa: E402
from rules.engine import Engine  # noqa: E402

LOREM = (
    "When you are unsure, read the relevant files before proposing a change. Keep responses short, "
    "use the tools available, never guess paths, and verify every edit by running the tests. "
)


def _props(**kinds: str) -> dict:
    return {
        name: {"type": kind, "description": f"The {name.replace('_', ' ')}."}
        for name, kind in kinds.items()
    }


def _tool(name: str, required: list[str], **kinds: str) -> dict:
    return {
        "name": name,
        "description": f"{name}: " + LOREM * 6,
        "input_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": _props(**kinds),
            "required": required,
            "additionalProperties": False,
        },
    }


TOOLS = [
    _tool(
        "Task",
        ["description", "prompt", "subagent_type"],
        description="string",
        prompt="string",
        subagent_type="string",
    ),
    _tool(
        "Bash",
        ["command"],
        command="string",
        timeout="number",
        description="string",
        run_in_background="boolean",
    ),
    _tool("Glob", ["pattern"], pattern="string", path="string"),
    _tool(
        "Grep",
        ["pattern"],
        pattern="string",
        path="string",
        glob="string",
        output_mode="string",
        multiline="boolean",
        head_limit="number",
        type="string",
    ),
    _tool("ExitPlanMode", ["plan"], plan="string"),
    _tool("Read", ["file_path"], file_path="string", offset="number", limit="number"),
    _tool(
        "Edit",
        ["file_path", "old_string", "new_string"],
        file_path="string",
        old_string="string",
        new_string="string",
        replace_all="boolean",
    ),
    _tool("Write", ["file_path", "content"], file_path="string", content="string"),
    _tool(
        "NotebookEdit",
        ["notebook_path", "new_source"],
        notebook_path="string",
        cell_id="string",
        new_source="string",
        cell_type="string",
        edit_mode="string",
    ),
    _tool("WebFetch", ["url", "prompt"], url="string", prompt="string"),
    _tool("TodoWrite", ["todos"], todos="array"),
    _tool("WebSearch", ["query"], query="string", allowed_domains="array", blocked_domains="array"),
    _tool("BashOutput", ["bash_id"], bash_id="string", filter="string"),
    _tool("KillShell", ["shell_id"], shell_id="string"),
    _tool("SlashCommand", ["command"], command="string"),
    _tool("MultiEdit", ["file_path", "edits"], file_path="string", edits="array"),
    _tool("LS", ["path"], path="string", ignore="array"),
    _tool(
        "mcp__github__create_issue",
        ["owner", "repo", "title"],
        owner="string",
        repo="string",
        title="string",
        body="string",
        labels="array",
    ),
    _tool(
        "mcp__github__get_issue",
        ["owner", "repo", "issue_number"],
        owner="string",
        repo="string",
        issue_number="number",
    ),
    _tool("mcp__github__search_code", ["q"], q="string", per_page="number", page="number"),
    _tool("mcp__sqlite__query", ["sql"], sql="string", params="array"),
    _tool("mcp__sqlite__list_tables", [], database="string"),
    _tool("mcp__browser__navigate", ["url"], url="string", wait_until="string"),
    _tool("mcp__browser__screenshot", [], selector="string", full_page="boolean"),
]


def anthropic_body() -> dict:
    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": (LOREM * 120)[:20000], "cache_control": {"type": "ephemeral"}},
    ]
    messages: list[dict] = [
        {"role": "user", "content": "The test suite fails on CI; find out why and fix it."}
    ]
    n = 0
    while len(messages) < 100:
        n += 1
        kind = n % 4
        if kind == 0:
            name, args = (
                "Bash",
                {"command": f"pytest tests/unit/test_{n}.py -x -q", "description": "Run tests"},
            )
            output = "\n".join(f"tests/unit/test_{n}.py::test_case_{i} PASSED" for i in range(55))
        elif kind == 1:
            name, args = "Read", {"file_path": f"/work/src/module_{n}.py"}
            output = "\n".join(
                f"{i:>6}\t    value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 60)
            )
        elif kind == 2:
            name, args = (
                "Grep",
                {"pattern": f"def handler_{n}", "path": "/work/src", "output_mode": "content"},
            )
            output = "\n".join(
                f"/work/src/module_{i}.py:{i * 7}: def handler_{n}(request):" for i in range(25)
            )
        else:
            name, args = (
                "Edit",
                {
                    "file_path": f"/work/src/module_{n}.py",
                    "old_string": "x = 1",
                    "new_string": "x = 2",
                },
            )
            output = f"The file /work/src/module_{n}.py has been updated."
        call_id = f"toolu_01{n:022d}"
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"Step {n}: checking the next candidate."},
                    {"type": "tool_use", "id": call_id, "name": name, "input": args},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call_id, "content": output}],
            }
        )
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "system": system,
        "messages": messages,
        "tools": TOOLS,
        "metadata": {"user_id": "user_abc_account__session_0f0f0f0f"},
        "stream": True,
    }


def openai_body(anthropic: dict) -> dict:
    """The same conversation as an OpenAI Chat body (what protocol_bridge will produce)."""
    messages: list[dict] = [
        {"role": "system", "content": "\n".join(b["text"] for b in anthropic["system"])}
    ]
    for m in anthropic["messages"]:
        content = m["content"]
        if isinstance(content, str):
            messages.append({"role": m["role"], "content": content})
        elif m["role"] == "assistant":
            text = "".join(b.get("text", "") for b in content if b["type"] == "text")
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": json.dumps(b["input"])},
                }
                for b in content
                if b["type"] == "tool_use"
            ]
            messages.append({"role": "assistant", "content": text, "tool_calls": calls})
        else:
            for b in content:
                messages.append(
                    {"role": "tool", "tool_call_id": b["tool_use_id"], "content": b["content"]}
                )
    tools = [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t["description"],
                "parameters": t["input_schema"],
            },
        }
        for t in anthropic["tools"]
    ]
    return {"model": "qwen2.5-coder:32b", "messages": messages, "tools": tools, "stream": True}


RESPONSE_CALLS = [
    ("Bash", {"command": "pytest -x -q", "description": "Run the suite"}),
    ("Read", {"file_path": "/work/src/module_7.py", "offset": 10, "limit": 40}),
]


def response_body(dialect: str) -> dict:
    if dialect == "anthropic":
        return {
            "id": "msg_01Bench",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "Running the suite again."}]
            + [
                {"type": "tool_use", "id": f"toolu_r{i}", "name": n, "input": a}
                for i, (n, a) in enumerate(RESPONSE_CALLS)
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 40000, "output_tokens": 120},
        }
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "qwen2.5-coder:32b",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Running the suite again.",
                    "tool_calls": [
                        {
                            "id": f"call_r{i}",
                            "type": "function",
                            "function": {"name": n, "arguments": json.dumps(a)},
                        }
                        for i, (n, a) in enumerate(RESPONSE_CALLS)
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }


EVERY_RULE = {
    "model_router": {
        "enabled": True,
        "aliases": {"gpt-4o": "qwen2.5-coder:32b"},
        "rules": [
            {"if": {"has_tools": True, "prompt_chars_gt": 10_000_000}, "then": "big-context-model"}
        ],
    },
    "ollama_options": {
        "enabled": True,
        "defaults": {"num_ctx": 65536, "temperature": 0.2},
        "num_ctx_max": 131072,
    },
    "tool_pruner": {"enabled": True},
    "context_overflow_guard": {"enabled": True, "action": "warn"},
    "loop_detector": {"enabled": True},
    "tool_failure_breaker": {"enabled": True},
    "tool_args_autofix": {"enabled": True, "defaults": {"*": {"description": ""}}},
    "schema_validator": {"enabled": True},
    "hallucinated_tool": {"enabled": True},
}


class History:
    """Five earlier requests that offered all 24 tools and called four of them."""

    def __init__(self) -> None:
        names = [t["name"] for t in TOOLS]
        self.items = [HistoryItem(names, ["Bash", "Read", "Grep", "Edit"]) for _ in range(5)]

    def prior_requests(self, conversation_id: str) -> list[HistoryItem]:
        return self.items


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, int(p / 100 * len(ordered) + 0.999999) - 1))] * 1000


def run(name: str, dialect: str, body: dict, upstream: str, runs: int) -> tuple[Engine, list[str]]:
    raw = json.dumps(body).encode()
    path = {"anthropic": "/v1/messages", "openai_chat": "/v1/chat/completions"}[dialect]
    request = parse_request(dialect, raw, path)
    response = parse_response(dialect, json.dumps(response_body(dialect)).encode())
    assert request is not None and response is not None
    ctx = RuleContext(
        client_ip="127.0.0.1",
        client_app="claude-code",
        path=path,
        upstream=upstream,
        dialect=dialect,
        conversation_id="3f2a9c0d11e4b7a5",
        history=History(),
    )
    engine = Engine(EVERY_RULE)
    pre_t, post_t, total_t = [], [], []
    clock = time.perf_counter
    verdicts: list[str] = []
    for i in range(runs + 200):
        t0 = clock()
        pre = engine.preflight(request, ctx)
        t1 = clock()
        post = engine.postflight(pre.request, response, pre.context)
        t2 = clock()
        if i >= 200:  # warm-up excluded
            pre_t.append(t1 - t0)
            post_t.append(t2 - t1)
            total_t.append(t2 - t0)
        verdicts = [f"{v.rule_id}:{v.verdict}" for v in pre.verdicts + post.verdicts]
        assert not pre.failures and not post.failures
    size = f"{len(raw) / 1024:.0f} KB, {len(request.messages)} messages, {len(request.tools)} tools"
    print(f"{name} ({size})")
    for label, samples in (("preflight", pre_t), ("postflight", post_t), ("total", total_t)):
        row = "".join(f"{pct(samples, p):>9.3f}" for p in (50, 95, 99))
        print(f"  {label:<12}{row}")
    return engine, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    body = anthropic_body()
    print(f"rules pipeline, every rule on, {args.runs} runs, milliseconds\n")
    print(f"  {'':<12}{'p50':>9}{'p95':>9}{'p99':>9}")
    results = [
        ("anthropic", *run("anthropic", "anthropic", body, "anthropic", args.runs)),
        ("ollama", *run("ollama", "openai_chat", openai_body(body), "ollama", args.runs)),
    ]
    for name, engine, verdicts in results:
        print(f"\n{name}: verdicts {', '.join(verdicts) or '(none)'}")
        print(f"  {'rule':<24}{'runs':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
        for rule_id, s in engine.stats.summary()["rules"].items():
            if s["runs"]:
                cols = "".join(f"{s[k]:>9.4f}" for k in ("p50_ms", "p95_ms", "p99_ms"))
                print(f"  {rule_id:<24}{s['runs']:>6}{cols}")


if __name__ == "__main__":
    main()
