import hashlib
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addons.overlap import common_prefix, common_suffix
from addons.store import bodies
from addons.store.schema import open_db


@pytest.fixture
def db(tmp_path):
    db = open_db(tmp_path / "capture.db")
    yield db
    db.close()


def stored_bytes(db) -> int:
    blobs = db.execute("SELECT COALESCE(SUM(length(data)), 0) FROM blobs").fetchone()[0]
    lists = db.execute("SELECT COALESCE(SUM(length(segments)), 0) FROM bodies").fetchone()[0]
    return blobs + lists


def expected_id(body: bytes) -> str:
    """A body's id, worked out apart from `bodies`: a body of one segment has the sha256 of its
    bytes; a body of several, the BLAKE2b (personalized) of the list of its segments' sha256."""
    hashes = [hashlib.sha256(segment).hexdigest() for segment in bodies.split(body)]
    if len(hashes) == 1:
        return hashes[0]
    listed = json.dumps(hashes, separators=(",", ":")).encode()
    return hashlib.blake2b(listed, digest_size=32, person=b"llm-insp:bodies").hexdigest()


def round_trip(db, body: bytes) -> None:
    segments = bodies.split(body)
    assert b"".join(segments) == body
    assert all(segments)
    with db.atomic():
        body_id = bodies.store(db, body)
    assert body_id == expected_id(body)
    assert bodies.load(db, body_id) == body


CHAT = {
    "model": "claude-sonnet-4-5",
    "system": [{"type": "text", "text": "You are a helpful assistant. ✨"}],
    "messages": [
        {"role": "user", "content": "héllo \u2028 wörld 🦜"},
        {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        {"role": "user", "content": [{"type": "tool_result", "content": [[], {}, [1, [2]]]}]},
    ],
    "tools": [{"name": "Read", "input_schema": {"type": "object"}}],
    "stream": True,
}

SAMPLES = {
    "compact": json.dumps(CHAT, separators=(",", ":"), ensure_ascii=False).encode(),
    "default separators": json.dumps(CHAT).encode(),
    "pretty": json.dumps(CHAT, indent=2, ensure_ascii=False).encode(),
    "tabs and CRLF": json.dumps(CHAT, indent="\t").replace("\n", "\r\n").encode(),
    "odd whitespace": b' \n{ "messages" :\t[ {"a":1} ,\n{"b":[ ]} ] , "system" : "s" ,"x":0 }\n ',
    "empty object": b"{}",
    "empty arrays": b'{"messages":[],"tools":[ ],"input":"just a string"}',
    "gemini": json.dumps(
        {"contents": [{"parts": [{"text": "a"}]}], "systemInstruction": {"parts": []}}
    ).encode(),
    "responses api": json.dumps({"instructions": "be brief", "input": [{"role": "user"}]}).encode(),
    "escaped keys": b'{"mess\\u0061ges":[1,2],"\\"":"\\\\"}',
    "duplicate keys": b'{"messages":[1],"messages":[2,3]}',
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "invalid utf-8": b'{"messages":["\xff\xfe"]}',
    "utf-8 bom": b'\xef\xbb\xbf{"messages":[1]}',
    "top-level array": b'[{"messages":[1]}]',
    "scalar": b"42",
    "whitespace only": b" \n ",
    "truncated": json.dumps(CHAT).encode()[:-7],
    "trailing garbage": b'{"messages":[1]} x',
    "two objects": b'{"messages":[1]}{"messages":[1]}',
    "missing comma": b'{"messages":[1 2]}',
    "deep nesting": b'{"messages":[' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
    "nan": b'{"messages":[NaN, Infinity]}',
}


@pytest.mark.parametrize("body", SAMPLES.values(), ids=SAMPLES.keys())
def test_round_trip_is_byte_exact(db, body):
    round_trip(db, body)


def test_messages_tools_and_system_are_separate_segments():
    body = b'{"model":"m","system":"sys","messages":[{"a":1}, {"b":2}],"tools":[{"t":1}]}'
    assert bodies.split(body) == [
        b'{"model":"m","system":',
        b'"sys"',
        b',"messages":[',
        b'{"a":1}',
        b', {"b":2}',
        b'],"tools":[',
        b'{"t":1}',
        b"]}",
    ]


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"a":'], ids=repr)
def test_anything_but_a_json_object_is_one_segment(body):
    assert bodies.split(body) == [body]


def test_every_name_that_splits_a_body_is_searched_for():
    """A body is scanned only if one of these is in it: each key that splits must be here."""
    assert {m.decode().strip('"') for m in bodies._SPLIT_MARKERS} == bodies._SPLIT_KEYS


def test_a_response_is_one_segment_and_an_escaped_name_still_comes_back_exactly(db):
    response = b'{"id":"msg_1","content":[{"type":"text","text":"hi"}],"usage":{}}'
    assert bodies.split(response) == [response]
    escaped = b'{"\\u0074ools":[{"name":"Read"},{"name":"Bash"}],"model":"m"}'
    assert bodies.split(escaped) == [escaped]  # not cut, but:
    round_trip(db, escaped)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(sorted(bodies._SPLIT_KEYS) + ["model", "stream", "ünï", ""])
json_objects = st.dictionaries(keys, json_values | st.lists(json_values, max_size=6), max_size=8)
layouts = st.sampled_from(
    [
        {},
        {"separators": (",", ":")},
        {"indent": 2},
        {"indent": "\t", "ensure_ascii": False},
        {"separators": (" ,  ", " : "), "ensure_ascii": False},
        {"indent": 0, "ensure_ascii": False},
    ]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(obj=json_objects, layout=layouts, pad=st.sampled_from(["", " ", "\n", "\r\n\t "]))
def test_round_trip_generated_json(db, obj, layout, pad):
    round_trip(db, (pad + json.dumps(obj, **layout) + pad).encode())


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_round_trip_arbitrary_bytes(db, body):
    round_trip(db, body)


def test_round_trip_cut_json_at_every_length(db):
    body = SAMPLES["pretty"]
    for end in range(0, len(body), 7):
        round_trip(db, body[:end])


def conversation_requests(turns: int) -> list[bytes]:
    """Claude Code-shaped requests: ~60 KB of system prompt and tools resent every turn."""
    rng = random.Random(7)
    vocabulary = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10)))
        for _ in range(4000)
    ]

    def prose(size: int) -> str:
        words: list[str] = []
        while sum(map(len, words)) + len(words) < size:
            words.append(rng.choice(vocabulary))
        return " ".join(words)

    system = [
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        {"type": "text", "text": prose(24_000), "cache_control": {"type": "ephemeral"}},
    ]
    tools = [
        {
            "name": f"Tool{i}",
            "description": prose(1_500),
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        }
        for i in range(24)
    ]
    messages: list[dict] = []
    requests = []
    for turn in range(turns):
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": f"t{turn}",
                        "content": prose(rng.randint(300, 3000)),
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
            "metadata": {"user_id": "user_abc_session_123"},
            "stream": True,
        }
        requests.append(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": prose(rng.randint(100, 800))},
                    {
                        "type": "tool_use",
                        "id": f"t{turn + 1}",
                        "name": "Tool3",
                        "input": {"path": f"/src/{turn}.py"},
                    },
                ],
            }
        )
    return requests


