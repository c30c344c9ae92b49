"""Request bodies for the overhead benchmark: realistic Anthropic Messages requests.

- `small_body()`: a ~1 KB non-streaming request (short system prompt, one user turn).
- `large_body()`: a ~150 KB Claude Code-shaped request (long system prompt, 24 tools, long
  tool-use history).
- `conversation(turns)`: the request bodies of a Claude Code-sized conversation in which every
  turn resends the ~60 KB system prompt and tools plus the whole history (the shape of
  `tests/addons/store/test_bodies.py`).
- `growing_conversation()`: 50 successive turns of one such conversation, 95–210 KB (150 KB
  on average): what an agent sends turn after turn; `conversation_lines()`, the same as
  `bench.loadgen`'s `turns` file.

Everything is deterministic (seeded), so runs compare.
"""

from __future__ import annotations

import json
import random
from typing import Any

SEQ_MARK = "@@SEQ@@"  # replaced by a per-request counter when the load generator varies bodies


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class _Prose:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocabulary = [
            "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz", k=self.rng.randint(2, 10)))
            for _ in range(4000)
        ]

    def __call__(self, size: int) -> str:
        words: list[str] = []
        length = -1
        while length < size:
            word = self.rng.choice(self.vocabulary)
            words.append(word)
            length += len(word) + 1
        return " ".join(words)


def small_body(stream: bool = False, seq_mark: bool = False) -> bytes:
    """About 1 KB: what a simple SDK call looks like."""
    prose = _Prose(1)
    question = ("[" + SEQ_MARK + "] " if seq_mark else "") + prose(420)
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are a helpful assistant. " + prose(380),
        "messages": [{"role": "user", "content": question}],
        "metadata": {"user_id": "bench-user"},
        "stream": stream,
    }
    return _dumps(body)


def _system_and_tools(prose: _Prose) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system = [
        {
            "type": "text",
            "text": "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli;",
        },
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": prose(24_000), "cache_control": {"type": "ephemeral"}},
    ]
    names = (
        "Task Bash Glob Grep LS ExitPlanMode Read Edit MultiEdit Write NotebookEdit WebFetch "
        "TodoWrite WebSearch BashOutput KillBash SlashCommand Skill AskUserQuestion ListMcp "
        "ReadMcp EnterPlanMode TaskOutput TaskStop"
    ).split()
    tools = [
        {
            "name": name,
            "description": prose(1_500),
            "input_schema": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["path"],
            },
        }
        for name in names
    ]
    return system, tools


def conversation(turns: int, seed: int = 7, stream: bool = True) -> list[bytes]:
    """Claude Code-shaped request bodies for `turns` turns; each resends the whole history."""
    prose = _Prose(seed)
    system, tools = _system_and_tools(prose)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Fix the flaky test, then explain."}]}
    ]
    requests = []
    for turn in range(turns):
        if turn:
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"toolu_{turn}",
                            "content": prose(prose.rng.randint(300, 3000)),
                        }
                    ],
                }
            )
        # Claude Code moves its cache breakpoint to the newest message on every turn.
        last = json.loads(json.dumps(messages[-1]))
        last["content"][-1]["cache_control"] = {"type": "ephemeral"}
        body = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 32000,
            "messages": messages[:-1] + [last],
            "system": system,
            "tools": tools,
            "metadata": {"user_id": "user_bench_session_5f0c2a9e"},
            "stream": stream,
        }
        requests.append(_dumps(body))
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": prose(prose.rng.randint(100, 800))},
                    {
                        "type": "tool_use",
                        "id": f"toolu_{turn + 1}",
                        "name": "Read",
                        "input": {"path": f"/src/{turn}.py"},
                    },
                ],
            }
        )
    return requests


def growing_conversation(turns: int = 50, first: int = 13) -> list[bytes]:
    """`turns` successive requests of one Claude Code conversation, unstreamed, from its turn
    `first` on: with the defaults 95 to 210 KB, 150 KB on average, each the one before with a
    tool result and an answer added and the cache marker moved (what an agent sends)."""
    return conversation(first + turns, seed=11, stream=False)[first:]


def conversation_lines() -> bytes:
    """`growing_conversation()` as one body per line, the file `bench.loadgen` sends in turn
    (`"turns": true`); compact JSON has no newline of its own."""
    return b"\n".join(growing_conversation())


def large_body(target: int = 150_000) -> bytes:
    """The first turn of a Claude Code conversation that is at least `target` bytes, unstreamed."""
    for body in conversation(200, seed=11, stream=False):
        if len(body) >= target:
            return body
    raise AssertionError("conversation never reached the target size")
