"""The rule engine in the proxy: check and rewrite requests, repair responses, keep the rules.

Requests are parsed in the event loop only when a rule is enabled; with every rule off this
addon costs one dictionary lookup per request. Pre-flight rules may block (an error in the
client's own dialect), warn or rewrite (the request is rendered back into its dialect). When a
post-flight rule is enabled and the request offers tools, the response is held whole, checked,
and replaced by a repaired or corrective one in the client's dialect (streamed if the client
streamed). The rules document lives in the database with its version history and is read and
replaced through `/__proxy/api/rules`; a new document applies to the next request.

Failure policy: a rule that raises counts as allow (the engine catches and counts it); anything
else here that fails lets the exchange through untouched and is logged and counted. A request
is blocked only where a rule the user enabled says block.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable
from concurrent.futures import Future
from ipaddress import ip_address
from typing import Any

from mitmproxy import http
from mitmproxy.proxy.mode_specs import ReverseMode

from addons import clients, wire
from addons.capture import (
    BRIDGE,
    CLIENT_BODY,
    HOLD,
    STATE,
    THREAD,
    UPSTREAM_BODY,
    VERDICT,
    VERDICTS,
    Bridge,
    FlowState,
)
from addons.pipeline import decode
from addons.routing import Route, point_at
from addons.store.schema import now_iso
from addons.wire import errors, render, translate
from addons.wire.common import encode_json
from addons.wire.model import Request, Response
from rules.base import ALLOW, BLOCK, HistoryItem, RuleContext
from rules.engine import Engine, InvalidConfig, Outcome
from rules.protocol_bridge import is_claude
from rules.registry import schema as rules_schema

log = logging.getLogger(__name__)

RULES_PATH = "/__proxy/api/rules"

SETTINGS_KEY = "rules"
HISTORY_KEY = "rules_history"
KEEP_VERSIONS = 20
TOOLS_PER_CONVERSATION = 200


class ConversationTools:
    """What tool_pruner needs to know of earlier turns: tools offered and called, per
    conversation, kept in memory (bounded) and fed from finished exchanges."""

    def __init__(self, max_conversations: int = 5000) -> None:
        self.max = max_conversations
        self.items: OrderedDict[str, deque[HistoryItem]] = OrderedDict()

    def prior_requests(self, conversation_id: str) -> list[HistoryItem]:
        return list(self.items.get(conversation_id, ()))

    def note(self, row: dict[str, Any]) -> None:
        cid = row.get("conversation_id")
        if not cid or row.get("state") != "complete":
            return
        offered = list(row.get("tools_offered") or ())
        called = [c["name"] for c in row.get("tool_calls") or ()]
        items = self.items.setdefault(cid, deque(maxlen=TOOLS_PER_CONVERSATION))
        self.items.move_to_end(cid)
        items.append(HistoryItem(offered, called))
        while len(self.items) > self.max:
            self.items.popitem(last=False)


class Gate:
    def __init__(self, suite) -> None:
        self.suite = suite
        self.tools = ConversationTools()
        self.errors = 0
        self.install({"version": 0, "document": {}, "at": None, "by": "defaults"}, [], "defaults")

    # -- the rules document --------------------------------------------------------------

    def running(self) -> None:
        try:
            stored = self.suite.worker.call_sync("load_rules")
        except Exception as e:  # noqa: BLE001 - no database: run on the file or defaults
            log.warning("could not read the stored rules (%s); using the rules file", e)
            stored = None
        if stored is not None:
            self.install(stored["current"], stored["history"], "db")
            return
        path = self.suite.config.rules_file
        if path is not None and path.exists():
            try:
                document = json.loads(path.read_text())
                Engine(document)
            except (ValueError, InvalidConfig) as e:
                log.error("rules file %s is invalid, using defaults: %s", path, e)
                return
            self.save(document, f"import:{path}", "file")

    def install(self, entry: dict[str, Any], history: list[dict[str, Any]], source: str) -> None:
        self.engine = Engine(entry["document"])
        self.active = any(self.engine.enabled(r.id) for r in self.engine.rules)  # else: no parse
        worker = getattr(self.suite, "worker", None)
        if self.engine.enabled("tool_pruner") and worker is not None:
            worker.on_summary(self.tools.note)  # it needs the tools of earlier turns
        self.current, self.versions, self.source = entry, history, source

    def save(self, document: dict[str, Any], by: str, source: str) -> Future:
        """Make `document` the running rules (it must be valid) and store it as a new version;
        the future resolves once the database has it."""
        entry = {
            "version": self.current["version"] + 1,
            "document": document,
            "at": now_iso(),
            "by": by,
        }
        history = ([self.current] if self.current["version"] else []) + self.versions
        self.install(entry, history[: KEEP_VERSIONS - 1], source)
        return self.suite.worker.call("store_rules", entry, self.versions)

    # -- hooks ---------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """The rules on an LLM request; a coroutine only for `/__proxy/api/rules*`."""
        if flow.response is not None:
            return None
        if flow.request.path.startswith(RULES_PATH) and isinstance(
            flow.client_conn.proxy_mode, ReverseMode
        ):
            return self.answer(flow)
        state: FlowState | None = flow.metadata.get(STATE)
        if not self.active or state is None or state.dialect is None or state.request_tap:
            return None
        started = time.perf_counter()
        try:
            self.check(flow, state)
        except Exception:  # noqa: BLE001 - fails open
            self.errors += 1
            log.exception("rules could not run on flow %s; forwarded untouched", flow.id)
        state.overhead += time.perf_counter() - started
        return None

    async def answer(self, flow: http.HTTPFlow) -> None:
        flow.response = await self.api(flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if HOLD in flow.metadata and flow.response is not None:
            flow.response.stream = False  # buffer it: post-flight rules need the whole response

    def response(self, flow: http.HTTPFlow) -> None:
        held = flow.metadata.pop(HOLD, None)
        state: FlowState | None = flow.metadata.get(STATE)
        if held is None or state is None or flow.response is None:
            return
        started = time.perf_counter()
        try:
            self.postflight(flow, state, *held)
        except Exception:  # noqa: BLE001 - fails open: the client gets what the upstream said
            self.errors += 1
            log.exception("post-flight rules failed on flow %s; response passed through", flow.id)
        state.overhead += time.perf_counter() - started

    # -- pre-flight ------------------------------------------------------------------------

    def check(self, flow: http.HTTPFlow, state: FlowState) -> None:
        headers = flow.request.headers
        raw = decode(flow.request.raw_content or b"", headers.fields)
        candidates = self.engine.candidates(raw, state.dialect)
        if not candidates:
            return  # no enabled rule can act on this body: it is not even parsed here
        request = wire.parse_request(state.dialect, raw, flow.request.path)
        if request is None:
            return
        thread = None
        if self.engine.enabled("tool_pruner"):  # the only rule that needs the conversation
            thread = self.suite.assign_thread(headers, request)
            flow.metadata[THREAD] = thread
        peer = flow.client_conn.peername[0] if flow.client_conn.peername else ""
        lowered = clients.lowered(headers)
        app = None
        if self.engine.asks_client_app:
            app = clients.identify_client(
                lowered, request.system_parts, [t.name for t in request.tools]
            )
        ctx = RuleContext(
            client_ip=clients.client_ip(lowered, peer),
            client_app=app,
            path=flow.request.path,
            upstream=state.route.upstream,
            dialect=state.dialect,
            conversation_id=thread.conversation_id if thread else None,
            history=self.tools,
        )
        outcome = self.engine.preflight(request, ctx, only=candidates)
        self.note(flow, outcome)
        if outcome.verdict == BLOCK:
            flow.response = block_response(state.dialect, request.stream, outcome)
            return
        bridged = next((v for v in outcome.verdicts if v.rule_id == "protocol_bridge"), None)
        if bridged is not None:
            self.bridge(flow, state, outcome.request, bridged.details)
            return
        if outcome.context.upstream != ctx.upstream:
            self.reroute(flow, state, outcome.context.upstream)
        if outcome.request is not request:
            self.rewrite(flow, state.dialect, request, outcome.request)
        if self.engine.needs_whole_stream(outcome.request):
            flow.metadata[HOLD] = (outcome.request, outcome.context)

    def note(self, flow: http.HTTPFlow, outcome: Outcome) -> None:
        if not outcome.verdicts and not outcome.failures and outcome.verdict == ALLOW:
            return  # nothing to add: no verdicts and an allow are what capture assumes
        verdicts = flow.metadata.setdefault(VERDICTS, [])
        verdicts.extend(v.to_dict() for v in outcome.verdicts)
        verdicts.extend(
            {
                "verdict": "warn",
                "rule_id": f.rule_id,
                "reason": f"rule failed: {f.error}",
                "details": {"failed": True},
                "phase": "error",
            }
            for f in outcome.failures
        )
        order = ("allow", "warn", "rewrite", "intercept", "block")
        previous = flow.metadata.get(VERDICT, "allow")
        flow.metadata[VERDICT] = max(previous, outcome.verdict, key=order.index)

    def reroute(self, flow: http.HTTPFlow, state: FlowState, name: str | None) -> None:
        upstream = self.suite.config.upstreams.get(name or "")
        if upstream is None or state.route.listener != "reverse":
            log.warning("rule asked for unknown upstream %r; kept %s", name, state.route.upstream)
            return
        prefix = self.suite.config.upstreams[state.route.upstream].prefix
        if prefix and flow.request.path.startswith(prefix):
            flow.request.path = flow.request.path[len(prefix) :]
        point_at(flow.request, upstream)
        state.route = Route(state.route.listener, upstream.name, upstream.url)

    def rewrite(
        self, flow: http.HTTPFlow, dialect: str, original: Request, request: Request
    ) -> None:
        """Send the rewritten request: only its model patched in when that is all that changed
        (every other byte as the client sent it), else rendered whole in the client's dialect."""
        path = flow.request.path
        only_model = (
            request.system is original.system
            and request.messages is original.messages
            and request.tools is original.tools
            and request.params == original.params
            and request.extra == original.extra
        )
        body = None
        if not only_model and "count_tokens" not in path:
            body = render.render_request(dialect, request, path=path.partition("?")[0])
        if body is None:
            body = patch_model(flow.request.raw_content, request.model)
        if body is None:
            log.warning("cannot render a rewritten %s request; forwarded as sent", dialect)
            return
        flow.metadata.setdefault(CLIENT_BODY, flow.request.raw_content)
        flow.request.content = encode_json(body)

    def bridge(
        self, flow: http.HTTPFlow, state: FlowState, request: Request, details: dict[str, Any]
    ) -> None:
        """Send the request to an upstream that speaks the other dialect (protocol_bridge)."""
        upstream = self.suite.config.upstreams.get(details["upstream"])
        if upstream is None:
            message = f"protocol_bridge: no upstream {details['upstream']!r} in mitm.toml"
            flow.response = http.Response.make(
                502, errors.error_body(state.dialect, 502, message), JSON_HEADERS
            )
            return
        if details["path"] is None:  # count_tokens for a model the Anthropic API does not serve
            count = translate.count_tokens(request)
            flow.response = json_response(200, {"input_tokens": count})
            return
        headers = flow.request.headers
        if details["direction"] == "anthropic_to_openai":
            body, dropped = translate.anthropic_request_to_openai(request)
            for name in ANTHROPIC_HEADERS:
                headers.pop(name, None)
            key = os.environ.get(f"{upstream.name.upper()}_API_KEY")
            if key:
                headers["authorization"] = f"Bearer {key}"
            bridge = Bridge(
                details["direction"],
                "anthropic",
                "openai_chat",
                request.model,
                input_tokens=translate.count_tokens(request),
            )
        else:
            body, dropped = translate.openai_request_to_anthropic(request)
            bearer = headers.pop("authorization", "").removeprefix("Bearer ").strip()
            headers["x-api-key"] = os.environ.get("ANTHROPIC_API_KEY") or bearer
            headers.setdefault("anthropic-version", "2023-06-01")
            options = request.params.get("stream_options") or request.extra.get("stream_options")
            bridge = Bridge(
                details["direction"],
                "openai_chat",
                "anthropic",
                request.model,
                include_usage=isinstance(options, dict) and options.get("include_usage") is True,
            )
        details["dropped"] = dropped
        flow.metadata.setdefault(CLIENT_BODY, flow.request.raw_content)
        headers.pop("content-encoding", None)
        flow.request.content = encode_json(body)
        flow.request.path = details["path"]
        point_at(flow.request, upstream)
        state.route = Route(state.route.listener, upstream.name, upstream.url)
        flow.metadata[BRIDGE] = bridge

    # -- post-flight -----------------------------------------------------------------------

    def postflight(
        self, flow: http.HTTPFlow, state: FlowState, request: Request, ctx: RuleContext
    ) -> None:
        response = flow.response
        assert response is not None
        body = response.content or b""
        streamed = wire.is_stream_response(response.headers.get("content-type"))
        parsed: Response | None = (
            wire.parse_stream(state.dialect, body)
            if streamed
            else wire.parse_response(state.dialect, body)
        )
        if parsed is None or response.status_code >= 400:
            return
        outcome = self.engine.postflight(request, parsed, ctx)
        self.note(flow, outcome)
        if outcome.response is None or outcome.response is parsed:
            return
        replaced = (
            render.render_stream(state.dialect, outcome.response)
            if streamed
            else render_json(state.dialect, outcome.response)
        )
        if replaced is None:
            log.warning(
                "cannot render a %s response; the client gets the upstream's", state.dialect
            )
            return
        flow.metadata[UPSTREAM_BODY] = body  # decoded: the encoding header goes below
        response.headers.pop("content-encoding", None)
        response.content = replaced
        response.headers["x-proxy-verdict"] = outcome.verdict

    # -- /__proxy/api/rules ---------------------------------------------------------------

    async def api(self, flow: http.HTTPFlow) -> http.Response:
        path = flow.request.path.partition("?")[0].rstrip("/")
        method = flow.request.method
        peer = flow.client_conn.peername[0] if flow.client_conn.peername else ""
        if not is_loopback(peer) and not self.token_ok(flow):
            return json_response(
                403, {"error": "the rules API needs the UI token off this machine"}
            )
        if method == "GET" and path == RULES_PATH:
            return json_response(200, self.describe())
        if method == "GET" and path == f"{RULES_PATH}/history":
            versions = [self.current, *self.versions] if self.current["version"] else []
            return json_response(200, {"versions": versions})
        if method == "GET" and path == f"{RULES_PATH}/schema":
            return json_response(200, rules_schema())
        if method == "GET" and path == f"{RULES_PATH}/mode":
            return json_response(200, routing_mode(self.engine.config))
        if method != "POST" or path not in (
            RULES_PATH,
            f"{RULES_PATH}/restore",
            f"{RULES_PATH}/mode",
        ):
            return json_response(404, {"error": f"not found: {method} {path}"})
        if not is_loopback(peer):
            return json_response(403, {"error": "rules can only be changed from this machine"})
        content_type = flow.request.headers.get("content-type", "")
        if not content_type.lower().startswith("application/json"):
            # A web page cannot send this cross-site without a CORS preflight, which we refuse.
            return json_response(415, {"error": "send the rules as application/json"})
        try:
            body = json.loads(flow.request.content or b"")
        except ValueError as e:
            return json_response(400, {"error": f"invalid JSON body: {e}"})
        if path.endswith("/mode"):
            try:
                body, by = with_mode(self.current["document"], body), f"mode:{peer}"
            except ValueError as e:
                return json_response(400, {"error": str(e)})
        elif path.endswith("/restore"):
            version = body.get("version") if isinstance(body, dict) else None
            found = [v for v in self.versions if v["version"] == version]
            if not found:
                return json_response(404, {"error": f"no stored version {version!r}"})
            body, by = found[0]["document"], f"restore:{version}"
        else:
            by = flow.request.headers.get("x-proxy-user") or f"api:{peer}"
        try:
            Engine(body)
        except InvalidConfig as e:
            problems = [{"path": err.path, "message": err.message} for err in e.errors]
            return json_response(400, {"error": "invalid rules document", "errors": problems})
        stored = self.save(body, by, "db")
        try:
            await asyncio.wait_for(asyncio.wrap_future(stored), timeout=10)
        except Exception as e:  # noqa: BLE001 - running, but not stored: say so
            return json_response(
                200, {"ok": True, "stored": False, "warning": f"not stored: {e}", **self.describe()}
            )
        return json_response(200, {"ok": True, "stored": True, **self.describe()})

    def token_ok(self, flow: http.HTTPFlow) -> bool:
        """A non-loopback reader of the rules must bring the UI's token (`[ui] token` or
        LLM_INSPECTOR_UI_TOKEN) as a bearer token."""
        ui = self.suite.config.extra.get("ui") if self.suite.config else None
        token = os.environ.get("LLM_INSPECTOR_UI_TOKEN") or (ui or {}).get("token") or ""
        given = flow.request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return bool(token) and hmac.compare_digest(given, token)

    def describe(self) -> dict[str, Any]:
        path = self.suite.config.rules_file
        return {
            "version": self.current["version"],
            "updated_at": self.current["at"],
            "updated_by": self.current["by"],
            "source": self.source,
            "document": self.current["document"],
            "effective": self.engine.config,
            "active": self.active,
            "mode": routing_mode(self.engine.config),
            "rules_file": str(path) if path else None,
        }

    def health(self) -> dict[str, Any]:
        phases = self.engine.stats.summary()
        return {
            "version": self.current["version"],
            "active": self.active,
            "addon_errors": self.errors,
            **phases,
        }


