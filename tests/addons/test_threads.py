import hashlib
import json

import pytest

from addons.threads import (
    Thread,
    Threader,
    clean_prompt,
    content_key,
    normalize,
    session_id,
    turn_index,
)
from addons.wire.model import TEXT, TOOL_CALL, TOOL_RESULT, Block, Message, Request, Tool

SESSION = "5f0c2a9e-1b7d-4c3e-9a61-2d8f0e7b4c11"
OTHER_SESSION = "0b1e7c44-2f6a-4d8e-8c3b-9e5a1d7f2a60"
MAIN_SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude.\nBe concise."
MAIN_TOOLS = ("Task", "Bash", "Read", "Edit", "Write", "Grep")
BILLING = "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=sdk-cli; cch=4f2e1;"


def sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def msg(role: str, *texts: str) -> Message:
    return Message(role, [Block(TEXT, t) for t in texts])


def req(
    *messages: Message,
    system: str | list[str] = "",
    tools: tuple[str, ...] = (),
    params: dict | None = None,
    dialect: str = "anthropic",
) -> Request:
    blocks = [Block(TEXT, s) for s in ([system] if isinstance(system, str) else system) if s]
    return Request(
        dialect=dialect,
        system=blocks,
        messages=list(messages),
        tools=[Tool(name) for name in tools],
        params=params or {},
    )


def tool_turn(i: int) -> list[Message]:
    """One Claude Code tool round trip: an assistant tool_use, a user tool_result."""
    return [
        Message("assistant", [Block(TOOL_CALL, id=f"t{i}", name="Bash", arguments={"cmd": "ls"})]),
        Message("user", [Block(TOOL_RESULT, id=f"t{i}", text=f"file{i}.py")]),
    ]


def claude_code(first: str, turns: int = 0, *, system: str = MAIN_SYSTEM, tools=MAIN_TOOLS):
    """A Claude Code main-thread request after `turns` tool round trips."""
    history = [m for i in range(turns) for m in tool_turn(i)]
    return req(msg("user", first), *history, system=[BILLING, system], tools=tools)


CC_HEADERS = {
    "user-agent": "claude-cli/2.1.197 (external, cli)",
    "X-Claude-Code-Session-Id": SESSION,
}


# --- content_key: the reference's checklist items 11-15 ---------------------------------------


def test_key_is_hash_of_system_and_first_user_message():  # checklist 11
    r = req(msg("user", "Fix the bug"), msg("assistant", "ok"), system="Be brief.")
    assert content_key(r) == sha16("system:Be brief.\n---\nuser:Fix the bug")


def test_key_without_system_uses_the_first_user_message_alone():
    assert content_key(req(msg("user", "hello"))) == sha16("user:hello")


def test_key_reads_the_system_from_a_leading_system_message():
    openai_style = req(msg("system", "Be brief."), msg("user", "Fix the bug"), dialect="openai")
    assert content_key(openai_style) == sha16("system:Be brief.\n---\nuser:Fix the bug")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("plain", "plain"),
        (BILLING + "\nYou are Claude Code.", "You are Claude Code."),
        ("X-Anthropic-Billing-Header: cc_version=1; cch=AB12;\nHello", "Hello"),
        (
            "prefix x-anthropic-billing-header: stays\nHello",
            "prefix x-anthropic-billing-header: stays\nHello",
        ),
        ("cache cch=9f3a; stays", "cache  stays"),
        ("CCH=9F3A stays", "stays"),
        ("  padded  ", "padded"),
    ],
)
def test_normalize(text, expected):  # checklist 12
    assert normalize(text) == expected


