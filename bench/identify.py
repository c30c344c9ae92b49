"""How long conversation threading and client identification take on a large request.

Builds a Claude Code-shaped request of about 150 KB (a ~25 KB system prompt with billing header
and <example>/<env> blocks, a first user message wrapped in <system-reminder> blocks, 24 tools,
and a long tool-use history) and times `content_key`, `Threader.assign` and `identify_client`.

    .venv/bin/python -m bench.identify
"""

from __future__ import annotations

import json
import timeit

from addons.clients import identify_client
from addons.threads import Threader, content_key
from addons.wire.model import TEXT, TOOL_CALL, TOOL_RESULT, Block, Message, Request, Tool

SESSION = "5f0c2a9e-1b7d-4c3e-9a61-2d8f0e7b4c11"
HEADERS = {
    "user-agent": "claude-cli/2.1.197 (external, sdk-cli)",
    "x-app": "cli",
    "X-Claude-Code-Session-Id": SESSION,
    "anthropic-version": "2023-06-01",
    "x-stainless-lang": "js",
    "x-stainless-package-version": "0.60.0",
}

PROSE = (
    "You are an interactive CLI tool that helps users with software engineering tasks. Use the "
    "instructions below and the tools available to you to assist the user. When referencing "
    "code use the pattern `file_path:line_number`. Prefer editing existing files. "
)


def system_blocks() -> list[Block]:
    billing = (
        "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=sdk-cli; cch=4f2e1;"
    )
    parts = []
    for i in range(40):
        parts.append(PROSE * 2)
        if i % 4 == 0:
            parts.append(
                f"<example>\nuser: run the tests {i}\nassistant: I'll run `pytest -q`.\n"
                "```bash\npytest -q\n```\n</example>"
            )
    parts.append("<env>\nWorking directory: /work/project\nPlatform: linux\n</env>")
    return [Block(TEXT, billing), Block(TEXT, "\n\n".join(parts))]


def first_user() -> Message:
    reminder = "<system-reminder>\n# claudeMd\n" + ("Project rules: keep it small. " * 300)
    return Message(
        "user",
        [
            Block(TEXT, reminder + "\n</system-reminder>"),
            Block(TEXT, "Fix the flaky test in tests/test_api.py and explain the cause."),
        ],
    )


def history(pairs: int) -> list[Message]:
    out = []
    for i in range(pairs):
        out.append(
            Message(
                "assistant",
                [
                    Block(TEXT, "Let me look at that file."),
                    Block(TOOL_CALL, id=f"toolu_{i}", name="Read", arguments={"path": f"/p/{i}"}),
                ],
            )
        )
        out.append(
            Message(
                "user",
                [Block(TOOL_RESULT, id=f"toolu_{i}", text="    1→import os\n" * 120)],
            )
        )
    return out


def build() -> Request:
    tools = [
        Tool(name, "A tool. " * 60, {"type": "object", "properties": {"x": {"type": "string"}}})
        for name in (
            "Task Bash Glob Grep LS ExitPlanMode Read Edit MultiEdit Write NotebookEdit WebFetch "
            "TodoWrite WebSearch BashOutput KillBash SlashCommand Skill AskUserQuestion ListMcp "
            "ReadMcp EnterPlanMode TaskOutput TaskStop"
        ).split()
    ]
    return Request(
        dialect="anthropic",
        model="claude-opus-4-8",
        system=system_blocks(),
        messages=[first_user(), *history(56)],
        tools=tools,
        stream=True,
        params={
            "max_tokens": 64000,
            "metadata": {"user_id": json.dumps({"device_id": "d" * 64, "session_id": SESSION})},
        },
    )


def size(request: Request) -> int:
    def blocks(bs: list[Block]) -> int:
        return sum(len(b.text) + len(json.dumps(b.arguments or "")) for b in bs)

    return (
        blocks(request.system)
        + sum(blocks(m.blocks) for m in request.messages)
        + sum(len(t.description) + len(json.dumps(t.parameters)) for t in request.tools)
    )


def main() -> None:
    request = build()
    threader = Threader()
    threader.assign(HEADERS, request)
    tool_names = [t.name for t in request.tools]
    system_text = request.system_text
    plain_system = system_text.replace("cc_entrypoint", "entrypoint")
    runs = 2000
    print(f"request ~{size(request) / 1024:.0f} KB, {len(request.messages)} messages")
    for label, fn in (
        ("content_key", lambda: content_key(request)),
        ("Threader.assign", lambda: threader.assign(HEADERS, request)),
        ("identify_client", lambda: identify_client(HEADERS, system_text, tool_names)),
        (
            "identify_client (no header match)",
            lambda: identify_client({"user-agent": "x"}, plain_system, tool_names),
        ),
    ):
        best = min(timeit.repeat(fn, number=runs, repeat=5)) / runs
        print(f"{label:36} {best * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
