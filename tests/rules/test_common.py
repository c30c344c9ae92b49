"""rules.common.user_turns: carried forward from a conversation's last request, it finds the
same user turns as looking at every message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from addons.wire.model import TEXT, TOOL_RESULT, Block, Message
from rules import common
from rules.common import is_user_turn, user_turns

KINDS = {
    "user": lambda: Message("user", [Block(TEXT, text="please go on")]),
    "results": lambda: Message("user", [Block(TOOL_RESULT, id="t1", text="ok")]),
    "reminder": lambda: Message(
        "user", [Block(TOOL_RESULT, id="t1"), Block(TEXT, text="<system-reminder>x")]
    ),
    "assistant": lambda: Message("assistant", [Block(TEXT, text="done")]),
}


def plain(messages: list[Message]) -> list[int]:
    return [i for i, m in enumerate(messages) if is_user_turn(m)]


# A step: which remembered conversation to take up (or a new one), how many of its messages
# to keep as the same objects, how many of them to parse anew, and which messages to add.
steps = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 40),
        st.integers(0, 3),
        st.lists(st.sampled_from(sorted(KINDS)), max_size=8),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_carried_forward_it_finds_what_a_full_look_finds(steps):
    common._USER_TURNS.lists.clear()
    conversations: list[list[Message]] = []
    for which, keep, anew, added in steps:
        base = conversations[which] if which < len(conversations) else []
        keep = min(keep, len(base))
        messages = base[:keep]
        # the parser's fresh objects for messages it could not reuse (a moved cache marker)
        messages += [Message(m.role, list(m.blocks)) for m in base[keep : keep + anew]]
        messages += [KINDS[kind]() for kind in added]
        assert user_turns(messages) == plain(messages)
        conversations.append(messages)
        del conversations[:-4]


def test_a_resent_conversation_is_looked_at_only_where_it_is_new(monkeypatch):
    looked = []
    real = common.is_user_turn
    monkeypatch.setattr(common, "is_user_turn", lambda m: looked.append(m) or real(m))
    common._USER_TURNS.lists.clear()
    history = [KINDS["user"]()] + [KINDS[k]() for k in ["assistant", "results"] * 30]
    assert user_turns(history) == [0] and len(looked) == 61
    looked.clear()
    changed = Message("user", [Block(TOOL_RESULT, id="t1", text="ok", is_error=True)])
    grown = history[:-1] + [changed, KINDS["assistant"](), KINDS["user"]()]
    assert user_turns(grown) == [0, 62]
    assert looked == grown[60:]  # the one that changed, and what was added
