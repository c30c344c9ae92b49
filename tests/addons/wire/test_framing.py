import pytest
from hypothesis import given
from hypothesis import strategies as st

from addons.wire.framing import NDJSONParser, SSEEvent, SSEParser
from tests.addons.wire.streams import (
    ANTHROPIC_STREAM,
    GEMINI_STREAM,
    OLLAMA_STREAM,
    OPENAI_STREAM,
    cuts,
    every,
    split,
)


def sse_all(chunks: list[bytes]) -> list[SSEEvent]:
    p = SSEParser()
    events = [e for c in chunks for e in p.feed(c)]
    return events + p.finish()


def ev(data: str, event: str | None = None) -> SSEEvent:
    return SSEEvent(event, data)


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"data: hello\n\n", [ev("hello")]),
        (b"data: hello\r\n\r\n", [ev("hello")]),
        (b"data: hello\r\rdata: again\r\r", [ev("hello"), ev("again")]),
        (b"event: ping\ndata: {}\n\n", [ev("{}", "ping")]),
        (b"data:no-space\n\n", [ev("no-space")]),
        (b"data:  two spaces\n\n", [ev(" two spaces")]),
        (b"data: a\ndata: b\n\n", [ev("a\nb")]),
        (b"data: a\ndata\ndata: b\n\n", [ev("a\n\nb")]),
        (b"data:\n\n", [ev("")]),
        (b": keep-alive comment\n\ndata: x\n\n", [ev("x")]),
        (b":\n:ok\ndata: x\n\n", [ev("x")]),
        (b"id: 7\nretry: 1000\ndata: x\n\n", [ev("x")]),
        (b"foo: bar\ndata: x\n\n", [ev("x")]),
        (b"event: lonely\n\ndata: x\n\n", [ev("x")]),  # no data: not dispatched, type reset
        (b"event: a\ndata: 1\n\ndata: 2\n\n", [ev("1", "a"), ev("2")]),
        (b"event:\ndata: x\n\n", [ev("x")]),
        (b"\xef\xbb\xbfdata: bom\n\n", [ev("bom")]),
        (b"data: caf\xc3\xa9 \xe2\x9c\x93\n\n", [ev("café ✓")]),
        (b"data: bad \xff byte\n\n", [ev("bad \ufffd byte")]),
        (b"data: x: y: z\n\n", [ev("x: y: z")]),
        (b"data: mixed\r\ndata: ends\rdata: here\n\r\n", [ev("mixed\nends\nhere")]),
        (b"\n\n\r\n", []),
        # tolerated at the end of the stream: a last event without its blank line
        (b"data: [DONE]\n", [ev("[DONE]")]),
        (b"data: [DONE]", [ev("[DONE]")]),
        (b"data: x\n\ndata: partial", [ev("x"), ev("partial")]),
    ],
)
def test_sse_table(body, expected):
    assert sse_all([body]) == expected
    assert sse_all(every(body, 1)) == expected


def test_sse_cr_then_lf_in_next_chunk_is_one_line_end():
    p = SSEParser()
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\n") == []  # the LF completes the CRLF, it is not an empty line
    assert p.feed(b"\r") == [ev("a")]
    assert p.feed(b"\ndata: b\r\n\r\n") == [ev("b")]


def test_sse_multibyte_char_split_across_chunks():
    p = SSEParser()
    data = "data: ✓é\n\n".encode()
    events = []
    for i in range(len(data)):
        events += p.feed(data[i : i + 1])
    assert events == [ev("✓é")]


def test_sse_events_returned_as_soon_as_complete():
    p = SSEParser()
    assert p.feed(b"data: one\n\ndata: tw") == [ev("one")]
    assert p.feed(b"o\n") == []
    assert p.feed(b"\n") == [ev("two")]
    assert p.finish() == []


def test_sse_long_line_in_many_chunks():
    body = b"data: " + b"x" * 1_000_000 + b"\n\n"
    events = sse_all(every(body, 4096))
    assert len(events) == 1 and len(events[0].data) == 1_000_000


def test_sse_finish_resets():
    p = SSEParser()
    p.feed(b"event: a\ndata: x")
    assert p.finish() == [ev("x", "a")]
    assert p.feed(b"data: y\n\n") == [ev("y")]


@pytest.mark.parametrize("body", [ANTHROPIC_STREAM, OPENAI_STREAM, GEMINI_STREAM])
@given(points=cuts)
def test_sse_chunking_invariance_real_streams(body, points):
    assert sse_all(split(body, points)) == sse_all([body])


field_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"))
events = st.lists(
    st.tuples(st.none() | field_text.filter(bool), st.lists(field_text, min_size=1, max_size=3)),
    max_size=6,
)


@given(events=events, eol=st.sampled_from(["\n", "\r", "\r\n"]), points=cuts)
def test_sse_round_trip_any_events_any_line_ending(events, eol, points):
    body = ""
    for name, lines in events:
        body += ": comment" + eol
        if name is not None:
            body += f"event: {name}{eol}"
        body += "".join(f"data: {line}{eol}" for line in lines) + eol
    got = sse_all(split(body.encode(), points))
    assert got == [ev("\n".join(lines), name or None) for name, lines in events]


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"a":1}\n{"b":2}\n', ['{"a":1}', '{"b":2}']),
        (b'{"a":1}\r\n{"b":2}\r\n', ['{"a":1}', '{"b":2}']),
        (b'{"a":1}\n\n  \n{"b":2}', ['{"a":1}', '{"b":2}']),
        (b'{"t":"caf\xc3\xa9"}\n', ['{"t":"café"}']),
        (b"", []),
    ],
)
def test_ndjson_table(body, expected):
    for chunks in ([body], every(body, 1) if body else []):
        p = NDJSONParser()
        got = [line for c in chunks for line in p.feed(c)] + p.finish()
        assert got == expected


def test_ndjson_lines_returned_as_soon_as_complete():
    p = NDJSONParser()
    assert p.feed(b'{"a":1}\n{"b"') == ['{"a":1}']
    assert p.feed(b":2}") == []
    assert p.finish() == ['{"b":2}']
    assert p.finish() == []


@given(points=cuts)
def test_ndjson_chunking_invariance(points):
    p = NDJSONParser()
    got = [line for c in split(OLLAMA_STREAM, points) for line in p.feed(c)] + p.finish()
    assert got == OLLAMA_STREAM.decode().splitlines()
