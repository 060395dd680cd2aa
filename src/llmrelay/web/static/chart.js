/* A small SVG bar-chart renderer (no dependencies): horizontal or vertical, stacked or not.
 * Every chart is an <svg role="img"> with a text summary, a legend, and the numbers in a
 * <details> table so screen-reader and keyboard users get the data too. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#0b64dd", "#54b399", "#d6bf57", "#e7664c", "#9170b8", "#6092c0",
    "#d36086", "#aa6556", "#b9a888", "#da8b45"];

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function html(name, attrs, text) {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatNumber(value) {
    return Number(value).toLocaleString("en-US");
  }

  /* US dollars: cents from a dollar up, down to 1e-8 below (one call can cost micro-dollars). */
  function formatUsd(value) {
    const v = Number(value);
    return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: Math.abs(v) >= 1 ? 2 : 8 });
  }

  /* Axis labels fit ~6 characters: micro-dollars (µ$) below a cent. */
  function compactUsd(value) {
    const abs = Math.abs(value);
    if (abs === 0) return "$0";
    if (abs < 0.01) return Number((value * 1e6).toPrecision(3)) + "µ$";
    return abs >= 1000 ? "$" + compact(value) : "$" + Number(Number(value).toPrecision(3));
  }

  function compact(value) {
    const abs = Math.abs(value);
    if (abs >= 1e9) return (value / 1e9).toFixed(abs >= 1e10 ? 0 : 1).replace(/\.0$/, "") + "B";
    if (abs >= 1e6) return (value / 1e6).toFixed(abs >= 1e7 ? 0 : 1).replace(/\.0$/, "") + "M";
    if (abs >= 1e3) return (value / 1e3).toFixed(abs >= 1e4 ? 0 : 1).replace(/\.0$/, "") + "k";
    return String(Math.round(value));
  }

  /* "Nice" axis ticks: 1, 2, 5 x 10^n steps covering [0, max]. */
  function ticks(max, count) {
    if (max <= 0) return [0, 1];
    const raw = max / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = 0; v <= max + step * 0.001; v += step) out.push(Math.round(v * 1e6) / 1e6);
    if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
    return out;
  }

  function truncate(text, max) {
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  /**
   * render(container, spec): spec = {
   *   title, categories: [label...], series: [{name, values: [number...]}],
   *   stacked: bool, orientation: "horizontal" | "vertical", unit: "tokens", id,
   *   format: value -> text (default formatNumber), axisFormat: value -> text (default compact)
   * }
   */
  function render(container, spec) {
    container.textContent = "";
    const fmt = spec.format || formatNumber;
    const short = spec.axisFormat || compact;
    const series = spec.series.filter((s) => s.values.some((v) => v > 0) || spec.keepEmpty);
    const total = series.reduce((sum, s) => sum + s.values.reduce((a, b) => a + b, 0), 0);
    const unit = spec.unit || "tokens";
    if (!spec.categories.length || total === 0) {
      const empty = html("p", { class: "chart-empty", "data-total": "0" }, spec.emptyText || "No data in this time range.");
      container.appendChild(empty);
      container.dataset.total = "0";
      return;
    }
    const horizontal = spec.orientation !== "vertical";
    const stackTotals = spec.categories.map((_, i) =>
      spec.stacked ? series.reduce((sum, s) => sum + (s.values[i] || 0), 0)
        : Math.max(...series.map((s) => s.values[i] || 0)));
    const axis = ticks(Math.max(...stackTotals), 5);
    const axisMax = axis[axis.length - 1] || 1;
    const colour = (index) => (series[index].color || PALETTE[index % PALETTE.length]);

    const width = spec.width || 640;
    let height;
    const svg = el("svg", { role: "img", "aria-labelledby": spec.id + "-title " + spec.id + "-desc", "data-total": total, "data-chart": spec.id });
    svg.appendChild(el("title", { id: spec.id + "-title" }, spec.title));
    const summary = spec.categories.map((c, i) => `${c}: ${fmt(stackTotals[i])}`).join("; ");
    svg.appendChild(el("desc", { id: spec.id + "-desc" }, `${spec.title}. Total ${fmt(total)} ${unit}. ${summary}.`));

    if (horizontal) {
      const labelWidth = 130;
      const bar = 22;
      const gap = 12;
      const top = 8;
      const plotWidth = width - labelWidth - 60;
      height = top + spec.categories.length * (bar + gap) + 28;
      const grid = el("g", { class: "grid" });
      for (const t of axis) {
        const x = labelWidth + (t / axisMax) * plotWidth;
        grid.appendChild(el("line", { x1: x, x2: x, y1: top - 4, y2: height - 24, stroke: "#e3e8f2" }));
        grid.appendChild(el("text", { x, y: height - 8, "text-anchor": "middle", "font-size": 11, fill: "#69707d" }, short(t)));
      }
      svg.appendChild(grid);
      spec.categories.forEach((category, i) => {
        const y = top + i * (bar + gap);
        svg.appendChild(el("text", { x: labelWidth - 10, y: y + bar / 2 + 4, "text-anchor": "end", "font-size": 12, fill: "#343741" }, truncate(category, 18)));
        let offset = 0;
        series.forEach((s, si) => {
          const value = s.values[i] || 0;
          if (value <= 0) return;
          const w = (value / axisMax) * plotWidth;
          const yy = spec.stacked ? y : y + (si * bar) / series.length;
          const hh = spec.stacked ? bar : bar / series.length;
          const x = labelWidth + (spec.stacked ? offset : 0);
          const rect = el("rect", { x, y: yy, width: Math.max(w, 1), height: hh, fill: colour(si), rx: 2 });
          rect.appendChild(el("title", {}, `${category} · ${s.name}: ${fmt(value)} ${unit}`));
          svg.appendChild(rect);
          if (spec.stacked) offset += w;
        });
        const end = labelWidth + (stackTotals[i] / axisMax) * plotWidth;
        svg.appendChild(el("text", { x: end + 6, y: y + bar / 2 + 4, "font-size": 11, fill: "#343741", "font-weight": 600 }, short(stackTotals[i])));
      });
    } else {
      const left = 48;
      const bottom = 34;
      const top = 10;
      height = spec.height || 260;
      const plotWidth = width - left - 10;
      const plotHeight = height - top - bottom;
      const slot = plotWidth / spec.categories.length;
      const bar = Math.max(2, Math.min(40, slot * 0.7));
      for (const t of axis) {
        const y = top + plotHeight - (t / axisMax) * plotHeight;
        svg.appendChild(el("line", { x1: left, x2: width - 10, y1: y, y2: y, stroke: "#e3e8f2" }));
        svg.appendChild(el("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#69707d" }, short(t)));
      }
      const labelEvery = Math.max(1, Math.ceil(spec.categories.length / 8));
      spec.categories.forEach((category, i) => {
        const x = left + i * slot + (slot - bar) / 2;
        let offset = 0;
        series.forEach((s, si) => {
          const value = s.values[i] || 0;
          if (value <= 0) return;
          const h = (value / axisMax) * plotHeight;
          const bw = spec.stacked ? bar : bar / series.length;
          const bx = spec.stacked ? x : x + si * bw;
          const rect = el("rect", { x: bx, y: top + plotHeight - offset - h, width: bw, height: Math.max(h, 1), fill: colour(si) });
          rect.appendChild(el("title", {}, `${category} · ${s.name}: ${fmt(value)} ${unit}`));
          svg.appendChild(rect);
          if (spec.stacked) offset += h;
        });
        if (i % labelEvery === 0) {
          svg.appendChild(el("text", { x: left + i * slot + slot / 2, y: height - bottom + 16, "text-anchor": "middle", "font-size": 11, fill: "#69707d" }, category));
        }
      });
      svg.appendChild(el("line", { x1: left, x2: width - 10, y1: top + plotHeight, y2: top + plotHeight, stroke: "#98a2b3" }));
    }
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("font-family", "inherit");
    container.appendChild(svg);
    container.dataset.total = String(total);

    const legend = html("ul", { class: "chart-legend" });
    series.forEach((s, si) => {
      const item = html("li");
      const swatch = el("svg", { viewBox: "0 0 12 12", "aria-hidden": "true" });
      swatch.appendChild(el("rect", { width: 12, height: 12, rx: 2, fill: colour(si) }));
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
    container.appendChild(legend);
    const caption = html("p", { class: "chart-total" });
    caption.append("Total: ");
    caption.appendChild(html("strong", { class: "chart-total-value", "data-value": total }, fmt(total)));
    caption.append(" " + unit);
    container.appendChild(caption);

    const details = html("details");
    details.appendChild(html("summary", {}, "Show data table"));
    const table = html("table", { class: "table" });
    const head = html("tr");
    head.appendChild(html("th", { scope: "col" }, spec.categoryLabel || "Category"));
    series.forEach((s) => head.appendChild(html("th", { scope: "col", class: "num" }, s.name)));
    const thead = html("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    const tbody = html("tbody");
    spec.categories.forEach((category, i) => {
      const row = html("tr");
      row.appendChild(html("th", { scope: "row" }, category));
      series.forEach((s) => row.appendChild(html("td", { class: "num" }, fmt(s.values[i] || 0))));
      tbody.appendChild(row);
    });
    table.appendChild(tbody);
    details.appendChild(table);
    container.appendChild(details);
  }

  window.LlmrelayCharts = { render, formatNumber, formatUsd, compact, compactUsd, ticks, PALETTE };
})();
