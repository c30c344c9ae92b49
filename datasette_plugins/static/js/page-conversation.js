// One conversation, turn by turn: what each turn added, what came back, how the context grew.
import { barChart, legend } from "./charts.js";
import { renderChat } from "./chat.js";
import { normalizeApiBlocks } from "./dialects.js";
import {
  api, app, appBadge, badge, card, clear, clock, compact, errorBox, h, isRedacted, num,
  pageUrl, poll, redactedChip, setTitle, statusBadge, verdictBadge,
} from "./util.js";

const id = app().dataset.id;
// A turn whose context shrank by this much (tokens and fraction) is shown as a compaction.
const SHRINK_TOKENS = 2000;
const SHRINK_FRACTION = 0.2;
const JUMP_TOKENS = 20000;
const JUMP_FRACTION = 0.5;

let view = null;
const turnNodes = new Map(); // request_id -> {sig, el}
let headSig = "";

function shortId(value) {
  return value && value.length > 14 ? value.slice(0, 8) + "…" : value || "";
}

function contextOf(t) {
  if (t.context_tokens !== null && t.context_tokens !== undefined) return t.context_tokens;
  return (t.input_tokens || 0) + (t.cache_read_tokens || 0) + (t.cache_write_tokens || 0);
}

// "compaction" | "jump" | null, from the change in context against the turn before.
export function contextChange(turn, previous) {
  const delta = turn.context_delta ?? (previous ? contextOf(turn) - contextOf(previous) : null);
  if (delta === null || delta === undefined || !previous) return null;
  const before = contextOf(previous) || 1;
  if (delta <= -SHRINK_TOKENS && -delta / before >= SHRINK_FRACTION) return "compaction";
  if (delta >= JUMP_TOKENS && delta / before >= JUMP_FRACTION) return "jump";
  return null;
}

const prepared = new WeakMap(); // turn -> {response, news}

function parsedResponse(turn) {
  const r = turn.response || {};
  const blocks = [];
  if (isRedacted(r.text)) blocks.push({ type: "redacted", text: r.text });
  else if (r.text) blocks.push({ type: "text", text: r.text });
  for (const c of r.tool_calls || []) {
    if (isRedacted(c)) blocks.push({ type: "redacted", text: c });
    else blocks.push(...normalizeApiBlocks([{ type: "tool_call", id: c.id, name: c.name, arguments: c.arguments }]));
  }
  return { role: "assistant", blocks };
}

function responseMessage(turn) {
  return (prepared.get(turn) || prepare([turn]).get(turn)).response;
}

function newMessages(turn) {
  return (prepared.get(turn) || prepare([turn]).get(turn)).news;
}

const callsOf = (message) => message.blocks.filter((b) => b.type === "tool_call");

// Normalizes every turn once. A response's tool calls may come without ids; the client sends
// them back, with ids, at the start of the next turn: borrow those so results can be paired.
function prepare(turns) {
  turns.forEach((turn) => {
    prepared.set(turn, {
      response: parsedResponse(turn),
      news: (turn.new_messages || []).map((m) => ({ role: m.role || "user", blocks: normalizeApiBlocks(m.blocks) })),
    });
  });
  turns.forEach((turn, i) => {
    const next = turns[i + 1];
    if (!next) return;
    const calls = callsOf(prepared.get(turn).response);
    const echo = prepared.get(next).news.find((m) => m.role === "assistant");
    if (!calls.length || !echo || calls.every((c) => c.id)) return;
    const sent = callsOf(echo);
    if (sent.length === calls.length && sent.every((c, k) => c.name === calls[k].name)) {
      calls.forEach((c, k) => { c.id = c.id || sent[k].id; });
    }
  });
  return prepared;
}

// The client resends the previous reply; when it is the first thing new in a turn, say so briefly.
function isEcho(message, previous) {
  if (!previous || message.role !== "assistant") return false;
  const prior = responseMessage(previous);
  const priorCalls = callsOf(prior);
  const calls = callsOf(message);
  if (calls.length) {
    return calls.length === priorCalls.length && calls.every((c, k) => (c.id && c.id === priorCalls[k].id) || c.name === priorCalls[k].name);
  }
  const text = (bs) => bs.filter((b) => b.type === "text").map((b) => b.text.trim()).join("\n");
  const t = text(message.blocks);
  const p = text(prior.blocks);
  return !!t && (t === p || (p.length > 40 && t.startsWith(p.slice(0, 40))));
}

// -- page parts -----------------------------------------------------------------------------------

