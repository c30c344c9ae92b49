// Request detail: the exchange as a chat, its response, stream events, headers and verdicts.
import { renderChat, renderTools } from "./chat.js";
import { parseRequest, parseResponse, parseStream } from "./dialects.js";
import {
  ApiError, api, app, appBadge, bytes, card, clear, clock, collapsible, errorBox, h,
  isRedacted, ms, num, pageUrl, poll, prettyBlock, redactedChip, section, setTitle, statusBadge,
  verdictBadge,
} from "./util.js";

const RECENT_MESSAGES = 24;
const MAX_EVENTS = 3000;

const id = app().dataset.id;
let data = null;
const nodes = new Map(); // section key -> {sig, el}

function shortId(value) {
  return value && value.length > 14 ? value.slice(0, 8) + "…" : value || "";
}

function dl(pairs) {
  return h("dl", { class: "ins-dl" }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== "").map(([k, v]) =>
    [h("dt", {}, k), h("dd", {}, v)]));
}

// -- sections -------------------------------------------------------------------------------------

function header(d) {
  return h("div", { class: "ins-title-row" },
    h("h1", {}, "Request ", h("code", { class: "ins-id", title: d.id }, shortId(d.id))),
    statusBadge(d),
    d.state === "pending" ? h("span", { class: "ins-live" }, h("span", { class: "ins-live-dot" }), "streaming") : null,
    h("span", { class: "ins-spacer" }),
    h("a", { href: pageUrl(""), class: "ins-back" }, "← All requests"));
}

function summary(d) {
  const conv = d.conversation || (d.conversation_id ? { id: d.conversation_id } : null);
  const convLink = conv?.id
    ? h("span", {}, h("a", { href: conv.url || pageUrl("conversations/" + encodeURIComponent(conv.id)) }, shortId(conv.id)),
      d.turn_index !== null && d.turn_index !== undefined ? ` · turn ${d.turn_index}${conv.turns ? ` of ${conv.turns}` : ""}` : "")
    : null;
  const model = d.served_model && d.requested_model && d.served_model !== d.requested_model
    ? h("span", {}, d.requested_model, h("span", { class: "ins-muted" }, " → served "), d.served_model)
    : d.served_model || d.requested_model;
  return h("div", { class: "ins-summary" },
    dl([
      ["Started", h("span", { title: d.started_at }, clock(d.started_at))],
      ["Ended", d.ended_at ? h("span", { title: d.ended_at }, clock(d.ended_at)) : null],
      ["Request", h("span", {}, h("span", { class: "ins-method" }, d.method || ""), " ", h("code", {}, d.path || ""))],
      ["Upstream", d.upstream],
      ["Dialect", d.dialect],
      ["Model", model],
      ["Stop reason", d.stop_reason],
    ]),
    dl([
      ["Client app", appBadge(d.client_app)],
      ["Client IP", d.client_ip],
      ["Listener", d.listener],
      ["Session", d.session_id ? h("code", { title: d.session_id }, shortId(d.session_id)) : null],
      ["Conversation", convLink],
      ["Parent", d.parent_conversation_id ? h("a", { href: pageUrl("conversations/" + encodeURIComponent(d.parent_conversation_id)) }, shortId(d.parent_conversation_id)) : null],
      ["Streamed", d.is_stream === null || d.is_stream === undefined ? null : d.is_stream ? "yes" : "no"],
      ["Request size", d.request_body_raw_bytes ? bytes(d.request_body_raw_bytes) : null],
    ]));
}

function cards(d) {
  const est = d.tokens_estimated ? "~" : "";
  return h("div", { class: "ins-cards" },
    card("Input tokens", est + num(d.input_tokens), d.tokens_estimated ? "estimated" : null),
    card("Output tokens", num(d.output_tokens), d.state === "pending" ? "live" : null),
    card("Cache read", num(d.cache_read_tokens)),
    card("Cache write", num(d.cache_write_tokens)),
    card("TTFT", ms(d.ttft_ms), null, "time to first token"),
    card("Latency", d.state === "pending" ? "running" : ms(d.latency_ms)),
    card("Verdict", verdictBadge(d.verdict)));
}

function problems(d) {
  const parts = [];
  if (d.error) parts.push(h("div", { class: "ins-error-box", role: "alert" }, h("strong", {}, "Error: "), d.error));
  const verdicts = d.verdicts || [];
  if (verdicts.length) {
    parts.push(section("Verdicts", h("table", { class: "ins-table" },
      h("thead", {}, h("tr", {}, ["Phase", "Rule", "Verdict", "Reason", "Details", "At"].map((t) => h("th", {}, t)))),
      h("tbody", {}, verdicts.map((v) => h("tr", {},
        h("td", {}, v.phase || ""),
        h("td", {}, h("code", {}, v.rule_id || "")),
        h("td", {}, verdictBadge(v.verdict)),
        h("td", {}, v.reason || ""),
        h("td", {}, v.details ? collapsible("details", () => prettyBlock(v.details)) : ""),
        h("td", { title: v.at || "" }, clock(v.at))))))));
  }
  return h("div", {}, parts);
}

