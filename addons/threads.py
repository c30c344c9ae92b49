"""Conversation threading: which conversation, session and turn a request belongs to.

The base is a deterministic content key (AI_Proxy reference §3): the first 16 hex digits of the
SHA-256 of the normalised system prompt and first user message, so that every request of one
conversation, which resends the same opening, gets the same key, across proxy restarts too.

On top of it, explicit session ids (Claude Code's `X-Claude-Code-Session-Id` and
`metadata.user_id`, `x-session-id`, `session_id`) keep two sessions apart even when they open
with the same words: the conversation id is then a hash of session id and content key, still
deterministic. The `Threader`'s bounded in-memory state only *refines* these ids, it never
replaces them: it links a session's side threads (sub-agents, title generation) to its main
thread, keeps a conversation's id through context compaction, and follows OpenAI Responses
`previous_response_id` chains. What it forgets (a restart, eviction) costs those links, never
the deterministic ids.

Pure functions and plain in-memory state: no mitmproxy, no I/O. `Threader` is not thread-safe;
mitmproxy runs addon hooks on one event loop.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from addons.wire.model import TEXT, TOOL_CALL, TOOL_RESULT, Block, Message, Request

# Explicit "what the user typed" tags, in priority order (Copilot and friends).
USER_TAGS = (
    "userprompt",
    "user_prompt",
    "userrequest",
    "user_request",
    "usermessage",
    "user_message",
    "userquery",
    "user_query",
    "userinput",
    "user_input",
    "userquestion",
    "user_question",
    "currentrequest",
    "current_request",
    "currentmessage",
    "current_message",
    "user",
    "input",
    "prompt",
    "question",
    "request",
    "message",
    "query",
)
_USER_TAG_RANK = {name: i for i, name in enumerate(USER_TAGS)}
_USERISH = ("user", "prompt", "request", "query", "question", "input", "message")
_USER_TAG_OPEN = re.compile(
    r"<(" + "|".join(sorted(USER_TAGS, key=len, reverse=True)) + r")(?=[\s>])[^<>]*>",
    re.IGNORECASE,
)
_USER_TAG_CLOSE = {name: re.compile(r"</" + name + r"\s*>", re.IGNORECASE) for name in USER_TAGS}
_USER_TAG_MAX = 4000
_LAYER1_SYSTEM_MAX = 400

# XML-like tags (groups: "/" if closing, the name, attributes ending in "/" if self-closing) and
# code spans (a ``` fence, or inline code of at most 200 characters). Searched separately: a
# pattern starting with one literal character lets re skip ahead quickly, an alternation not.
_TAG = re.compile(r"<(/?)([A-Za-z][\w:.-]*)((?:[\s/][^<>]*)?)>")
_CODE = re.compile(r"`(?:``.*?```|[^`\n]{1,200}`)", re.DOTALL)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")

_BILLING_LINE = re.compile(r"^x-anthropic-billing-header:.*$", re.MULTILINE | re.IGNORECASE)
_CCH = re.compile(r"cch=[0-9a-f]+;?", re.IGNORECASE)
_BILLING_FAST = re.compile(r"x-anthropic-billing-header:[^\n]*")
_CCH_FAST = re.compile(r"cch=[0-9a-fA-F]+;?")

# First user text of a conversation that a client has compacted (summarised and restarted).
COMPACTION_PREFIXES = (
    # Claude Code (and Cline, which copied it).
    "This session is being continued from a previous conversation that ran out of context",
    # OpenAI Codex CLI, codex-rs/core/templates/compact/summary_prefix.md.
    "Another language model started to solve this problem and produced a summary of its "
    "thinking process",
)

_SESSION_HEADERS = ("x-claude-code-session-id", "x-session-id", "session_id", "session-id")
_LEGACY_USER_ID_SESSION = re.compile(r"_session_([0-9A-Za-z-]{8,})\s*$")
_SESSION_ID_MAX = 200
_THREADS_PER_SESSION = 1024


# --- deterministic keys ---------------------------------------------------------------------


def content_key(request: Request) -> str | None:
    """The deterministic conversation key: sha256 hex[:16]; None if there are no messages.

    Layer 1 (Copilot-style clients): a user message of the opening turn wraps what the user
    typed in an explicit tag such as `<userRequest>`: key = system[:400] + that text.
    Layer 2 (everyone else): key = normalised system prompt + normalised first user message.
    """
    return _keys(request)[0]


class _KeyMemo:
    """The keys of the last few conversations, by the identity of what they are made of: the
    system prompt's blocks and the messages up to the first answer. An agent resends them
    every turn, and the parser hands back the same objects (`PrefixMemo`), so a Claude Code
    request's 20 KB system prompt is not hashed again (0.03 ms) on every turn. Each entry
    holds its objects, so that their ids cannot be reused while it is here."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[int, ...], tuple[tuple[object, ...], Any]] = OrderedDict()
        self.lock = threading.Lock()

    def keys(self, request: Request) -> tuple[str | None, str]:
        parts = (*request.system, *_opening(request.messages))
        key = tuple(map(id, parts))
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
                return entry[1]
        result = _compute_keys(request)
        with self.lock:
            self.entries[key] = (parts, result)
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return result