function head(c) {
  const turns = c.turns || [];
  const tokensIn = c.input_tokens ?? turns.reduce((n, t) => n + (t.input_tokens || 0), 0);
  const tokensOut = c.output_tokens ?? turns.reduce((n, t) => n + (t.output_tokens || 0), 0);
  const errors = c.errors ?? turns.filter((t) => t.error || (t.status && t.status >= 400)).length;
  return h("div", {},
    h("div", { class: "ins-title-row" },
      h("h1", {}, "Conversation ", h("code", { class: "ins-id", title: c.conversation_id }, shortId(c.conversation_id))),
      (c.client_apps || []).map(appBadge),
      h("span", { class: "ins-spacer" }),
      h("a", { href: pageUrl("conversations"), class: "ins-back" }, "← All conversations")),
    h("p", { class: "ins-subtitle" },
      (c.models || []).join(", "),
      c.first_at ? ` · ${clock(c.first_at)} – ${clock(c.last_at)}` : "",
      c.session_id ? h("span", {}, " · session ", h("code", { title: c.session_id }, shortId(c.session_id))) : null,
      c.parent_conversation_id ? h("span", {}, " · branched from ", h("a", { href: pageUrl("conversations/" + encodeURIComponent(c.parent_conversation_id)) }, shortId(c.parent_conversation_id))) : null),
    h("div", { class: "ins-cards" },
      card("Turns", num(turns.length || c.turns_count)),
      card("Input tokens", compact(tokensIn), `${compact(c.cache_read_tokens ?? turns.reduce((n, t) => n + (t.cache_read_tokens || 0), 0))} cached`),
      card("Output tokens", compact(tokensOut)),
      card("Context now", compact(turns.length ? contextOf(turns[turns.length - 1]) : null)),
      card("Errors", errors ? badge(String(errors), "error") : "0")));
}

function chart(c) {
  const turns = c.turns || [];
  if (!turns.length) return h("div");
  const bars = turns.map((t, i) => {
    const total = contextOf(t);
    const cached = Math.min(t.cache_read_tokens || 0, total);
    const change = contextChange(t, turns[i - 1]);
    return {
      label: `turn ${i + 1}`,
      stack: [
        { value: cached, cls: "ins-c-2" },
        { value: total - cached, cls: change === "compaction" ? "ins-c-warn" : "ins-c-1" },
      ],
      marker: change === "compaction",
      title: `Turn ${i + 1}: context ${num(total)} tokens (${num(cached)} from cache)` +
        (t.context_delta ? `, ${t.context_delta > 0 ? "+" : ""}${num(t.context_delta)}` : "") +
        (change === "compaction" ? " — context compacted" : "") + `\noutput ${num(t.output_tokens)}`,
    };
  });
  const svg = barChart(bars, { height: 150, title: "Context tokens per turn" });
  svg.querySelectorAll(".ins-bar").forEach((g, i) => {
    g.addEventListener("click", () => document.getElementById(`turn-${i + 1}`)?.scrollIntoView({ behavior: "smooth", block: "start" }));
  });
  return h("section", { class: "ins-section ins-chart-box" },
    h("h2", {}, "Context per turn"),
    svg,
    legend([["ins-c-2", "read from cache"], ["ins-c-1", "not cached"], ["ins-c-warn", "after a compaction (▼)"]]));
}

function changeBanner(turn, previous, kind) {
  const before = contextOf(previous);
  const after = contextOf(turn);
  if (kind === "compaction") {
    return h("div", { class: "ins-compaction", role: "note" },
      h("strong", {}, "Context compacted"),
      ` · ${compact(before)} → ${compact(after)} tokens (${num(after - before)})`);
  }
  return h("div", { class: "ins-jump", role: "note" },
    h("strong", {}, "Context jumped"),
    ` · ${compact(before)} → ${compact(after)} tokens (+${num(after - before)})`);
}