function conversation(d) {
  if (d.request_body === null || d.request_body === undefined) {
    return section("Conversation", d.redacted ? h("p", {}, redactedChip("[redacted: request body]")) : h("p", { class: "ins-muted" }, "No request body was stored."));
  }
  const parsed = parseRequest(d.dialect, d.request_body);
  if (!parsed) return section("Request", prettyBlock(d.request_body));
  if (parsed.redacted) return section("Conversation", h("p", {}, redactedChip(parsed.redacted)));
  const messages = parsed.messages || [];
  const system = messages.filter((m) => m.role === "system");
  const rest = messages.filter((m) => m.role !== "system");
  const body = h("div", {});
  for (const m of system) {
    const chars = m.blocks.reduce((n, b) => n + (b.text ? b.text.length : 0), 0);
    body.append(collapsible(h("span", {}, h("strong", {}, "System prompt"), h("span", { class: "ins-muted" }, ` · ${num(chars)} chars`)),
      () => renderChat([m]), { open: chars < 600, className: "ins-system" }));
  }
  const chatOptions = { expectResults: false };
  if (rest.length > RECENT_MESSAGES) {
    const hidden = rest.length - RECENT_MESSAGES;
    const earlier = h("div", {});
    const button = h("button", {
      type: "button",
      class: "ins-button",
      onclick: () => {
        button.remove();
        earlier.replaceWith(renderChat(rest, chatOptions));
        recent.remove();
      },
    }, `Show ${hidden} earlier messages`);
    earlier.append(button);
    const recent = renderChat(rest.slice(hidden), { ...chatOptions, callNames: callNames(rest) });
    body.append(earlier, recent);
  } else {
    body.append(renderChat(rest, chatOptions));
  }
  const count = rest.length;
  return section(h("span", {}, "Conversation ", h("span", { class: "ins-muted ins-small" }, `${count} message${count === 1 ? "" : "s"}${parsed.model ? ` · ${parsed.model}` : ""}`)), body);
}

function callNames(messages) {
  const names = new Map();
  for (const m of messages) for (const b of m.blocks) if (b.type === "tool_call" && b.id) names.set(b.id, b.name);
  return names;
}

function response(d) {
  let parsed = null;
  if (d.response_body !== null && d.response_body !== undefined) parsed = parseResponse(d.dialect, d.response_body);
  if ((!parsed || !parsed.messages?.length) && Array.isArray(d.stream_events) && d.stream_events.length) {
    parsed = parseStream(d.dialect, d.stream_events) || parsed;
  }
  const parts = [];
  if (parsed?.redacted) {
    parts.push(h("p", {}, redactedChip(parsed.redacted)));
  } else if (parsed && parsed.messages?.some((m) => m.blocks.length)) {
    parts.push(renderChat(parsed.messages));
  } else if (d.response_text_preview) {
    parts.push(isRedacted(d.response_text_preview) ? redactedChip(d.response_text_preview) : h("div", { class: "ins-text" }, d.response_text_preview));
  } else if (d.state === "pending") {
    parts.push(h("p", { class: "ins-muted" }, "Waiting for the response…"));
  } else if (parsed?.error) {
    // An error body: its message is the content; the raw body is under "Raw bodies".
  } else if (d.response_body !== null && d.response_body !== undefined) {
    parts.push(prettyBlock(d.response_body));
  } else {
    parts.push(h("p", { class: "ins-muted" }, d.redacted ? "Hidden for this viewer." : "No response body was stored."));
  }
  if (parsed?.error) {
    parts.push(d.error && d.error.includes(parsed.error)
      ? h("p", { class: "ins-muted" }, "The upstream answered with the error shown above.")
      : h("div", { class: "ins-error-box" }, h("strong", {}, "Upstream error: "), parsed.error));
  }
  const stop = parsed?.stop_reason || d.stop_reason;
  return section(h("span", {}, "Response", stop ? h("span", { class: "ins-muted ins-small" }, ` · stop: ${stop}`) : null), parts);
}

function tools(d) {
  const parsed = d.request_body ? parseRequest(d.dialect, d.request_body) : null;
  const called = new Set((Array.isArray(d.tool_calls) ? d.tool_calls : []).map((c) => c?.name));
  const offered = Array.isArray(d.tools_offered) ? d.tools_offered : [];
  let list = parsed?.tools?.length ? parsed.tools : offered.map((name) => ({ name }));
  list = list.filter((t) => t.name);
  const params = parsed?.params && Object.keys(parsed.params).length ? parsed.params : null;
  if (!list.length && !params) return h("div");
  return h("div", { class: "ins-two" },
    list.length ? section(h("span", {}, "Tools offered ", h("span", { class: "ins-muted ins-small" }, String(list.length))), renderTools(list, called)) : null,
    params ? section("Parameters", prettyBlock(params)) : null);
}

