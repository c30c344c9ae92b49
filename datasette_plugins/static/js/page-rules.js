// Rules: the routing mode (passthrough, or Anthropic clients redirected to a local model), the
// proxy's rules document in an editor validated as you type, quick on/off switches, the version
// history with a diff against the current version, and restore.
//
// The document lives in the proxy suite (`api/rules*`), which answers these paths itself when
// the UI is opened through the proxy; on Datasette's own port the plugin forwards them.
import {
  ago, api, app, badge, clear, clock, collapsible, errorBox, h, pageUrl, poll, setTitle,
} from "./util.js";
import { JsonSyntaxError, hunks, lineDiff, lineOfPointer, parse, pretty, validate } from "./rules-tools.js";

const LINE_PX = 20;
const PAD_TOP = 8;

const state = {
  viewerIp: "",
  canEdit: false,
  rules: null, // GET api/rules
  schema: null,
  versions: [],
  stored: "", // the current document, pretty-printed: what "unchanged" means
  problems: [], // [{line, path, message, source}]
  serverErrors: null, // {text, errors}: the proxy's refusal of exactly this text
  selected: null, // version shown in the diff
  busy: false,
  modeTouched: false, // the routing-mode form has edits not applied yet: leave it alone
};
let view = null;

const isLoopback = (ip) => /^(127\.|::1$|::ffff:127\.)/.test(ip || "");

// -- talking to the rules API ----------------------------------------------------------------------

async function send(path, body) {
  const response = await fetch(pageUrl("api/" + path), {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      "x-proxy-user": `ui:${state.viewerIp || "unknown"}`,
    },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, body: data };
}

// -- messages ------------------------------------------------------------------------------------

function notify(text, kind = "ok") {
  clear(view.notice, text ? h("p", { class: ["ins-notice", `is-${kind}`], role: kind === "error" ? "alert" : "status" }, text) : null);
}

// -- the editor ----------------------------------------------------------------------------------

function buildEditor() {
  const textarea = h("textarea", {
    class: "ins-code",
    name: "document",
    wrap: "off",
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    "aria-label": "Rules document (JSON)",
    "aria-describedby": "ins-problems",
  });
  const gutter = h("div", { class: "ins-gutter-inner" });
  const marks = h("div", { class: "ins-editor-marks", "aria-hidden": "true" });
  const root = h("div", { class: "ins-editor" },
    h("div", { class: "ins-gutter", "aria-hidden": "true" }, gutter),
    h("div", { class: "ins-editor-main" }, marks, textarea));
  let timer = null;
  textarea.addEventListener("input", () => {
    renderGutter();
    clearTimeout(timer);
    timer = setTimeout(check, 120);
  });
  textarea.addEventListener("scroll", () => {
    gutter.style.transform = `translateY(${-textarea.scrollTop}px)`;
    marks.style.transform = `translate(${-textarea.scrollLeft}px, ${-textarea.scrollTop}px)`;
  });
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      if (!document.execCommand("insertText", false, "  ")) {
        textarea.setRangeText("  ", textarea.selectionStart, textarea.selectionEnd, "end");
        textarea.dispatchEvent(new Event("input"));
      }
    } else if (e.key === "s" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (!view.save.disabled) save();
    }
  });
  return { root, textarea, gutter, marks };
}

function lines() {
  return view.editor.textarea.value.split("\n");
}

function renderGutter() {
  const count = lines().length;
  const gutter = view.editor.gutter;
  const bad = new Map();
  for (const p of state.problems) if (p.line) bad.set(p.line, [...(bad.get(p.line) || []), p.message]);
  if (gutter.childElementCount !== count || gutter.dataset.sig !== JSON.stringify([...bad])) {
    clear(gutter, Array.from({ length: count }, (_, k) => {
      const messages = bad.get(k + 1);
      return h("div", { class: ["ins-ln", messages && "is-error"], title: messages ? messages.join("\n") : null }, String(k + 1));
    }));
    gutter.dataset.sig = JSON.stringify([...bad]);
  }
}

