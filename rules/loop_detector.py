"""loop_detector: stop an agent that keeps making the same tool call.

Phase: pre-flight. On by default. Sees every dialect's tool calls alike: Anthropic `tool_use`
blocks, OpenAI `tool_calls` and Ollama `tool_calls` are all tool-call blocks of assistant
messages in the neutral request (the reference saw only OpenAI's).

A call's signature is its tool name and its arguments as canonical JSON (sorted keys, compact,
first 1000 characters; argument text that is not JSON is compared trimmed). Only the calls made
since the user's last message count, so a new user message restarts the count, and of those
only the last `window`. (A user message is one the user wrote: Anthropic's user messages that
carry only tool results, or results plus a `<system-reminder>`, are not; text the user typed
into the same message as the results is.) Two triggers:

- `count_in_window`: one signature occurs `max_repeats` times among them;
- `tail_consecutive`: the last `tail_consecutive` calls are all the same.

With `nudge_at: 0` this is the reference's core rule: either trigger answers with `action`
(block, HTTP 400; or warn), reason `Tool call 'X' repeated N× since the last user message`.

With `nudge_at` > 0 (default 3) the model is warned before it is stopped: only a signature
repeated `max_repeats` times is blocked, and one repeated `nudge_at` times, or a tail run of
`tail_consecutive`, is a nudge: verdict warn, reason `Tool call 'X' repeated N× — nudged
(blocks at M)`, details `nudge` and `soft_unblock` true and the `note`, which is appended to the
system prompt of the request sent on. With the defaults: 2 identical calls pass, the 3rd is
nudged, the 4th is blocked; changing the arguments starts over.

When nothing loops now but the calls between the two last user messages reached the blocking
threshold (the loop the user has just interrupted), the request passes as warn with a note
telling the model not to resume it, reason
`loop on 'X' (N×) cleared by user intervention — note injected`, details `cleared` and
`soft_unblock` true and the `note`, appended to the system prompt like a nudge's. It stays
until the user speaks again.

Details: `{trigger, tool_name, count, window_size, max_repeats, args_preview}` (preview: 300
characters of the canonical arguments).

The note goes at the end of the system prompt, after any cache breakpoint, so Anthropic's
cached tools and system prompt still hit; the cached messages miss once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from addons import wire
from addons.wire import anthropic, gemini, ollama, openai_chat, openai_responses
from addons.wire.model import TOOL_CALL, Block, Message, Request

from .base import (
    WARN,
    Phase,
    RuleContext,
    RuleResult,
    RuleSpec,
    enabled_option,
    options_schema,
    verdict,
)
from .common import (
    IdentityMemo,
    canonical_args,
    has_tool_calls,
    is_user_turn,
    user_turns,
    with_system_note,
)

ID = "loop_detector"
PHASE = Phase.PREFLIGHT

COUNT = "count_in_window"
TAIL = "tail_consecutive"
PREVIEW = 300

NUDGE_NOTE = (
    "[AI Proxy loop-detector] You have now called `{name}` with the same parameters {count}× "
    "since the user's last message. Do NOT issue that identical call again: its result will not "
    "change. Use what it already returned, change the parameters, try another approach, or tell "
    "the user what is blocking you. Repeating the call will be {outcome}."
)
CLEARED_NOTE = (
    "[AI Proxy loop-detector] Your repeated call to `{name}` ({count}× with the same parameters) "
    "was stopped to prevent an infinite loop. The user has asked you to continue — do NOT repeat "
    "that identical call; try a different approach."
)

OPTIONS_SCHEMA = options_schema(
    {
        "enabled": enabled_option(True),
        "action": {"enum": ["block", "warn"], "default": "block"},
        "max_repeats": {"type": "integer", "minimum": 2, "default": 4},
        "window": {"type": "integer", "minimum": 1, "default": 10},
        "tail_consecutive": {"type": "integer", "minimum": 2, "default": 3},
        "nudge_at": {
            "type": "integer",
            "minimum": 0,
            "default": 3,
            "description": "Repeats that earn a warning note first; 0 = never nudge.",
        },
    }
)

Signature = tuple[str, str]
Hit = tuple[str, Signature, int]  # (trigger, signature, count)


# Signatures of the calls seen lately, by block. An agent resends its history every turn and
# the parser hands back the same Block objects for the messages it has seen (`PrefixMemo`), so
# each call's arguments are encoded once, not once per turn.
_SIGNATURES = IdentityMemo()


def _signature(b: Block) -> Signature:
    return (b.name or "?", canonical_args(b.arguments))


def _signatures(calls: list[Block]) -> list[Signature]:
    return [_SIGNATURES.get(b, _signature) for b in calls]


def _segments(request: Request, window: int) -> tuple[list[Block], list[Block]]:
    """The last `window` tool calls since the last user message, and the last `window` of
    those between the two user messages before it."""
    messages = request.messages
    turns = user_turns(messages)
    last = turns[-1] if turns else -1
    current = _last_calls(messages, last + 1, len(messages), window)
    before = _last_calls(messages, turns[-2] + 1 if len(turns) > 1 else 0, last, window)
    return current, before


def _last_calls(messages: list[Message], start: int, stop: int, window: int) -> list[Block]:
    """The last `window` tool calls the assistant made in `messages[start:stop]`, in order."""
    calls: list[Block] = []
    for i in range(stop - 1, start - 1, -1):
        m = messages[i]
        if m.role == "assistant":
            for b in reversed(m.blocks):
                if b.type == TOOL_CALL:
                    calls.append(b)
            if len(calls) >= window:
                break
    del calls[window:]
    calls.reverse()
    return calls


def _hits(sigs: list[Signature]) -> list[Hit]:
    """(trigger, signature, count) for the most repeated signature and the trailing run."""
    if not sigs:
        return []
    if len(set(sigs)) == len(sigs):  # nothing repeats (the usual case): as below, at once
        return [(TAIL, sigs[-1], 1), (COUNT, sigs[-1], 1)]
    counts = Counter(sigs)
    top = max(counts.values())
    most = next(s for s in reversed(sigs) if counts[s] == top)  # ties: the most recent
    run = 1
    while run < len(sigs) and sigs[-run - 1] == sigs[-1]:
        run += 1
    return [(TAIL, sigs[-1], run), (COUNT, most, top)]


def _blocking(hits: list[Hit], options: Mapping[str, Any]) -> list[Hit]:
    """The hits that reach the blocking threshold (with nudging on, only `max_repeats`)."""
    if options["nudge_at"] > 0:
        return [h for h in hits if h[2] >= options["max_repeats"]]
    return [
        h
        for h in hits
        if h[2] >= (options["tail_consecutive"] if h[0] == TAIL else options["max_repeats"])
    ]


def _details(
    trigger: str, sig: Signature, count: int, window: int, options: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "trigger": trigger,
        "tool_name": sig[0],
        "count": count,
        "window_size": window,
        "max_repeats": options["max_repeats"],
        "args_preview": sig[1][:PREVIEW],
    }


def _decide(
    sigs: list[Signature], earlier: Callable[[], list[Signature]], options: Mapping[str, Any]
) -> tuple[str, Hit] | None:
    """What the rule does about these calls: ("block", hit), ("nudge", hit), ("cleared", hit)
    for the calls between the two user messages before (`earlier`, read only if needed), or
    None."""
    hits = _hits(sigs)
    blocking = _blocking(hits, options)
    if blocking:
        return "block", max(blocking, key=lambda h: h[2])
    nudge_at, tail = options["nudge_at"], options["tail_consecutive"]
    if nudge_at > 0:
        nudging = [h for h in hits if h[2] >= nudge_at or (h[0] == TAIL and h[2] >= tail)]
        if nudging:
            return "nudge", max(nudging, key=lambda h: h[2])
    blocked = _blocking(_hits(earlier()), options)
    if blocked:
        return "cleared", max(blocked, key=lambda h: h[2])
    return None


def apply(request: Request, options: Mapping[str, Any], ctx: RuleContext) -> RuleResult | None:
    current, before = _segments(request, options["window"])
    sigs = _signatures(current)
    decision = _decide(sigs, lambda: _signatures(before), options)
    if decision is None:
        return None
    kind, (trigger, sig, count) = decision
    if kind == "block":
        reason = f"Tool call '{sig[0]}' repeated {count}× since the last user message"
        details = _details(trigger, sig, count, len(sigs), options)
        return RuleResult(verdict(options["action"], ID, PHASE, reason, details))
    if kind == "nudge":
        outcome = "blocked" if options["action"] == "block" else "reported"
        note = NUDGE_NOTE.format(name=sig[0], count=count, outcome=outcome)
        verb = "blocks" if options["action"] == "block" else "warns"
        reason = (
            f"Tool call '{sig[0]}' repeated {count}× — nudged ({verb} at {options['max_repeats']})"
        )
        details = _details(trigger, sig, count, len(sigs), options)
        details.update(soft_unblock=True, nudge=True, note=note)
    else:
        note = CLEARED_NOTE.format(name=sig[0], count=count)
        reason = f"loop on '{sig[0]}' ({count}×) cleared by user intervention — note injected"
        details = _details(trigger, sig, count, len(before), options)
        details.update(soft_unblock=True, cleared=True, note=note)
    result = verdict(WARN, ID, PHASE, reason, details)
    return RuleResult(result, request=with_system_note(request, note))


# -- the prefilter ---------------------------------------------------------------------------
#
# On an agent's turn this rule nearly always lets the request pass, and finding that out took
# parsing the whole request and walking its history: 0.1 ms in a loop for a 150 KB Claude Code
# turn, 2-3 times that on the proxy's event loop. The prefilter reads the body with the same
# `BodyLoader` the parser uses, whose list elements are the very objects it returned for the
# turn before, and remembers for each element it has looked at where it sits and the calls
# since the last user message up to it and before that message (`_Seen`). A turn then
# costs parsing its new messages (with the dialect's own parser); the request is parsed whole
# only when `_decide` would act on those calls.


class _Seen(NamedTuple):
    index: int  # where the element sits in the list
    calls: tuple[Signature, ...]  # the last KEEP calls since the last user message up to here
    before: tuple[Signature, ...]  # and the last KEEP before it, since the user message before


KEEP = 64  # calls kept per element: a window wider than this is read from the parsed request

# By element identity. An element shared with an earlier body sits at the same index after the
# same elements (the loader reuses only leading elements), so what was seen for it holds. Only
# the newest elements of a conversation are looked up, so this holds the last turns of a few
# conversations (and keeps their elements alive, as the loader's own cache does).
_SEEN = IdentityMemo(size=256)
# Each dialect's list of messages and parser of one: the parsed request's messages are these,
# one for each element, but for OpenAI's and Ollama's leading system messages, which go to the
# system prompt (parsed here as messages, they hold neither a user message nor a call), and
# OpenAI Responses' assistant-side items, which are merged into the assistant message before
# them (the calls come in the same order, and no assistant message is the user's).
_PARSERS: dict[str, tuple[str, Callable[[Any], Message]]] = {
    "anthropic": ("messages", anthropic.parse_message),
    "openai_chat": ("messages", openai_chat.parse_message),
    "ollama": ("messages", ollama.parse_element),
    "openai_responses": ("input", openai_responses.parse_item),
    "gemini": ("contents", gemini.parse_content),
}


def _recent_signatures(
    raw: bytes, dialect: str | None, window: int
) -> tuple[list[Signature], list[Signature]] | None:
    """The signatures `apply` would count, current and earlier, read from the body's elements;
    None when that cannot be told without parsing the request (a small body, a window wider
    than KEEP, a message its parser fails on)."""
    known_dialect = _PARSERS.get(dialect or "")
    loader = wire.LOADER
    if known_dialect is None or window > KEEP:
        return None
    if not loader.min_bytes <= len(raw) <= loader.max_bytes:
        return None
    key, parse = known_dialect
    document = loader.load(raw)
    messages = document.get(key) if document is not None else None
    if not isinstance(messages, list) or not messages:
        return None
    seen = _Seen(-1, (), ())  # before the first element
    for known in range(len(messages) - 1, -1, -1):  # the newest element already seen
        remembered = _SEEN.peek(messages[known])
        if remembered is not None and remembered.index == known:
            seen = remembered
            break
    for i in range(seen.index + 1, len(messages)):
        try:
            message = parse(messages[i])
        except Exception:  # noqa: BLE001 - as wire.parse_request does: then it cannot tell
            return None
        if is_user_turn(message):
            seen = _Seen(i, (), seen.calls)
        elif message.role == "assistant":
            sigs = tuple(_signature(b) for b in message.blocks if b.type == TOOL_CALL)
            seen = _Seen(i, (seen.calls + sigs)[-KEEP:], seen.before)
        else:
            seen = _Seen(i, seen.calls, seen.before)
        _SEEN.put(messages[i], seen)
    return list(seen.calls[-window:]), list(seen.before[-window:])


def prefilter(raw: bytes, options: Mapping[str, Any], dialect: str | None) -> bool:
    """False when the rule cannot act: fewer calls in the body than its lowest threshold, or
    (an agent's turn) the calls it would count reach none of its triggers."""
    nudge = options["nudge_at"] or options["max_repeats"]
    least = min(options["max_repeats"], options["tail_consecutive"], nudge)
    if not has_tool_calls(raw, least, dialect):
        return False
    recent = _recent_signatures(raw, dialect, options["window"])
    if recent is None:
        return True
    current, before = recent
    return _decide(current, lambda: before, options) is not None


RULE = RuleSpec(ID, PHASE, OPTIONS_SCHEMA, apply, __doc__ or "", prefilter)