function streamEvents(d) {
  if (isRedacted(d.stream_events)) return section("Stream", h("p", {}, redactedChip(d.stream_events)));
  const events = Array.isArray(d.stream_events) ? d.stream_events : [];
  if (!events.length) return h("div");
  const counts = {};
  for (const e of events) {
    const name = e.event || e.data?.type || "data";
    counts[name] = (counts[name] || 0) + 1;
  }
  const summaryText = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ×${v}`).join(", ");
  return section("Stream",
    collapsible(h("span", {}, `${num(events.length)} events`, h("span", { class: "ins-muted" }, ` · ${summaryText}`)), () => {
      const list = h("ol", { class: "ins-events" });
      for (const [i, e] of events.slice(0, MAX_EVENTS).entries()) {
        const name = e.event || e.data?.type || "data";
        const oneLine = typeof e.data === "string" ? e.data : JSON.stringify(e.data);
        list.append(h("li", {}, collapsible(
          h("span", {}, h("span", { class: "ins-muted" }, `#${i + 1} `), h("code", { class: "ins-event-name" }, name), " ",
            h("span", { class: "ins-event-preview" }, oneLine.length > 140 ? oneLine.slice(0, 140) + "…" : oneLine)),
          () => prettyBlock(e.data))));
      }
      if (events.length > MAX_EVENTS) list.append(h("li", { class: "ins-muted" }, `… ${num(events.length - MAX_EVENTS)} more`));
      return list;
    }, { className: "ins-stream" }));
}

function headersTable(headers) {
  const entries = Object.entries(headers || {});
  if (isRedacted(headers)) return redactedChip(headers);
  if (!entries.length) return h("p", { class: "ins-muted" }, "none");
  return h("table", { class: "ins-table ins-headers" }, h("tbody", {}, entries.map(([k, v]) =>
    h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, isRedacted(v) ? redactedChip(v) : Array.isArray(v) ? v.join("\n") : String(v))))));
}

function headers(d) {
  return section("Headers", h("div", { class: "ins-two" },
    h("div", {}, h("h3", {}, "Request"), headersTable(d.request_headers)),
    h("div", {}, h("h3", {}, "Response"), headersTable(d.response_headers))));
}

function raw(d) {
  return section("Raw bodies",
    collapsible("Request body", () => prettyBlock(d.request_body, { emptyText: "(none stored)" })),
    collapsible("Response body", () => prettyBlock(d.response_body, { emptyText: Array.isArray(d.stream_events) && d.stream_events.length ? "(streamed: see the stream events)" : "(none stored)" })),
    h("p", {}, h("a", { href: pageUrl("api/requests/" + encodeURIComponent(d.id)) }, "This request as JSON")));
}

const SECTIONS = [
  ["header", header, (d) => [d.state, d.status, d.error]],
  ["summary", summary, (d) => [d.ended_at, d.served_model, d.stop_reason, d.conversation, d.turn_index]],
  ["cards", cards, (d) => [d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_write_tokens, d.ttft_ms, d.latency_ms, d.state, d.verdict, d.tokens_estimated]],
  ["problems", problems, (d) => [d.error, d.verdicts]],
  ["conversation", conversation, (d) => [d.request_body_raw_bytes, d.redacted, d.request_body === null]],
  ["response", response, (d) => [d.state, d.response_body, d.stream_events?.length, d.response_text_preview]],
  ["tools", tools, (d) => [d.request_body_raw_bytes, d.tool_calls]],
  ["stream", streamEvents, (d) => [d.stream_events?.length]],
  ["headers", headers, (d) => [d.request_headers, d.response_headers]],
  ["raw", raw, (d) => [d.request_body_raw_bytes, d.response_body === null, d.stream_events?.length]],
];

function render(d) {
  const root = app();
  if (!nodes.size) clear(root);
  for (const [key, build, sigOf] of SECTIONS) {
    const sig = JSON.stringify(sigOf(d));
    const old = nodes.get(key);
    if (old && old.sig === sig) continue;
    let el;
    try {
      el = build(d);
    } catch (e) {
      console.warn(`could not render ${key}`, e);
      el = errorBox(`Could not render this part: ${e.message}`);
    }
    el.dataset.section = key;
    if (old) old.el.replaceWith(el);
    else root.append(el);
    nodes.set(key, { sig, el });
  }
  setTitle(`Request ${shortId(d.id)}`);
  document.body.dataset.loaded = "1";
}

async function load() {
  try {
    data = await api("requests/" + encodeURIComponent(id));
    render(data);
  } catch (e) {
    if (!nodes.size || e instanceof ApiError) {
      clear(app(), h("div", { class: "ins-title-row" }, h("h1", {}, "Request ", h("code", {}, shortId(id)))),
        errorBox(e.status === 404 ? "No request with this id." : `Could not load the request: ${e.message}`),
        h("p", {}, h("a", { href: pageUrl("") }, "← All requests")));
      nodes.clear();
    }
  }
}

await load();
const poller = poll(async () => {
  if (data?.state !== "pending") return poller.stop();
  await load();
}, () => 1000);
