// Audit: what the rules said about which requests: counts per verdict and per rule, and the
// verdicts themselves, newest first, filterable by verdict, rule and time.
import {
  api, app, appBadge, badge, clear, clock, collapsible, errorBox, fromLocalInput, h, isRedacted, num,
  pageUrl, poll, prettyBlock, redactedChip, setTitle, toLocalInput, verdictBadge,
} from "./util.js";

const LIMIT = 50;
const FILTERS = ["verdict", "rule", "since", "until", "include_allow"];
const VERDICTS = ["block", "intercept", "rewrite", "warn", "allow"];
const VERDICT_HELP = {
  block: "request refused",
  intercept: "answer replaced",
  rewrite: "request changed",
  warn: "let through, warned",
  allow: "let through",
};
const PRESETS = [["1h", 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3], ["30d", 30 * 86400e3]];

const state = { filters: {}, offset: 0, data: null, sig: "", seq: 0 };
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
  const url = location.pathname + (params.toString() ? "?" + params : "");
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
}

function setFilters(changes) {
  state.filters = { ...state.filters, ...changes };
  for (const key of Object.keys(state.filters)) if (!state.filters[key]) delete state.filters[key];
  if (state.filters.verdict) delete state.filters.include_allow;
  state.offset = 0;
  writeUrl();
  fillForm();
  load({ reset: true });
}

// -- the filter form --------------------------------------------------------------------------

function buildForm() {
  const field = (label, control) => h("label", { class: "ins-field" }, h("span", {}, label), control);
  const form = h("form", {
    class: "ins-filters ins-audit-filters",
    role: "search",
    onsubmit: (e) => {
      e.preventDefault();
      apply();
    },
  },
  field("Verdict", h("select", { name: "verdict" },
    h("option", { value: "" }, "any but allow"),
    VERDICTS.map((v) => h("option", { value: v }, v)),
    h("option", { value: "*" }, "any, allow too"))),
  field("Rule", h("input", { name: "rule", list: "ins-rules", placeholder: "any", autocomplete: "off" })),
  field("Since", h("input", { name: "since", type: "datetime-local" })),
  field("Until", h("input", { name: "until", type: "datetime-local" })),
  h("div", { class: "ins-field ins-presets" }, h("span", {}, "Quick range"),
    h("div", {}, PRESETS.map(([label, span]) => h("button", {
      type: "button",
      class: "ins-chip",
      onclick: () => setFilters({ since: new Date(Date.now() - span).toISOString(), until: "" }),
    }, `last ${label}`)))),
  h("div", { class: "ins-field ins-actions" }, h("span", {}, "\u00a0"),
    h("div", {},
      h("button", { type: "submit", class: "ins-button ins-primary" }, "Apply"),
      h("button", {
        type: "button",
        class: "ins-button",
        onclick: () => {
          state.filters = {};
          state.offset = 0;
          writeUrl();
          fillForm();
          load({ reset: true });
        },
      }, "Clear"))),
  h("datalist", { id: "ins-rules" }));
  form.elements.verdict.addEventListener("change", () => apply());
  return form;
}

function fillForm() {
  const els = view.form.elements;
  const f = state.filters;
  els.verdict.value = f.verdict || (f.include_allow ? "*" : "");
  els.rule.value = f.rule || "";
  els.since.value = toLocalInput(f.since);
  els.until.value = toLocalInput(f.until);
}

function apply() {
  const els = view.form.elements;
  const verdict = els.verdict.value;
  state.filters = {};
  setFilters({
    verdict: verdict === "*" ? "" : verdict,
    include_allow: verdict === "*" ? "1" : "",
    rule: els.rule.value.trim(),
    since: fromLocalInput(els.since.value),
    until: fromLocalInput(els.until.value),
  });
}

// -- counts -------------------------------------------------------------------------------------

function windowLabel() {
  const { since, until } = state.filters;
  if (!since && !until) return "all time";
  if (since && !until) return `since ${clock(since, { seconds: false })}`;
  if (!since) return `until ${clock(until, { seconds: false })}`;
  return `${clock(since, { seconds: false })} – ${clock(until, { seconds: false })}`;
}

