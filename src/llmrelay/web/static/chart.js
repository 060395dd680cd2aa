/* The dashboard's charts: Chart.js (vendor/chart.umd.min.js, from the npm registry) draws
 * them with tooltips, readable axes and a legend; this wrapper adds what every chart here
 * has besides: a text description for screen readers, the total, and the numbers in a
 * <details> table with a CSV download. */
"use strict";
(function () {
  const PALETTE = ["#0b64dd", "#54b399", "#d6bf57", "#e7664c", "#9170b8", "#6092c0",
    "#d36086", "#aa6556", "#b9a888", "#da8b45"];
  const TEXT = "#343741";
  const GRID = "#e3e8f2";
  const charts = new WeakMap(); // container -> its Chart instance

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

  /* RFC 4180 CSV: fields with a comma, quote or line break are quoted. */
  function toCsv(rows) {
    const field = (v) => {
      const text = v === null || v === undefined ? "" : String(v);
      return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    };
    return rows.map((row) => row.map(field).join(",")).join("\r\n") + "\r\n";
  }

  /* A "Download CSV" button for `rows()` (header first), saved as `filename`. */
  function csvButton(label, filename, rows) {
    const button = html("button", { type: "button", class: "button ghost small csv-button" }, label);
    button.addEventListener("click", () => {
      const blob = new Blob([toCsv(rows())], { type: "text/csv;charset=utf-8" });
      const link = html("a", { href: URL.createObjectURL(blob), download: filename });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    });
    return button;
  }

  function slug(text) {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  }

  /**
   * render(container, spec): spec = {
   *   id, title, categories: [label...], series: [{name, values: [number...], color}],
   *   stacked, orientation: "horizontal" | "vertical", categoryLabel, unit,
   *   tooltipTitles: [full label per category] (optional), rowLabels: [label per category
   *   for the data table and CSV] (optional), format: value -> text (default formatNumber),
   *   axisFormat: value -> text (default compact)
   * }
   */
  function render(container, spec) {
    const old = charts.get(container);
    if (old) { old.destroy(); charts.delete(container); }
    container.textContent = "";
    const fmt = spec.format || formatNumber;
    const short = spec.axisFormat || compact;
    const series = spec.series.filter((s) => s.values.some((v) => v > 0) || spec.keepEmpty);
    const total = series.reduce((sum, s) => sum + s.values.reduce((a, b) => a + b, 0), 0);
    const unit = spec.unit || "tokens";
    if (!spec.categories.length || total === 0) {
      container.appendChild(html("p", { class: "chart-empty", "data-total": "0" }, spec.emptyText || "No data in this time range."));
      container.dataset.total = "0";
      return;
    }
    const horizontal = spec.orientation !== "vertical";
    const colour = (index) => series[index].color || PALETTE[index % PALETTE.length];
    const rowLabels = spec.rowLabels || spec.categories;
    const stackTotals = spec.categories.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));

    const box = html("div", { class: `chart-canvas ${horizontal ? "horizontal" : "vertical"}` });
    if (horizontal) box.style.height = `${Math.max(140, spec.categories.length * 36 + 70)}px`;
    const canvas = html("canvas", { role: "img", "aria-label": spec.title, "aria-describedby": `${spec.id}-desc`, "data-chart": spec.id, "data-total": total });
    canvas.textContent = `${spec.title}: see the data table below.`;
    box.appendChild(canvas);
    container.appendChild(box);
    const summary = rowLabels.map((c, i) => `${c}: ${fmt(stackTotals[i])}`).join("; ");
    container.appendChild(html("p", { id: `${spec.id}-desc`, class: "visually-hidden" }, `${spec.title}. Total ${fmt(total)} ${unit}. ${summary}.`));
    container.dataset.total = String(total);

    const valueAxis = {
      stacked: Boolean(spec.stacked), beginAtZero: true,
      title: { display: true, text: unit.charAt(0).toUpperCase() + unit.slice(1), color: TEXT, font: { size: 12, weight: "600" } },
      ticks: { color: TEXT, font: { size: 12 }, callback: (v) => short(v), maxTicksLimit: 6 },
      grid: { color: GRID },
    };
    const categoryAxis = {
      stacked: Boolean(spec.stacked),
      title: { display: Boolean(spec.categoryLabel), text: spec.categoryLabel || "", color: TEXT, font: { size: 12, weight: "600" } },
      ticks: { color: TEXT, font: { size: 12 }, autoSkip: true, maxRotation: 0, autoSkipPadding: 12 },
      grid: { display: false },
    };
    const reset = html("button", { type: "button", class: "button ghost small zoom-reset", hidden: "" }, "Reset zoom");
    const chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.categories,
        datasets: series.map((s, i) => ({ label: s.name, data: s.values, backgroundColor: colour(i), borderRadius: 2, maxBarThickness: 40 })),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
        plugins: {
          // time charts: drag across a span to zoom into it (chartjs-plugin-zoom)
          zoom: horizontal ? {} : {
            zoom: {
              drag: { enabled: true, backgroundColor: "rgba(11,100,221,.15)" },
              mode: "x",
              onZoomComplete: ({ chart: zoomed }) => { reset.hidden = !zoomed.isZoomedOrPanned(); },
            },
          },
          legend: { display: false }, // the HTML legend below is readable and accessible
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? (spec.tooltipTitles || rowLabels)[items[0].dataIndex] : ""),
              label: (item) => `${item.dataset.label}: ${fmt(item.raw)} ${unit}`,
            },
          },
        },
      },
    });
    charts.set(container, chart);
    if (!horizontal) {
      reset.addEventListener("click", () => { chart.resetZoom(); reset.hidden = true; });
      container.appendChild(html("p", { class: "help zoom-help" }, "Drag across the chart to zoom into a time span."));
      container.appendChild(reset);
    }

    const legend = html("ul", { class: "chart-legend" });
    series.forEach((s, si) => {
      const item = html("li");
      const swatch = html("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = colour(si);
      item.append(swatch, document.createTextNode(s.name));
      legend.appendChild(item);
    });
    container.appendChild(legend);
    const caption = html("p", { class: "chart-total" });
    caption.append("Total: ");
    caption.appendChild(html("strong", { class: "chart-total-value", "data-value": total }, fmt(total)));
    caption.append(" " + unit);
    container.appendChild(caption);

    const header = [spec.categoryLabel || "Category", ...series.map((s) => s.name)];
    const rows = rowLabels.map((label, i) => [label, ...series.map((s) => s.values[i] || 0)]);
    const details = html("details");
    details.appendChild(html("summary", {}, "Show data table"));
    const table = html("table", { class: "table stacked" });
    const head = html("tr");
    header.forEach((name, i) => head.appendChild(html("th", { scope: "col", class: i ? "num" : "" }, name)));
    const thead = html("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    const tbody = html("tbody");
    for (const row of rows) {
      const tr = html("tr");
      tr.appendChild(html("th", { scope: "row", "data-label": header[0] }, row[0]));
      row.slice(1).forEach((v, i) => tr.appendChild(html("td", { class: "num", "data-label": header[i + 1] }, fmt(v))));
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    details.appendChild(table);
    details.appendChild(csvButton("Download CSV", `${slug(spec.title)}.csv`, () => [header, ...rows]));
    container.appendChild(details);
  }

  window.LlmrelayCharts = { render, formatNumber, formatUsd, compact, compactUsd, csvButton, toCsv, PALETTE };
})();