def _opening(messages: list[Message]) -> list[Message]:
    """The messages the keys are made of: up to the first assistant message and the first
    user message, whichever comes later."""
    seen: set[str] = set()
    for i, m in enumerate(messages):
        if m.role in ("user", "assistant"):
            seen.add(m.role)
            if len(seen) == 2:
                return messages[: i + 1]
    return messages


_KEYS = _KeyMemo()


def _keys(request: Request) -> tuple[str | None, str]:
    # (content key, the system prompt as it went into the key)
    return _KEYS.keys(request)


def _compute_keys(request: Request) -> tuple[str | None, str]:
    if not request.messages:
        return None, ""
    system = _system_text(request)
    system_input = hash_input(system) if system else ""

    typed = _opening_typed_text(request.messages)
    if typed is not None:
        return _digest(system_input[:_LAYER1_SYSTEM_MAX] + "\n---\n" + typed), system_input

    parts = []
    if system:
        parts.append("system:" + system_input)
    first_user = next((m for m in request.messages if m.role == "user"), None)
    if first_user is not None:
        parts.append("user:" + hash_input(flatten(first_user)))
    if not parts:
        return None, system_input
    return _digest("\n---\n".join(parts)), system_input


def turn_index(request: Request) -> int:
    """The number of role=user messages (Anthropic tool results count: they are role user)."""
    return sum(1 for m in request.messages if m.role == "user")


def session_id(headers: Mapping[str, str], request: Request) -> str | None:
    """An explicit session id sent by the client, or None.

    Checked in order: `X-Claude-Code-Session-Id`; Claude Code's `metadata.user_id` (a JSON
    string holding `session_id` in current versions, `user_<hash>_account_<uuid>_session_<uuid>`
    in older ones); `x-session-id`, `session_id`, `session-id` (Codex CLI sends `session_id`).
    """
    h = {k.lower(): v for k, v in headers.items()}
    if sid := _clean_id(h.get("x-claude-code-session-id")):
        return sid
    if sid := _session_from_metadata(request.params.get("metadata")):
        return sid
    for name in _SESSION_HEADERS[1:]:
        if sid := _clean_id(h.get(name)):
            return sid
    return None


@lru_cache(maxsize=256)  # the same system prompt (tens of KB) comes with every turn
def hash_input(text: str) -> str:
    """What of a prompt text goes into a key: the cleaned text (or the text, if cleaning leaves
    nothing), normalised."""
    return normalize(clean_prompt(text) or text)