def test_requests_differing_only_in_billing_header_share_a_key():  # checklist 12
    a = req(msg("user", "hi"), system=[BILLING, MAIN_SYSTEM])
    b = req(msg("user", "hi"), system=[BILLING.replace("cch=4f2e1", "cch=0077c"), MAIN_SYSTEM])
    c = req(msg("user", "hi"), system=[MAIN_SYSTEM])
    assert content_key(a) == content_key(b) == content_key(c)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("no tags at all ", "no tags at all"),
        ("<environment_info>\nOS: linux\n</environment_info>\nFix the test", "Fix the test"),
        (
            "<system-reminder>CLAUDE.md says: be nice</system-reminder>\nFix it\n"
            "<system-reminder>todo list is empty</system-reminder>",
            "Fix it",
        ),
        ("<outer a='1'><inner>x</inner><inner>y</inner></outer>Ask", "Ask"),
        ("<reminder><reminder>nested</reminder></reminder>Ask", "Ask"),
        ("Use <br/> and <img src='x' /> here", "Use  and  here"),
        ("Keep ```html\n<b>bold</b>\n``` as is", "Keep ```html\n<b>bold</b>\n``` as is"),
        ("Keep `<div>x</div>` inline", "Keep `<div>x</div>` inline"),
        ("a < b and List<String> stay", "a < b and List<String> stay"),
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),
        ("<context>only context</context>", "only context"),
        ("<context>ctx</context><user_note>typed</user_note>", "typed"),
        (
            "<attachments>a</attachments>\n<userRequest>\nFix the build\n</userRequest>",
            "Fix the build",
        ),
        ("<query>low</query> <userPrompt>high</userPrompt>", "high"),
        ("<UserRequest>Mixed case</UserRequest>", "Mixed case"),
        ("<userRequest></userRequest>\n<context>c</context>Typed", "Typed"),
    ],
)
def test_clean_prompt(text, expected):  # checklist 13
    assert clean_prompt(text) == expected


def test_wrapper_blocks_do_not_change_the_key():  # checklist 13
    plain = req(msg("user", "Fix the test"), system="S")
    wrapped = req(
        msg("user", "<environment_info>OS: linux, 09:14</environment_info>\nFix the test"),
        system="S",
    )
    other_env = req(
        msg("user", "<environment_info>OS: mac, 17:02</environment_info>\nFix the test"),
        system="S",
    )
    assert content_key(plain) == content_key(wrapped) == content_key(other_env)


def test_code_fences_are_part_of_the_key():  # checklist 13
    a = req(msg("user", "Explain ```<b>x</b>```"))
    b = req(msg("user", "Explain ```<i>x</i>```"))
    assert content_key(a) != content_key(b)


def test_explicit_user_tag_keys_on_system_prefix_and_typed_text():  # checklist 14
    system = "You are an AI programming assistant. " * 20  # longer than 400 characters
    context = msg(
        "user", "<environment_info>linux</environment_info><workspace_info>…</workspace_info>"
    )
    typed = msg("user", "<attachments>main.py</attachments>\n<userRequest>Add a test</userRequest>")
    r = req(msg("system", system), context, typed, dialect="openai")
    assert content_key(r) == sha16(system.strip()[:400] + "\n---\nAdd a test")
    # the system prompt past 400 characters and the first (context) message do not count
    r2 = req(msg("system", system + "Today is Monday."), msg("user", "<x>other</x>"), typed)
    assert content_key(r2) == content_key(r)


def test_a_user_tag_quoted_later_in_the_conversation_does_not_change_the_key():
    first = req(msg("user", "Summarise this file"), system="S")
    later = req(
        msg("user", "Summarise this file"),
        msg("assistant", "Done."),
        msg("user", "Now explain <query>SELECT 1</query>"),
        system="S",
    )
    assert content_key(first) == content_key(later)


def test_a_system_message_after_the_user_turn_is_not_the_system_prompt():
    # Claude Code can send a role "system" message after the user message (field notes).
    a = req(msg("user", "hi"), system=MAIN_SYSTEM)
    b = req(msg("user", "hi"), msg("system", "reminder"), system=MAIN_SYSTEM)
    c = req(msg("user", "hi"), msg("system", "reminder"))
    assert content_key(a) == content_key(b)
    assert content_key(c) == sha16("user:hi")


def test_no_messages_no_key():
    assert content_key(req(system="S")) is None
    assert Threader().assign(CC_HEADERS, req(system="S")) == Thread(None, SESSION, None, 0)


@pytest.mark.parametrize(
    "messages, expected",
    [
        ([], 0),
        ([msg("user", "a")], 1),
        ([msg("user", "a"), msg("assistant", "b"), msg("user", "c")], 2),
        ([msg("system", "s"), msg("user", "a"), msg("tool", "r")], 1),
        ([msg("user", "a"), *tool_turn(0), *tool_turn(1)], 3),  # tool results are role user
    ],
)
def test_turn_index(messages, expected):  # checklist 15
    assert turn_index(req(*messages)) == expected