JSON_HEADERS = {"content-type": "application/json"}
# What an OpenAI-compatible server must not receive from an Anthropic client.
ANTHROPIC_HEADERS = (
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "anthropic-dangerous-direct-browser-access",
)


def routing_mode(config: dict[str, Any]) -> dict[str, Any]:
    """Passthrough, or redirect (Anthropic clients bridged to a local model), as the effective
    rules configure it: redirect when protocol_bridge is on and model_router sends a Claude
    model to a non-Claude one."""
    bridge, router = config["protocol_bridge"], config["model_router"]
    prefixes = bridge["claude_prefixes"]
    targets = []
    if bridge["enabled"] and router["enabled"]:
        for source, target in router["aliases"].items():
            if is_claude(source, prefixes) and not is_claude(target, prefixes):
                targets.append({"from_model": source, "to": target})
        for rule in router["rules"]:
            condition, target = rule.get("if", {}), rule.get("then")
            froms = condition.get("from_model_prefix") or condition.get("from_model")
            froms = [froms] if isinstance(froms, str) else list(froms or [])
            if (
                target
                and not is_claude(target, prefixes)
                and any(is_claude(f, prefixes) for f in froms)
            ):
                targets.append({"from": froms, "to": target})
    return {
        "mode": "redirect" if targets else "passthrough",
        "routes": targets,
        "upstream": bridge["upstream"],
    }


