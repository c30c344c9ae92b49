"""Who may see what: content is shown to a viewer only from clients on the viewer's own subnet.

A viewer sees a row's content when redaction is off, when the viewer is on loopback (the machine
the proxy runs on), when the viewer is the row's client, or when both are in the same /24 (IPv4)
or /64 (IPv6) by default. IPv4 and IPv6 addresses never match each other. Anything else is
replaced by `REDACTED` and the item says `"redacted": true`; metadata (times, models, tokens,
status, IPs) stays visible. A conversation is visible if any of its clients is.
"""

from __future__ import annotations

import functools
import ipaddress
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REDACTED = "[redacted: viewer not on the client's subnet]"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Content fields of a requests-list item and of a request detail.
ROW_CONTENT = ("prompt_preview", "response_text_preview")
DETAIL_CONTENT = (
    "request_headers",
    "response_headers",
    "request_body",
    "upstream_request_body",
    "response_body",
    "stream_events",
)


@dataclass(frozen=True, slots=True)
class Policy:
    enabled: bool = True
    ipv4_prefix: int = 24
    ipv6_prefix: int = 64


@functools.lru_cache(maxsize=4096)
def parse_ip(text: str | None) -> IPAddress | None:
    """An address from `1.2.3.4`, `::1`, `[::1]`, `fe80::1%eth0` or `::ffff:1.2.3.4`, else None."""
    if not text:
        return None
    text = text.strip().strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback(text: str | None) -> bool:
    address = parse_ip(text)
    return address is not None and address.is_loopback


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person looking at the UI, by IP address, under a redaction policy."""

    ip: str
    policy: Policy = Policy()

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.ip)

    @property
    def sees_everything(self) -> bool:
        return not self.policy.enabled or self.is_loopback

    def can_see(self, client_ip: str | None) -> bool:
        if self.sees_everything:
            return True
        mine, theirs = parse_ip(self.ip), parse_ip(client_ip)
        if mine is None or theirs is None or mine.version != theirs.version:
            return False
        if mine == theirs:
            return True
        prefix = self.policy.ipv4_prefix if mine.version == 4 else self.policy.ipv6_prefix
        network = ipaddress.ip_network(f"{mine}/{prefix}", strict=False)
        return theirs in network

    def can_see_any(self, client_ips: Iterable[str | None]) -> bool:
        return self.sees_everything or any(self.can_see(ip) for ip in client_ips)


def redact_tool_calls(calls: Any) -> Any:
    if not isinstance(calls, list):
        return calls
    return [
        {**call, "arguments": REDACTED} if isinstance(call, dict) else REDACTED for call in calls
    ]


def redact_item(item: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """A requests-list item or request detail as `viewer` may see it (the dict is updated)."""
    visible = viewer.can_see(item.get("client_ip"))
    item["redacted"] = not visible
    if visible:
        return item
    for name in (*ROW_CONTENT, *DETAIL_CONTENT):
        if name in item and item[name] is not None:
            item[name] = REDACTED
    if "tool_calls" in item:
        item["tool_calls"] = redact_tool_calls(item["tool_calls"])
    for verdict in item.get("verdicts") or ():
        redact_verdict(verdict)
    return item


def redact_verdict(verdict: dict[str, Any]) -> None:
    for name in ("reason", "details"):
        if verdict.get(name) is not None:
            verdict[name] = REDACTED


def redact_message(message: dict[str, Any]) -> dict[str, Any]:
    """A timeline message with its roles, block types and tool names kept, its content not."""
    blocks = []
    for block in message.get("blocks", ()):
        block = dict(block)
        if block.get("text"):
            block["text"] = REDACTED
        if block.get("arguments") is not None:
            block["arguments"] = REDACTED
        block.pop("truncated", None)
        blocks.append(block)
    return {**message, "blocks": blocks}


def redact_turn(turn: dict[str, Any]) -> dict[str, Any]:
    turn["new_messages"] = [redact_message(m) for m in turn.get("new_messages") or ()]
    response = turn.get("response")
    if isinstance(response, dict):
        if response.get("text") is not None:
            response["text"] = REDACTED
        response["tool_calls"] = redact_tool_calls(response.get("tool_calls"))
    return turn


def redact_conversation(summary: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
    """A conversation summary (and its turns, if any) as `viewer` may see it."""
    visible = viewer.can_see_any(summary.get("client_ips") or ())
    summary["redacted"] = not visible
    if visible:
        return summary
    if summary.get("preview") is not None:
        summary["preview"] = REDACTED
    if isinstance(summary.get("turns"), list):
        summary["turns"] = [redact_turn(turn) for turn in summary["turns"]]
    return summary


SQL_FUNCTION = "inspector_can_see"


def register_sql_function(conn: sqlite3.Connection) -> None:
    """`inspector_can_see(viewer_ip, ipv4_prefix, ipv6_prefix, client_ip)`: 1 if a viewer with
    redaction on may see a client's content. Deterministic in its arguments, so one connection
    serves every viewer; searches use it so that a match never reveals hidden content."""

    def can_see(viewer_ip: str, v4: int, v6: int, client_ip: str | None) -> int:
        return int(Viewer(viewer_ip, Policy(True, int(v4), int(v6))).can_see(client_ip))

    conn.create_function(SQL_FUNCTION, 4, can_see, deterministic=True)


def sql_visibility(viewer: Viewer | None, column: str, params: dict[str, Any]) -> list[str]:
    """WHERE terms keeping only rows whose content `viewer` may see (none if it sees all)."""
    if viewer is None or viewer.sees_everything:
        return []
    params.update(
        viewer_ip=viewer.ip,
        viewer_v4=viewer.policy.ipv4_prefix,
        viewer_v6=viewer.policy.ipv6_prefix,
    )
    return [f"{SQL_FUNCTION}(:viewer_ip, :viewer_v4, :viewer_v6, {column})"]