function turnCard(turn, index, turns, pairing) {
  const previous = turns[index - 1];
  const change = contextChange(turn, previous);
  const delta = turn.context_delta ?? (previous ? contextOf(turn) - contextOf(previous) : null);
  const pending = turn.status === null || turn.status === undefined;
  const news = newMessages(turn);
  const shown = [];
  let echoed = false;
  for (const m of news) {
    if (!echoed && isEcho(m, previous)) {
      echoed = true;
      continue;
    }
    shown.push(m);
  }
  const response = responseMessage(turn);
  const body = h("div", { class: "ins-turn-body" });
  if (echoed) body.append(h("p", { class: "ins-muted ins-small" }, `The assistant's reply from turn ${index} is sent back (shown above).`));
  if (shown.length) {
    body.append(h("div", { class: "ins-turn-label" }, "New in this turn"),
      renderChat(shown, { results: pairing.results, skipIds: pairing.calls, callNames: pairing.names, pair: false, emptyText: "Nothing new." }));
  } else if (!echoed) {
    body.append(h("p", { class: "ins-muted ins-small" }, "No new messages in this turn (a retry or a resend)."));
  }
  if (response.blocks.length) {
    body.append(h("div", { class: "ins-turn-label" }, "Response"),
      renderChat([response], { results: pairing.results, callNames: pairing.names, pair: false, expectResults: index < turns.length - 1 }));
  } else if (!turn.error) {
    body.append(h("p", { class: "ins-muted ins-small" }, pending ? "Waiting for the response…" : "No response text."));
  }
  if (turn.error) body.append(h("div", { class: "ins-error-box", role: "alert" }, h("strong", {}, "Error: "), turn.error));
  const stop = turn.response?.stop_reason;
  return h("article", { class: ["ins-turn", turn.error && "is-error", pending && "is-pending"], id: `turn-${index + 1}` },
    change ? changeBanner(turn, previous, change) : null,
    h("div", { class: "ins-turn-head" },
      h("span", { class: "ins-turn-no" }, `Turn ${index + 1}`),
      h("span", { title: turn.started_at }, clock(turn.started_at)),
      turn.model ? h("span", { class: "ins-model" }, turn.model) : null,
      statusBadge({ status: turn.status, error: turn.error, state: pending && !turn.error ? "pending" : "complete" }),
      h("span", { class: "ins-tokens", title: `input ${num(turn.input_tokens)}, output ${num(turn.output_tokens)}, cache read ${num(turn.cache_read_tokens)}, cache write ${num(turn.cache_write_tokens)}` },
        compact(turn.input_tokens), h("span", { class: "ins-arrow" }, " → "), compact(turn.output_tokens),
        turn.cache_read_tokens ? h("span", { class: "ins-tok-cache" }, `${compact(turn.cache_read_tokens)} cached`) : null),
      h("span", { class: "ins-muted", title: "context tokens (input + cache)" }, `ctx ${compact(contextOf(turn))}`),
      delta ? h("span", { class: ["ins-delta", delta < 0 ? "is-down" : "is-up"] }, `${delta > 0 ? "+" : "−"}${compact(Math.abs(delta))}`) : null,
      stop ? h("span", { class: "ins-muted ins-small" }, `stop: ${stop}`) : null,
      turn.verdict && turn.verdict !== "allow" ? verdictBadge(turn.verdict) : null,
      h("span", { class: "ins-spacer" }),
      h("a", { href: pageUrl("requests/" + encodeURIComponent(turn.request_id)), class: "ins-small" }, "request ↗")),
    body);
}

// Tool results anywhere in the conversation, keyed by the id of their call, to nest under it.
function pairResults(turns) {
  const calls = new Set();
  const names = new Map();
  for (const t of turns) {
    for (const b of responseMessage(t).blocks) {
      if (b.type === "tool_call" && b.id) {
        calls.add(b.id);
        names.set(b.id, b.name);
      }
    }
  }
  const results = new Map();
  for (const t of turns) {
    for (const m of newMessages(t)) {
      for (const b of m.blocks) if (b.type === "tool_result" && b.id && calls.has(b.id)) results.set(b.id, { block: b });
    }
  }
  return { calls: new Set([...results.keys()]), results, names };
}

function render(c) {
  const turns = c.turns || [];
  prepare(turns);
  const sig = JSON.stringify({ ...c, turns: turns.map((t) => [t.request_id, t.status, t.context_tokens, t.output_tokens]) });
  if (sig !== headSig) {
    headSig = sig;
    clear(view.head, head(c));
    clear(view.chart, chart(c));
    view.banner.hidden = !c.redacted;
  }
  const pairing = pairResults(turns);
  let cursor = view.timeline.firstElementChild;
  turns.forEach((turn, i) => {
    const results = responseMessage(turn).blocks.filter((b) => b.type === "tool_call").map((b) => pairing.results.has(b.id));
    const turnSig = JSON.stringify([turn, i, results, turns[i - 1]?.response]);
    let entry = turnNodes.get(turn.request_id);
    if (!entry || entry.sig !== turnSig) {
      const el = turnCard(turn, i, turns, pairing);
      if (entry) entry.el.replaceWith(el);
      if (entry && cursor === entry.el) cursor = el;
      entry = { sig: turnSig, el };
      turnNodes.set(turn.request_id, entry);
    }
    if (entry.el !== cursor) view.timeline.insertBefore(entry.el, cursor);
    else cursor = cursor.nextElementSibling;
  });
  if (!turns.length) clear(view.timeline, h("p", { class: "ins-empty" }, "This conversation has no turns."));
  setTitle(`Conversation ${shortId(c.conversation_id)}`);
  document.body.dataset.loaded = "1";
}

async function load() {
  try {
    const c = await api("conversations/" + encodeURIComponent(id));
    render(c);
  } catch (e) {
    if (!turnNodes.size) {
      clear(view.head, h("h1", {}, "Conversation ", h("code", {}, shortId(id))),
        errorBox(e.status === 404 ? "No conversation with this id." : `Could not load the conversation: ${e.message}`));
    }
  }
}

function main() {
  view = {
    head: h("div"),
    chart: h("div"),
    banner: h("p", { class: "ins-banner", hidden: true }, redactedChip("[redacted]"), " Message text is hidden: you are not viewing from a trusted network."),
    timeline: h("div", { class: "ins-timeline" }),
  };
  clear(app(), view.head, view.banner, view.chart, view.timeline);
  load();
  poll(load, () => 3000);
}

main();
