"""BodyLoader: a resent conversation is parsed only where it is new, and every result is what
a plain `json.loads` gives, key order included."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addons import wire
from addons.wire.loader import BodyLoader
from bench import workload

TOOLS = [{"name": f"tool_{i}", "input_schema": {"type": "object"}} for i in range(60)]


def body(messages: list, *, indent: int | None = None, **extra) -> str:
    doc = {"model": "claude-x", "max_tokens": 100, "messages": messages}
    doc.update({"system": "be brief " * 50, "tools": TOOLS, "stream": True}, **extra)
    return json.dumps(doc, indent=indent, separators=None if indent else (",", ":"))


def turns(n: int, line: str = "x = 1\n") -> list[dict]:
    messages: list[dict] = [{"role": "user", "content": "fix the tests " * 1300}]
    for i in range(n):
        call = {"type": "tool_use", "id": f"t{i}", "name": "Read", "input": {"path": f"/{i}"}}
        messages.append({"role": "assistant", "content": [call]})
        result = {"type": "tool_result", "tool_use_id": f"t{i}", "content": line * 100}
        messages.append({"role": "user", "content": [result]})
    return messages


def loads_like_json(loader: BodyLoader, text: str) -> dict:
    data = loader.load(text.encode())
    expected = json.loads(text)
    assert data == expected and list(data) == list(expected)
    return data


@pytest.mark.parametrize("line", ["x = 1\n", "ñ = «1» 🙂\n"])
def test_each_turn_of_a_growing_conversation_reuses_the_last_one(line):
    loader = BodyLoader()
    previous = None
    for n in range(1, 12):
        doc = json.loads(body(turns(n, line)))
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        data = loads_like_json(loader, text)
        if previous is not None:
            # the elements both turns share are the same objects: parsed once
            assert data["messages"][0] is previous["messages"][0]
            assert data["messages"][-3] is previous["messages"][-1]
            if n >= 3:  # the text after the list is parsed once a second body reuses it
                assert data["tools"] is previous["tools"]
        previous = data


@pytest.mark.parametrize(
    "odd",
    [
        '{"role":"assistant","content":"caf\\u00e9"}',
        '{"role":"user","content":[{"type":"text","text":"t","n":1E2}]}',
        '{"role":"assistant","content":[{"type":"text","id":123456789012345678901234567890}]}',
        '{"role":"user", "content":"a space"}',
    ],
)
def test_new_turns_written_otherwise_than_orjson_writes_them_load_like_json(odd):
    """A turn's new messages are parsed together and then found in the text as the compact JSON
    orjson writes; one written otherwise (an escape, a float spelled 1E2, a big integer, a
    space) is read by the stdlib's scanner from there on, and the result is still json's."""
    loader = BodyLoader()
    base = body(turns(4))
    first = loads_like_json(loader, base)
    plain = '{"role":"assistant","content":"plain"}'
    end = base.index('],"system"')
    grown = base[:end] + f",{plain},{odd},{plain}" + base[end:]
    data = loads_like_json(loader, grown)
    assert data["messages"][1] is first["messages"][1]  # the turns before: parsed once


def test_a_moved_cache_marker_or_a_changed_tail_is_parsed_again():
    loader = BodyLoader()
    messages = turns(6)
    first = loads_like_json(loader, body(messages))
    marked = [dict(m) for m in messages]
    marked[3] = {**marked[3], "cache_control": {"type": "ephemeral"}}
    second = loads_like_json(loader, body(marked, stream=False))
    assert second["messages"][2] is first["messages"][2]
    assert second["messages"][3] is not first["messages"][3]
    assert second["stream"] is False


def test_another_conversation_with_the_same_head_is_not_mixed_in():
    loader = BodyLoader()
    loads_like_json(loader, body(turns(8)))
    other = turns(8)
    other[0] = {"role": "user", "content": "something else " * 1300}
    loads_like_json(loader, body(other))
    loads_like_json(loader, body(turns(9)))


@pytest.mark.parametrize(
    "text",
    [
        body(turns(5), indent=2),  # pretty-printed: elements found by scanning
        body(turns(5)).replace('"Read"', '"R\\u00e9ad"'),  # escapes orjson would not write
        body(turns(5)).replace('"max_tokens":100', '"max_tokens":1.0'),
        body([], system="x" * 20000),  # an empty list
    ],
)
def test_other_spellings_of_json_load_the_same(text):
    loader = BodyLoader()
    loads_like_json(loader, text)
    loads_like_json(loader, text)


@pytest.mark.parametrize(
    "text",
    [
        "[" + body(turns(5)) + "]",  # not an object
        body(turns(5))[:-1],  # truncated
        body(turns(5), messages2=1).replace('"messages2"', '"messages"'),  # the key twice
        body(turns(5))
        .replace('"messages":[', '"messages":{"a":[')
        .replace(',"system"', '},"system"', 1),  # not a list
        json.dumps({"prompt": "x" * 20000}),  # no conversation list
        body(turns(5)).replace("100", "NaN", 1),  # what orjson refuses: the stdlib decides
    ],
)
def test_shapes_it_does_not_handle_go_to_the_plain_parse(text):
    assert BodyLoader().load(text.encode()) is None


def test_small_and_huge_bodies_are_left_to_the_plain_parse():
    assert BodyLoader().load(body(turns(0))[:15000].encode()) is None
    huge = body(turns(3), padding="x" * (4 * 1024 * 1024))
    loader = BodyLoader()
    assert loader.load(huge.encode()) is None and not loader.cache  # nothing that size is kept


def test_parse_request_through_the_loader_equals_a_plain_parse():
    """What the rules and the recorder see is the same whichever way the body was loaded."""
    from addons.wire import anthropic

    for raw in list(workload.conversation(40, seed=3, stream=False))[-6:]:
        assert len(raw) > 16 * 1024
        assert wire.parse_request("anthropic", raw) == anthropic.parse_request(json.loads(raw))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=6),
    st.sampled_from([None, 1]),
    st.sampled_from(["x = 1\n", "ñ = «1» 🙂\n"]),  # a character of several bytes, or none
    st.booleans(),
)
def test_any_sequence_of_turns_loads_like_json(sizes, indent, line, ascii):
    loader = BodyLoader(entries=2)
    for n in sizes:
        doc = json.loads(body(turns(n, line), indent=indent, system="Ünïcode " * 60))
        spacing = None if indent else (",", ":")
        text = json.dumps(doc, indent=indent, separators=spacing, ensure_ascii=ascii)
        loads_like_json(loader, text)
