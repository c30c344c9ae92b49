// Small inline SVG charts: no library, colours from CSS (classes ins-c-*).
import { compact, h, svg } from "./util.js";

const W = 640;
const PAD = { top: 10, right: 8, bottom: 20, left: 44 };

function frame(height, title) {
  return svg("svg", {
    class: "ins-chart",
    viewBox: `0 0 ${W} ${height}`,
    role: "img",
    "aria-label": title || "chart",
    preserveAspectRatio: "xMidYMid meet",
  }, title ? svg("title", {}, title) : null);
}

function niceMax(max) {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function axes(el, height, max, labels, format) {
  const plotH = height - PAD.top - PAD.bottom;
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - f);
    el.append(
      svg("line", { class: "ins-grid", x1: PAD.left, x2: W - PAD.right, y1: y, y2: y }),
      svg("text", { class: "ins-axis", x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, format(max * f)));
  }
  if (labels.length) {
    const first = labels[0];
    const last = labels[labels.length - 1];
    el.append(svg("text", { class: "ins-axis", x: PAD.left, y: height - 4, "text-anchor": "start" }, first));
    if (labels.length > 1) el.append(svg("text", { class: "ins-axis", x: W - PAD.right, y: height - 4, "text-anchor": "end" }, last));
  }
}

// bars: [{value, stack?: [{value, cls}], label, title, cls, marker}] -> <svg>
export function barChart(bars, { height = 140, title = "", format = compact } = {}) {
  const el = frame(height, title);
  const total = (b) => (b.stack ? b.stack.reduce((n, s) => n + (s.value || 0), 0) : b.value || 0);
  const max = niceMax(Math.max(0, ...bars.map(total)));
  axes(el, height, max, bars.map((b) => b.label ?? ""), format);
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const step = plotW / Math.max(bars.length, 1);
  const bw = Math.max(1, Math.min(28, step * 0.75));
  bars.forEach((b, i) => {
    const x = PAD.left + step * i + (step - bw) / 2;
    let y = PAD.top + plotH;
    const parts = b.stack || [{ value: b.value || 0, cls: b.cls }];
    const g = svg("g", { class: "ins-bar" }, svg("title", {}, b.title || `${b.label}: ${compact(total(b))}`));
    // An invisible full-height target so that thin bars still show their tooltip.
    g.append(svg("rect", { class: "ins-hit", x: PAD.left + step * i, y: PAD.top, width: step, height: plotH }));
    for (const part of parts) {
      const hgt = (plotH * (part.value || 0)) / max;
      y -= hgt;
      g.append(svg("rect", { class: ["ins-c", part.cls || "ins-c-1"].join(" "), x, y, width: bw, height: Math.max(hgt, part.value ? 1 : 0), rx: 1.5 }));
    }
    if (b.marker) {
      g.append(svg("path", { class: "ins-marker", d: `M${x + bw / 2 - 5},${PAD.top - 8} h10 l-5,7 z` }));
    }
    el.append(g);
  });
  return el;
}

// series: [{name, cls, values: [number|null]}], labels: [string] -> <svg>
export function lineChart(series, labels, { height = 140, title = "", format = compact } = {}) {
  const el = frame(height, title);
  const n = Math.max(...series.map((s) => s.values.length), 0);
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.map((v) => v || 0))));
  axes(el, height, max, labels, format);
  const plotW = W - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (n <= 1 ? plotW / 2 : (plotW * i) / (n - 1));
  const y = (v) => PAD.top + plotH * (1 - (v || 0) / max);
  for (const s of series) {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    if (points.length > 1) {
      el.append(svg("path", { class: `ins-area ${s.cls}`, d: `M${x(0)},${PAD.top + plotH} L${points.join(" L")} L${x(n - 1)},${PAD.top + plotH} Z` }));
      el.append(svg("polyline", { class: `ins-line ${s.cls}`, points: points.join(" ") }));
    }
    s.values.forEach((v, i) => {
      el.append(svg("circle", { class: `ins-dot ${s.cls}`, cx: x(i), cy: y(v), r: n > 60 ? 1.5 : 2.5 },
        svg("title", {}, `${labels[i] ?? ""} · ${s.name}: ${compact(v)}`)));
    });
  }
  return el;
}

export function legend(items) {
  return h("div", { class: "ins-legend" }, items.map(([cls, label]) =>
    h("span", {}, h("i", { class: `ins-swatch ${cls}` }), label)));
}
