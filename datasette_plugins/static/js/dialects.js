// Stored request/response bodies and stream events, per API dialect, in one neutral shape:
//
//   message = {role: "system"|"user"|"assistant"|"tool", blocks: [block]}
//   block   = {type: "text", text}
//           | {type: "thinking", text}
//           | {type: "tool_call", id, name, arguments}          (arguments: object or raw string)
//           | {type: "tool_result", id, name, content: [block], is_error}
//           | {type: "image", src?, url?, media_type?}          (src: a data: URL)
//           | {type: "redacted", text}
//           | {type: "other", label, value}
//
// Every function is total: unknown shapes become "other" blocks, never exceptions.

const REDACTED = /^\s*\[redacted\b/i;

const isObj = (v) => !!v && typeof v === "object" && !Array.isArray(v);
const arr = (v) => (Array.isArray(v) ? v : v === null || v === undefined ? [] : [v]);

export function isRedactedValue(v) {
  return (typeof v === "string" && REDACTED.test(v)) || (isObj(v) && v.redacted === true);
}

function redactedBlock(v) {
  const text = typeof v === "string" ? v.trim() : v.text || v.reason || "[redacted]";
  return { type: "redacted", text };
}

function text(t) {
  if (isRedactedValue(t)) return redactedBlock(t);
  return { type: "text", text: typeof t === "string" ? t : JSON.stringify(t) };
}

function other(label, value) {
  return { type: "other", label, value };
}

function parseArgs(value) {
  if (typeof value !== "string") return value ?? {};
  if (isRedactedValue(value)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function dataUrl(mediaType, data) {
  if (typeof data !== "string" || isRedactedValue(data)) return null;
  if (data.startsWith("data:")) return data;
  return `data:${mediaType || "image/png"};base64,${data}`;
}

function imageFromUrl(url, mediaType) {
  if (typeof url !== "string") return other("image", url);
  if (isRedactedValue(url)) return redactedBlock(url);
  if (url.startsWith("data:")) return { type: "image", src: url, media_type: mediaType };
  return { type: "image", url, media_type: mediaType };
}

function withText(blocks) {
  return blocks.filter((b) => !(b.type === "text" && !b.text));
}

// -- Anthropic Messages ---------------------------------------------------------------------------

function anthropicBlocks(content) {
  if (isRedactedValue(content)) return [redactedBlock(content)];
  if (typeof content === "string") return [text(content)];
  return arr(content).map(anthropicBlock);
}

function anthropicBlock(b) {
  if (isRedactedValue(b)) return redactedBlock(b);
  if (typeof b === "string") return text(b);
  if (!isObj(b)) return other("block", b);
  switch (b.type) {
    case "text":
      return text(b.text ?? "");
    case "thinking":
      return { type: "thinking", text: b.thinking ?? "" };
    case "redacted_thinking":
      return { type: "thinking", text: "(encrypted thinking)", encrypted: true };
    case "tool_use":
    case "server_tool_use":
    case "mcp_tool_use":
      return { type: "tool_call", id: b.id, name: b.name, arguments: b.input ?? {}, server: b.type !== "tool_use" };
    case "tool_result":
    case "mcp_tool_result":
      return {
        type: "tool_result",
        id: b.tool_use_id,
        content: anthropicBlocks(b.content ?? ""),
        is_error: !!b.is_error,
      };
    case "image": {
      const s = b.source || {};
      if (s.type === "base64") return { type: "image", src: dataUrl(s.media_type, s.data), media_type: s.media_type };
      if (s.type === "url") return imageFromUrl(s.url);
      return other("image", b);
    }
    case "document":
      return other(`document${b.title ? `: ${b.title}` : ""}`, b);
    default:
      if (typeof b.type === "string" && b.type.endsWith("_tool_result")) {
        return { type: "tool_result", id: b.tool_use_id, content: [other(b.type, b.content)], is_error: false };
      }
      return other(b.type || "block", b);
  }
}

function anthropicRequest(body) {
  const system = [];
  if (body.system !== undefined && body.system !== null) {
    system.push({ role: "system", blocks: anthropicBlocks(body.system) });
  }
  const messages = arr(body.messages).map((m) => ({
    role: m?.role || "user",
    blocks: anthropicBlocks(m?.content),
  }));
  return {
    model: body.model,
    messages: [...system, ...messages],
    tools: arr(body.tools).map((t) => ({
      name: t?.name || t?.type,
      description: t?.description,
      schema: t?.input_schema,
    })),
    params: pick(body, ["max_tokens", "temperature", "top_p", "top_k", "stream", "tool_choice", "thinking", "stop_sequences", "metadata"]),
  };
}

function anthropicResponse(body) {
  if (body.type === "error" || (isObj(body.error) && !body.content)) return errorResult(body.error);
  return {
    messages: [{ role: "assistant", blocks: anthropicBlocks(body.content ?? []) }],
    stop_reason: body.stop_reason,
    model: body.model,
    usage: body.usage,
  };
}

function anthropicStream(events) {
  const blocks = [];
  let stopReason = null;
  let model = null;
  let error = null;
  const partial = new Map();
  for (const { event, data } of events) {
    if (!isObj(data)) continue;
    const type = data.type || event;
    if (type === "message_start") model = data.message?.model ?? model;
    else if (type === "content_block_start") {
      const block = { ...(data.content_block || {}) };
      if (block.type === "tool_use" || block.type === "server_tool_use") partial.set(data.index, "");
      blocks[data.index] = block;
    } else if (type === "content_block_delta") {
      const block = blocks[data.index] || (blocks[data.index] = { type: "text", text: "" });
      const d = data.delta || {};
      if (d.type === "text_delta") block.text = (block.text || "") + (d.text || "");
      else if (d.type === "thinking_delta") block.thinking = (block.thinking || "") + (d.thinking || "");
      else if (d.type === "input_json_delta") partial.set(data.index, (partial.get(data.index) || "") + (d.partial_json || ""));
    } else if (type === "content_block_stop") {
      if (partial.has(data.index)) {
        const raw = partial.get(data.index);
        blocks[data.index].input = raw ? parseArgs(raw) : {};
        partial.delete(data.index);
      }
    } else if (type === "message_delta") stopReason = data.delta?.stop_reason ?? stopReason;
    else if (type === "error") error = data.error?.message || JSON.stringify(data.error);
  }
  for (const [index, raw] of partial) if (blocks[index]) blocks[index].input = parseArgs(raw);
  return {
    messages: [{ role: "assistant", blocks: anthropicBlocks(blocks.filter(Boolean)) }],
    stop_reason: stopReason,
    model,
    error,
  };
}

// -- OpenAI Chat Completions ----------------------------------------------------------------------

function openaiContent(content) {
  if (isRedactedValue(content)) return [redactedBlock(content)];
  if (typeof content === "string") return [text(content)];
  return arr(content).map((p) => {
    if (isRedactedValue(p)) return redactedBlock(p);
    if (typeof p === "string") return text(p);
    if (!isObj(p)) return other("part", p);
    if (p.type === "text" || p.type === "input_text" || p.type === "output_text") return text(p.text ?? "");
    if (p.type === "refusal") return text(p.refusal ?? "");
    if (p.type === "image_url") return imageFromUrl(p.image_url?.url ?? p.image_url);
    if (p.type === "input_image") return imageFromUrl(p.image_url ?? p.file_id);
    return other(p.type || "part", p);
  });
}

function openaiToolCalls(calls) {
  return arr(calls).map((c) => ({
    type: "tool_call",
    id: c?.id,
    name: c?.function?.name ?? c?.name,
    arguments: parseArgs(c?.function?.arguments ?? c?.arguments),
  }));
}

function openaiMessage(m) {
  if (!isObj(m)) return { role: "user", blocks: [isRedactedValue(m) ? redactedBlock(m) : other("message", m)] };
  const role = m.role === "developer" ? "system" : m.role || "user";
  if (role === "tool" || role === "function") {
    return {
      role: "tool",
      blocks: [{
        type: "tool_result",
        id: m.tool_call_id,
        name: m.name,
        content: openaiContent(m.content ?? ""),
        is_error: looksLikeError(m.content),
      }],
    };
  }
  const blocks = [];
  const reasoning = m.reasoning_content ?? m.reasoning;
  if (typeof reasoning === "string" && reasoning) blocks.push({ type: "thinking", text: reasoning });
  if (m.content !== null && m.content !== undefined) blocks.push(...openaiContent(m.content));
  blocks.push(...openaiToolCalls(m.tool_calls));
  if (m.function_call) blocks.push(...openaiToolCalls([m.function_call]));
  return { role, blocks: withText(blocks) };
}

function openaiChatRequest(body) {
  const messages = arr(body.messages).map(openaiMessage);
  if (typeof body.prompt === "string") messages.push({ role: "user", blocks: [text(body.prompt)] });
  return {
    model: body.model,
    messages,
    tools: arr(body.tools).map((t) => ({
      name: t?.function?.name ?? t?.name ?? t?.type,
      description: t?.function?.description ?? t?.description,
      schema: t?.function?.parameters ?? t?.parameters,
    })),
    params: pick(body, ["max_tokens", "max_completion_tokens", "temperature", "top_p", "stream", "tool_choice", "response_format", "reasoning_effort", "n", "stop", "seed"]),
  };
}

function openaiChatResponse(body) {
  if (isObj(body.error) && !body.choices) return errorResult(body.error);
  const choice = arr(body.choices)[0] || {};
  const message = choice.message || (typeof choice.text === "string" ? { role: "assistant", content: choice.text } : {});
  return {
    messages: [{ ...openaiMessage({ role: "assistant", ...message }), role: "assistant" }],
    stop_reason: choice.finish_reason,
    model: body.model,
    usage: body.usage,
  };
}

function openaiChatStream(events) {
  let content = "";
  let reasoning = "";
  let stopReason = null;
  let model = null;
  let error = null;
  const calls = [];
  for (const { data } of events) {
    if (!isObj(data)) continue;
    if (data.error) error = data.error.message || JSON.stringify(data.error);
    model = data.model ?? model;
    for (const choice of arr(data.choices)) {
      const d = choice.delta || {};
      if (typeof d.content === "string") content += d.content;
      const r = d.reasoning_content ?? d.reasoning;
      if (typeof r === "string") reasoning += r;
      for (const tc of arr(d.tool_calls)) {
        const i = tc.index ?? calls.length;
        const call = calls[i] || (calls[i] = { id: null, function: { name: "", arguments: "" } });
        if (tc.id) call.id = tc.id;
        if (tc.function?.name) call.function.name += tc.function.name;
        if (tc.function?.arguments) call.function.arguments += tc.function.arguments;
      }
      if (choice.finish_reason) stopReason = choice.finish_reason;
    }
  }
  const message = openaiMessage({
    role: "assistant",
    content,
    reasoning_content: reasoning,
    tool_calls: calls.filter(Boolean),
  });
  return { messages: [message], stop_reason: stopReason, model, error };
}

// -- Ollama ---------------------------------------------------------------------------------------

function ollamaMessage(m) {
  if (!isObj(m)) return { role: "user", blocks: [isRedactedValue(m) ? redactedBlock(m) : other("message", m)] };
  if (m.role === "tool") {
    return {
      role: "tool",
      blocks: [{
        type: "tool_result",
        id: m.tool_call_id,
        name: m.tool_name ?? m.name,
        content: [text(m.content ?? "")],
        is_error: looksLikeError(m.content),
      }],
    };
  }
  const blocks = [];
  if (typeof m.thinking === "string" && m.thinking) blocks.push({ type: "thinking", text: m.thinking });
  if (m.content !== undefined && m.content !== null) blocks.push(text(m.content));
  for (const image of arr(m.images)) {
    blocks.push(isRedactedValue(image) ? redactedBlock(image) : { type: "image", src: dataUrl(sniffImage(image), image) });
  }
  blocks.push(...arr(m.tool_calls).map((c) => ({
    type: "tool_call",
    id: c?.id,
    name: c?.function?.name,
    arguments: parseArgs(c?.function?.arguments),
  })));
  return { role: m.role || "user", blocks: withText(blocks) };
}

function ollamaRequest(body) {
  const messages = [];
  if (typeof body.system === "string") messages.push({ role: "system", blocks: [text(body.system)] });
  messages.push(...arr(body.messages).map(ollamaMessage));
  if (body.prompt !== undefined) {
    messages.push(ollamaMessage({ role: "user", content: body.prompt, images: body.images }));
  }
  if (body.input !== undefined) messages.push({ role: "user", blocks: arr(body.input).map(text) });
  return {
    model: body.model,
    messages,
    tools: arr(body.tools).map((t) => ({
      name: t?.function?.name ?? t?.name,
      description: t?.function?.description,
      schema: t?.function?.parameters,
    })),
    params: pick(body, ["stream", "format", "options", "keep_alive", "think"]),
  };
}

function ollamaResponse(body) {
  if (typeof body.error === "string" && !body.message && body.response === undefined) return errorResult(body.error);
  const message = body.message || { role: "assistant", content: body.response ?? "", thinking: body.thinking };
  return {
    messages: [{ ...ollamaMessage(message), role: "assistant" }],
    stop_reason: body.done_reason,
    model: body.model,
    usage: { input: body.prompt_eval_count, output: body.eval_count },
  };
}

function ollamaStream(events) {
  let content = "";
  let thinking = "";
  let stopReason = null;
  let model = null;
  let error = null;
  const calls = [];
  for (const { data } of events) {
    if (!isObj(data)) continue;
    if (typeof data.error === "string") error = data.error;
    model = data.model ?? model;
    const m = data.message || { content: data.response, thinking: data.thinking };
    if (typeof m.content === "string") content += m.content;
    if (typeof m.thinking === "string") thinking += m.thinking;
    calls.push(...arr(m.tool_calls));
    if (data.done_reason) stopReason = data.done_reason;
  }
  const message = ollamaMessage({ role: "assistant", content, thinking, tool_calls: calls });
  return { messages: [message], stop_reason: stopReason, model, error };
}

function sniffImage(b64) {
  if (typeof b64 !== "string") return "image/png";
  if (b64.startsWith("/9j/")) return "image/jpeg";
  if (b64.startsWith("R0lGOD")) return "image/gif";
  if (b64.startsWith("UklGR")) return "image/webp";
  return "image/png";
}

// -- Gemini ---------------------------------------------------------------------------------------

function geminiParts(parts) {
  if (isRedactedValue(parts)) return [redactedBlock(parts)];
  return arr(parts).map((p) => {
    if (isRedactedValue(p)) return redactedBlock(p);
    if (!isObj(p)) return text(p);
    const inline = p.inlineData || p.inline_data;
    const file = p.fileData || p.file_data;
    const call = p.functionCall || p.function_call;
    const result = p.functionResponse || p.function_response;
    if (typeof p.text === "string") return p.thought ? { type: "thinking", text: p.text } : text(p.text);
    if (inline) {
      const mt = inline.mimeType || inline.mime_type;
      return mt?.startsWith("image/") ? { type: "image", src: dataUrl(mt, inline.data), media_type: mt } : other(mt || "inline data", p);
    }
    if (file) return imageFromUrl(file.fileUri || file.file_uri, file.mimeType || file.mime_type);
    if (call) return { type: "tool_call", id: call.id, name: call.name, arguments: call.args ?? {} };
    if (result) {
      const response = result.response;
      return {
        type: "tool_result",
        id: result.id,
        name: result.name,
        content: [typeof response === "string" ? text(response) : other("response", response)],
        is_error: isObj(response) && "error" in response,
      };
    }
    return other(Object.keys(p)[0] || "part", p);
  });
}

function geminiRequest(body) {
  const messages = [];
  const system = body.systemInstruction || body.system_instruction;
  if (system) messages.push({ role: "system", blocks: geminiParts(typeof system === "string" ? [{ text: system }] : system.parts) });
  for (const c of arr(body.contents)) {
    const parts = geminiParts(isObj(c) ? c.parts : c);
    const role = c?.role === "model" ? "assistant" : parts.every((b) => b.type === "tool_result") && parts.length ? "tool" : "user";
    messages.push({ role, blocks: parts });
  }
  const tools = [];
  for (const t of arr(body.tools)) {
    const decls = t?.functionDeclarations || t?.function_declarations;
    if (decls) for (const d of arr(decls)) tools.push({ name: d?.name, description: d?.description, schema: d?.parameters ?? d?.parametersJsonSchema });
    else if (isObj(t)) tools.push({ name: Object.keys(t)[0], description: "built-in tool" });
  }
  return { model: body.model, messages, tools, params: pick(body, ["generationConfig", "generation_config", "toolConfig", "safetySettings"]) };
}

function geminiResponse(body) {
  if (Array.isArray(body)) return geminiStream(body.map((data) => ({ data })));
  if (isObj(body.error) && !body.candidates) return errorResult(body.error);
  const candidate = arr(body.candidates)[0] || {};
  return {
    messages: [{ role: "assistant", blocks: geminiParts(candidate.content?.parts) }],
    stop_reason: candidate.finishReason ?? candidate.finish_reason,
    model: body.modelVersion,
    usage: body.usageMetadata,
  };
}

function geminiStream(events) {
  const blocks = [];
  let stopReason = null;
  let model = null;
  let error = null;
  for (const { data } of events) {
    if (!isObj(data)) continue;
    if (data.error) error = data.error.message || JSON.stringify(data.error);
    model = data.modelVersion ?? model;
    const candidate = arr(data.candidates)[0];
    if (!candidate) continue;
    for (const block of geminiParts(candidate.content?.parts)) {
      const last = blocks[blocks.length - 1];
      if (last && (block.type === "text" || block.type === "thinking") && last.type === block.type) last.text += block.text;
      else blocks.push({ ...block });
    }
    stopReason = candidate.finishReason ?? stopReason;
  }
  return { messages: [{ role: "assistant", blocks }], stop_reason: stopReason, model, error };
}

// -- OpenAI Responses -----------------------------------------------------------------------------

function responsesItems(items) {
  const messages = [];
  const push = (role, blocks) => {
    const last = messages[messages.length - 1];
    // Consecutive function calls (and their outputs) belong to one turn.
    if (last && last.role === role && role !== "user" && role !== "system") last.blocks.push(...blocks);
    else messages.push({ role, blocks });
  };
  if (isRedactedValue(items)) return [{ role: "user", blocks: [redactedBlock(items)] }];
  if (typeof items === "string") return [{ role: "user", blocks: [text(items)] }];
  for (const item of arr(items)) {
    if (isRedactedValue(item)) {
      push("user", [redactedBlock(item)]);
      continue;
    }
    if (!isObj(item)) continue;
    const type = item.type || (item.role ? "message" : "");
    if (type === "message") {
      const role = item.role === "developer" ? "system" : item.role || "user";
      push(role, openaiContent(item.content ?? ""));
    } else if (type === "function_call" || type === "custom_tool_call") {
      push("assistant", [{ type: "tool_call", id: item.call_id ?? item.id, name: item.name, arguments: parseArgs(item.arguments ?? item.input) }]);
    } else if (type === "function_call_output" || type === "custom_tool_call_output") {
      push("tool", [{
        type: "tool_result",
        id: item.call_id,
        content: typeof item.output === "string" || isRedactedValue(item.output) ? [text(item.output)] : openaiContent(item.output),
        is_error: looksLikeError(item.output),
      }]);
    } else if (type === "reasoning") {
      const summary = arr(item.summary).map((s) => s?.text || "").filter(Boolean).join("\n\n");
      push("assistant", [{ type: "thinking", text: summary || "(encrypted reasoning)", encrypted: !summary }]);
    } else {
      push("assistant", [other(type || "item", item)]);
    }
  }
  return messages;
}

function responsesRequest(body) {
  const messages = [];
  if (body.instructions) messages.push({ role: "system", blocks: [text(body.instructions)] });
  messages.push(...responsesItems(body.input));
  return {
    model: body.model,
    messages,
    tools: arr(body.tools).map((t) => ({ name: t?.name ?? t?.type, description: t?.description, schema: t?.parameters })),
    params: pick(body, ["max_output_tokens", "temperature", "top_p", "stream", "tool_choice", "reasoning", "previous_response_id", "store", "text"]),
  };
}

function responsesResponse(body) {
  if (isObj(body.error) && !body.output) return errorResult(body.error);
  const messages = responsesItems(body.output);
  const blocks = messages.flatMap((m) => m.blocks);
  return {
    messages: [{ role: "assistant", blocks }],
    stop_reason: body.incomplete_details?.reason || body.status,
    model: body.model,
    usage: body.usage,
  };
}

function responsesStream(events) {
  let final = null;
  let textOut = "";
  let error = null;
  const items = [];
  for (const { event, data } of events) {
    if (!isObj(data)) continue;
    const type = data.type || event;
    if ((type === "response.completed" || type === "response.incomplete" || type === "response.failed") && data.response) final = data.response;
    else if (type === "response.output_text.delta") textOut += data.delta || "";
    else if (type === "response.output_item.done" && data.item) items.push(data.item);
    else if (type === "error" || type === "response.error") error = data.message || data.error?.message || "stream error";
  }
  if (final && arr(final.output).length) return { ...responsesResponse(final), error };
  if (items.length) return { ...responsesResponse({ output: items }), error };
  return { messages: [{ role: "assistant", blocks: textOut ? [text(textOut)] : [] }], stop_reason: final?.status, error };
}

// -- dispatch -------------------------------------------------------------------------------------

const DIALECTS = {
  anthropic: { request: anthropicRequest, response: anthropicResponse, stream: anthropicStream },
  openai_chat: { request: openaiChatRequest, response: openaiChatResponse, stream: openaiChatStream },
  ollama: { request: ollamaRequest, response: ollamaResponse, stream: ollamaStream },
  gemini: { request: geminiRequest, response: geminiResponse, stream: geminiStream },
  openai_responses: { request: responsesRequest, response: responsesResponse, stream: responsesStream },
};

// Guesses the dialect of a body when the row does not say (a non-LLM path, an old row).
export function guessDialect(body) {
  if (!isObj(body)) return null;
  if (body.contents || body.candidates) return "gemini";
  if (body.input !== undefined || body.instructions !== undefined || body.output) return "openai_responses";
  if (body.choices) return "openai_chat";
  if (body.type === "message" || body.anthropic_version || body.system !== undefined || body.stop_sequences) return "anthropic";
  if (body.done !== undefined || body.options || body.keep_alive) return "ollama";
  if (body.messages) {
    const hasBlocks = arr(body.messages).some((m) => Array.isArray(m?.content) && m.content.some((b) => b?.type === "tool_use" || b?.type === "tool_result"));
    return hasBlocks ? "anthropic" : "openai_chat";
  }
  return null;
}

function parser(dialect, body) {
  return DIALECTS[dialect] || DIALECTS[guessDialect(body)] || null;
}

// -> {model, messages, tools, params} | {redacted: text} | null when there is nothing to show.
export function parseRequest(dialect, body) {
  if (isRedactedValue(body)) return { redacted: redactedBlock(body).text, messages: [], tools: [] };
  if (!isObj(body)) return null;
  const p = parser(dialect, body);
  if (!p) return null;
  try {
    return p.request(body);
  } catch (e) {
    return { messages: [{ role: "user", blocks: [other("unparsed body", body)] }], tools: [], error: String(e) };
  }
}

// -> {messages: [assistant message], stop_reason, model, usage, error} | null.
export function parseResponse(dialect, body) {
  if (isRedactedValue(body)) return { redacted: redactedBlock(body).text, messages: [] };
  if (!isObj(body) && !Array.isArray(body)) return null;
  const p = parser(dialect, Array.isArray(body) ? { candidates: [] } : body);
  if (!p) return null;
  try {
    return p.response(body);
  } catch (e) {
    return { messages: [{ role: "assistant", blocks: [other("unparsed body", body)] }], error: String(e) };
  }
}

// Rebuilds the assistant message from stream events [{event, data}].
export function parseStream(dialect, events) {
  const list = arr(events).filter((e) => isObj(e));
  if (!list.length) return null;
  const p = DIALECTS[dialect];
  if (!p) return null;
  try {
    return p.stream(list);
  } catch (e) {
    return { messages: [], error: String(e) };
  }
}

// The blocks of the API's conversation turns ({type, text, name, arguments, id, is_error}).
export function normalizeApiBlocks(blocks) {
  return arr(blocks).map((b) => {
    if (isRedactedValue(b)) return redactedBlock(b);
    if (!isObj(b)) return text(b);
    if (isRedactedValue(b.text) && (b.type === "text" || !b.type)) return redactedBlock(b.text);
    switch (b.type) {
      case "text":
        return { ...text(b.text ?? ""), truncated: !!b.truncated };
      case "thinking":
        return { type: "thinking", text: b.text ?? "", truncated: !!b.truncated };
      case "tool_call":
        return { type: "tool_call", id: b.id, name: b.name, arguments: parseArgs(b.arguments) };
      case "tool_result":
        return {
          type: "tool_result", id: b.id, name: b.name, is_error: !!b.is_error,
          content: isObj(b.content) || Array.isArray(b.content)
            ? normalizeApiBlocks(b.content)
            : [{ ...text(b.text ?? b.content ?? ""), truncated: !!b.truncated }],
        };
      case "image":
        if (b.src || b.url) return b.src ? { type: "image", src: b.src } : imageFromUrl(b.url);
        if (typeof b.data === "string") return { type: "image", src: dataUrl(b.media_type, b.data), media_type: b.media_type };
        return { type: "image", src: null, label: b.text || "image" };
      default:
        return other(b.type || "block", b.text ?? b);
    }
  });
}

function looksLikeError(content) {
  if (typeof content !== "string") return false;
  return /^\s*(error|traceback|exception)\b|"is_error"\s*:\s*true|"error"\s*:/i.test(content.slice(0, 200));
}

function errorResult(error) {
  const message = typeof error === "string" ? error : error?.message || JSON.stringify(error);
  return { messages: [], error: message, stop_reason: "error" };
}

function pick(obj, keys) {
  const out = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