def with_mode(document: dict[str, Any], body: Any) -> dict[str, Any]:
    """The rules document switched to a mode: `{"mode": "passthrough"}` or `{"mode":
    "redirect", "to": MODEL, "from_model_prefix": "claude-" (default), "upstream": LABEL}`."""
    if not isinstance(body, dict) or body.get("mode") not in ("passthrough", "redirect"):
        raise ValueError('mode must be "passthrough" or "redirect"')
    doc = json.loads(json.dumps(document))  # a copy
    router = doc.setdefault("model_router", {})
    if body["mode"] == "passthrough":
        router["enabled"] = False
        return doc
    target = body.get("to")
    if not isinstance(target, str) or not target:
        raise ValueError('redirect needs "to": the local model to use')
    prefix = body.get("from_model_prefix", "claude-")
    router["enabled"] = True
    router["rules"] = [{"if": {"from_model_prefix": prefix}, "then": target}] + [
        r for r in router.get("rules", []) if r.get("if", {}).get("from_model_prefix") != prefix
    ]
    bridge = doc.setdefault("protocol_bridge", {})
    bridge["enabled"] = True
    if body.get("upstream"):
        bridge["upstream"] = body["upstream"]
    return doc


def block_response(dialect: str, stream: bool, outcome: Outcome) -> http.Response:
    gate = outcome.gate
    status = outcome.status or 400
    message = f"Request blocked by rule '{gate.rule_id}': {gate.reason}"
    reason = " ".join(gate.reason.split())[:200].encode("latin-1", "replace").decode("latin-1")
    headers = {"x-proxy-block": gate.rule_id, "x-proxy-reason": reason}
    if stream:
        kind = "application/x-ndjson" if errors.family(dialect) == "ollama" else "text/event-stream"
        body = errors.stream_error_event(dialect, status, message, code=gate.rule_id)
        return http.Response.make(status, body, {"content-type": kind, **headers})
    body = errors.error_body(dialect, status, message, code=gate.rule_id)
    return http.Response.make(status, body, {"content-type": "application/json", **headers})