# --- session ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, metadata, expected",
    [
        ({"X-Claude-Code-Session-Id": SESSION}, None, SESSION),
        ({"x-claude-code-session-id": f" {SESSION} "}, None, SESSION),
        (
            {},
            {
                "user_id": json.dumps(
                    {"device_id": "d" * 64, "account_uuid": "", "session_id": SESSION}
                )
            },
            SESSION,
        ),
        (
            {},
            {"user_id": f"user_{'ab' * 32}_account_{OTHER_SESSION}_session_{SESSION}"},
            SESSION,
        ),
        ({}, {"user_id": "user-42"}, None),
        ({}, {"user_id": json.dumps({"device_id": "d"})}, None),
        ({}, {"user_id": "{not json"}, None),
        ({}, {"user_id": 7}, None),
        ({}, "not a mapping", None),
        ({"X-Session-Id": "s-1"}, None, "s-1"),
        ({"session_id": "0199a5f2-4c1e-7d30"}, None, "0199a5f2-4c1e-7d30"),
        ({"Session-Id": "s-3"}, None, "s-3"),
        ({"x-session-id": "  "}, None, None),
        ({}, None, None),
        # the Claude Code header wins over everything else
        ({"X-Claude-Code-Session-Id": SESSION, "x-session-id": "other"}, {"user_id": "u"}, SESSION),
        ({"x-session-id": "other"}, {"user_id": json.dumps({"session_id": SESSION})}, SESSION),
    ],
)
def test_session_id(headers, metadata, expected):
    params = {} if metadata is None else {"metadata": metadata}
    assert session_id(headers, req(msg("user", "hi"), params=params)) == expected


def test_previous_response_id_is_not_a_session_id():
    r = req(
        msg("user", "hi"), params={"previous_response_id": "resp_1"}, dialect="openai_responses"
    )
    assert session_id({}, r) is None


# --- Threader -----------------------------------------------------------------------------------


def test_without_a_session_the_id_is_the_content_key_and_survives_restarts():
    r = req(msg("user", "hello"), msg("assistant", "hi"), msg("user", "more"), system="S")
    first, second = Threader().assign({}, r), Threader().assign({}, r)
    assert first == second == Thread(content_key(r), None, None, 2)


def test_one_session_keeps_one_id_across_turns_and_restarts():
    threader = Threader()
    ids = {
        threader.assign(CC_HEADERS, claude_code("Fix the test", n)).conversation_id
        for n in range(4)
    }
    assert len(ids) == 1
    assert Threader().assign(CC_HEADERS, claude_code("Fix the test", 9)).conversation_id in ids
    assert threader.assign(CC_HEADERS, claude_code("Fix the test", 3)).turn_index == 4


def test_two_sessions_with_the_same_opening_never_merge():
    threader = Threader()
    a = threader.assign(CC_HEADERS, claude_code("Fix the test"))
    b = threader.assign(
        {**CC_HEADERS, "X-Claude-Code-Session-Id": OTHER_SESSION}, claude_code("Fix the test")
    )
    assert a.conversation_id != b.conversation_id
    assert (a.session_id, b.session_id) == (SESSION, OTHER_SESSION)
    assert a.parent_conversation_id is None and b.parent_conversation_id is None


def test_session_from_metadata_alone_threads_like_the_header():
    meta = {"metadata": {"user_id": json.dumps({"device_id": "d", "session_id": SESSION})}}
    via_header = Threader().assign(CC_HEADERS, claude_code("Fix the test"))
    r = claude_code("Fix the test")
    r.params.update(meta)
    assert Threader().assign({}, r) == via_header


