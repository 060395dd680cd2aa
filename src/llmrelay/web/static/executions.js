/* The connector page's Executions tab: the connector's `execute` events from the event log
 * (GET .../event_log/connector/<id>/_find?action=execute), latest first, paged and
 * filterable by outcome; what Kibana shows in its event log tab, with llmrelay's token
 * numbers and usage source. Loaded when the tab is first shown. */
"use strict";
(function () {
  const PER_PAGE = 20;

  function tokens(doc) {
    const execution = (doc.kibana && doc.kibana.action && doc.kibana.action.execution) || {};
    return (execution.gen_ai && execution.gen_ai.usage) || null;
  }

  function durationText(doc) {
    const raw = doc.event && doc.event.duration;
    const ns = Number(raw);
    if (raw === undefined || raw === null || !Number.isFinite(ns)) return "—";
    const ms = ns / 1e6;
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  }

  function whoText(doc) {
    const key = doc.kibana && doc.kibana.user_api_key;
    if (key) return `API key ${key.name || key.id}`;
    if (doc.user && doc.user.name) return doc.user.name;
    return "—";
  }

  function whatText(doc) {
    const ours = doc.llmrelay || {};
    const sub = ours.sub_action || "—";
    return ours.endpoint && ours.endpoint !== "chat" && ours.endpoint !== sub ? `${sub} (${ours.endpoint})` : sub;
  }

  function setup(connector) {
    const { $, make, api, formatTime, apiMessage, showError } = window.Llmrelay;
    const body = $("#executions-body");
    if (!body) return;
    const outcome = $("#executions-outcome");
    const prev = $("#executions-prev");
    const next = $("#executions-next");
    const fmt = new Intl.NumberFormat("en-US");
    let page = 1;
    let loaded = false;
    let seq = 0;

    function cell(label, text, attrs) {
      const td = make("td", { "data-label": label, ...(attrs || {}) });
      if (text instanceof Node) td.appendChild(text); else td.textContent = text;
      return td;
    }

    async function load() {
      loaded = true;
      const mine = ++seq;
      const query = new URLSearchParams({ action: "execute", page: String(page), per_page: String(PER_PAGE) });
      if (outcome.value) query.set("outcome", outcome.value);
      $("#panel-executions").setAttribute("aria-busy", "true");
      const result = await api("GET", `/event_log/connector/${encodeURIComponent(connector.id)}/_find?${query}`);
      if (mine !== seq) return;
      $("#panel-executions").setAttribute("aria-busy", "false");
      showError($("#executions-error"), result.ok ? "" : apiMessage(result));
      body.textContent = "";
      if (!result.ok) return;
      const { total, data } = result.data;
      for (const doc of data) {
        const row = make("tr");
        const time = make("time", { datetime: doc["@timestamp"] }, formatTime(doc["@timestamp"]));
        row.appendChild(cell("Time", time));
        row.appendChild(cell("Sub-action / endpoint", whatText(doc)));
        const result = (doc.event && doc.event.outcome) || "unknown";
        row.appendChild(cell("Outcome", make("span", { class: `badge ${result === "success" ? "ok" : "error"}` }, result)));
        row.appendChild(cell("Duration", durationText(doc), { class: "num" }));
        const usage = tokens(doc);
        row.appendChild(cell("Tokens", usage
          ? `${fmt.format(usage.total_tokens)} (${fmt.format(usage.prompt_tokens)} prompt · ${fmt.format(usage.completion_tokens)} completion)`
          : "—", { class: "num" }));
        row.appendChild(cell("Usage source", (doc.llmrelay && doc.llmrelay.usage_source) || "—"));
        row.appendChild(cell("User or API key", whoText(doc)));
        row.appendChild(cell("Message", (doc.error && doc.error.message) || "", { class: "message" }));
        body.appendChild(row);
      }
      if (!data.length) {
        const row = make("tr");
        row.appendChild(make("td", { colspan: 8, class: "muted" }, outcome.value ? `No executions with outcome ${outcome.value}.` : "No executions yet."));
        body.appendChild(row);
      }
      const pages = Math.max(1, Math.ceil(total / PER_PAGE));
      $("#executions-count").textContent = `${fmt.format(total)} execution${total === 1 ? "" : "s"}`;
      $("#executions-page").textContent = `Page ${page} of ${pages}`;
      prev.disabled = page <= 1;
      next.disabled = page >= pages;
    }

    const wanted = new URLSearchParams(location.search).get("outcome");
    outcome.value = wanted === "success" || wanted === "failure" ? wanted : "";
    outcome.addEventListener("change", () => {
      page = 1;
      const url = new URL(location.href);
      if (outcome.value) url.searchParams.set("outcome", outcome.value); else url.searchParams.delete("outcome");
      history.replaceState(null, "", url);
      load();
    });
    $("#executions-refresh").addEventListener("click", () => load());
    prev.addEventListener("click", () => { if (page > 1) { page -= 1; load(); } });
    next.addEventListener("click", () => { page += 1; load(); });
    const tab = $("#tab-executions");
    tab.addEventListener("tab-shown", () => { if (!loaded) load(); });
    if (tab.getAttribute("aria-selected") === "true") load();
  }

  window.LlmrelayExecutions = { setup };
})();
