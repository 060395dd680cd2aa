/* The OpenAI Token Usage dashboard (/app/usage): time range, connector and endpoint
 * filters kept in the URL, auto-refresh, the summary figures, Chart.js charts (chart.js)
 * and the tables per model, endpoint and route with CSV export, all from
 * GET /api/llmrelay/usage. Helpers come from app.js (window.Llmrelay). */
"use strict";
(function () {
  const { $, $all, make, api, flag, formatTime, apiMessage, showError } = window.Llmrelay;

  const RANGES = {
    "15m": ["now-15m", "minute", 15 * 60e3], "1h": ["now-1h", "minute", 3600e3],
    "24h": ["now-24h", "hour", 24 * 3600e3], "7d": ["now-7d", "day", 7 * 86400e3],
    "30d": ["now-30d", "day", 30 * 86400e3], "90d": ["now-90d", "day", 90 * 86400e3],
  };
  const REFRESH_SECONDS = ["10", "30", "60", "300"];
  const STEP = { minute: 60e3, hour: 3600e3, day: 86400e3 };
  const MAX_BARS = 400; // a time chart draws at most this many bars
  const ROUTE_TYPE = ".llmrelay-route";

  function localInput(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function floorTo(ms, interval) {
    const d = new Date(ms);
    if (interval === "minute") d.setUTCSeconds(0, 0);
    else if (interval === "hour") d.setUTCMinutes(0, 0, 0);
    else d.setUTCHours(0, 0, 0, 0);
    return d.getTime();
  }

  /* A time axis label: the date for days, the time of day otherwise (the axis title names
   * the time zone; tooltips and the data table show the full date and time). */
  function bucketLabel(ms, interval) {
    const full = formatTime(ms, { seconds: false });
    return interval === "day" ? full.slice(0, 10) : full.slice(11, 16);
  }
  const timeZoneName = () => formatTime(Date.now()).split(" ").slice(2).join(" ");

  async function usagePage() {
    const controls = $("#usage-controls");
    if (!controls) return;
    const charts = window.LlmrelayCharts;
    const rangeSelect = $("#range");
    const connectorSelect = $("#connector");
    const endpointSelect = $("#endpoint");
    const params = new URLSearchParams(location.search);
    rangeSelect.value = RANGES[params.get("range")] || params.get("range") === "custom" ? params.get("range") : "24h";
    const now = new Date();
    $("#range-start").value = params.get("start") || localInput(new Date(now.getTime() - 86400e3));
    $("#range-end").value = params.get("end") || localInput(now);
    const wanted = params.get("connector") || controls.dataset.connector || "";
    const names = {};
    const routeIds = new Set();
    if (flag("canRead")) {
      const listed = await api("GET", "/actions/connectors");
      if (listed.ok) {
        for (const c of listed.data) {
          names[c.id] = c.name;
          if (c.connector_type_id === ROUTE_TYPE) routeIds.add(c.id);
          connectorSelect.appendChild(make("option", { value: c.id }, c.name));
        }
      }
    }
    if (wanted && !names[wanted]) connectorSelect.appendChild(make("option", { value: wanted }, wanted));
    connectorSelect.value = wanted;
    endpointSelect.value = params.get("endpoint") || "";
    if (endpointSelect.selectedIndex < 0) endpointSelect.value = "";
    const quick = $all(".quick-ranges [data-range]");
    const syncCustom = () => {
      $("#custom-range").hidden = rangeSelect.value !== "custom";
      for (const b of quick) b.setAttribute("aria-pressed", String(b.dataset.range === rangeSelect.value));
    };
    syncCustom();
    rangeSelect.addEventListener("change", () => { syncCustom(); if (rangeSelect.value !== "custom") load(); });
    for (const b of quick) {
      b.addEventListener("click", () => { rangeSelect.value = b.dataset.range; syncCustom(); load(); });
    }
    connectorSelect.addEventListener("change", () => load());
    endpointSelect.addEventListener("change", () => load());
    controls.addEventListener("submit", (event) => { event.preventDefault(); load(); });

    // auto-refresh: reloads on a timer while the page is visible
    const refresh = $("#auto-refresh");
    refresh.value = REFRESH_SECONDS.includes(params.get("refresh")) ? params.get("refresh") : "";
    let timer = null;
    const schedule = () => {
      clearInterval(timer);
      timer = refresh.value ? setInterval(() => { if (!document.hidden) load(); }, Number(refresh.value) * 1000) : null;
    };
    refresh.addEventListener("change", () => { schedule(); load(); });
    schedule();

    const modelCsv = $("#model-csv");
    let modelRows = [];
    modelCsv.appendChild(charts.csvButton("Download CSV", "usage-per-model.csv", () => [
      ["Model", "Executions", "Failures", "Prompt tokens", "Completion tokens", "Total tokens", "Estimated tokens", "Cost (USD)"],
      ...modelRows,
    ]));
    let endpointRows = [];
    $("#endpoint-csv").appendChild(charts.csvButton("Download CSV", "usage-per-endpoint.csv", () => [
      ["Endpoint", "Executions", "Failures", "Prompt tokens", "Completion tokens", "Total tokens", "Unpriced tokens", "Cost (USD)"],
      ...endpointRows,
    ]));
    let routeRows = [];
    $("#route-csv").appendChild(charts.csvButton("Download CSV", "usage-per-route.csv", () => [
      ["Route", "Route ID", "Executions", "Failures", "Prompt tokens", "Completion tokens", "Total tokens", "Cost (USD)"],
      ...routeRows,
    ]));

    async function load() {
      const dashboard = $("#usage-dashboard");
      dashboard.setAttribute("aria-busy", "true");
      showError($("#page-error"), "");
      const range = rangeSelect.value;
      let start;
      let end;
      let interval;
      let startMs;
      let endMs;
      if (range === "custom") {
        startMs = new Date($("#range-start").value).getTime();
        endMs = new Date($("#range-end").value).getTime();
        if (!(startMs < endMs)) {
          showError($("#page-error"), "Choose a start time before the end time.");
          dashboard.setAttribute("aria-busy", "false");
          return;
        }
        start = new Date(startMs).toISOString();
        end = new Date(endMs).toISOString();
        const span = endMs - startMs;
        interval = span <= 2 * 3600e3 ? "minute" : span <= 3 * 86400e3 ? "hour" : "day";
      } else {
        [start, interval] = RANGES[range];
        end = "now";
        endMs = Date.now();
        startMs = endMs - RANGES[range][2];
      }
      const state = new URLSearchParams();
      state.set("range", range);
      if (connectorSelect.value) state.set("connector", connectorSelect.value);
      if (endpointSelect.value) state.set("endpoint", endpointSelect.value);
      if (range === "custom") { state.set("start", $("#range-start").value); state.set("end", $("#range-end").value); }
      if (refresh.value) state.set("refresh", refresh.value);
      history.replaceState(null, "", `${location.pathname}?${state}`);
      const query = (group) => {
        const q = new URLSearchParams({ start, end, interval, group_by: group });
        if (connectorSelect.value) q.set("connector_id", connectorSelect.value);
        if (endpointSelect.value) q.set("endpoint", endpointSelect.value);
        return api("GET", `/llmrelay/usage?${q}`);
      };
      const [byUser, byConnector, byModel, byEndpoint, byRoute] = await Promise.all(
        [query("user"), query("connector"), query("model"), query("endpoint"), query("route")]);
      dashboard.setAttribute("aria-busy", "false");
      for (const r of [byUser, byConnector, byModel, byEndpoint, byRoute]) {
        if (!r.ok) { showError($("#page-error"), apiMessage(r)); return; }
      }
      $("#usage-range-label").textContent = `${formatTime(startMs, { seconds: false })} – ${formatTime(endMs, { seconds: false })}`;
      renderStats(byUser.data.totals);
      renderUsers(byUser.data.buckets);
      renderTimeline(byConnector.data.buckets, interval, startMs, endMs);
      renderModels(byModel.data.buckets);
      renderCost(byEndpoint.data.totals);
      renderCostTimeline(byEndpoint.data.buckets, interval, startMs, endMs);
      renderEndpoints(byEndpoint.data.buckets);
      renderRoutes(byRoute.data.buckets);
      dashboard.dataset.loaded = String(Date.now());
    }

    function sumBy(buckets, fields) {
      const out = new Map();
      for (const b of buckets) {
        const key = b.key || "(unknown)";
        const row = out.get(key) || Object.fromEntries([...fields.map((f) => [f, 0]), ["cost_usd", null]]);
        for (const f of fields) row[f] += b[f] || 0;
        if (b.cost_usd !== null && b.cost_usd !== undefined) row.cost_usd = (row.cost_usd || 0) + b.cost_usd;
        out.set(key, row);
      }
      return out;
    }

    /* A cost cell: "–" when nothing in it was priced (unknown, not $0). */
    function costText(value) {
      return value === null || value === undefined ? "–" : charts.formatUsd(value);
    }

    function renderCost(t) {
      const fmt = charts.formatNumber;
      const cost = $("#stat-cost");
      cost.textContent = costText(t.cost_usd);
      cost.dataset.value = t.cost_usd === null ? "" : String(t.cost_usd);
      const priced = t.executions - t.unpriced_executions;
      $("#stat-cost-note").textContent = t.executions
        ? `${fmt(priced)} of ${fmt(t.executions)} executions priced`
        : "No executions in this time range";
      const unpriced = $("#stat-unpriced");
      unpriced.textContent = fmt(t.unpriced_tokens);
      unpriced.dataset.value = t.unpriced_tokens;
      $("#stat-unpriced-note").textContent = t.unpriced_tokens
        ? `${fmt(t.unpriced_tokens)} tokens unpriced: their models have no price (llmrelay.prices)`
        : "Every token has a price";
    }

    /* The time axis of the range: a bar for every bucket from its start to its end, those
     * without data at zero, so that equal spans of time take equal widths (Chart.js's
     * category axis spaces bars evenly; its time scale needs a date adapter, which is not
     * shipped). Beyond MAX_BARS buckets, each bar adds up several consecutive ones.
     * Returns the bars' start times, their labels and `slot(bucket)`, a bucket's bar. */
    function timeAxis(buckets, interval, startMs, endMs) {
      const first = floorTo(startMs, interval);
      // the server's "now" may be a little later than this page's
      const last = buckets.reduce((latest, b) => Math.max(latest, Date.parse(b.bucket)), endMs);
      const count = Math.floor((last - first) / STEP[interval]) + 1;
      const per = Math.max(1, Math.ceil(count / MAX_BARS));
      const step = STEP[interval] * per;
      const times = [];
      for (let t = first; t <= last; t += step) times.push(t);
      const full = (t) => formatTime(t, { seconds: false });
      const labels = times.map((t) => (per === 1 ? full(t) : `${full(t)} – ${full(t + step - STEP[interval])}`));
      const slot = (bucket) => {
        const at = Math.floor((Date.parse(bucket.bucket) - first) / step);
        return Math.min(times.length - 1, Math.max(0, at));
      };
      return { times, labels, slot };
    }

    /* A stacked time chart: one series per key, `value(bucket)` summed into its bar. */
    function renderTimeChart(container, spec, buckets, interval, startMs, endMs, value, name) {
      const { times, labels, slot } = timeAxis(buckets, interval, startMs, endMs);
      const keys = [...new Set(buckets.map((b) => b.key || "(unknown)"))];
      const series = keys.map((key) => {
        const values = new Array(times.length).fill(0);
        for (const b of buckets) if ((b.key || "(unknown)") === key) values[slot(b)] += value(b);
        return { name: name(key), values };
      });
      charts.render(container, {
        ...spec, orientation: "vertical", stacked: true, series,
        categories: times.map((t) => bucketLabel(t, interval)), categoryLabel: `Time (${timeZoneName()})`,
        tooltipTitles: labels, rowLabels: labels,
      });
    }

    function renderCostTimeline(buckets, interval, startMs, endMs) {
      renderTimeChart($("#chart-cost-time"), {
        id: "chart-cost-time-svg", title: "Cost over Time per Endpoint",
        unit: "USD", format: charts.formatUsd, axisFormat: charts.compactUsd, emptyText: "No priced executions in this time range.",
      }, buckets, interval, startMs, endMs, (b) => b.cost_usd || 0, (key) => key);
    }

    function renderEndpoints(buckets) {
      const fields = ["executions", "failures", "prompt_tokens", "completion_tokens", "total_tokens", "unpriced_tokens"];
      const rows = [...sumBy(buckets, fields).entries()].sort((a, b) => b[1].total_tokens - a[1].total_tokens);
      const tbody = $("#endpoint-table-body");
      tbody.textContent = "";
      endpointRows = rows.map(([endpoint, v]) => [endpoint, ...fields.map((f) => v[f]), v.cost_usd ?? ""]);
      const heads = $all("#endpoint-table thead th").map((th) => th.textContent);
      if (!rows.length) {
        const row = make("tr");
        row.appendChild(make("td", { colspan: 8, class: "muted" }, "No executions in this time range."));
        tbody.appendChild(row);
        return;
      }
      for (const [endpoint, v] of rows) {
        const row = make("tr");
        row.appendChild(make("th", { scope: "row", "data-label": heads[0] }, endpoint));
        fields.forEach((f, i) => row.appendChild(make("td", { class: "num", "data-label": heads[i + 1] }, charts.formatNumber(v[f]))));
        row.appendChild(make("td", { class: "num", "data-label": heads[fields.length + 1] }, costText(v.cost_usd)));
        tbody.appendChild(row);
      }
    }

    /* Shown when the space has a route (or, for who cannot list connectors, a route was
     * used); traffic that went through no route is not a row here. */
    function renderRoutes(buckets) {
      const fields = ["executions", "failures", "prompt_tokens", "completion_tokens", "total_tokens"];
      const rows = [...sumBy(buckets.filter((b) => b.key), fields).entries()]
        .sort((a, b) => b[1].total_tokens - a[1].total_tokens);
      $("#route-usage").hidden = routeIds.size === 0 && rows.length === 0;
      const tbody = $("#route-table-body");
      tbody.textContent = "";
      routeRows = rows.map(([id, v]) => [names[id] || "", id, ...fields.map((f) => v[f]), v.cost_usd ?? ""]);
      if (!rows.length) {
        const row = make("tr");
        row.appendChild(make("td", { colspan: 8, class: "muted" }, "No executions through a route in this time range."));
        tbody.appendChild(row);
        return;
      }
      const heads = $all("#route-table thead th").map((th) => th.textContent);
      for (const [id, v] of rows) {
        const row = make("tr", { "data-route-id": id });
        row.appendChild(make("th", { scope: "row", "data-label": heads[0] }, names[id] || "—"));
        row.appendChild(make("td", { "data-label": heads[1] }, id));
        fields.forEach((f, i) => row.appendChild(make("td", { class: "num", "data-label": heads[i + 2] }, charts.formatNumber(v[f]))));
        row.appendChild(make("td", { class: "num", "data-label": heads[fields.length + 2] }, costText(v.cost_usd)));
        tbody.appendChild(row);
      }
    }

    function renderStats(t) {
      const fmt = charts.formatNumber;
      $("#stat-executions").textContent = fmt(t.executions);
      $("#stat-executions").dataset.value = t.executions;
      const rate = t.executions ? (100 * t.failures) / t.executions : 0;
      $("#stat-failure-rate").textContent = `${rate.toFixed(rate && rate < 10 ? 1 : 0)}%`;
      $("#stat-failures").textContent = `${fmt(t.failures)} failed of ${fmt(t.executions)}`;
      $("#stat-total-tokens").textContent = fmt(t.total_tokens);
      $("#stat-total-tokens").dataset.value = t.total_tokens;
      const counted = t.estimated_tokens + t.reported_tokens;
      const est = counted ? (100 * t.estimated_tokens) / counted : 0;
      $("#stat-estimated-share").textContent = counted ? `${est.toFixed(0)}% estimated` : "–";
      $("#stat-reported-share").textContent = counted
        ? `${fmt(t.reported_tokens)} reported by providers · ${fmt(t.estimated_tokens)} estimated locally`
        : "No tokens in this time range";
      const bar = $("#share-bar");
      bar.textContent = "";
      if (counted) {
        const a = make("span"); a.style.width = `${100 - est}%`; a.style.background = charts.PALETTE[1];
        const b = make("span"); b.style.width = `${est}%`; b.style.background = charts.PALETTE[2];
        bar.append(a, b);
      }
    }

    function renderUsers(buckets) {
      const users = [...sumBy(buckets, ["prompt_tokens", "completion_tokens", "total_tokens"]).entries()]
        .sort((a, b) => b[1].total_tokens - a[1].total_tokens);
      const categories = users.map(([name]) => name);
      charts.render($("#chart-user-tokens"), {
        id: "chart-user-tokens-svg", title: "Prompt + Completion Tokens per User", categories, stacked: true, categoryLabel: "User",
        series: [
          { name: "Prompt tokens", values: users.map(([, v]) => v.prompt_tokens) },
          { name: "Completion tokens", values: users.map(([, v]) => v.completion_tokens), color: charts.PALETTE[1] },
        ],
      });
      charts.render($("#chart-user-total"), {
        id: "chart-user-total-svg", title: "Total Tokens per User", categories, categoryLabel: "User",
        series: [{ name: "Total tokens", values: users.map(([, v]) => v.total_tokens), color: charts.PALETTE[5] }],
      });
    }

    function renderTimeline(buckets, interval, startMs, endMs) {
      renderTimeChart($("#chart-connector-time"), {
        id: "chart-connector-time-svg", title: "Tokens over Time per Connector",
      }, buckets, interval, startMs, endMs, (b) => b.total_tokens, (id) => names[id] || id);
    }

    function renderModels(buckets) {
      const fields = ["executions", "failures", "prompt_tokens", "completion_tokens", "total_tokens", "estimated_tokens"];
      const models = [...sumBy(buckets, fields).entries()].sort((a, b) => b[1].total_tokens - a[1].total_tokens);
      const tbody = $("#model-table-body");
      tbody.textContent = "";
      modelRows = models.map(([model, v]) => [model === "(unknown)" ? "(no model)" : model, ...fields.map((f) => v[f]), v.cost_usd ?? ""]);
      if (!models.length) {
        const row = make("tr");
        row.appendChild(make("td", { colspan: 8, class: "muted" }, "No executions in this time range."));
        tbody.appendChild(row);
        return;
      }
      const heads = $all("#model-table thead th").map((th) => th.textContent);
      for (const [model, v] of models) {
        const row = make("tr");
        row.appendChild(make("th", { scope: "row", "data-label": heads[0] }, model === "(unknown)" ? "(no model)" : model));
        fields.forEach((f, i) => row.appendChild(make("td", { class: "num", "data-label": heads[i + 1] }, charts.formatNumber(v[f]))));
        row.appendChild(make("td", { class: "num", "data-label": heads[fields.length + 1] }, costText(v.cost_usd)));
        tbody.appendChild(row);
      }
    }

    await load();
  }

  window.Llmrelay.onPage("usage", usagePage);
})();