def render_json(dialect: str, response: Response) -> bytes | None:
    body = render.render_response(dialect, response)
    return None if body is None else encode_json(body)


def patch_model(raw: bytes | None, model: str | None) -> dict[str, Any] | None:
    """For dialects with no renderer: a rewrite that only changed the model."""
    try:
        body = json.loads(raw or b"")
    except ValueError:
        return None
    if not isinstance(body, dict) or "model" not in body or model is None:
        return None
    return {**body, "model": model}


def is_loopback(ip: str) -> bool:
    try:
        return ip_address(ip.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False


def json_response(status: int, doc: Any) -> http.Response:
    return http.Response.make(
        status, json.dumps(doc, indent=2).encode(), {"content-type": "application/json"}
    )


# -- storage (runs on the recorder's writer thread) -------------------------------------------


def load_rules(db) -> dict[str, Any] | None:
    try:
        rows = {
            r["key"]: r["value"]
            for r in db.query(
                "select key, value from settings where key in (?, ?)", [SETTINGS_KEY, HISTORY_KEY]
            )
        }
    except sqlite3.OperationalError:
        return None
    if SETTINGS_KEY not in rows:
        return None
    return {
        "current": json.loads(rows[SETTINGS_KEY]),
        "history": json.loads(rows.get(HISTORY_KEY) or "[]"),
    }


def store_rules(db, entry: dict[str, Any], history: list[dict[str, Any]]) -> None:
    at = now_iso()
    with db.conn:
        db.execute(
            "insert into settings (key, value, updated_at) values (?, ?, ?), (?, ?, ?) "
            "on conflict(key) do update set value = excluded.value, "
            "updated_at = excluded.updated_at",
            [SETTINGS_KEY, json.dumps(entry), at, HISTORY_KEY, json.dumps(history), at],
        )
