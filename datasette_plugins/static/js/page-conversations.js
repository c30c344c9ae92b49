// Conversations: one row per thread of turns, newest activity first.
import {
  api, app, appBadge, badge, clear, clock, compact, errorBox, h, isRedacted, num, pageUrl, poll,
  redactedChip, setTitle,
} from "./util.js";

const LIMIT = 50;
const FILTERS = ["q", "app", "model"];
const state = { filters: {}, offset: 0, sig: "", seq: 0 };
let view = null;

function readUrl() {
  const params = new URLSearchParams(location.search);
  state.filters = {};
  for (const key of FILTERS) if (params.get(key)) state.filters[key] = params.get(key);
  state.offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
}

function writeUrl() {
  const params = new URLSearchParams();
  for (const key of FILTERS) if (state.filters[key]) params.set(key, state.filters[key]);
  if (state.offset) params.set("offset", state.offset);
  history.pushState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
}

function buildForm() {
  const field = (name, label, attrs) => h("label", { class: "ins-field" + (name === "q" ? " ins-field-q" : "") }, h("span", {}, label), h("input", { name, autocomplete: "off", ...attrs }));
  const form = h("form", { class: "ins-filters", role: "search", onsubmit: (e) => {
    e.preventDefault();
    state.filters = {};
    for (const key of FILTERS) {
      const value = form.elements[key].value.trim();
      if (value) state.filters[key] = value;
    }
    state.offset = 0;
    writeUrl();
    load();
  } },
  field("q", "Search", { type: "search", placeholder: "text in the conversation" }),
  field("app", "Client app", { placeholder: "any" }),
  field("model", "Model", { placeholder: "any" }),
  h("div", { class: "ins-field ins-actions ins-field-wide" }, h("span", {}, "\u00a0"),
    h("div", {}, h("button", { type: "submit", class: "ins-button ins-primary" }, "Apply"),
      h("button", { type: "button", class: "ins-button", onclick: () => { form.reset(); form.requestSubmit(); } }, "Clear"))));
  return form;
}

function fillForm(form) {
  for (const key of FILTERS) form.elements[key].value = state.filters[key] || "";
}

function row(c) {
  const href = pageUrl("conversations/" + encodeURIComponent(c.conversation_id));
  const tokens = h("span", { class: "ins-tokens" },
    compact(c.input_tokens), h("span", { class: "ins-arrow" }, " → "), compact(c.output_tokens),
    c.cache_read_tokens ? h("span", { class: "ins-tok-cache" }, `${compact(c.cache_read_tokens)} cached`) : null);
  return h("tr", {
    class: "ins-row",
    dataset: { id: c.conversation_id },
    onclick: (e) => {
      if (!e.target.closest("a") && !getSelection().toString()) location.href = href;
    },
  },
  h("td", { class: "ins-col-time" }, h("a", { href, title: c.last_at }, clock(c.last_at))),
  h("td", {}, (c.client_apps || []).length ? (c.client_apps || []).map(appBadge) : appBadge(null)),
  h("td", { class: "ins-col-model" }, (c.models || []).map((m) => h("div", { class: "ins-model" }, m))),
  h("td", { class: "ins-num" }, num(c.turns)),
  h("td", { class: "ins-num" }, tokens),
  h("td", { class: "ins-num" }, c.errors ? badge(String(c.errors), "error") : h("span", { class: "ins-muted" }, "0")),
  h("td", { class: "ins-col-time", title: c.first_at }, clock(c.first_at)),
  h("td", { class: "ins-col-path" },
    h("div", { class: "ins-preview ins-preview-strong" }, isRedacted(c.preview) ? redactedChip(c.preview) : (c.preview || "").slice(0, 200) || h("span", { class: "ins-muted" }, "(no text)")),
    c.parent_conversation_id ? h("div", { class: "ins-preview" }, "↳ branched from ", h("a", { href: pageUrl("conversations/" + encodeURIComponent(c.parent_conversation_id)) }, c.parent_conversation_id.slice(0, 8) + "…")) : null));
}

async function load() {
  const seq = ++state.seq;
  try {
    const data = await api("conversations", { ...state.filters, limit: LIMIT, offset: state.offset });
    if (seq !== state.seq) return;
    const sig = JSON.stringify(data);
    if (sig === state.sig) return;
    state.sig = sig;
    const items = data.items || [];
    clear(view.tbody, items.map(row));
    clear(view.status, items.length ? null : h("p", { class: "ins-empty" }, Object.keys(state.filters).length ? "No conversations match." : "No conversations yet."));
    view.banner.hidden = !data.redacted;
    const go = (offset) => { state.offset = Math.max(0, offset); writeUrl(); load(); };
    clear(view.pager,
      h("button", { type: "button", class: "ins-button", disabled: state.offset === 0, onclick: () => go(state.offset - LIMIT) }, "← Newer"),
      h("span", { class: "ins-pager-range" }, items.length ? `${num(state.offset + 1)}–${num(state.offset + items.length)}` : "–"),
      h("button", { type: "button", class: "ins-button", disabled: data.next_offset === null || data.next_offset === undefined, onclick: () => go(data.next_offset) }, "Older →"));
    document.body.dataset.loaded = "1";
  } catch (e) {
    clear(view.status, errorBox(`Could not load conversations: ${e.message}`));
  }
}

function main() {
  setTitle("Conversations");
  readUrl();
  const form = buildForm();
  fillForm(form);
  view = {
    tbody: h("tbody"),
    status: h("div"),
    pager: h("nav", { class: "ins-pager", "aria-label": "pages" }),
    banner: h("p", { class: "ins-banner", hidden: true }, redactedChip("[redacted]"), " Conversation text is hidden: you are not viewing from a trusted network."),
  };
  clear(app(),
    h("div", { class: "ins-title-row" }, h("h1", {}, "Conversations")),
    form, view.banner,
    h("div", { class: "ins-table-wrap" }, h("table", { class: "ins-table ins-conversations" },
      h("thead", {}, h("tr", {}, ["Last activity", "App", "Models", "Turns", "Tokens in → out", "Errors", "Started", "First prompt"].map((t, i) =>
        h("th", { scope: "col", class: i >= 3 && i <= 5 ? "ins-num" : null }, t)))),
      view.tbody)),
    view.status, view.pager);
  window.addEventListener("popstate", () => { readUrl(); fillForm(form); load(); });
  load();
  poll(() => (state.offset === 0 ? load() : null), () => 4000);
}

main();