def normalize(text: str) -> str:
    """Drop what changes on every request without changing the conversation: Anthropic billing
    header lines (`x-anthropic-billing-header: ...` at a line start) and `cch=<hex>` fragments,
    in any letter case."""
    low = text.lower()
    if "x-anthropic-billing-header:" not in low and "cch=" not in low:
        return text.strip()
    # Exact-case patterns have a literal prefix re can search for quickly; the case-insensitive
    # ones try every position, so they run only for what the fast ones left.
    text = _CCH_FAST.sub("", _BILLING_FAST.sub(_drop_at_line_start, text))
    low = text.lower()
    if "x-anthropic-billing-header:" in low or "cch=" in low:
        text = _CCH.sub("", _BILLING_LINE.sub("", text))
    return text.strip()


def _drop_at_line_start(m: re.Match[str]) -> str:
    start = m.start()
    return "" if start == 0 or m.string[start - 1] == "\n" else m.group(0)


def clean_prompt(text: str) -> str:
    """The user's own words in a prompt that a client wrapped in generated context.

    1. The inner text of the highest-priority explicit user tag (`<userRequest>` ...).
    2. Otherwise remove paired XML-like blocks (`<environment_info>...</environment_info>`,
       `<system-reminder>`) and self-closing tags, leaving code (fences, inline code of at most
       200 characters) alone, and collapse blank lines.
    3. If nothing is left: the inner text of a removed wrapper, user-ish tag names first.

    The reference protects code with placeholders and removes blocks with a regex in up to 8
    passes; this finds tags and code spans in two linear scans and pairs the tags outside code
    with a stack, which removes nested blocks of any depth at once.
    """
    if "<" not in text:
        return _BLANK_LINES.sub("\n\n", text).strip()
    if (typed := explicit_user_text(text)) is not None:
        return typed

    blocks, cuts = _tag_spans(text)
    if not cuts:
        return _BLANK_LINES.sub("\n\n", text).strip()
    out = []
    pos = 0
    for start, end in cuts:
        out.append(text[pos:start])
        pos = end
    out.append(text[pos:])
    body = _BLANK_LINES.sub("\n\n", "".join(out)).strip()
    if body or not blocks:
        return body

    ranked = sorted(blocks, key=lambda b: not any(u in b[0] for u in _USERISH))
    for _name, inner in ranked:
        if inner := inner.strip():
            return inner
    return ""


def explicit_user_text(text: str) -> str | None:
    """The stripped inner text (at most 4000 characters) of the highest-priority explicit user
    tag with non-empty content, or None."""
    first: dict[str, re.Match[str]] = {}
    for m in _USER_TAG_OPEN.finditer(text):
        first.setdefault(m.group(1).lower(), m)
    for name in sorted(first, key=_USER_TAG_RANK.__getitem__):
        opening = first[name]
        closing = _USER_TAG_CLOSE[name].search(text, opening.end())
        if closing is None:
            continue
        inner = text[opening.end() : closing.start()].strip()
        if inner:
            return inner[:_USER_TAG_MAX]
    return None


def flatten(message: Message) -> str:
    """A message as text: text blocks, tool-call arguments as JSON, tool-result contents."""
    parts: list[str] = []
    _flatten_blocks(message.blocks, parts)
    return "\n".join(parts)


def _flatten_blocks(blocks: list[Block], parts: list[str]) -> None:
    for b in blocks:
        if b.type == TEXT:
            if b.text:
                parts.append(b.text)
        elif b.type == TOOL_CALL:
            args = b.arguments
            if args is not None:
                parts.append(
                    args
                    if isinstance(args, str)
                    else json.dumps(args, ensure_ascii=False, sort_keys=True)
                )
        elif b.type == TOOL_RESULT:
            if b.text:
                parts.append(b.text)
            if b.content:
                _flatten_blocks(b.content, parts)


