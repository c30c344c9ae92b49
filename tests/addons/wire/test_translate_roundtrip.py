"""Generated valid requests survive a round trip through the other dialect without losing content.

What a round trip may change by design (and the normalisers below undo): the form of content
(string or list), block boundaries the other dialect has no place for (system blocks, assistant
text blocks), the spelling of tool arguments, and where images inside tool results go.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from addons.wire.translate import anthropic_to_openai_request, openai_to_anthropic_request

# No ":" in generated text, so no text starts with "Error: " (which means is_error in OpenAI).
_ALPHABET = st.characters(
    blacklist_categories=("Cs",), blacklist_characters=":", min_codepoint=32, max_codepoint=0x2FFF
)
text = st.text(_ALPHABET, min_size=1, max_size=12)
ids = st.from_regex(r"[A-Za-z0-9]{4,10}", fullmatch=True)
names = st.sampled_from(["Bash", "Read", "get_weather", "search"])
scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(_ALPHABET, max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
arguments = st.dictionaries(text, json_values, max_size=4)
png = st.sampled_from(["iVBORw0KGgoAAAANSUhEUg==", "/9j/4AAQSkZJRg=="])
urls = st.from_regex(r"https://img\.test/[a-z]{1,8}\.png", fullmatch=True)
TOOLS = {
    name: {"type": "object", "properties": {"x": {"type": "string"}}}
    for name in ["Bash", "Read", "get_weather", "search"]
}


# --- Anthropic -----------------------------------------------------------------------------

a_text = st.builds(lambda t: {"type": "text", "text": t}, text)
a_image = st.one_of(
    st.builds(
        lambda d: {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": d},
        },
        png,
    ),
    st.builds(lambda u: {"type": "image", "source": {"type": "url", "url": u}}, urls),
)


@st.composite
def a_tool_result(draw, tool_id):
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id}
    content = draw(st.none() | text | st.lists(a_text | a_image, max_size=3))
    if content is not None:
        block["content"] = content
    if draw(st.booleans()):
        block["is_error"] = True
    return block


@st.composite
def anthropic_requests(draw):
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": draw(st.integers(1, 64000))}
    system = draw(st.none() | text | st.lists(a_text, min_size=1, max_size=3))
    if system is not None:
        body["system"] = system
    messages = []
    pending: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        content = [draw(a_tool_result(i)) for i in pending]
        content += draw(st.lists(a_text | a_image, min_size=0 if pending else 1, max_size=3))
        if len(content) == 1 and content[0]["type"] == "text" and draw(st.booleans()):
            content = content[0]["text"]
        messages.append({"role": "user", "content": content})
        blocks = draw(st.lists(a_text, max_size=2))
        calls = draw(
            st.lists(st.tuples(ids, names, arguments), max_size=2, unique_by=lambda c: c[0])
        )
        blocks += [
            {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a} for i, n, a in calls
        ]
        if not blocks:
            blocks = [draw(a_text)]
        messages.append({"role": "assistant", "content": blocks})
        pending = [f"toolu_{i}" for i, _, _ in calls]
    if pending:
        messages.append({"role": "user", "content": [draw(a_tool_result(i)) for i in pending]})
    body["messages"] = messages
    if draw(st.booleans()):
        body["tools"] = [
            {"name": n, "description": f"{n} tool", "input_schema": s} for n, s in TOOLS.items()
        ]
        choice = draw(
            st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "none"}])
            | st.builds(lambda n: {"type": "tool", "name": n}, names)
        )
        body["tool_choice"] = choice
    for name, strategy in [
        ("temperature", st.floats(0, 1)),
        ("top_p", st.floats(0, 1)),
        ("stop_sequences", st.lists(text, min_size=1, max_size=3)),
        ("metadata", st.builds(lambda u: {"user_id": u}, text)),
        ("stream", st.just(True)),
    ]:
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return body


def _a_source(source):
    return ("base64", source["media_type"], source["data"]) if "data" in source else source["url"]


def normal_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    system = body.get("system")
    if isinstance(system, list):
        system = "\n".join(b["text"] for b in system)
    messages = []
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        results, moved, own = [], [], []
        for b in content:
            if b["type"] == "tool_result":
                c = b.get("content", "")
                if isinstance(c, list):
                    moved += [("image", _a_source(x["source"])) for x in c if x["type"] == "image"]
                    c = "\n".join(x["text"] for x in c if x["type"] == "text")
                results.append(("result", b["tool_use_id"], b.get("is_error", False), c))
            elif b["type"] == "text":
                if own and own[-1][0] == "text" and m["role"] == "assistant":
                    own[-1] = ("text", own[-1][1] + b["text"])
                else:
                    own.append(("text", b["text"]))
            elif b["type"] == "image":
                own.append(("image", _a_source(b["source"])))
            elif b["type"] == "tool_use":
                own.append(("call", b["id"], b["name"], b["input"]))
        messages.append((m["role"], results + moved + own))
    params = {k: v for k, v in body.items() if k not in ("system", "messages")}
    return {"system": system, "messages": messages, **params}


@settings(max_examples=300, deadline=None)
@given(anthropic_requests())
def test_anthropic_round_trip(body):
    original = copy.deepcopy(body)
    there, dropped_there = anthropic_to_openai_request(body)
    back, dropped_back = openai_to_anthropic_request(there)
    assert body == original  # the input is not mutated
    assert dropped_there == [] and dropped_back == []
    assert normal_anthropic(back) == normal_anthropic(original)


# --- OpenAI ------------------------------------------------------------------------------

o_text = st.builds(lambda t: {"type": "text", "text": t}, text)
o_image = st.one_of(
    st.builds(
        lambda d: {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{d}"}}, png
    ),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, urls),
)
error_text = st.builds(lambda t: "Error: " + t, text)


@st.composite
def openai_requests(draw):
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append(
            {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(text)}
        )
    for _ in range(draw(st.integers(1, 4))):
        parts = draw(st.lists(o_text | o_image, min_size=1, max_size=3))
        if len(parts) == 1 and parts[0]["type"] == "text" and draw(st.booleans()):
            messages.append({"role": "user", "content": parts[0]["text"]})
        else:
            messages.append({"role": "user", "content": parts})
        calls = draw(
            st.lists(st.tuples(ids, names, arguments), max_size=2, unique_by=lambda c: c[0])
        )
        msg: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | text)}
        if msg["content"] is None and not calls:
            msg["content"] = draw(text)
        if calls:
            msg["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": n, "arguments": json.dumps(a, ensure_ascii=False)},
                }
                for i, n, a in calls
            ]
        messages.append(msg)
        for i, _, _ in calls:
            content = draw(text | error_text | st.just(""))
            messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": content})
    body: dict[str, Any] = {"model": "gpt-4.1", "messages": messages}
    if draw(st.booleans()):
        body["tools"] = [
            {"type": "function", "function": {"name": n, "description": "d", "parameters": s}}
            for n, s in TOOLS.items()
        ]
        body["tool_choice"] = draw(
            st.sampled_from(["auto", "none", "required"])
            | st.builds(lambda n: {"type": "function", "function": {"name": n}}, names)
        )
    for name, strategy in [
        ("max_tokens", st.integers(1, 64000)),
        ("temperature", st.floats(0, 1)),
        ("top_p", st.floats(0, 1)),
        ("stop", text | st.lists(text, min_size=1, max_size=4)),
        ("user", text),
        ("stream", st.just(True)),
    ]:
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return body


def normal_openai(body: dict[str, Any]) -> dict[str, Any]:
    system = []
    messages = []
    for m in body["messages"]:
        role = m["role"]
        content = m.get("content")
        if role in ("system", "developer") and not messages:
            system.append(content)
            continue
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        items: list[Any] = [
            ("text", p["text"]) if p["type"] == "text" else ("image", p["image_url"]["url"])
            for p in content or []
        ]
        if role == "assistant":
            items = [("text", "".join(t for _, t in items))] if items else []
        for tc in m.get("tool_calls", []):
            fn = tc["function"]
            items.append(("call", tc["id"], fn["name"], json.loads(fn["arguments"])))
        if role == "tool":
            items = [m["tool_call_id"]] + items
        messages.append((role, items))
    params = {k: v for k, v in body.items() if k != "messages"}
    if isinstance(params.get("stop"), str):
        params["stop"] = [params["stop"]]
    if params.get("stream"):
        params["stream_options"] = {"include_usage": True}
    if "max_tokens" not in params:
        params["max_tokens"] = 8192
    return {"system": "\n".join(system), "messages": messages, **params}


@settings(max_examples=300, deadline=None)
@given(openai_requests())
def test_openai_round_trip(body):
    original = copy.deepcopy(body)
    there, dropped_there = openai_to_anthropic_request(body)
    back, dropped_back = anthropic_to_openai_request(there)
    assert body == original
    assert dropped_there == [] and dropped_back == []
    assert normal_openai(back) == normal_openai(original)
