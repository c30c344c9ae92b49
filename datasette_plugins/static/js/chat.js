// Neutral messages (see dialects.js) rendered as a chat transcript.
import { badge, collapsible, h, isRedacted, prettyBlock, redactedChip } from "./util.js";

const ROLE_LABELS = { system: "System", user: "User", assistant: "Assistant", tool: "Tool" };
const LONG_TEXT = 1800;

// Options:
//   results:  Map(id -> {block}) of tool results to show under their calls (pairing)
//   skipIds:  Set of tool-result ids already shown elsewhere (rendered as a short reference)
//   callNames: Map(id -> name) to label results whose call is elsewhere
export function renderChat(messages, options = {}) {
  const callNames = options.callNames || new Map();
  for (const m of messages) {
    for (const b of m.blocks || []) if (b.type === "tool_call" && b.id) callNames.set(b.id, b.name);
  }
  const results = options.results || new Map();
  if (options.pair !== false && !options.results) {
    for (const m of messages) {
      for (const b of m.blocks || []) if (b.type === "tool_result" && b.id && callNames.has(b.id)) results.set(b.id, { block: b });
    }
  }
  const opts = { ...options, callNames, results };
  const out = h("div", { class: "ins-chat" });
  for (const message of messages) {
    const el = renderMessage(message, opts);
    if (el) out.append(el);
  }
  if (!out.childNodes.length) out.append(h("p", { class: "ins-muted" }, options.emptyText || "No messages."));
  return out;
}

export function renderMessage(message, opts = {}) {
  const blocks = [];
  for (const block of message.blocks || []) {
    if (block.type === "tool_result" && block.id) {
      if (opts.skipIds?.has(block.id)) {
        blocks.push(resultReference(block, opts));
        continue;
      }
      if (opts.results?.has(block.id)) continue; // shown under its call
    }
    blocks.push(renderBlock(block, opts));
  }
  if (!blocks.length) return null;
  const role = message.role || "user";
  const allResults = (message.blocks || []).every((b) => b.type === "tool_result");
  const label = allResults && role !== "tool" ? "Tool results" : ROLE_LABELS[role] || role;
  return h("div", { class: ["ins-msg", `ins-role-${role}`, allResults && "ins-msg-results"] },
    h("div", { class: "ins-msg-role" }, label),
    h("div", { class: "ins-msg-body" }, blocks));
}

export function renderBlock(block, opts = {}) {
  switch (block.type) {
    case "text":
      return block.truncated
        ? h("div", {}, renderText(block.text), h("p", { class: "ins-muted ins-small" }, "… cut here; the request page has all of it."))
        : renderText(block.text);
    case "thinking":
      return collapsible(
        h("span", {}, block.encrypted ? "Thinking (encrypted)" : `Thinking · ${block.text.length.toLocaleString("en-US")} chars`),
        () => renderText(block.text, "ins-thinking-text"),
        { className: "ins-thinking" });
    case "tool_call":
      return renderToolCall(block, opts);
    case "tool_result":
      return renderToolResult(block, opts);
    case "image":
      return renderImage(block);
    case "redacted":
      return h("div", { class: "ins-block-redacted" }, redactedChip(block.text));
    default:
      return collapsible(h("span", {}, block.label || "other"), () => prettyBlock(block.value), { className: "ins-other" });
  }
}

export function renderText(text, className = "") {
  if (isRedacted(text)) return h("div", { class: "ins-block-redacted" }, redactedChip(text));
  const t = String(text ?? "");
  const el = h("div", { class: ["ins-text", className] }, t);
  if (t.length <= LONG_TEXT && t.split("\n").length <= 40) return el;
  el.classList.add("is-clamped");
  const toggle = h("button", {
    type: "button",
    class: "ins-link-button ins-more",
    onclick: () => {
      const clamped = el.classList.toggle("is-clamped");
      toggle.textContent = clamped ? `Show all ${t.length.toLocaleString("en-US")} chars` : "Show less";
    },
  }, `Show all ${t.length.toLocaleString("en-US")} chars`);
  return h("div", {}, el, toggle);
}

function argsView(args) {
  if (isRedacted(args)) return h("div", { class: "ins-block-redacted" }, redactedChip(args));
  if (typeof args === "string") {
    return h("div", {},
      badge("arguments are not valid JSON", "warn"),
      h("pre", { class: "ins-pre" }, args));
  }
  if (args && typeof args === "object" && !Array.isArray(args) && Object.keys(args).length === 0) {
    return h("p", { class: "ins-muted ins-small" }, "no arguments");
  }
  if (isFlatWithText(args)) {
    // Multi-line strings (code, file contents, diffs) read better unescaped than inside JSON.
    return h("dl", { class: "ins-args" }, Object.entries(args).map(([key, value]) => [
      h("dt", {}, key),
      h("dd", {}, typeof value === "string"
        ? isRedacted(value) ? redactedChip(value) : h("pre", { class: "ins-pre ins-arg-text" }, value)
        : h("code", {}, JSON.stringify(value))),
    ]));
  }
  return prettyBlock(args);
}