def test_sub_agents_and_side_requests_get_their_own_thread_linked_to_the_main_one():
    threader = Threader()
    main = threader.assign(CC_HEADERS, claude_code("Refactor the parser", 3))
    sub_agent = threader.assign(
        CC_HEADERS,
        claude_code(
            "Find every caller of parse()",
            2,
            system="You are an agent for Claude Code. Search the codebase.",
            tools=("Bash", "Read", "Grep"),
        ),
    )
    title = threader.assign(
        CC_HEADERS,
        req(msg("user", "Refactor the parser"), system="Generate a short, descriptive title"),
    )
    assert main.parent_conversation_id is None
    assert len({main.conversation_id, sub_agent.conversation_id, title.conversation_id}) == 3
    assert sub_agent.parent_conversation_id == main.conversation_id
    assert title.parent_conversation_id == main.conversation_id
    # a sub-agent that runs longer than its parent does not take over as the main thread
    threader.assign(
        CC_HEADERS,
        claude_code(
            "Find every caller of parse()",
            12,
            system="You are an agent for Claude Code. Search the codebase.",
            tools=("Bash", "Read", "Grep"),
        ),
    )
    late = threader.assign(
        CC_HEADERS, req(msg("user", "Summarise"), system="Summarise the session")
    )
    assert late.parent_conversation_id == main.conversation_id
    assert threader.assign(CC_HEADERS, claude_code("Refactor the parser", 4)) == Thread(
        main.conversation_id, SESSION, None, 5
    )


def test_a_toolless_probe_before_the_main_thread_is_not_its_parent():
    threader = Threader()
    probe = threader.assign(CC_HEADERS, req(msg("user", "quota"), system=MAIN_SYSTEM))
    main = threader.assign(CC_HEADERS, claude_code("Refactor the parser"))
    sub_agent = threader.assign(
        CC_HEADERS, claude_code("Look around", system="You are an agent.", tools=("Read",))
    )
    assert probe.parent_conversation_id is None
    assert main.parent_conversation_id is None
    assert sub_agent.parent_conversation_id == main.conversation_id


COMPACTED = (
    "This session is being continued from a previous conversation that ran out of context. "
    "The summary below covers the earlier portion of the conversation.\n\nSummary:\n1. ..."
)


def test_claude_code_compaction_keeps_the_conversation_id():
    threader = Threader()
    before = threader.assign(CC_HEADERS, claude_code("Refactor the parser", 40))
    after = threader.assign(
        CC_HEADERS,
        req(
            Message(
                "user",
                [
                    Block(TEXT, "<system-reminder>CLAUDE.md</system-reminder>"),
                    Block(TEXT, COMPACTED),
                ],
            ),
            system=[BILLING, MAIN_SYSTEM],
            tools=MAIN_TOOLS,
        ),
    )
    assert after.conversation_id == before.conversation_id
    assert after.turn_index == before.turn_index + 1  # turns carry on
    # and the compacted thread goes on under the same id
    continued = req(
        msg("user", COMPACTED), *tool_turn(0), system=[BILLING, MAIN_SYSTEM], tools=MAIN_TOOLS
    )
    assert threader.assign(CC_HEADERS, continued) == Thread(
        before.conversation_id, SESSION, None, 43
    )


def test_codex_compaction_summary_keeps_the_conversation_id():
    headers = {"originator": "codex_cli_rs", "session_id": OTHER_SESSION}
    threader = Threader()
    before = threader.assign(
        headers, req(msg("user", "Add a flag"), *tool_turn(0), *tool_turn(1), tools=("shell",))
    )
    summary = (
        "Another language model started to solve this problem and produced a summary of its "
        "thinking process. ..."
    )
    # a different tool set (so only the marker can match)
    after = threader.assign(headers, req(msg("user", summary), tools=("shell", "apply_patch")))
    assert after.conversation_id == before.conversation_id


def test_a_shorter_request_with_the_same_system_and_tools_is_a_compaction():
    threader = Threader()
    before = threader.assign(CC_HEADERS, claude_code("Refactor the parser", 10))
    after = threader.assign(CC_HEADERS, claude_code("Summary of our work so far: ...", 1))
    assert after.conversation_id == before.conversation_id
    assert after.turn_index == 11 + 2


def test_a_new_thread_with_a_different_tool_set_is_not_a_compaction():
    threader = Threader()
    before = threader.assign(CC_HEADERS, claude_code("Refactor the parser", 10))
    after = threader.assign(CC_HEADERS, claude_code("Something else", 1, tools=("Read",)))
    assert after.conversation_id != before.conversation_id
    assert after.parent_conversation_id == before.conversation_id