function renderMarks() {
  const text = lines();
  const byLine = new Map();
  for (const p of state.problems) if (p.line) byLine.set(p.line, [...(byLine.get(p.line) || []), p]);
  clear(view.editor.marks, [...byLine].map(([line, problems]) => {
    const width = (text[line - 1] || "").replace(/\t/g, "  ").length;
    return h("div", { class: "ins-mark", style: `top:${PAD_TOP + (line - 1) * LINE_PX}px`, dataset: { line: String(line) } },
      h("span", { class: "ins-lens", style: `left:calc(10px + ${width + 3}ch)` },
        h("span", {}, problems.map((p) => p.message).join(" · "))));
  }));
}

function jumpTo(line) {
  const textarea = view.editor.textarea;
  const text = lines();
  let start = 0;
  for (let k = 0; k < line - 1 && k < text.length; k++) start += text[k].length + 1;
  const end = start + (text[line - 1] || "").length;
  textarea.focus();
  textarea.setSelectionRange(start, end);
  textarea.scrollTop = Math.max(0, (line - 1) * LINE_PX - textarea.clientHeight / 3);
}

// -- validation ----------------------------------------------------------------------------------

// Parse and validate the editor's text: the problems, and the document if it parses.
function examine(text) {
  let parsed;
  try {
    parsed = parse(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    return { doc: undefined, problems: [{ line: e.line, path: null, message: `JSON: ${e.message} (line ${e.line}, column ${e.column})`, source: "syntax" }] };
  }
  const problems = [];
  const refused = state.serverErrors && state.serverErrors.text === text ? state.serverErrors.errors : null;
  const errors = refused || (state.schema ? validate(state.schema, parsed.value) : []);
  for (const error of errors) {
    problems.push({ line: lineOfPointer(parsed.lines, error.path), path: error.path, message: error.message, source: refused ? "proxy" : "schema" });
  }
  for (const dup of parsed.duplicates) {
    problems.push({ line: dup.line, path: dup.path, message: `duplicate key '${dup.key}' (only the last one counts)`, source: "schema" });
  }
  problems.sort((a, b) => a.line - b.line);
  return { doc: parsed.value, problems };
}

function check() {
  const text = view.editor.textarea.value;
  const { doc, problems } = examine(text);
  state.problems = problems;
  renderGutter();
  renderMarks();
  const dirty = text !== state.stored;
  const refused = problems.some((p) => p.source === "proxy");
  clear(view.problems, problems.map((p) => h("li", { class: ["ins-problem", `is-${p.source}`], dataset: { path: p.path || "", line: String(p.line) } },
    h("button", { type: "button", class: "ins-link-button", onclick: () => jumpTo(p.line) }, `line ${p.line}`),
    p.path ? h("code", { class: "ins-problem-path" }, p.path) : null,
    h("span", { class: "ins-problem-message" }, p.message),
    p.source === "proxy" ? badge("proxy", "error", "The proxy refused the document for this") : null)));
  view.save.disabled = !state.canEdit || state.busy || doc === undefined || !dirty;
  view.revert.disabled = !dirty || state.busy;
  view.format.disabled = doc === undefined;
  let status;
  if (doc === undefined) status = h("span", { class: "ins-error-text" }, "Not valid JSON");
  else if (refused) status = h("span", { class: "ins-error-text" }, `Refused by the proxy: ${problems.length} problem${problems.length === 1 ? "" : "s"}`);
  else if (problems.length) status = h("span", { class: "ins-error-text" }, `${problems.length} problem${problems.length === 1 ? "" : "s"}: the proxy will refuse this document`);
  else status = h("span", { class: "ins-ok-text" }, dirty ? "Valid · unsaved changes" : "Valid · saved");
  clear(view.status, status);
  view.editor.root.classList.toggle("has-problems", problems.length > 0);
  return { doc, problems };
}

function setText(text) {
  view.editor.textarea.value = text;
  renderGutter();
  check();
}

// -- saving --------------------------------------------------------------------------------------

function installed(body, message) {
  const dirty = view.editor.textarea.value !== state.stored;
  state.rules = body;
  state.stored = pretty(body.document || {});
  state.serverErrors = null;
  renderHeader();
  renderMode();
  renderToggles();
  renderEffective();
  if (!dirty) setText(state.stored);
  else check();
  notify(message + (dirty ? " Your unsaved edits are kept in the editor." : ""), "ok");
  return loadHistory();
}

async function save() {
  const text = view.editor.textarea.value;
  const { doc } = examine(text);
  if (doc === undefined) return;
  await busy(async () => {
    const result = await send("rules", doc);
    if (result.ok) {
      view.editor.textarea.value = pretty(doc);
      state.stored = pretty(doc);
      await installed(result.body, `Saved as version ${result.body.version}.`);
      return;
    }
    if (result.status === 400 && Array.isArray(result.body?.errors)) {
      state.serverErrors = { text, errors: result.body.errors };
      check();
      notify(`Not saved: the proxy refused the document (${result.body.errors.length} problem${result.body.errors.length === 1 ? "" : "s"}, marked in the editor).`, "error");
      return;
    }
    notify(`Not saved: ${result.body?.error || `HTTP ${result.status}`}`, "error");
  });
}

async function toggle(ruleId, on, input) {
  const doc = structuredClone(state.rules.document || {});
  doc[ruleId] = { ...(doc[ruleId] || {}), enabled: on };
  await busy(async () => {
    const result = await send("rules", doc);
    if (result.ok) {
      await installed(result.body, `${ruleId} turned ${on ? "on" : "off"}: version ${result.body.version}.`);
    } else {
      input.checked = !on;
      const errors = (result.body?.errors || []).map((e) => `${e.path}: ${e.message}`).join("; ");
      notify(`${ruleId} not changed: ${result.body?.error || `HTTP ${result.status}`}${errors ? ` (${errors})` : ""}`, "error");
    }
  });
}

async function restore(version) {
  await busy(async () => {
    const result = await send("rules/restore", { version });
    if (result.ok) {
      state.selected = null;
      await installed(result.body, `Version ${version} restored as version ${result.body.version}.`);
    } else {
      notify(`Not restored: ${result.body?.error || `HTTP ${result.status}`}`, "error");
    }
  });
}

// The routing mode: `{mode: "passthrough"}`, or `{mode: "redirect", to, upstream?}`, which the
// proxy turns into a model_router rule (Claude models → the local model) and protocol_bridge on.
async function applyMode() {
  const form = view.mode;
  const mode = form.redirect.checked ? "redirect" : "passthrough";
  const body = { mode };
  if (mode === "redirect") {
    const to = form.model.value.trim();
    const upstream = form.upstream.value.trim();
    if (to) body.to = to;
    if (upstream) body.upstream = upstream;
  }
  clear(form.error);
  await busy(async () => {
    const result = await send("rules/mode", body);
    if (result.ok) {
      state.modeTouched = false;
      const what = mode === "redirect" ? `Redirect mode: Claude models → ${body.to}` : "Passthrough mode";
      await installed(result.body, `${what}, version ${result.body.version}.`);
      return;
    }
    const errors = (result.body?.errors || []).map((e) => `${e.path}: ${e.message}`).join("; ");
    clear(form.error, `Not changed: ${result.body?.error || `HTTP ${result.status}`}${errors ? ` (${errors})` : ""}`);
  });
}

function currentMode() {
  return state.rules?.mode || { mode: "passthrough", routes: [], upstream: "" };
}

function routeText(route) {
  const froms = route.from_model ? [route.from_model] : (route.from || []).map((f) => `${f}*`);
  return `${froms.join(", ")} → ${route.to}`;
}

function buildModeForm() {
  const touched = () => { state.modeTouched = true; syncModeForm(); };
  const radio = (value, label, sub) => h("label", { class: "ins-mode-choice" },
    h("input", { type: "radio", name: "routing-mode", value, onchange: touched }),
    h("span", {}, h("strong", {}, label), h("span", { class: "ins-muted ins-small" }, sub)));
  const passthrough = radio("passthrough", "Passthrough", "every request goes to the API it was sent to");
  const redirect = radio("redirect", "Redirect", "Anthropic clients (Claude Code) bridged to a local OpenAI-compatible model");
  const model = h("input", { type: "text", name: "to", placeholder: "e.g. qwen3-coder:30b", autocomplete: "off", spellcheck: "false", oninput: touched });
  const upstream = h("input", { type: "text", name: "upstream", autocomplete: "off", spellcheck: "false", oninput: touched });
  const apply = h("button", { type: "submit", class: "ins-button ins-primary" }, "Apply");
  const error = h("p", { class: "ins-mode-error ins-error-text", role: "alert" });
  const current = h("div", { class: "ins-mode-current" });
  const fields = h("div", { class: "ins-mode-fields" },
    h("label", { class: "ins-field" }, h("span", {}, "Local model"), model),
    h("label", { class: "ins-field" }, h("span", {}, "Upstream (optional)"), upstream));
  const root = h("form", {
    class: "ins-mode-form",
    onsubmit: (e) => { e.preventDefault(); if (!apply.disabled) applyMode(); },
  },
  h("div", { class: "ins-mode-choices", role: "radiogroup", "aria-label": "Routing mode" },
    passthrough, redirect),
  fields,
  h("div", { class: "ins-mode-actions" }, apply),
  error);
  return {
    root, current, error, model, upstream, apply, fields,
    passthrough: passthrough.querySelector("input"),
    redirect: redirect.querySelector("input"),
  };
}

function renderMode() {
  const m = currentMode();
  const form = view.mode;
  const redirect = m.mode === "redirect";
  view.modeSection.dataset.mode = m.mode;
  clear(form.current,
    h("span", { class: ["ins-mode-badge", redirect ? "is-redirect" : "is-passthrough"], dataset: { mode: m.mode } }, m.mode),
    redirect
      ? h("span", { class: "ins-mode-routes" },
        m.routes.map((r, k) => [k ? h("span", { class: "ins-muted" }, " · ") : null, h("code", { class: "ins-mode-route" }, routeText(r))]),
        h("span", { class: "ins-muted" }, " via upstream "), h("code", { class: "ins-mode-upstream" }, m.upstream || "?"))
      : h("span", { class: "ins-muted" }, "Requests go to the API they were sent to."));
  if (!state.modeTouched) {
    const route = m.routes.find((r) => (r.from || []).includes("claude-")) || m.routes[0];
    form.redirect.checked = redirect;
    form.passthrough.checked = !redirect;
    form.model.value = route ? route.to : "";
    form.upstream.value = "";
    form.upstream.placeholder = m.upstream ? `current: ${m.upstream}` : "";
  }
  syncModeForm();
}

function syncModeForm() {
  const form = view.mode;
  const off = !state.canEdit || state.busy;
  for (const input of [form.passthrough, form.redirect, form.apply]) input.disabled = off;
  form.model.disabled = off || !form.redirect.checked;
  form.upstream.disabled = off || !form.redirect.checked;
  form.fields.classList.toggle("is-off", !form.redirect.checked);
}

async function busy(fn) {
  state.busy = true;
  document.body.dataset.busy = "1";
  for (const input of view.toggles.querySelectorAll("input")) input.disabled = true;
  syncModeForm();
  check();
  try {
    await fn();
  } catch (e) {
    notify(`The proxy did not answer: ${e.message}`, "error");
  } finally {
    state.busy = false;
    delete document.body.dataset.busy;
    renderToggles();
    syncModeForm();
    check();
  }
}

// -- the other panels --------------------------------------------------------------------------------

function renderHeader() {
  const r = state.rules;
  clear(view.meta, r.version
    ? h("span", {},
      badge(`version ${r.version}`, "info"), " ",
      h("span", { class: "ins-muted" }, "saved "), h("time", { datetime: r.updated_at, title: r.updated_at }, ago(r.updated_at) || clock(r.updated_at)),
      h("span", { class: "ins-muted" }, " by "), h("code", {}, r.updated_by || "?"))
    : h("span", { class: "ins-muted" }, "Built-in defaults: nothing saved yet"));
}

function optionSummary(ruleId) {
  const own = { ...((state.rules.document || {})[ruleId] || {}) };
  delete own.enabled;
  const parts = Object.entries(own).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
  return parts.length ? parts.join(", ") : "default options";
}

function renderToggles() {
  const effective = state.rules?.effective || {};
  clear(view.toggles, Object.entries(effective).map(([ruleId, options]) => {
    const on = !!options.enabled;
    const input = h("input", {
      type: "checkbox",
      role: "switch",
      checked: on,
      disabled: !state.canEdit || state.busy,
      dataset: { rule: ruleId },
      "aria-label": `${ruleId} ${on ? "on" : "off"}`,
      onchange: (e) => toggle(ruleId, e.target.checked, e.target),
    });
    const summary = optionSummary(ruleId);
    return h("label", { class: ["ins-rule", on && "is-on"], dataset: { rule: ruleId }, title: summary },
      input,
      h("span", { class: "ins-switch", "aria-hidden": "true" }),
      h("span", { class: "ins-rule-text" },
        h("span", { class: "ins-rule-name" }, ruleId),
        h("span", { class: "ins-rule-sub" }, summary)),
      h("span", { class: ["ins-rule-state", on ? "is-on" : "is-off"] }, on ? "on" : "off"));
  }));
}

function renderEffective() {
  clear(view.effective, h("pre", { class: "ins-pre ins-json", "aria-readonly": "true" }, pretty(state.rules.effective || {})));
}

function renderHistory() {
  const current = state.rules?.version;
  if (!state.versions.length) {
    clear(view.history, h("p", { class: "ins-muted" }, "No saved versions yet: the proxy runs on the built-in defaults."));
    return;
  }
  clear(view.history, h("div", { class: "ins-table-wrap" }, h("table", { class: "ins-table ins-history" },
    h("thead", {}, h("tr", {}, ["Version", "When", "By", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, state.versions.map((v) => h("tr", {
      class: [v.version === state.selected && "is-selected", v.version === current && "is-current"],
      dataset: { version: String(v.version) },
    },
    h("td", { class: "ins-num" }, `v${v.version}`, v.version === current ? h("span", { class: "ins-muted ins-small" }, " current") : null),
    h("td", { class: "ins-col-time" }, h("time", { datetime: v.at, title: v.at }, clock(v.at)), h("div", { class: "ins-muted ins-small" }, ago(v.at))),
    h("td", {}, h("code", { class: "ins-by" }, v.by || "?")),
    h("td", { class: "ins-history-actions" },
      v.version === current ? null : h("button", { type: "button", class: "ins-button ins-small-button", onclick: () => showDiff(v.version) }, "Diff"),
      v.version === current ? null : h("button", {
        type: "button", class: "ins-button ins-small-button", disabled: !state.canEdit || state.busy,
        onclick: () => restore(v.version),
      }, "Restore"))))))));
  renderDiff();
}

function showDiff(version) {
  state.selected = state.selected === version ? null : version;
  renderHistory();
  if (state.selected !== null) view.diff.scrollIntoView({ block: "nearest" });
}

function renderDiff() {
  const version = state.versions.find((v) => v.version === state.selected);
  if (!version) {
    clear(view.diff);
    view.diff.hidden = true;
    return;
  }
  view.diff.hidden = false;
  const ops = lineDiff(pretty(version.document || {}), pretty(state.rules.document || {}));
  const added = ops.filter((o) => o.op === "+").length;
  const removed = ops.filter((o) => o.op === "-").length;
  clear(view.diff,
    h("div", { class: "ins-diff-head" },
      h("h3", {}, `Version ${version.version} → current (version ${state.rules.version})`),
      h("span", { class: "ins-diff-stat" }, h("span", { class: "ins-diff-del-text" }, `−${removed}`), " ", h("span", { class: "ins-diff-add-text" }, `+${added}`)),
      h("span", { class: "ins-spacer" }),
      h("button", { type: "button", class: "ins-button ins-primary ins-small-button", disabled: !state.canEdit || state.busy, onclick: () => restore(version.version) }, `Restore version ${version.version}`),
      h("button", { type: "button", class: "ins-link-button", onclick: () => showDiff(version.version) }, "Close")),
    h("p", { class: "ins-muted ins-small" }, `Lines marked − are in version ${version.version} only; + in the current version only.`),
    added || removed
      ? h("pre", { class: "ins-diff", "aria-label": "diff" }, hunks(ops).map((o) => (o.op === "…"
        ? h("div", { class: "ins-diff-skip" }, `… ${o.count} unchanged line${o.count === 1 ? "" : "s"}`)
        : h("div", { class: ["ins-diff-line", o.op === "+" ? "is-add" : o.op === "-" ? "is-del" : "is-same"] },
          h("span", { class: "ins-diff-op" }, o.op), o.text))))
      : h("p", { class: "ins-muted" }, "Identical to the current version."));
}

// -- loading --------------------------------------------------------------------------------------

async function loadHistory() {
  try {
    state.versions = (await api("rules/history")).versions || [];
  } catch (e) {
    state.versions = [];
    clear(view.history, errorBox(`Could not load the history: ${e.message}`));
    return;
  }
  renderHistory();
}

async function refresh() {
  if (state.busy) return;
  const rules = await api("rules");
  if (rules.version === state.rules?.version) return;
  await installed(rules, `Version ${rules.version} was saved elsewhere (by ${rules.updated_by}).`);
}

async function main() {
  setTitle("Rules");
  const editor = buildEditor();
  const mode = buildModeForm();
  view = {
    editor,
    mode,
    modeSection: h("section", { class: "ins-section ins-mode", dataset: { section: "mode" } },
      h("div", { class: "ins-mode-head" }, h("h2", {}, "Routing mode"), mode.current),
      mode.root),
    notice: h("div", { class: "ins-notices", "aria-live": "polite" }),
    meta: h("span", { class: "ins-rules-meta" }),
    toggles: h("div", { class: "ins-rule-grid" }),
    problems: h("ul", { class: "ins-problems", id: "ins-problems" }),
    status: h("span", { class: "ins-editor-status", "aria-live": "polite" }),
    save: h("button", { type: "button", class: "ins-button ins-primary", onclick: () => save() }, "Save"),
    revert: h("button", { type: "button", class: "ins-button", onclick: () => { state.serverErrors = null; setText(state.stored); notify(""); } }, "Revert"),
    format: h("button", { type: "button", class: "ins-button", onclick: () => { const { doc } = examine(editor.textarea.value); if (doc !== undefined) setText(pretty(doc)); } }, "Format"),
    history: h("div"),
    diff: h("div", { class: "ins-diff-box", dataset: { section: "diff" }, hidden: true }),
    effective: h("div"),
    readonly: h("p", { class: "ins-banner", hidden: true }),
  };
  clear(app(), h("div", { class: "ins-title-row" }, h("h1", {}, "Rules"), view.meta), h("p", { class: "ins-loading" }, "Loading…"));
  let info;
  let rules;
  try {
    [info, rules, state.schema] = await Promise.all([api("info"), api("rules"), api("rules/schema")]);
  } catch (e) {
    clear(app(), h("div", { class: "ins-title-row" }, h("h1", {}, "Rules")), errorBox(`Could not load the rules: ${e.message}`));
    document.body.dataset.loaded = "1";
    return;
  }
  state.viewerIp = info?.viewer?.ip || "";
  state.canEdit = isLoopback(state.viewerIp);
  state.rules = rules;
  state.stored = pretty(rules.document || {});
  if (!state.canEdit) {
    view.readonly.hidden = false;
    view.readonly.textContent = "Read only: rules can be changed only from the machine the proxy runs on.";
  }
  clear(app(),
    h("div", { class: "ins-title-row" }, h("h1", {}, "Rules"), view.meta),
    h("p", { class: "ins-subtitle" }, "One JSON document: rule id → that rule's options. Absent rules and options take their defaults. Every change is a new version; the next request uses it."),
    view.readonly,
    view.notice,
    view.modeSection,
    h("section", { class: "ins-section", dataset: { section: "toggles" } }, h("h2", {}, "Rules on and off"), view.toggles),
    h("div", { class: "ins-rules-grid" },
      h("section", { class: "ins-section", dataset: { section: "editor" } },
        h("div", { class: "ins-editor-bar" }, h("h2", {}, "Document"), view.status, h("span", { class: "ins-spacer" }), view.format, view.revert, view.save),
        editor.root,
        view.problems),
      h("section", { class: "ins-section", dataset: { section: "history" } }, h("h2", {}, "History"), view.history, view.diff)),
    h("section", { class: "ins-section", dataset: { section: "effective" } },
      collapsible("Effective rules: the document over the defaults (read only)", view.effective)));
  renderHeader();
  renderMode();
  renderToggles();
  renderEffective();
  setText(state.stored);
  await loadHistory();
  document.body.dataset.loaded = "1";
  poll(refresh, () => 10000);
}

main();
