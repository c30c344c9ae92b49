// Shared helpers: DOM building (text only, never innerHTML), the API client, formatting.

export const app = () => document.getElementById("app");
export const base = () => app().dataset.base || "/";
export const pageUrl = (path = "") => base() + path;

// h("a", {href, class: "x", onclick}, "text", child, [more]) -> element. Strings become text.
export function h(tag, attrs, ...children) {
  const el = tag.includes(":") || tag === "svg"
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.replace(/^svg:/, ""))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "text") {
      el.textContent = value;
    } else if (key in el && !(el instanceof SVGElement) && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export const svg = (tag, attrs, ...children) => h("svg:" + tag, attrs, ...children);

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false || child === "") continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function api(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const qs = query.toString();
  const response = await fetch(pageUrl("api/" + path) + (qs ? "?" + qs : ""), {
    headers: { accept: "application/json" },
    credentials: "same-origin",
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && (body.error || body.message)) || response.statusText;
    throw new ApiError(`${response.status}: ${message}`, response.status);
  }
  return body;
}

// -- redaction --------------------------------------------------------------------------------

const REDACTED_TEXT = /^\s*\[redacted\b/i;

export function isRedacted(value) {
  if (typeof value === "string") return REDACTED_TEXT.test(value);
  return !!value && typeof value === "object" && !Array.isArray(value) && value.redacted === true;
}

export function redactedText(value) {
  if (typeof value === "string") return value.trim();
  if (value && typeof value === "object") {
    return value.text || value.reason || value.placeholder || "[redacted]";
  }
  return "[redacted]";
}

export function redactedChip(value, what = "") {
  const text = redactedText(value);
  return h("span", {
    class: "ins-redacted",
    title: "Hidden from viewers outside the trusted networks" + (what ? ` (${what})` : ""),
  }, h("span", { class: "ins-lock", "aria-hidden": "true" }), text);
}

// -- formatting ---------------------------------------------------------------------------------

const NUM = new Intl.NumberFormat("en-US");

export function num(n) {
  return n === null || n === undefined || Number.isNaN(n) ? "–" : NUM.format(Math.round(n));
}

export function compact(n) {
  if (n === null || n === undefined) return "–";
  const abs = Math.abs(n);
  if (abs >= 1e9) return (n / 1e9).toFixed(abs >= 1e10 ? 0 : 1) + "B";
  if (abs >= 1e6) return (n / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M";
  if (abs >= 1e4) return (n / 1e3).toFixed(abs >= 1e5 ? 0 : 1) + "k";
  return num(n);
}

export function ms(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(n / 60000);
  return `${minutes} min ${Math.round((n % 60000) / 1000)} s`;
}

export function pct(x) {
  if (x === null || x === undefined) return "–";
  const p = x * 100;
  return (p > 0 && p < 0.1 ? "<0.1" : p.toFixed(p >= 10 || p === 0 ? 0 : 1)) + "%";
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}

export function parseTime(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n) => String(n).padStart(2, "0");

export function clock(iso, { seconds = true } = {}) {
  const d = parseTime(iso);
  if (!d) return "–";
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}` + (seconds ? `:${pad(d.getSeconds())}` : "");
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return time;
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${date} ${time}`;
}

export function timeEl(iso, opts) {
  return h("time", { datetime: iso || "", title: iso || "" }, clock(iso, opts));
}

export function ago(iso) {
  const d = parseTime(iso);
  if (!d) return "";
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

// Local "YYYY-MM-DDTHH:MM" for <input type=datetime-local> <-> UTC ISO for the API.
export function toLocalInput(iso) {
  const d = parseTime(iso);
  if (!d) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

// -- small shared widgets -----------------------------------------------------------------------

export function badge(text, kind = "", title = "") {
  return h("span", { class: ["ins-badge", kind && `ins-badge-${kind}`], title: title || null }, text);
}

export function statusBadge(row) {
  if (row.state === "pending") return badge("pending", "pending", "The response is still running");
  if (row.state === "abandoned") {
    return badge("abandoned", "error", "The proxy stopped before the response completed");
  }
  const status = row.status;
  if (row.error && (!status || status < 400)) return badge(status ? `${status} ERR` : "ERR", "error", row.error);
  if (!status) return badge("–");
  const kind = status >= 500 ? "error" : status >= 400 ? "warn" : "ok";
  return badge(String(status), kind, row.error || "");
}

const VERDICT_KINDS = {
  allow: "", block: "error", warn: "warn", rewrite: "info", intercept: "info",
  routed: "info", autofixed: "info",
};

export function verdictBadge(verdict) {
  if (!verdict || verdict === "allow") return h("span", { class: "ins-muted" }, "allow");
  return badge(verdict, VERDICT_KINDS[verdict] ?? "info");
}

export function tokensCell(row) {
  const estimated = row.tokens_estimated ? "~" : "";
  const live = row.state === "pending" && row.tokens_live !== false;
  const cache = [];
  if (row.cache_read_tokens) cache.push(`${compact(row.cache_read_tokens)} cached`);
  if (row.cache_write_tokens) cache.push(`${compact(row.cache_write_tokens)} written`);
  return h("span", {
    class: ["ins-tokens", live && "is-live"],
    title: [
      `input ${num(row.input_tokens)}`, `output ${num(row.output_tokens)}`,
      `cache read ${num(row.cache_read_tokens)}`, `cache write ${num(row.cache_write_tokens)}`,
      row.tokens_estimated ? "(estimated until the upstream reports usage)" : "",
    ].filter(Boolean).join("\n"),
  },
  h("span", { class: "ins-tok-in" }, estimated + compact(row.input_tokens)),
  h("span", { class: "ins-arrow" }, " → "),
  h("span", { class: "ins-tok-out" }, compact(row.output_tokens)),
  cache.length ? h("span", { class: "ins-tok-cache" }, cache.join(", ")) : null);
}

export function appBadge(app) {
  return app ? h("span", { class: "ins-app" }, app) : h("span", { class: "ins-muted" }, "unknown");
}

export function errorBox(message) {
  return h("p", { class: "ins-error", role: "alert" }, message);
}

export function section(title, ...children) {
  return h("section", { class: "ins-section" }, h("h2", {}, title), ...children);
}

export function card(label, value, sub = null, title = "") {
  return h("div", { class: "ins-card", title: title || null },
    h("div", { class: "ins-card-label" }, label),
    h("div", { class: "ins-card-value" }, value),
    sub ? h("div", { class: "ins-card-sub" }, sub) : null);
}

// Pretty JSON in a <pre>, or a placeholder for redacted values and a plain text for strings.
export function prettyBlock(value, { emptyText = "(empty)" } = {}) {
  if (isRedacted(value)) return h("div", { class: "ins-redacted-block" }, redactedChip(value));
  if (value === null || value === undefined || value === "") {
    return h("p", { class: "ins-muted" }, emptyText);
  }
  if (typeof value === "string") {
    const parsed = tryJson(value);
    if (parsed !== undefined && typeof parsed === "object") return prettyBlock(parsed);
    return h("pre", { class: "ins-pre" }, value);
  }
  return h("pre", { class: "ins-pre ins-json" }, JSON.stringify(value, null, 2));
}

export function tryJson(text) {
  if (typeof text !== "string") return undefined;
  const t = text.trim();
  if (!t || !"{[\"".includes(t[0])) return undefined;
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

export function collapsible(summary, body, { open = false, className = "" } = {}) {
  const details = h("details", { class: ["ins-details", className], open });
  details.append(h("summary", {}, summary));
  // Bodies can be large: build them the first time they are opened.
  if (typeof body === "function") {
    let built = false;
    const build = () => {
      if (built || !details.open) return;
      built = true;
      details.append(body());
    };
    details.addEventListener("toggle", build);
    if (open) queueMicrotask(build);
  } else {
    details.append(body);
  }
  return details;
}

// Polls `fn` every `interval()` ms while the page is visible; never overlapping itself.
export function poll(fn, interval) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden) {
      try {
        await fn();
      } catch (e) {
        console.warn("refresh failed", e);
      }
    }
    if (!stopped) timer = setTimeout(tick, interval());
  };
  timer = setTimeout(tick, interval());
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    now() {
      if (timer) clearTimeout(timer);
      tick();
    },
  };
}

export function setTitle(text) {
  document.title = `${text} · LLM Inspector`;
}