def test_resent_history_is_stored_once(db):
    requests = conversation_requests(50)
    raw = sum(map(len, requests))
    ids = []
    with db.atomic():
        for body in requests:
            ids.append(bodies.store(db, body))
    stored = stored_bytes(db)
    ratio = stored / raw
    print(f"\n50 turns: raw {raw:,} bytes, stored {stored:,} bytes, ratio {ratio:.4f}")
    assert ratio < 0.10
    for body_id, body in zip(ids, requests, strict=True):
        assert bodies.load(db, body_id) == body


def test_storing_the_same_body_twice_adds_nothing(db):
    body = conversation_requests(3)[-1]
    with db.atomic():
        first = bodies.store(db, body)
    before = stored_bytes(db)
    with db.atomic():
        assert bodies.store(db, body) == first
    assert stored_bytes(db) == before
    assert db["bodies"].count == 1


def test_compression_codecs(db):
    with db.atomic():
        small = bodies.store(db, b"tiny")
        repetitive = bodies.store(db, b"abc" * 1000)
        noise = bodies.store(db, random.Random(1).randbytes(5000))
    codecs = {row["size"]: row["codec"] for row in db["blobs"].rows}
    assert codecs == {4: "raw", 3000: "zstd", 5000: "raw"}
    assert bodies.load(db, small) == b"tiny"
    assert bodies.load(db, repetitive) == b"abc" * 1000
    assert len(bodies.load(db, noise)) == 5000


def test_load_unknown_body_raises_key_error(db):
    with pytest.raises(KeyError):
        bodies.load(db, "0" * 64)