def _system_text(request: Request) -> str:
    # The top-level system prompt; else the leading system/developer messages (OpenAI style).
    # A system message *after* the first user turn (Claude Code sends some) is not the prompt.
    if text := request.system_text:
        return text
    for m in request.messages:
        if m.role not in ("system", "developer"):
            break
        if text := flatten(m):
            return text
    return ""


def _opening_typed_text(messages: list[Message]) -> str | None:
    # Only the opening turn (user messages before the first assistant reply) is searched: later
    # history may quote a `<query>` tag, and the key must not change when it does.
    for m in messages:
        if m.role == "assistant":
            return None
        if m.role != "user":
            continue
        text = m.text
        if "<" in text and (typed := explicit_user_text(text)) is not None:
            return typed.strip()
    return None


def _tag_spans(text: str) -> tuple[list[tuple[str, str]], list[tuple[int, int]]]:
    """The outermost paired blocks as (name, inner text), and the sorted, disjoint (start, end)
    spans to cut: those blocks plus self-closing tags outside them. Tags in code are ignored."""
    stack: list[tuple[str, int, int]] = []
    paired: list[tuple[int, int, str, int, int]] = []
    single: list[tuple[int, int, str, int, int]] = []
    tags = list(_TAG.finditer(text))
    if tags and "`" in text:
        tags = _outside_code(tags, text)
    for m in tags:
        closing, name, attrs = m.groups()
        name = name.lower()
        if not closing:
            if attrs.endswith("/"):
                single.append((m.start(), m.end(), "", 0, 0))
            else:
                stack.append((name, m.start(), m.end()))
            continue
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                _, start, inner_start = stack[i]
                del stack[i:]
                paired.append((start, m.end(), name, inner_start, m.start()))
                break
    if not paired and not single:
        return [], []
    blocks: list[tuple[str, str]] = []
    cuts: list[tuple[int, int]] = []
    reach = -1
    for start, end, name, inner_start, inner_end in sorted(paired + single):
        if start < reach:
            continue  # inside a block already cut
        if name:
            blocks.append((name, text[inner_start:inner_end]))
        cuts.append((start, end))
        reach = end
    return blocks, cuts


def _outside_code(tags: list[re.Match[str]], text: str) -> list[re.Match[str]]:
    code = [m.span() for m in _CODE.finditer(text)]
    if not code:
        return tags
    kept = []
    i = 0
    for tag in tags:
        start = tag.start()
        while i < len(code) and code[i][1] <= start:
            i += 1
        if i == len(code) or start < code[i][0]:
            kept.append(tag)
    return kept


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _clean_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:_SESSION_ID_MAX] if value else None


def _session_from_metadata(metadata: object) -> str | None:
    if not isinstance(metadata, Mapping):
        return None
    user_id = metadata.get("user_id")
    if isinstance(user_id, str):
        user_id = user_id.strip()
        if user_id.startswith("{"):
            try:
                user_id = json.loads(user_id)
            except ValueError:
                return None
        else:
            m = _LEGACY_USER_ID_SESSION.search(user_id)
            return _clean_id(m.group(1)) if m else None
    if isinstance(user_id, Mapping):
        return _clean_id(user_id.get("session_id"))
    return None


def _is_compaction(request: Request) -> bool:
    first_user = next((m for m in request.messages if m.role == "user"), None)
    if first_user is None:
        return False
    for b in first_user.blocks:
        if b.type == TEXT and b.text.lstrip().startswith(COMPACTION_PREFIXES):
            return True
    return False


# --- stateful refinement ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thread:
    """Where one request sits: its conversation, the client's session, and its turn."""

    conversation_id: str | None
    session_id: str | None = None
    parent_conversation_id: str | None = None
    turn_index: int = 0


@dataclass(slots=True)
class _Conversation:
    conversation_id: str
    parent: str | None
    system: int  # hash() of the normalised system prompt
    tools: frozenset[str]
    turns: int = 0  # highest turn index so far
    messages: int = 0  # message count of the latest request


