// Requests: the newest exchanges, filterable, live while responses stream.
import {
  api, app, appBadge, clear, clock, errorBox, fromLocalInput, h, isRedacted, ms, num,
  pageUrl, poll, redactedChip, setTitle, statusBadge, toLocalInput, tokensCell, verdictBadge,
} from "./util.js";

const LIMIT = 50;
const FILTERS = ["q", "model", "app", "status", "verdict", "state", "conversation", "since", "until"];
const PRESETS = [["15m", 15 * 60e3], ["1h", 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3]];

const state = {
  filters: {},
  offset: 0,
  data: null,
  rows: new Map(), // id -> {sig, tr}
  loading: false,
  seq: 0,
};

function readUrl() {
  const params = new URLSearchParams(location.search);
  state.filters = {};
  for (const key of FILTERS) if (params.get(key)) state.filters[key] = params.get(key);
  state.offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
}

function writeUrl(push) {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (state.filters[key]) params.set(key, state.filters[key]);
  if (state.offset) params.set("offset", state.offset);
  const url = location.pathname + (params.toString() ? "?" + params : "");
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

// -- the filter form ------------------------------------------------------------------------------

function select(name, label, options) {
  return h("label", { class: "ins-field" }, h("span", {}, label),
    h("select", { name }, options.map(([value, text]) => h("option", { value }, text))));
}

function input(name, label, attrs = {}) {
  return h("label", { class: "ins-field" }, h("span", {}, label), h("input", { name, ...attrs }));
}

function buildForm() {
  const form = h("form", { class: "ins-filters", role: "search", onsubmit: (e) => { e.preventDefault(); apply(form); } },
    h("label", { class: "ins-field ins-field-q" }, h("span", {}, "Search"),
      h("input", { name: "q", type: "search", placeholder: "prompt or response text, tool, model, id…" })),
    input("model", "Model", { list: "ins-models", placeholder: "any", autocomplete: "off" }),
    input("app", "Client app", { list: "ins-apps", placeholder: "any", autocomplete: "off" }),
    select("status", "Status", [["", "any"], ["2xx", "2xx"], ["4xx", "4xx"], ["5xx", "5xx"], ["error", "any error"],
      ["state:pending", "pending (streaming)"], ["state:abandoned", "abandoned"]]),
    input("verdict", "Verdict", { list: "ins-verdicts", placeholder: "any", autocomplete: "off" }),
    input("conversation", "Conversation", { placeholder: "id", autocomplete: "off" }),
    input("since", "Since", { type: "datetime-local" }),
    input("until", "Until", { type: "datetime-local" }),
    h("div", { class: "ins-field ins-presets ins-field-wide" }, h("span", {}, "Quick range"),
      h("div", {}, PRESETS.map(([label, span]) => h("button", {
        type: "button",
        class: "ins-chip",
        onclick: () => {
          form.elements.since.value = toLocalInput(new Date(Date.now() - span).toISOString());
          form.elements.until.value = "";
          apply(form);
        },
      }, `last ${label}`)))),
    h("div", { class: "ins-field ins-actions" }, h("span", {}, "\u00a0"),
      h("div", {},
        h("button", { type: "submit", class: "ins-button ins-primary" }, "Apply"),
        h("button", { type: "button", class: "ins-button", onclick: () => { form.reset(); apply(form); } }, "Clear"))),
    h("datalist", { id: "ins-models" }),
    h("datalist", { id: "ins-apps" }),
    h("datalist", { id: "ins-verdicts" }, ["allow", "block", "warn", "rewrite", "intercept"].map((v) => h("option", { value: v }))));
  for (const el of form.querySelectorAll("select")) el.addEventListener("change", () => apply(form));
  return form;
}

// The status select also offers request states, kept in the URL as `state=`.
function fillForm(form) {
  for (const key of FILTERS) {
    const el = form.elements[key];
    if (!el) continue;
    const value = state.filters[key] || "";
    el.value = key === "since" || key === "until" ? toLocalInput(value) : value;
  }
  if (state.filters.state && !state.filters.status) {
    const option = `state:${state.filters.state}`;
    const select = form.elements.status;
    if (![...select.options].some((o) => o.value === option)) select.append(h("option", { value: option }, state.filters.state));
    select.value = option;
  }
}

function apply(form) {
  const filters = {};
  for (const key of FILTERS) {
    const el = form.elements[key];
    if (!el) continue;
    const value = key === "since" || key === "until" ? fromLocalInput(el.value) : el.value.trim();
    if (value) filters[key] = value;
  }
  if (filters.status?.startsWith("state:")) {
    filters.state = filters.status.slice(6);
    delete filters.status;
  }
  state.filters = filters;
  state.offset = 0;
  writeUrl(true);
  load({ reset: true });
}

async function fillSuggestions() {
  try {
    const stats = await api("stats");
    const fill = (id, items) => clear(document.getElementById(id), (items || []).filter((i) => i.key).map((i) => h("option", { value: i.key })));
    fill("ins-models", stats.by_model);
    fill("ins-apps", stats.by_app);
  } catch {
    // Suggestions are a convenience; the fields work without them.
  }
}

// -- the table ------------------------------------------------------------------------------------

function modelCell(row) {
  const requested = row.requested_model;
  const served = row.served_model;
  if (served && requested && served !== requested && !served.startsWith(requested)) {
    return h("span", { class: "ins-model", title: `requested ${requested}, served ${served}` },
      requested, h("span", { class: "ins-muted" }, " → "), served);
  }
  return h("span", { class: "ins-model" }, served || requested || "–");
}

function pathCell(row) {
  const preview = row.prompt_preview;
  const tools = (Array.isArray(row.tool_calls) ? row.tool_calls : []).map((c) => c?.name).filter(Boolean);
  return h("div", { class: "ins-path-cell" },
    h("div", {}, h("span", { class: "ins-method" }, row.method || ""), " ", h("span", { class: "ins-path" }, row.path || ""),
      row.is_stream ? h("span", { class: "ins-flag", title: "streamed response" }, "SSE") : null),
    preview ? h("div", { class: "ins-preview" }, isRedacted(preview) ? redactedChip(preview) : preview.slice(0, 160)) : null,
    tools.length ? h("div", { class: "ins-preview ins-calls" }, "⚙ " + tools.join(", ")) : null,
    row.error ? h("div", { class: "ins-preview ins-error-text", title: row.error }, row.error.slice(0, 160)) : null);
}

function buildRow(row) {
  const href = pageUrl("requests/" + encodeURIComponent(row.id));
  const tr = h("tr", {
    class: ["ins-row", `is-${row.state}`],
    dataset: { id: row.id, state: row.state || "" },
    onclick: (e) => {
      if (e.target.closest("a, button") || getSelection().toString()) return;
      if (e.metaKey || e.ctrlKey) window.open(href, "_blank");
      else location.href = href;
    },
  },
  h("td", { class: "ins-col-time" }, h("a", { href, title: row.started_at }, clock(row.started_at)),
    row.state === "pending" ? h("span", { class: "ins-live-dot", title: "streaming" }) : null),
  h("td", { class: "ins-col-app" }, appBadge(row.client_app)),
  h("td", { class: "ins-col-model" }, modelCell(row)),
  h("td", { class: "ins-col-status" }, statusBadge(row)),
  h("td", { class: "ins-col-tokens ins-num" }, tokensCell(row)),
  h("td", { class: "ins-col-ttft ins-num" }, ms(row.ttft_ms)),
  h("td", { class: "ins-col-latency ins-num" }, row.state === "pending" ? h("span", { class: "ins-muted" }, "running") : ms(row.latency_ms)),
  h("td", { class: "ins-col-verdict" }, verdictBadge(row.verdict)),
  h("td", { class: "ins-col-path" }, pathCell(row)));
  return tr;
}

function renderRows(tbody, items) {
  const seen = new Set();
  const initial = state.rows.size === 0;
  let cursor = tbody.firstElementChild;
  for (const row of items) {
    seen.add(row.id);
    const sig = JSON.stringify(row);
    let entry = state.rows.get(row.id);
    if (!entry || entry.sig !== sig) {
      const tr = buildRow(row);
      if (entry) {
        tr.classList.add("ins-flash");
        entry.tr.replaceWith(tr);
        if (cursor === entry.tr) cursor = tr;
      } else if (!initial) {
        tr.classList.add("ins-flash");
      }
      entry = { sig, tr };
      state.rows.set(row.id, entry);
    }
    if (entry.tr !== cursor) tbody.insertBefore(entry.tr, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const [id, entry] of state.rows) {
    if (!seen.has(id)) {
      entry.tr.remove();
      state.rows.delete(id);
    }
  }
}

function pager(data) {
  const from = data.items.length ? state.offset + 1 : 0;
  const to = state.offset + data.items.length;
  const total = data.total ?? null;
  const go = (offset) => {
    state.offset = Math.max(0, offset);
    writeUrl(true);
    load({ reset: true });
    window.scrollTo(0, 0);
  };
  return h("nav", { class: "ins-pager", "aria-label": "pages" },
    h("button", { type: "button", class: "ins-button", disabled: state.offset === 0, onclick: () => go(state.offset - LIMIT) }, "← Newer"),
    h("span", { class: "ins-pager-range" }, total === null ? `${num(from)}–${num(to)}` : `${num(from)}–${num(to)} of ${num(total)}`),
    h("button", { type: "button", class: "ins-button", disabled: data.next_offset === null || data.next_offset === undefined, onclick: () => go(data.next_offset) }, "Older →"));
}

// -- loading --------------------------------------------------------------------------------------

let view = null;

async function load({ reset = false } = {}) {
  if (state.loading && !reset) return;
  state.loading = true;
  const seq = ++state.seq;
  try {
    const data = await api("requests", { ...state.filters, limit: LIMIT, offset: state.offset });
    if (seq !== state.seq) return; // the filters changed while this was on its way
    state.data = data;
    if (reset) {
      state.rows.clear();
      clear(view.tbody);
    }
    renderRows(view.tbody, data.items || []);
    clear(view.status);
    if (!(data.items || []).length) {
      view.status.append(h("p", { class: "ins-empty" }, Object.keys(state.filters).length
        ? "No requests match these filters."
        : "No requests recorded yet. Point a client at the proxy and its exchanges appear here as they happen."));
    }
    view.banner.hidden = !data.redacted;
    clear(view.pagerTop, pager(data));
    clear(view.pagerBottom, pager(data));
    const pending = (data.items || []).filter((r) => r.state === "pending").length;
    clear(view.live, pending ? h("span", { class: "ins-live" }, h("span", { class: "ins-live-dot" }), `${pending} streaming`) : h("span", { class: "ins-muted" }, `updated ${clock(new Date().toISOString())}`));
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (seq === state.seq) clear(view.status, errorBox(`Could not load requests: ${e.message}`));
  } finally {
    if (seq === state.seq) state.loading = false;
  }
}

function hasPending() {
  return (state.data?.items || []).some((r) => r.state === "pending");
}

function main() {
  setTitle("Requests");
  readUrl();
  const form = buildForm();
  fillForm(form);
  view = {
    tbody: h("tbody"),
    status: h("div", { class: "ins-status" }),
    banner: h("p", { class: "ins-banner", hidden: true }, redactedChip("[redacted]"), " Prompt and response text are hidden: you are not viewing from a trusted network."),
    pagerTop: h("div"),
    pagerBottom: h("div"),
    live: h("span", { class: "ins-live-status", "aria-live": "polite" }),
  };
  const table = h("table", { class: "ins-table ins-requests" },
    h("thead", {}, h("tr", {},
      [["Time", "time"], ["App", "app"], ["Model", "model"], ["Status", "status"], ["Tokens in → out", "tokens"],
        ["TTFT", "ttft"], ["Latency", "latency"], ["Verdict", "verdict"], ["Request", "path"]].map(([t, key], i) =>
        h("th", { class: [`ins-col-${key}`, i >= 4 && i <= 6 && "ins-num"], scope: "col" }, t)))),
    view.tbody);
  clear(app(),
    h("div", { class: "ins-title-row" }, h("h1", {}, "Requests"), view.live),
    form, view.banner, view.pagerTop,
    h("div", { class: "ins-table-wrap" }, table),
    view.status, view.pagerBottom);
  window.addEventListener("popstate", () => {
    readUrl();
    fillForm(form);
    load({ reset: true });
  });
  load({ reset: true });
  fillSuggestions();
  // Fast while something streams, relaxed otherwise; new rows appear on the first page.
  poll(() => (state.offset === 0 || hasPending() ? load() : null), () => (hasPending() ? 1000 : 2000));
}

main();
