// Stats: who calls which model, how much, how fast, how often it fails.
import { barChart, legend, lineChart } from "./charts.js";
import {
  api, app, appBadge, badge, card, clear, clock, compact, errorBox, h, ms, num, pageUrl, parseTime,
  pct, poll, setTitle,
} from "./util.js";

const RANGES = [["1h", 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3], ["30d", 30 * 86400e3], ["all", null]];
let view = null;
let range = "24h";
let sig = "";

function sinceFor(name) {
  const span = RANGES.find(([n]) => n === name)?.[1];
  return span ? new Date(Date.now() - span).toISOString() : "";
}

function bucketLabel(bucket) {
  const d = parseTime(bucket);
  return d ? clock(bucket, { seconds: false }) : String(bucket ?? "");
}

function overall(o = {}) {
  const rate = o.error_rate ?? (o.requests ? (o.errors || 0) / o.requests : null);
  return h("div", { class: "ins-cards" },
    card("Requests", num(o.requests ?? o.count), o.streams ? `${num(o.streams)} streamed` : null),
    card("Errors", num(o.errors), rate === null ? null : pct(rate)),
    card("Input tokens", compact(o.input_tokens), o.cache_read_tokens ? `${compact(o.cache_read_tokens)} cached` : null),
    card("Output tokens", compact(o.output_tokens)),
    card("Latency p50", ms(o.latency_p50)),
    card("Latency p95", ms(o.latency_p95)),
    card("TTFT p50", ms(o.ttft_p50)),
    o.conversations !== undefined ? card("Conversations", num(o.conversations)) : null);
}

function charts(points) {
  if (!points?.length) return h("p", { class: "ins-muted" }, "No traffic in this range.");
  const labels = points.map((p) => bucketLabel(p.bucket));
  const requests = barChart(points.map((p, i) => ({
    label: labels[i],
    stack: [
      { value: Math.max(0, (p.requests || 0) - (p.errors || 0)), cls: "ins-c-1" },
      { value: p.errors || 0, cls: "ins-c-err" },
    ],
    title: `${labels[i]}: ${num(p.requests)} requests, ${num(p.errors)} errors`,
  })), { title: "Requests over time" });
  const tokens = lineChart([
    { name: "input", cls: "ins-c-1", values: points.map((p) => p.input_tokens || 0) },
    { name: "output", cls: "ins-c-3", values: points.map((p) => p.output_tokens || 0) },
  ], labels, { title: "Tokens over time" });
  return h("div", { class: "ins-two" },
    h("section", { class: "ins-section ins-chart-box" }, h("h2", {}, "Requests"), requests, legend([["ins-c-1", "ok"], ["ins-c-err", "errors"]])),
    h("section", { class: "ins-section ins-chart-box" }, h("h2", {}, "Tokens"), tokens, legend([["ins-c-1", "input"], ["ins-c-3", "output"]])));
}

function shareBar(value, max) {
  const width = max ? Math.max(2, Math.round((100 * (value || 0)) / max)) : 0;
  return h("span", { class: "ins-share" }, h("span", { class: "ins-share-fill", style: `width:${width}%` }));
}

function groupTable(title, items, { keyLabel, link, keyView } = {}) {
  items = items || [];
  const max = Math.max(0, ...items.map((i) => i.requests || 0));
  const keyCell = (item) => {
    const label = item.key === null || item.key === undefined || item.key === "" ? h("span", { class: "ins-muted" }, "(unknown)") : keyView ? keyView(item.key) : item.key;
    return link && item.key ? h("a", { href: link(item.key) }, label) : label;
  };
  return h("section", { class: "ins-section", dataset: { group: title } },
    h("h2", {}, title),
    items.length ? h("div", { class: "ins-table-wrap" }, h("table", { class: "ins-table ins-stats-table" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, keyLabel),
        ["Requests", "Errors", "Input", "Output", "Latency p50", "p95", "TTFT p50"].map((t) => h("th", { scope: "col", class: "ins-num" }, t)))),
      h("tbody", {}, items.map((item) => h("tr", {},
        h("td", { class: "ins-key" }, keyCell(item)),
        h("td", { class: "ins-num" }, h("span", { class: "ins-num-bar" }, shareBar(item.requests, max), num(item.requests))),
        h("td", { class: "ins-num" }, item.errors ? h("span", {}, badge(num(item.errors), "error"), " ", h("span", { class: "ins-muted ins-small" }, pct(item.error_rate ?? item.errors / (item.requests || 1)))) : h("span", { class: "ins-muted" }, "0")),
        h("td", { class: "ins-num" }, compact(item.input_tokens)),
        h("td", { class: "ins-num" }, compact(item.output_tokens)),
        h("td", { class: "ins-num" }, ms(item.latency_p50)),
        h("td", { class: "ins-num" }, ms(item.latency_p95)),
        h("td", { class: "ins-num" }, ms(item.ttft_p50)))))))
      : h("p", { class: "ins-muted" }, "Nothing yet."));
}