@dataclass(slots=True)
class _Session:
    # content key -> (conversation, turn offset); compaction maps a new key onto the old thread
    threads: OrderedDict[str, tuple[_Conversation, int]] = field(default_factory=OrderedDict)
    main: _Conversation | None = None


class Threader:
    """Assigns each request a `Thread`, remembering at most `max_entries` sessions and as many
    response ids (least recently used first out)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._responses: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def assign(self, headers: Mapping[str, str], request: Request) -> Thread:
        sid = session_id(headers, request)
        turn = turn_index(request)

        previous = request.params.get("previous_response_id") or request.extra.get(
            "previous_response_id"
        )
        if isinstance(previous, str) and (link := self._responses.get(previous)):
            self._responses.move_to_end(previous)
            conversation_id, base_turn = link
            return Thread(conversation_id, sid, None, base_turn + turn)

        key, system = _keys(request)
        if key is None:
            return Thread(None, sid, None, 0)
        if sid is None:
            return Thread(key, None, None, turn)

        session = self._session(sid)
        entry = session.threads.get(key)
        if entry is not None:
            session.threads.move_to_end(key)
            conv, offset = entry
        else:
            conv, offset = self._new_thread(sid, key, system, session, request)
            session.threads[key] = (conv, offset)
            if len(session.threads) > _THREADS_PER_SESSION:
                session.threads.popitem(last=False)

        turn += offset
        conv.turns = max(conv.turns, turn)
        conv.messages = len(request.messages)
        main = session.main
        if conv.parent is None and (
            main is None or (conv.turns, len(conv.tools)) > (main.turns, len(main.tools))
        ):
            session.main = conv
        return Thread(conv.conversation_id, sid, conv.parent, turn)

    def note_response(self, response_id: str, conversation_id: str, *, turn_index: int = 0) -> None:
        """Remember which conversation a finished response belongs to: a later request naming
        it as `previous_response_id` joins that conversation, counting turns on from
        `turn_index` (the turn of the request that produced the response)."""
        if not response_id or not conversation_id:
            return
        self._responses[response_id] = (conversation_id, turn_index)
        self._responses.move_to_end(response_id)
        if len(self._responses) > self.max_entries:
            self._responses.popitem(last=False)

    def _session(self, sid: str) -> _Session:
        session = self._sessions.get(sid)
        if session is None:
            session = self._sessions[sid] = _Session()
            if len(self._sessions) > self.max_entries:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(sid)
        return session

    def _new_thread(
        self, sid: str, key: str, system_input: str, session: _Session, request: Request
    ) -> tuple[_Conversation, int]:
        system = hash(system_input)
        tools = frozenset(t.name for t in request.tools)
        main = session.main
        if main is not None and (
            _is_compaction(request)
            or (
                system == main.system
                and tools == main.tools
                and len(request.messages) < main.messages
            )
        ):
            # The session's main conversation, compacted: same thread, turns carry on.
            return main, main.turns
        # A thread with tools is not the child of one without: a tool-less first thread is a
        # side request (a quota probe, a title), not the agent that spawned this one.
        parent = None
        if main is not None and (main.tools or not tools):
            parent = main.conversation_id
        conversation_id = _digest(f"{sid}\n{key}")
        return _Conversation(conversation_id, parent, system, tools), 0


class SharedThreader:
    """A Threader that the event loop (when rules need the thread before forwarding) and the
    thread that analyses captured exchanges (for everything else) can both use: one state, one
    lock."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._threader = Threader(max_entries)
        self._lock = threading.Lock()

    def assign(self, headers: Mapping[str, str], request: Request) -> Thread:
        with self._lock:
            return self._threader.assign(headers, request)

    def note_response(self, response_id: str, conversation_id: str, *, turn_index: int = 0) -> None:
        with self._lock:
            self._threader.note_response(response_id, conversation_id, turn_index=turn_index)
