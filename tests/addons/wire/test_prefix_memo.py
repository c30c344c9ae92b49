"""PrefixMemo: a resent conversation is parsed once, and the result is what a plain parse gives."""

from __future__ import annotations

import copy
import json

import pytest

from addons import wire
from addons.wire import anthropic, gemini, ollama, openai_chat, openai_responses
from addons.wire.common import PrefixMemo


def anthropic_turns(n: int) -> list[dict]:
    messages: list[dict] = [{"role": "user", "content": "fix the tests"}]
    for i in range(n):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"step {i}"},
                    {"type": "tool_use", "id": f"toolu_{i}", "name": "Bash", "input": {"i": i}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "ok"}],
            }
        )
    return messages


def openai_turns(n: int) -> list[dict]:
    messages: list[dict] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "fix the tests"},
    ]
    for i in range(n):
        function = {"name": "bash", "arguments": "{}"}
        call = {"id": f"call_{i}", "type": "function", "function": function}
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": "ok"})
    return messages


def gemini_turns(n: int) -> list[dict]:
    contents: list[dict] = [{"role": "user", "parts": [{"text": "fix the tests"}]}]
    for i in range(n):
        call = {"functionCall": {"name": "bash", "args": {"i": i}}}
        contents.append({"role": "model", "parts": [{"text": f"step {i}"}, call]})
        result = {"functionResponse": {"name": "bash", "response": {"output": "ok"}}}
        contents.append({"role": "user", "parts": [result]})
    return contents


def responses_turns(n: int) -> list[dict]:
    """OpenAI Responses input items as Codex sends them: each step's text and call are items of
    their own, merged into one assistant message by the parser."""
    items: list[dict] = [{"role": "user", "content": "fix the tests"}]
    for i in range(n):
        text = {"type": "output_text", "text": f"step {i}"}
        items.append({"type": "message", "role": "assistant", "content": [text]})
        call = {"type": "function_call", "call_id": f"call_{i}", "name": "bash", "arguments": "{}"}
        items.append(call)
        items.append({"type": "function_call_output", "call_id": f"call_{i}", "output": "ok"})
    return items


def ollama_turns(n: int) -> list[dict]:
    messages: list[dict] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "fix the tests"},
    ]
    for i in range(n):
        call = {"function": {"name": "bash", "arguments": {"i": i}}}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        messages.append({"role": "tool", "content": "ok", "tool_name": "bash"})
    return messages


def plain(module, body: dict):
    """The parse without the memos: what every parse must equal."""
    saved = {k: v for k, v in vars(module).items() if isinstance(v, PrefixMemo)}
    vars(module).update({k: PrefixMemo(min_items=1 << 30) for k in saved})
    try:
        return module.parse_request(copy.deepcopy(body))
    finally:
        vars(module).update(saved)


def tools(dialect: str) -> list[dict]:
    schema = {"type": "object", "properties": {"path": {"type": "string"}}}
    if dialect == "openai_responses":
        return [{"type": "function", "name": f"t{i}", "parameters": schema} for i in range(12)]
    if dialect == "gemini":
        declarations = [
            {"name": f"t{i}", "description": "d", "parameters": schema} for i in range(12)
        ]
        return [{"functionDeclarations": declarations}]
    if dialect == "anthropic":
        return [{"name": f"t{i}", "description": "d", "input_schema": schema} for i in range(12)]
    return [
        {
            "type": "function",
            "function": {"name": f"t{i}", "description": "d", "parameters": schema},
        }
        for i in range(12)
    ]


@pytest.mark.parametrize(
    ("dialect", "module", "turns"),
    [
        ("anthropic", anthropic, anthropic_turns),
        ("openai_chat", openai_chat, openai_turns),
        ("gemini", gemini, gemini_turns),
        ("openai_responses", openai_responses, responses_turns),
        ("ollama", ollama, ollama_turns),
    ],
)
def test_a_conversation_turn_by_turn_parses_as_a_plain_parse_and_reuses_its_history(
    dialect, module, turns
):
    key = {"gemini": "contents", "openai_responses": "input"}.get(dialect, "messages")
    previous = None
    for n in range(4, 12):
        body = {"model": "m", key: turns(n), "tools": tools(dialect)}
        parsed = wire.parse_request(dialect, json.dumps(body).encode())
        assert parsed == plain(module, body)
        if previous is not None:  # every message the last turn had is the same object now
            assert all(
                a is b
                for a, b in zip(parsed.messages, previous.messages, strict=False)
                if dialect != "openai_responses" or a.role != "assistant"  # merged anew
            )
            if dialect in ("anthropic", "openai_chat"):  # the others' tools are parsed anew
                assert all(a is b for a, b in zip(parsed.tools, previous.tools, strict=True))
        previous = parsed


def test_an_edited_message_is_parsed_again_from_where_it_differs():
    messages = anthropic_turns(8)
    first = wire.parse_request("anthropic", json.dumps({"model": "m", "messages": messages}))
    messages[5]["content"][0]["text"] = "edited"
    second = wire.parse_request("anthropic", json.dumps({"model": "m", "messages": messages}))
    assert second == plain(anthropic, {"model": "m", "messages": messages})
    assert second.messages[5].blocks[0].text == "edited"
    assert all(a is b for a, b in zip(first.messages[:5], second.messages[:5], strict=True))
    assert not any(a is b for a, b in zip(first.messages[5:], second.messages[5:], strict=True))


def test_the_caller_owns_its_list_and_the_memo_stays_bounded():
    memo = PrefixMemo(entries=2, min_items=2)
    items = [{"n": i} for i in range(4)]
    out = memo.map(items, dict)
    out.append({"mine": True})
    assert memo.map(items, dict) == [{"n": i} for i in range(4)]
    for k in range(5):
        memo.map([{"conversation": k}, {"n": 0}], dict)
    assert len(memo.lists) == 2


def test_short_conversations_are_not_kept():
    memo = PrefixMemo(min_items=8)
    assert memo.map([{"n": 1}], dict) == [{"n": 1}]
    assert memo.lists == []


def test_a_list_sent_again_or_cut_short_reuses_every_parsed_item():
    memo = PrefixMemo(min_items=2)
    items = [{"n": i} for i in range(10)]
    calls = []

    def parse(item):
        calls.append(item["n"])
        return dict(item)

    first = memo.map(items, parse)
    again = memo.map(list(items), parse)
    longer = memo.map([*items, {"n": 10}], parse)
    shorter = memo.map(items[:6], parse)
    assert calls == [*range(10), 10]  # only the new item was parsed after the first time
    assert again == first and again is not first
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert shorter == first[:6] and all(a is b for a, b in zip(first, shorter, strict=False))
    assert longer[:10] == first and longer[10] == {"n": 10}
