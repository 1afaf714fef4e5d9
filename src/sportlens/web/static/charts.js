/* Plain-SVG line charts (no library): axes with ticks, several series, a click handler that reports the
   x value under the pointer, and a vertical cursor that can be moved from outside (video playback). */
"use strict";
window.SL = window.SL || {};

(function (SL) {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const M = {left: 48, right: 12, top: 12, bottom: 34};

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) return [lo - 1, hi + 1];
    return [lo, hi];
  }

  /* Round tick positions (1, 2, 5 x 10^k) covering [lo, hi]. */
  function ticks(lo, hi, count) {
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toFixed(10));
    return out;
  }

  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : +v.toFixed(2) + ""; }

  /* options: {x: number[] (shared) or per-series xs, series: [{name, values, x?}], xLabel, yLabel,
     xFormat(v), onClick(x), height} -> {svg, setCursor(x)} */
  SL.lineChart = function (container, options) {
    container.textContent = "";
    const width = Math.max(320, container.clientWidth || 640), height = options.height || 280;
    const svg = el("svg", {viewBox: `0 0 ${width} ${height}`, width: "100%", height, role: "img",
                           class: "line-chart"}, container);
    const series = options.series.map((s, i) => ({...s, x: s.x || options.x, color: s.color || COLORS[i % COLORS.length]}));
    const [x0, x1] = extent(series.flatMap(s => s.x));
    const [y0, y1] = extent(series.flatMap(s => s.values));
    const W = width - M.left - M.right, H = height - M.top - M.bottom;
    const sx = v => M.left + (v - x0) / (x1 - x0) * W, sy = v => M.top + H - (v - y0) / (y1 - y0) * H;
    drawAxes(svg, {x0, x1, y0, y1, sx, sy, W, H, width, height, options});
    for (const s of series) drawSeries(svg, s, sx, sy);
    if (options.legend !== false) drawLegend(svg, series, width);
    const cursor = el("line", {x1: M.left, x2: M.left, y1: M.top, y2: M.top + H, class: "cursor",
                               visibility: "hidden"}, svg);
    if (options.onClick) {
      svg.classList.add("clickable");
      svg.addEventListener("click", ev => {
        const box = svg.getBoundingClientRect();
        const px = (ev.clientX - box.left) * width / box.width;
        const x = x0 + (px - M.left) / W * (x1 - x0);
        options.onClick(Math.min(x1, Math.max(x0, x)));
      });
    }
    return {
      svg,
      setCursor(x) {
        if (x === null || !Number.isFinite(x)) { cursor.setAttribute("visibility", "hidden"); return; }
        const px = sx(Math.min(x1, Math.max(x0, x)));
        cursor.setAttribute("x1", px); cursor.setAttribute("x2", px); cursor.setAttribute("visibility", "visible");
      },
    };
  };

  function drawAxes(svg, a) {
    const g = el("g", {class: "axes"}, svg);
    el("rect", {x: M.left, y: M.top, width: a.W, height: a.H, class: "plot-area"}, g);
    for (const t of ticks(a.y0, a.y1, 5)) {
      el("line", {x1: M.left, x2: M.left + a.W, y1: a.sy(t), y2: a.sy(t), class: "grid"}, g);
      el("text", {x: M.left - 6, y: a.sy(t) + 4, "text-anchor": "end"}, g).textContent = fmt(t);
    }
    const xf = a.options.xFormat || fmt;
    for (const t of ticks(a.x0, a.x1, 6)) {
      const label = xf(t);
      if (label === "") continue;  // a formatter may keep only some positions (one per session)
      el("line", {x1: a.sx(t), x2: a.sx(t), y1: M.top + a.H, y2: M.top + a.H + 4, class: "tick"}, g);
      el("text", {x: a.sx(t), y: M.top + a.H + 16, "text-anchor": "middle"}, g).textContent = label;
    }
    if (a.options.xLabel) el("text", {x: M.left + a.W / 2, y: a.height - 2, "text-anchor": "middle",
                                      class: "label"}, g).textContent = a.options.xLabel;
    if (a.options.yLabel) el("text", {x: 12, y: M.top + a.H / 2, "text-anchor": "middle", class: "label",
                                      transform: `rotate(-90 12 ${M.top + a.H / 2})`}, g).textContent = a.options.yLabel;
  }

  /* Missing values (null) break the line instead of being drawn as zeros. */
  function drawSeries(svg, s, sx, sy) {
    let d = "", pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${sx(s.x[i]).toFixed(1)},${sy(v).toFixed(1)}`;
      pen = true;
    });
    if (d) el("path", {d, stroke: s.color, class: "series", "data-name": s.name}, svg);
    if (s.markers) s.values.forEach((v, i) => {
      if (v !== null && Number.isFinite(v)) el("circle", {cx: sx(s.x[i]), cy: sy(v), r: 3.5, fill: s.color}, svg);
    });
  }

  /* Top-right, sized to the longest name (measured: the svg is in the page already). */
  function drawLegend(svg, series, width) {
    const g = el("g", {class: "legend"}, svg);
    const texts = series.map((s, i) => el("text", {y: M.top + 14 + 16 * i}, g));
    texts.forEach((t, i) => { t.textContent = series[i].name; });
    const widest = Math.max(...texts.map(t => t.getComputedTextLength ? t.getComputedTextLength() : 80));
    const x = Math.max(M.left + 30, width - M.right - 8 - widest);
    texts.forEach((t, i) => {
      t.setAttribute("x", x);
      el("line", {x1: x - 24, x2: x - 6, y1: M.top + 10 + 16 * i, y2: M.top + 10 + 16 * i,
                  stroke: series[i].color, "stroke-width": 3}, g);
    });
  }

  /* GET JSON from this server; the cookie (if any) goes along, errors become exceptions with the message. */
  SL.getJSON = async function (url) {
    const r = await fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.detail || `HTTP ${r.status}`);
    return body;
  };
})(window.SL);
