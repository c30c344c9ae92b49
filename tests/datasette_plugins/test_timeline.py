"""What each turn added to the conversation, across dialects and the ways clients resend."""

from __future__ import annotations

import json
import sqlite3

import pytest

from addons.store.schema import open_db
from datasette_plugins import queries
from tests.datasette_plugins.conftest import add_request


def user(text, cache=False):
    block = {"type": "text", "text": text}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    return {"role": "user", "content": [block]}


def assistant(text):
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def record(path, dialect, bodies, api_path="/v1/messages"):
    db = open_db(path)
    for i, body in enumerate(bodies):
        add_request(
            db,
            id=f"t{i}",
            started_at=f"2026-11-20T10:00:{i:02d}.000Z",
            conversation_id="conv",
            dialect=dialect,
            path=api_path,
            client_ip="127.0.0.1",
            turn_index=i + 1,
            input_tokens=100 * (i + 1),
            request_body=body if isinstance(body, bytes) else json.dumps(body).encode(),
        )
    db.close()
    conn = sqlite3.connect(path)
    try:
        return queries.get_conversation(conn, "conv")
    finally:
        conn.close()


def added(conversation):
    return [
        [(m["role"], " ".join(b["text"] for b in m["blocks"])) for m in turn["new_messages"]]
        for turn in conversation["turns"]
    ]


def test_claude_code_moving_cache_control_does_not_repeat_messages(tmp_path):
    # The newest message carries cache_control; a turn later it does not: different bytes.
    history = [user("one", cache=True)]
    bodies = [{"model": "m", "system": "s", "messages": list(history)}]
    history = [user("one"), assistant("a1"), user("two", cache=True)]
    bodies.append({"model": "m", "system": "s", "messages": list(history)})
    history = [user("one"), assistant("a1"), user("two"), assistant("a2"), user("three", True)]
    bodies.append({"model": "m", "system": "s", "messages": list(history)})
    assert added(record(tmp_path / "p.db", "anthropic", bodies)) == [
        [("user", "one")],
        [("assistant", "a1"), ("user", "two")],
        [("assistant", "a2"), ("user", "three")],
    ]


def test_openai_system_messages_count_as_messages(tmp_path):
    system = {"role": "system", "content": "be brief"}
    bodies = [
        {"model": "gpt", "messages": [system, {"role": "user", "content": "hi"}]},
        {
            "model": "gpt",
            "messages": [
                system,
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "system", "content": "now in French"},
                {"role": "user", "content": "bye"},
            ],
        },
    ]
    result = record(tmp_path / "p.db", "openai_chat", bodies, "/v1/chat/completions")
    assert added(result) == [
        [("system", "be brief"), ("user", "hi")],
        [("assistant", "hello"), ("system", "now in French"), ("user", "bye")],
    ]


def test_compaction_starts_over_and_shrinks_the_context(tmp_path):
    long = [user("one"), assistant("a1"), user("two"), assistant("a2"), user("three")]
    bodies = [
        {"model": "m", "messages": long},
        {"model": "m", "messages": [user("Summary of the conversation so far"), user("four")]},
    ]
    result = record(tmp_path / "p.db", "anthropic", bodies)
    assert len(added(result)[1]) == 2
    assert result["turns"][1]["context_delta"] == 100  # input_tokens grew in the fixture


def test_gemini_contents_and_ollama_messages(tmp_path):
    gemini = [
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "hello"}]},
                {"role": "user", "parts": [{"text": "more"}]},
            ]
        },
    ]
    result = record(
        tmp_path / "g.db", "gemini", gemini, "/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert added(result) == [[("user", "hi")], [("assistant", "hello"), ("user", "more")]]
    ollama = [
        {"model": "q", "messages": [{"role": "user", "content": "hi"}]},
        {
            "model": "q",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "yo"},
                {"role": "user", "content": "again"},
            ],
        },
    ]
    result = record(tmp_path / "o.db", "ollama", ollama, "/api/chat")
    assert added(result) == [[("user", "hi")], [("assistant", "yo"), ("user", "again")]]


@pytest.mark.parametrize(
    "bodies, expected",
    [
        # Responses API with a plain string input: no list to cut, parsed whole.
        (
            [{"model": "o", "input": "first"}, {"model": "o", "input": "second"}],
            [[("user", "first")], [("user", "second")]],
        ),
        # Not JSON at all: nothing to show, nothing breaks.
        ([b"\x00\x01binary", b"not json either"], [[], []]),
    ],
)
def test_bodies_that_were_not_cut_into_messages(tmp_path, bodies, expected):
    result = record(tmp_path / "p.db", "openai_responses", bodies, "/v1/responses")
    assert added(result) == expected


def test_long_texts_are_cut_and_flagged(tmp_path):
    result = record(tmp_path / "p.db", "anthropic", [{"messages": [user("x" * 30_000)]}])
    block = result["turns"][0]["new_messages"][0]["blocks"][0]
    assert len(block["text"]) == 20_000 and block["truncated"] is True


def test_turn_pages(tmp_path):
    history, bodies = [], []
    for i in range(7):
        history = [*history, user(f"u{i}")] if not history else [*history, assistant(f"a{i}"),
                                                                  user(f"u{i}")]  # fmt: skip
        bodies.append({"messages": list(history)})
    record(tmp_path / "p.db", "anthropic", bodies)
    conn = sqlite3.connect(tmp_path / "p.db")
    page = queries.get_conversation(conn, "conv", offset=3, limit=2)
    assert [t["request_id"] for t in page["turns"]] == ["t3", "t4"]
    assert added(page) == [
        [("assistant", "a3"), ("user", "u3")],
        [("assistant", "a4"), ("user", "u4")],
    ]
    assert page["next_offset"] == 5
    last = queries.get_conversation(conn, "conv", offset=6, limit=2)
    assert [t["request_id"] for t in last["turns"]] == ["t6"] and last["next_offset"] is None
    assert queries.get_conversation(conn, "conv", offset=9, limit=2)["turns"] == []


def test_a_turn_without_a_stored_body_does_not_make_the_next_one_repeat_history(tmp_path):
    bodies = [
        {"messages": [user("one")]},
        None,  # too large to store: streamed through, size only
        {"messages": [user("one"), assistant("a1"), user("two"), assistant("a2"), user("three")]},
    ]
    db = open_db(tmp_path / "p.db")
    for i, body in enumerate(bodies):
        add_request(
            db,
            id=f"t{i}",
            started_at=f"2026-11-20T10:00:0{i}.000Z",
            conversation_id="conv",
            dialect="anthropic",
            path="/v1/messages",
            request_body=None if body is None else json.dumps(body).encode(),
        )
    db.close()
    conn = sqlite3.connect(tmp_path / "p.db")
    result = queries.get_conversation(conn, "conv")
    assert added(result) == [
        [("user", "one")],
        [],
        [("assistant", "a1"), ("user", "two"), ("assistant", "a2"), ("user", "three")],
    ]