function toolTable(items) {
  items = items || [];
  return h("section", { class: "ins-section", dataset: { group: "Tools" } },
    h("h2", {}, "Tools"),
    items.length ? h("div", { class: "ins-table-wrap" }, h("table", { class: "ins-table ins-stats-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Tool"),
        ["Offered", "Called", "Call rate", "Errors"].map((t) => h("th", { scope: "col", class: "ins-num" }, t)))),
      h("tbody", {}, items.map((t) => h("tr", {},
        h("td", { class: "ins-key" }, h("code", {}, t.tool ?? "")),
        h("td", { class: "ins-num" }, num(t.offered)),
        h("td", { class: "ins-num" }, num(t.called)),
        h("td", { class: "ins-num" }, t.offered ? pct((t.called || 0) / t.offered) : "–"),
        h("td", { class: "ins-num" }, t.errors ? badge(num(t.errors), "error") : h("span", { class: "ins-muted" }, "0")))))))
      : h("p", { class: "ins-muted" }, "No tools offered in this range."));
}

function rangePicker() {
  return h("div", { class: "ins-range", role: "group", "aria-label": "time range" },
    RANGES.map(([name]) => h("button", {
      type: "button",
      class: ["ins-chip", name === range && "is-active"],
      "aria-pressed": name === range ? "true" : "false",
      onclick: () => {
        range = name;
        const params = new URLSearchParams(location.search);
        params.set("range", name);
        history.replaceState(null, "", location.pathname + "?" + params);
        clear(view.picker, rangePicker());
        sig = "";
        load();
      },
    }, name === "all" ? "All" : `Last ${name}`)));
}

async function load() {
  try {
    const s = await api("stats", { since: sinceFor(range) });
    const next = JSON.stringify(s);
    if (next === sig) return;
    sig = next;
    const q = (key) => (value) => pageUrl("") + "?" + new URLSearchParams({ [key]: value });
    clear(view.body,
      overall(s.overall),
      charts(s.over_time),
      groupTable("Models", s.by_model, { keyLabel: "Model", link: q("model"), keyView: (k) => h("span", { class: "ins-model" }, k) }),
      groupTable("Client apps", s.by_app, { keyLabel: "App", link: q("app"), keyView: appBadge }),
      groupTable("Client IPs", s.by_client_ip, { keyLabel: "IP" }),
      groupTable("Upstreams", s.by_upstream, { keyLabel: "Upstream" }),
      toolTable(s.by_tool));
    document.body.dataset.loaded = "1";
  } catch (e) {
    clear(view.body, errorBox(`Could not load stats: ${e.message}`));
  }
}

function main() {
  setTitle("Stats");
  const wanted = new URLSearchParams(location.search).get("range");
  if (RANGES.some(([n]) => n === wanted)) range = wanted;
  view = { picker: h("div"), body: h("div", {}, h("p", { class: "ins-loading" }, "Loading…")) };
  clear(view.picker, rangePicker());
  clear(app(), h("div", { class: "ins-title-row" }, h("h1", {}, "Stats"), h("span", { class: "ins-spacer" }), view.picker), view.body);
  load();
  poll(load, () => 10000);
}

main();