function renderCounts(counts) {
  if (!counts) {
    clear(view.cards, h("p", { class: "ins-muted" }, "Too many verdicts to count in time; narrow the time range."));
    clear(view.byRule);
    return;
  }
  const active = state.filters.verdict || "";
  clear(view.cards, VERDICTS.map((verdict) => h("button", {
    type: "button",
    class: ["ins-card", "ins-verdict-card", `is-${verdict}`, active === verdict && "is-active"],
    dataset: { verdict },
    "aria-pressed": active === verdict ? "true" : "false",
    title: `${VERDICT_HELP[verdict]} (${windowLabel()}); click to list only these`,
    onclick: () => setFilters({ verdict: active === verdict ? "" : verdict }),
  },
  h("div", { class: "ins-card-label" }, verdict),
  h("div", { class: "ins-card-value" }, num(counts.by_verdict?.[verdict] ?? 0)),
  h("div", { class: "ins-card-sub" }, VERDICT_HELP[verdict]))));

  const rows = counts.by_rule || [];
  clear(document.getElementById("ins-rules"), [...new Set(rows.map((r) => r.rule_id).filter(Boolean))].map((r) => h("option", { value: r })));
  clear(view.byRule, rows.length
    ? h("table", { class: "ins-table ins-by-rule" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Rule"), h("th", { scope: "col" }, "Verdict"), h("th", { scope: "col", class: "ins-num" }, "Count"))),
      h("tbody", {}, rows.map((r) => h("tr", {
        class: ["ins-rule-row", state.filters.rule === r.rule_id && (!state.filters.verdict || state.filters.verdict === r.verdict) && "is-active"],
        dataset: { rule: r.rule_id || "", verdict: r.verdict || "" },
      },
      h("td", {}, h("button", {
        type: "button",
        class: "ins-link-button ins-rule-link",
        title: `Only ${r.rule_id}`,
        onclick: () => setFilters({ rule: r.rule_id, verdict: "" }),
      }, r.rule_id || "(no rule)")),
      h("td", {}, h("button", {
        type: "button",
        class: "ins-link-button",
        title: `Only ${r.verdict} from ${r.rule_id}`,
        onclick: () => setFilters({ rule: r.rule_id, verdict: r.verdict }),
      }, verdictBadge(r.verdict))),
      h("td", { class: "ins-num" }, num(r.count))))))
    : h("p", { class: "ins-muted" }, "No verdicts in this time range."));
}

// -- the events ---------------------------------------------------------------------------------

function reasonCell(item) {
  const reason = item.reason;
  const details = item.details;
  const hasDetails = details !== null && details !== undefined && details !== "" &&
    !(typeof details === "object" && !Array.isArray(details) && Object.keys(details).length === 0);
  return h("div", { class: "ins-reason" },
    isRedacted(reason) ? redactedChip(reason, "reason") : h("div", { class: "ins-reason-text" }, reason || h("span", { class: "ins-muted" }, "(no reason given)")),
    hasDetails ? collapsible("details", () => prettyBlock(details), { className: "ins-verdict-details" }) : null);
}

// A rule id that wraps only at its underscores.
function ruleName(id) {
  if (!id) return "–";
  return id.split("_").flatMap((part, i) => (i ? ["_", h("wbr"), part] : [part]));
}

function buildRow(item) {
  const request = item.request || {};
  const href = pageUrl("requests/" + encodeURIComponent(item.request_id));
  const [first, second] = clock(item.at).split(" ");
  return h("tr", { class: ["ins-audit-row", `is-${item.verdict}`], dataset: { requestId: item.request_id, verdict: item.verdict || "", rule: item.rule_id || "" } },
    h("td", { class: "ins-col-time" }, h("a", { href, title: `${item.at} · open the request` }, second || first),
      second ? h("div", { class: "ins-muted ins-small" }, first) : null),
    h("td", { class: "ins-col-request" },
      item.request ? appBadge(request.client_app) : h("span", { class: "ins-muted", title: "The request is no longer stored" }, "request gone"),
      request.requested_model ? h("div", { class: "ins-model" }, request.requested_model) : null),
    h("td", { class: "ins-col-rule" }, h("code", { class: "ins-rule-id" }, ruleName(item.rule_id)),
      item.phase ? h("div", { class: "ins-muted ins-small" }, item.phase) : null),
    h("td", { class: "ins-col-verdict" }, verdictBadge(item.verdict)),
    h("td", { class: "ins-col-reason" }, reasonCell(item)));
}

function pager(data) {
  const from = data.items.length ? state.offset + 1 : 0;
  const to = state.offset + data.items.length;
  const go = (offset) => {
    state.offset = Math.max(0, offset);
    writeUrl();
    load({ reset: true });
    window.scrollTo(0, 0);
  };
  return h("nav", { class: "ins-pager", "aria-label": "pages" },
    h("button", { type: "button", class: "ins-button", disabled: state.offset === 0, onclick: () => go(state.offset - LIMIT) }, "← Newer"),
    h("span", { class: "ins-pager-range" }, `${num(from)}–${num(to)}`),
    h("button", { type: "button", class: "ins-button", disabled: data.next_offset === null || data.next_offset === undefined, onclick: () => go(data.next_offset) }, "Older →"));
}

async function load({ reset = false } = {}) {
  const seq = ++state.seq;
  const f = state.filters;
  try {
    const data = await api("audit", {
      verdict: f.verdict, rule: f.rule, since: f.since, until: f.until,
      include_allow: f.include_allow ? "true" : "", limit: LIMIT, offset: state.offset,
    });
    if (seq !== state.seq) return;
    const sig = JSON.stringify(data);
    if (!reset && sig === state.sig) return;
    state.sig = sig;
    state.data = data;
    renderCounts(data.counts);
    // Rebuilding rows would close open details: keep the rows that did not change.
    const old = new Map([...view.tbody.children].map((tr) => [tr.dataset.key, tr]));
    const rows = data.items.map((item) => {
      const key = JSON.stringify(item);
      const tr = old.get(key) || buildRow(item);
      tr.dataset.key = key;
      return tr;
    });
    clear(view.tbody, rows);
    clear(view.status, data.items.length ? null : h("p", { class: "ins-empty" }, Object.keys(f).length
      ? "No verdicts match these filters."
      : "No rule has said anything yet. Verdicts appear here when a rule blocks, warns, rewrites or intercepts."));
    view.banner.hidden = !data.redacted;
    clear(view.pagerTop, pager(data));
    clear(view.pagerBottom, pager(data));
    clear(view.window, h("span", { class: "ins-muted" }, `Counts: ${windowLabel()}`));
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (seq === state.seq) {
      clear(view.status, errorBox(`Could not load the audit log: ${e.message}`));
      document.body.dataset.loaded = "1";
    }
  }
}

function main() {
  setTitle("Audit");
  readUrl();
  view = {
    form: null,
    cards: h("div", { class: "ins-cards ins-verdict-cards", dataset: { section: "counts" } }),
    byRule: h("div", { class: "ins-table-wrap" }),
    tbody: h("tbody"),
    status: h("div", { class: "ins-status" }),
    banner: h("p", { class: "ins-banner", hidden: true }, redactedChip("[redacted]"), " Reasons and details of other networks' requests are hidden: you are not viewing from a trusted network."),
    pagerTop: h("div"),
    pagerBottom: h("div"),
    window: h("span", { class: "ins-live-status" }),
  };
  view.form = buildForm();
  fillForm();
  const table = h("table", { class: "ins-table ins-audit" },
    h("thead", {}, h("tr", {}, [["Time", "time"], ["App · model", "request"], ["Rule", "rule"], ["Verdict", "verdict"], ["Reason", "reason"]]
      .map(([t, key]) => h("th", { class: `ins-col-${key}`, scope: "col" }, t)))),
    view.tbody);
  clear(app(),
    h("div", { class: "ins-title-row" }, h("h1", {}, "Audit"), view.window),
    view.cards,
    view.form,
    view.banner,
    h("div", { class: "ins-audit-grid" },
      h("div", { class: "ins-audit-main", dataset: { section: "events" } },
        view.pagerTop,
        h("div", { class: "ins-table-wrap" }, table),
        view.status,
        view.pagerBottom),
      h("section", { class: "ins-section ins-audit-side", dataset: { section: "by-rule" } }, h("h2", {}, "By rule"), view.byRule)));
  window.addEventListener("popstate", () => {
    readUrl();
    fillForm();
    load({ reset: true });
  });
  load({ reset: true });
  poll(() => (state.offset === 0 ? load() : null), () => 3000);
}

main();