def test_body_text_sql_function(db):
    bodies.register_functions(db)
    with db.atomic():
        body_id = bodies.store(db, SAMPLES["compact"])
        binary_id = bodies.store(db, b"\xff\x00ok")
    rows = db.execute(
        "SELECT body_text(?), body_text(?), body_text(NULL), body_text('nope')",
        [body_id, binary_id],
    ).fetchone()
    assert rows == (SAMPLES["compact"].decode(), "\ufffd\x00ok", None, None)


def test_a_large_claude_code_body_is_stored_as_its_parts(db):
    """How long it takes is for bench/, not for a test: here, that a 150 KB Claude Code body is
    cut into a part per message and per tool, and comes back exactly."""
    body = conversation_requests(40)[-1]
    assert len(body) > 150_000
    doc = json.loads(body)
    segments = bodies.split(body)
    assert len(segments) > len(doc["messages"]) + len(doc["tools"])
    with db.atomic():
        body_id = bodies.store(db, body)
    assert bodies.load(db, body_id) == body
    stored = db.execute("SELECT count(*) FROM blobs").fetchone()[0]
    assert stored == len(set(segments))


def test_a_conversation_turn_by_turn_splits_as_if_each_body_were_new():
    """Each turn reuses the last one's cuts as far as its text is the same, and those of the
    text after its messages when that is the same too; the segments are exactly those a fresh
    split gives, whatever changed (a message edited, one appended, a turn from another
    conversation in between, a tool added after the messages, a space before their "]",
    trailing space)."""
    from bench import workload

    turns = [b for b in workload.conversation(40, seed=5, stream=False) if len(b) > 20_000]
    assert len(turns) > 12
    edited = turns[6].replace(b'"role":"user"', b'"role":"user" ', 1)
    other = next(iter(workload.conversation(30, seed=9, stream=False)))
    more_tools = turns[9].replace(b'"tools":[', b'"tools":[{"name":"extra"},', 1)
    spaced = turns[11].replace(b'],"system"', b' ],"system"', 1)
    assert more_tools != turns[9] and spaced != turns[11]
    fresh = bodies._Splits(entries=0)  # remembers nothing: every body scanned whole
    sequence = [*turns[:6], edited, other, *turns[6:9], more_tools, *turns[9:11], spaced]
    for body in [*sequence, *turns[11:], turns[3], turns[3] + b" "]:
        text = body.decode()
        whole = [text[a:b].encode() for a, b in pairs(fresh.cuts(text))]
        assert bodies.split(body) == whole
    assert not fresh.memo
    # and the reuse is real: a turn shares a resumable cut with the one before it
    last = bodies._SPLITS.memo[-1]
    assert (
        bodies._shared_cuts(last.text + " ", last.text, last.cuts, last.resumable)
        == (last.resumable[-1])
    )
    bodies.split(turns[-2])
    last = bodies._SPLITS.memo[-1]
    assert bodies._shared_cuts(turns[-1].decode(), last.text, last.cuts, last.resumable) is not None


class CountingSha256:
    """Stands in for hashlib.sha256 in `bodies`: how many bytes were hashed, whether given at
    once or fed to the hash object (and its copies) later."""

    def __init__(self):
        self.hashed = 0
        self.sha256 = hashlib.sha256  # the real one: the module itself is patched

    def __call__(self, data=b""):
        self.hashed += len(data)
        return self.Hash(self, self.sha256(data))

    class Hash:
        def __init__(self, counter, real):
            self.counter, self.real = counter, real

        def update(self, data):
            self.counter.hashed += len(data)
            self.real.update(data)

        def copy(self):
            return type(self)(self.counter, self.real.copy())

        def hexdigest(self):
            return self.real.hexdigest()


def test_a_growing_conversation_hashes_only_what_is_new(db, monkeypatch):
    """Each turn hashes only its new messages: neither the history it shares with the turn
    before nor the system prompt and tools after them, whose segments' hashes that turn left.
    The id is worked out from the segments, the segment hashes stored are those of a fresh
    hash, and every turn loads back byte for byte."""
    from bench import workload

    turns = workload.growing_conversation()  # 95-210 KB, the history from 35 to 150 KB
    counter = CountingSha256()
    monkeypatch.setattr(bodies.hashlib, "sha256", counter)
    with db.conn:
        for previous, body in zip(turns, turns[1:], strict=False):
            bodies.store(db, previous)
            counter.hashed = 0
            body_id = bodies.store(db, body)
            # what differs, and the message whose cache marker moved
            prefix = common_prefix(previous, memoryview(body))
            suffix = common_suffix(previous, memoryview(body), len(body) - prefix)
            assert counter.hashed <= len(body) - prefix - suffix + 8192
            assert body_id == expected_id(body)
            assert bodies.load(db, body_id) == body
            assert segment_hashes(db, body_id) == [
                hashlib.sha256(s).hexdigest() for s in bodies.split(body)
            ]