function isFlatWithText(args) {
  if (!args || typeof args !== "object" || Array.isArray(args)) return false;
  const values = Object.values(args);
  return values.every((v) => v === null || ["string", "number", "boolean"].includes(typeof v)) &&
    values.some((v) => typeof v === "string" && (v.includes("\n") || v.length > 100));
}

export function renderToolCall(block, opts = {}) {
  const paired = block.id ? opts.results?.get(block.id) : null;
  const result = paired?.block;
  const status = result
    ? result.is_error ? badge("error", "error") : badge("ok", "ok")
    : opts.expectResults ? badge("no result", "", "No result for this call in the conversation") : null;
  return h("div", { class: ["ins-tool", "ins-tool-call", result?.is_error && "is-error"], id: block.id ? `call-${block.id}` : null },
    h("div", { class: "ins-tool-head" },
      h("span", { class: "ins-tool-icon", "aria-hidden": "true" }, "⚙"),
      h("span", { class: "ins-tool-name" }, block.name || "(unnamed tool)"),
      block.server ? badge("server tool", "info") : null,
      block.id ? h("code", { class: "ins-tool-id" }, block.id) : null,
      status),
    argsView(block.arguments),
    result ? renderToolResult(result, { ...opts, nested: true }) : null);
}

export function renderToolResult(block, opts = {}) {
  const name = block.name || (block.id && opts.callNames?.get(block.id));
  const content = block.content || [];
  const chars = content.reduce((n, b) => n + (b.type === "text" ? b.text.length : 0), 0);
  const body = content.length
    ? h("div", { class: "ins-tool-result-body" }, content.map((b) => renderBlock(b, opts)))
    : h("p", { class: "ins-muted ins-small" }, "(empty result)");
  return h("div", { class: ["ins-tool", "ins-tool-result", block.is_error && "is-error", opts.nested && "is-nested"], id: block.id && !opts.nested ? `result-${block.id}` : null },
    h("div", { class: "ins-tool-head" },
      h("span", { class: "ins-tool-icon", "aria-hidden": "true" }, block.is_error ? "✗" : "↳"),
      h("span", {}, opts.nested ? "Result" : name ? `Result of ${name}` : "Tool result"),
      !opts.nested && block.id ? h("code", { class: "ins-tool-id" }, block.id) : null,
      block.is_error ? badge("error", "error") : null,
      chars ? h("span", { class: "ins-muted ins-small" }, `${chars.toLocaleString("en-US")} chars`) : null),
    body);
}

function resultReference(block, opts) {
  const name = block.name || opts.callNames?.get(block.id);
  return h("div", { class: ["ins-tool-ref", block.is_error && "is-error"] },
    block.is_error ? "✗ " : "↳ ",
    `Result of ${name || "tool"} `,
    h("a", { href: `#call-${block.id}` }, "shown with its call"),
    block.is_error ? badge("error", "error") : null);
}

function safeUrl(url) {
  try {
    const u = new URL(url, location.href);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

export function renderImage(block) {
  if (block.src && /^data:image\//.test(block.src)) {
    return h("figure", { class: "ins-image" },
      h("img", { src: block.src, alt: "image sent to the model", loading: "lazy" }),
      h("figcaption", {}, block.media_type || block.src.slice(5, block.src.indexOf(";")) || "image"));
  }
  const url = block.url && safeUrl(block.url);
  if (url) {
    // Remote images are not fetched until asked: opening a capture must not call out to hosts.
    const fig = h("figure", { class: "ins-image ins-image-remote" });
    const button = h("button", {
      type: "button",
      class: "ins-button",
      onclick: () => {
        button.replaceWith(h("img", { src: url, alt: "image sent to the model", referrerpolicy: "no-referrer" }));
      },
    }, "Load image");
    fig.append(button, h("figcaption", {}, h("a", { href: url, rel: "noreferrer noopener", target: "_blank" }, url)));
    return fig;
  }
  return h("div", { class: "ins-image ins-muted" }, `[${block.label || "image"}]`);
}

// Tools offered with a request, as a compact list with collapsible schemas.
export function renderTools(tools, called = new Set()) {
  if (!tools?.length) return h("p", { class: "ins-muted" }, "No tools offered.");
  return h("ul", { class: "ins-tools" }, tools.map((t) =>
    h("li", {},
      collapsible(
        h("span", {},
          h("code", {}, t.name || "?"),
          called.has(t.name) ? badge("called", "ok") : null,
          t.description ? h("span", { class: "ins-muted ins-tool-desc" }, " — " + firstLine(t.description)) : null),
        () => h("div", {},
          t.description ? h("p", { class: "ins-text" }, t.description) : null,
          t.schema ? prettyBlock(t.schema) : null)))));
}

function firstLine(text) {
  const line = String(text).split("\n")[0];
  return line.length > 120 ? line.slice(0, 117) + "…" : line;
}
