// The Rules editor's tools, free of the DOM: a JSON parser that knows the line of every JSON
// pointer, the subset of JSON Schema (Draft 2020-12) the rules schema uses, and a line diff.
//
// Validation messages follow the proxy's own (rules/registry.py over jsonschema), so that what
// the editor says while you type is what the proxy says when it refuses a document.

// -- parsing with positions --------------------------------------------------------------------

export class JsonSyntaxError extends Error {
  constructor(message, line, column) {
    super(message);
    this.line = line;
    this.column = column;
  }
}

export const pointerPart = (key) => String(key).replace(/~/g, "~0").replace(/\//g, "~1");
export const pointer = (parts) => (parts.length ? "/" + parts.map(pointerPart).join("/") : "/");

// parse(text) -> {value, lines: Map(pointer -> line), duplicates: [{path, line, key}]}
// Throws JsonSyntaxError with a 1-based line and column.
export function parse(text) {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lineStarts.push(i + 1);
  const lineOf = (pos) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const fail = (message, pos) => {
    const line = lineOf(Math.min(pos, text.length));
    throw new JsonSyntaxError(message, line, pos - lineStarts[line - 1] + 1);
  };
  const lines = new Map();
  const duplicates = [];
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const describe = (pos) => (pos >= text.length ? "end of text" : `'${text[pos]}'`);

  function string() {
    const start = i;
    i++; // the opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      else if (text[i] < " ") fail("control character in a string (use \\n, \\t)", i);
      i++;
    }
    if (i >= text.length) fail("unterminated string", start);
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      return fail("invalid escape in a string", start);
    }
  }

  function value(path) {
    ws();
    const start = i;
    if (!lines.has(pointer(path))) lines.set(pointer(path), lineOf(start));
    const c = text[i];
    if (c === "{") {
      i++;
      const result = {};
      ws();
      if (text[i] === "}") {
        i++;
        return result;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${describe(i)}`, i);
        const keyPos = i;
        const key = string();
        const child = [...path, key];
        if (Object.prototype.hasOwnProperty.call(result, key)) {
          duplicates.push({ path: pointer(child), line: lineOf(keyPos), key });
        }
        lines.set(pointer(child), lineOf(keyPos));
        ws();
        if (text[i] !== ":") fail(`expected ':' after "${key}", found ${describe(i)}`, i);
        i++;
        result[key] = value(child);
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === "}") fail("trailing comma before '}'", i);
          continue;
        }
        if (text[i] === "}") {
          i++;
          return result;
        }
        fail(`expected ',' or '}', found ${describe(i)}`, i);
      }
    }
    if (c === "[") {
      i++;
      const result = [];
      ws();
      if (text[i] === "]") {
        i++;
        return result;
      }
      for (;;) {
        result.push(value([...path, result.length]));
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === "]") fail("trailing comma before ']'", i);
          continue;
        }
        if (text[i] === "]") {
          i++;
          return result;
        }
        fail(`expected ',' or ']', found ${describe(i)}`, i);
      }
    }
    if (c === '"') return string();
    const word = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (word) {
      i += word[0].length;
      return JSON.parse(word[0]);
    }
    if (c === "'") return fail("strings need double quotes", i);
    return fail(i >= text.length ? "unexpected end of text: a value is missing" : `unexpected ${describe(i)}`, i);
  }

  const result = value([]);
  ws();
  if (i < text.length) fail(`unexpected ${describe(i)} after the document`, i);
  return { value: result, lines, duplicates };
}

// The line a JSON pointer points at, else that of its nearest ancestor that exists.
export function lineOfPointer(lines, path) {
  let p = path || "/";
  for (;;) {
    if (lines.has(p)) return lines.get(p);
    if (p === "/" || !p) return 1;
    const cut = p.lastIndexOf("/");
    p = cut <= 0 ? "/" : p.slice(0, cut);
  }
}

// -- validation ---------------------------------------------------------------------------------

// Python's repr of a JSON value, as jsonschema quotes instances in its messages.
export function repr(value) {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") return "'" + value.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return "[" + value.map(repr).join(", ") + "]";
  return "{" + Object.entries(value).map(([k, v]) => `${repr(k)}: ${repr(v)}`).join(", ") + "}";
}

function typeOk(type, value) {
  switch (type) {
    case "object": return value !== null && typeof value === "object" && !Array.isArray(value);
    case "array": return Array.isArray(value);
    case "string": return typeof value === "string";
    case "integer": return typeof value === "number" && Number.isInteger(value);
    case "number": return typeof value === "number";
    case "boolean": return typeof value === "boolean";
    case "null": return value === null;
    default: return true;
  }
}

function equal(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Raw errors, jsonschema style: {path: [...], keyword, message, instance, context, matchesType}.
function check(schema, value, path, sink) {
  if (schema === true || schema === undefined) return;
  const out = {
    push(error) {
      const types = schema.type === undefined ? null : [].concat(schema.type);
      sink.push({ ...error, matchesType: !!types && types.some((t) => typeOk(t, value)) });
    },
  };
  if (schema === false) {
    out.push({ path, keyword: "false", message: `False schema does not allow ${repr(value)}` });
    return;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeOk(t, value))) {
      out.push({
        path, keyword: "type", instance: value, value: schema.type,
        message: `${repr(value)} is not of type ${types.map(repr).join(", ")}`,
      });
    }
  }
  if (schema.enum !== undefined && !schema.enum.some((e) => equal(e, value))) {
    out.push({ path, keyword: "enum", message: `${repr(value)} is not one of ${repr(schema.enum)}` });
  }
  if (schema.const !== undefined && !equal(schema.const, value)) {
    out.push({ path, keyword: "const", message: `${repr(schema.const)} was expected` });
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      out.push({ path, keyword: "minimum", message: `${repr(value)} is less than the minimum of ${schema.minimum}` });
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      out.push({ path, keyword: "maximum", message: `${repr(value)} is greater than the maximum of ${schema.maximum}` });
    }
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) {
      out.push({ path, keyword: "exclusiveMinimum", message: `${repr(value)} is less than or equal to the minimum of ${schema.exclusiveMinimum}` });
    }
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) {
      out.push({ path, keyword: "exclusiveMaximum", message: `${repr(value)} is greater than or equal to the maximum of ${schema.exclusiveMaximum}` });
    }
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) {
      out.push({ path, keyword: "minLength", message: schema.minLength === 1 ? `${repr(value)} should be non-empty` : `${repr(value)} is too short` });
    }
    if (schema.maxLength !== undefined && length > schema.maxLength) {
      out.push({ path, keyword: "maxLength", message: `${repr(value)} is too long` });
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
      out.push({ path, keyword: "pattern", message: `${repr(value)} does not match ${repr(schema.pattern)}` });
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      out.push({ path, keyword: "minItems", message: schema.minItems === 1 ? `${repr(value)} should be non-empty` : `${repr(value)} is too short` });
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      out.push({ path, keyword: "maxItems", message: `${repr(value)} is too long` });
    }
    if (schema.items !== undefined) value.forEach((item, n) => check(schema.items, item, [...path, n], sink));
  }
  if (typeOk("object", value)) {
    const props = schema.properties || {};
    for (const name of schema.required || []) {
      if (!Object.prototype.hasOwnProperty.call(value, name)) {
        out.push({ path, keyword: "required", value: [name], message: `${repr(name)} is a required property` });
      }
    }
    for (const [key, item] of Object.entries(value)) {
      if (Object.prototype.hasOwnProperty.call(props, key)) check(props[key], item, [...path, key], sink);
      else if (schema.additionalProperties === false) {
        out.push({ path, keyword: "additionalProperties", key, message: `unknown key ${repr(key)}` });
      } else if (schema.additionalProperties !== undefined) {
        check(schema.additionalProperties, item, [...path, key], sink);
      }
    }
  }
  for (const keyword of ["anyOf", "oneOf"]) {
    if (!schema[keyword]) continue;
    const branches = schema[keyword].map((branch) => {
      const errors = [];
      check(branch, value, path, errors);
      return errors;
    });
    const passing = branches.filter((errors) => !errors.length).length;
    if (keyword === "anyOf" ? passing === 0 : passing !== 1) {
      out.push({
        path, keyword, instance: value, context: branches.flat(),
        message: keyword === "oneOf" && passing > 1
          ? `${repr(value)} is valid under each of ${passing} schemas`
          : `${repr(value)} is not valid under any of the given schemas`,
      });
    }
  }
  if (schema.allOf) for (const branch of schema.allOf) check(branch, value, path, sink);
}

// The errors a user sees, as the proxy words them: [{path: "/rule/option", message}].
function present(error) {
  const { path } = error;
  if (error.keyword === "additionalProperties") {
    const what = { 0: "rule", 1: "option" }[path.length] || "key";
    return [{ path: pointer([...path, error.key]), message: `unknown ${what} '${error.key}'` }];
  }
  if (!path.length && error.keyword === "type") {
    return [{ path: "/", message: "rules config must be a JSON object" }];
  }
  if ((error.keyword === "anyOf" || error.keyword === "oneOf") && error.context?.length) {
    const context = error.context;
    if (context.every((e) => e.keyword === "type" && e.path.length === path.length)) {
      const types = context.map((e) => repr(e.value)).join(" or ");
      return [{ path: pointer(path), message: `${repr(error.instance)} is not of type ${types}` }];
    }
    if (context.every((e) => e.keyword === "required")) {
      return [{ path: pointer(path), message: `needs ${context.map((e) => repr(e.value[0])).join(" or ")}` }];
    }
    return present(bestMatch(context));
  }
  return [{ path: pointer(path), message: error.message }];
}

// jsonschema's best_match over a branch's errors: the greatest by its relevance key.
function relevance(e) {
  return [-e.path.length, e.path.map(String), !["anyOf", "oneOf"].includes(e.keyword), false, !e.matchesType];
}

function compareKeys(x, y) {
  for (let k = 0; k < x.length; k++) {
    const a = x[k];
    const b = y[k];
    if (Array.isArray(a)) {
      for (let j = 0; j < Math.min(a.length, b.length); j++) if (a[j] !== b[j]) return a[j] < b[j] ? -1 : 1;
      if (a.length !== b.length) return a.length - b.length;
    } else if (a !== b) {
      return a < b ? -1 : 1;
    }
  }
  return 0;
}

function bestMatch(errors) {
  return errors.reduce((best, e) => (compareKeys(relevance(e), relevance(best)) > 0 ? e : best));
}

export function validate(schema, document) {
  const raw = [];
  check(schema, document, [], raw);
  const seen = new Set();
  const errors = [];
  for (const error of raw.flatMap(present)) {
    const key = error.path + "\u0000" + error.message;
    if (seen.has(key)) continue;
    seen.add(key);
    errors.push(error);
  }
  return errors.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.message < b.message ? -1 : 1));
}

// -- diff ---------------------------------------------------------------------------------------

// Line diff (longest common subsequence): [{op: " " | "-" | "+", text, a, b}] where a and b are
// 1-based line numbers in the old and new text (null where the line is not in that side).
export function lineDiff(oldText, newText) {
  const a = oldText.split("\n");
  const b = newText.split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  const ops = [];
  for (let k = 0; k < start; k++) ops.push({ op: " ", text: a[k], a: k + 1, b: k + 1 });
  if (n * m > 4e6) {
    // Too big to align line by line: show the middle as removed, then added.
    for (let k = start; k < endA; k++) ops.push({ op: "-", text: a[k], a: k + 1, b: null });
    for (let k = start; k < endB; k++) ops.push({ op: "+", text: b[k], a: null, b: k + 1 });
  } else {
    const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let x = n - 1; x >= 0; x--) {
      for (let y = m - 1; y >= 0; y--) {
        table[x][y] = a[start + x] === b[start + y] ? table[x + 1][y + 1] + 1 : Math.max(table[x + 1][y], table[x][y + 1]);
      }
    }
    let x = 0;
    let y = 0;
    while (x < n || y < m) {
      if (x < n && y < m && a[start + x] === b[start + y]) {
        ops.push({ op: " ", text: a[start + x], a: start + x + 1, b: start + y + 1 });
        x++;
        y++;
      } else if (x < n && (y >= m || table[x + 1][y] >= table[x][y + 1])) {
        ops.push({ op: "-", text: a[start + x], a: start + x + 1, b: null });
        x++;
      } else {
        ops.push({ op: "+", text: b[start + y], a: null, b: start + y + 1 });
        y++;
      }
    }
  }
  for (let k = endA, l = endB; k < a.length; k++, l++) ops.push({ op: " ", text: a[k], a: k + 1, b: l + 1 });
  return ops;
}

// The diff in hunks: changed lines with `context` unchanged lines around them; runs of unchanged
// lines between hunks become {op: "…", count}.
export function hunks(ops, context = 3) {
  const keep = new Array(ops.length).fill(false);
  ops.forEach((o, k) => {
    if (o.op === " ") return;
    for (let j = Math.max(0, k - context); j <= Math.min(ops.length - 1, k + context); j++) keep[j] = true;
  });
  const out = [];
  let skipped = 0;
  ops.forEach((o, k) => {
    if (keep[k]) {
      if (skipped) out.push({ op: "…", count: skipped });
      skipped = 0;
      out.push(o);
    } else {
      skipped++;
    }
  });
  if (skipped) out.push({ op: "…", count: skipped });
  return out;
}

export const pretty = (value) => JSON.stringify(value, null, 2);