def segment_hashes(db, body_id: str) -> list[str]:
    row = db.execute("SELECT segments FROM bodies WHERE id = ?", [body_id]).fetchone()
    return json.loads(row[0])


def blob_lookups(db) -> list[int]:
    """How many segment hashes each `SELECT ... FROM blobs` that `bodies.store` runs on `db`
    asks for, statement by statement (the hashes are quoted in the traced SQL)."""
    counts: list[int] = []

    def trace(sql: str) -> None:
        if sql.startswith("SELECT hash FROM blobs"):
            counts.append(sql.count("'") // 2)

    db.conn.set_trace_callback(trace)
    return counts


def test_an_agents_turn_looks_up_only_its_new_segments(db):
    """The row of the turn before vouches for the blobs of the segments a turn shares with it,
    so only the new ones (the new messages, the one whose cache marker moved) are looked up."""
    from bench import workload

    turns = workload.growing_conversation()[:12]
    lookups = blob_lookups(db)
    with db.conn:
        first = bodies.store(db, turns[0])
        assert sum(lookups) == len(set(segment_hashes(db, first))) > 50
        for body in turns[1:]:
            lookups.clear()
            body_id = bodies.store(db, body)
            assert 0 < sum(lookups) <= 4
            assert bodies.load(db, body_id) == body


@pytest.mark.parametrize("where", ["another database", "a rolled-back transaction"])
def test_a_turn_whose_turn_before_is_not_stored_here_looks_up_everything(tmp_path, db, where):
    """The turn before was split (its hashes are remembered) but its row is not in this
    database: nothing is taken on trust, and the turn stores every segment it needs."""
    from bench import workload

    first, second = workload.growing_conversation()[:2]
    if where == "another database":
        other = open_db(tmp_path / "other.db")
        with other.conn:
            bodies.store(other, first)
        other.close()
    else:
        with pytest.raises(RuntimeError), db.conn:
            bodies.store(db, first)
            raise RuntimeError("the batch failed")
        assert db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0
    lookups = blob_lookups(db)
    with db.conn:
        body_id = bodies.store(db, second)
    assert sum(lookups) == len(set(segment_hashes(db, body_id))) > 50
    assert bodies.load(db, body_id) == second


def test_a_body_whose_bytes_are_another_bodys_segment_list_is_its_own(db):
    """A body of several segments is named by a hash of its segment list; a body of one, by
    the sha256 of its bytes. A body that is such a list, byte for byte, does not take the
    other's name: both load back as they were."""
    split = SAMPLES["compact"]
    with db.conn:
        split_id = bodies.store(db, split)
    segments = db.execute("SELECT segments FROM bodies WHERE id = ?", [split_id]).fetchone()[0]
    assert len(json.loads(segments)) > 1
    listed = segments.encode()
    with db.conn:
        listed_id = bodies.store(db, listed)
    assert listed_id != split_id
    assert bodies.load(db, listed_id) == listed and bodies.load(db, split_id) == split


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"messages": [{"role": "user", "content": "x" * 30_000}]}).encode(),
        json.dumps({"id": "msg_1", "content": [{"type": "text", "text": "y" * 30_000}]}).encode(),
    ],
    ids=["split", "one segment"],
)
def test_a_body_sent_again_is_not_hashed_again_but_is_stored_where_missing(
    tmp_path, monkeypatch, body
):
    first, second = (open_db(tmp_path / name) for name in ("a.db", "b.db"))
    with first.conn:
        body_id = bodies.store(first, body)
    assert body_id == expected_id(body)
    counter = CountingSha256()
    monkeypatch.setattr(bodies.hashlib, "sha256", counter)
    with first.conn:
        assert bodies.store(first, bytes(bytearray(body))) == body_id
    assert counter.hashed == 0
    with second.conn:  # the id is remembered; the body is not in this database yet
        assert bodies.store(second, body) == body_id
    assert bodies.load(second, body_id) == body


def test_huge_bodies_are_split_whole_and_not_kept():
    splits = bodies._Splits(max_chars=100_000)
    text = json.dumps({"messages": [{"n": i, "pad": "x" * 100} for i in range(2000)]})
    assert splits.cuts(text) == bodies._cuts(text) and not splits.memo


def pairs(cuts):
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