def test_compaction_is_only_recognised_within_a_known_session():
    threader = Threader()
    before = threader.assign(CC_HEADERS, claude_code("Refactor the parser", 40))
    compacted = req(msg("user", COMPACTED), system=[BILLING, MAIN_SYSTEM], tools=MAIN_TOOLS)
    elsewhere = threader.assign({"X-Claude-Code-Session-Id": OTHER_SESSION}, compacted)
    no_session = threader.assign({}, compacted)
    assert before.conversation_id not in (elsewhere.conversation_id, no_session.conversation_id)
    assert no_session.conversation_id == content_key(compacted)


def test_previous_response_id_joins_the_conversation_of_that_response():
    threader = Threader()
    first = threader.assign(
        {}, req(msg("user", "Plan a trip"), system="S", dialect="openai_responses")
    )
    threader.note_response("resp_1", first.conversation_id, turn_index=first.turn_index)
    second_request = req(
        msg("user", "Make it shorter"),
        params={"previous_response_id": "resp_1"},
        dialect="openai_responses",
    )
    second = threader.assign({}, second_request)
    assert second == Thread(first.conversation_id, None, None, 2)
    threader.note_response("resp_2", second.conversation_id, turn_index=second.turn_index)
    third = threader.assign(
        {}, req(msg("user", "Thanks"), params={"previous_response_id": "resp_2"})
    )
    assert third == Thread(first.conversation_id, None, None, 3)


def test_previous_response_id_in_extra_is_followed_too():
    threader = Threader()
    threader.note_response("resp_9", "c0ffee0000000000")
    r = req(msg("user", "next"))
    r.extra["previous_response_id"] = "resp_9"
    assert threader.assign({}, r).conversation_id == "c0ffee0000000000"


def test_an_unknown_previous_response_id_falls_back_to_the_content_key():
    r = req(msg("user", "Make it shorter"), params={"previous_response_id": "resp_gone"})
    assert Threader().assign({}, r).conversation_id == content_key(r)


def test_state_is_bounded():
    threader = Threader(max_entries=2)
    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(3)]
    firsts = [
        threader.assign({"X-Claude-Code-Session-Id": s}, claude_code("Refactor", 10)) for s in ids
    ]
    assert len(threader._sessions) == 2
    compacted = req(msg("user", COMPACTED), system=[BILLING, MAIN_SYSTEM], tools=MAIN_TOOLS)
    # the oldest session was forgotten: its compaction starts a new id (the deterministic one)
    forgotten = threader.assign({"X-Claude-Code-Session-Id": ids[0]}, compacted)
    remembered = threader.assign({"X-Claude-Code-Session-Id": ids[2]}, compacted)
    assert forgotten.conversation_id != firsts[0].conversation_id
    assert remembered.conversation_id == firsts[2].conversation_id
    for i in range(5):
        threader.note_response(f"resp_{i}", "c")
    assert list(threader._responses) == ["resp_3", "resp_4"]
    with pytest.raises(ValueError):
        Threader(max_entries=0)


def test_a_resent_opening_is_keyed_once_and_never_confused(monkeypatch):
    """The key of a system prompt and opening turn sent again as the same objects (as the
    parser hands them back) is remembered; any other message in those places, even after
    an opening assistant message, gets its own key."""
    from addons import threads

    computed = []
    real = threads._compute_keys
    monkeypatch.setattr(threads, "_compute_keys", lambda r: computed.append(r) or real(r))
    system = [Block(TEXT, MAIN_SYSTEM)]
    opening = [msg("user", "Fix the flaky test."), msg("assistant", "On it.")]
    first = Request("anthropic", system=system, messages=[*opening, msg("user", "go on")])
    later = Request("anthropic", system=list(system), messages=[*opening, msg("user", "more")])
    assert content_key(first) == content_key(later) and len(computed) == 1
    greeting = msg("assistant", "Hello, what shall we do?")
    a = Request("anthropic", system=system, messages=[greeting, msg("user", "Fix the tests.")])
    b = Request("anthropic", system=system, messages=[greeting, msg("user", "Write docs.")])
    assert content_key(a) != content_key(b)
    assert [content_key(r) for r in (first, a, b)] == [real(r)[0] for r in (first, a, b)]
