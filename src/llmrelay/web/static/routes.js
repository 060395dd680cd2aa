/* Route connectors (.llmrelay-route) in the UI: the create and edit form (targets with
 * weights and fallbacks picked from the space's connectors), and the route page with its
 * Configuration, Attempts (from the route's execute events) and Test tabs.
 * Uses the helpers app.js shares as window.Llmrelay. */
"use strict";
(function () {
  const ROUTE = ".llmrelay-route";

  /* The form: returns nothing; saves with POST (create) or PUT (edit). */
  async function routeForm(route, onSaved) {
    const { $, make, api } = window.Llmrelay;
    const form = $("#route-form");
    if (!form) return;
    const listed = await api("GET", "/actions/connectors");
    const choices = (listed.ok ? listed.data : []).filter((c) => !route || c.id !== route.id);
    const targets = $("#route-targets", form);
    const fallbacks = $("#route-fallbacks", form);
    let rowCount = 0;

    function picker(kind, n, selected) {
      const select = make("select", { id: `${kind}-${n}`, "aria-label": `${kind === "target" ? "Target" : "Fallback"} ${n} connector`, class: `${kind}-connector` });
      for (const c of choices) {
        const option = make("option", { value: c.id }, c.connector_type_id === ROUTE ? `${c.name} (route)` : c.name);
        if (c.id === selected) option.selected = true;
        select.appendChild(option);
      }
      return select;
    }
    function removeButton(row, label) {
      const button = make("button", { type: "button", class: "button ghost small", "aria-label": label }, "Remove");
      button.addEventListener("click", () => row.remove());
      return button;
    }
    function addTarget(connectorId, weight) {
      rowCount += 1;
      const n = rowCount;
      const row = make("div", { class: "header-row route-target" });
      row.appendChild(picker("target", n, connectorId));
      const input = make("input", { type: "number", min: "1", step: "1", value: String(weight || 1), class: "target-weight", "aria-label": `Target ${n} weight` });
      row.appendChild(input);
      row.appendChild(removeButton(row, `Remove target ${n}`));
      targets.appendChild(row);
    }
    function addFallback(connectorId) {
      rowCount += 1;
      const n = rowCount;
      const row = make("div", { class: "header-row route-fallback" });
      row.appendChild(picker("fallback", n, connectorId));
      row.appendChild(removeButton(row, `Remove fallback ${n}`));
      fallbacks.appendChild(row);
    }
    $("#add-target", form).addEventListener("click", () => addTarget());
    $("#add-fallback", form).addEventListener("click", () => addFallback());

    const config = (route && route.config) || {};
    if (route) $("#route-name", form).value = route.name; // never clear what was typed while loading
    for (const t of config.targets || [{}]) addTarget(t.connectorId, t.weight);
    for (const f of config.fallbacks || []) addFallback(f);
    if (config.retries !== undefined) $("#route-retries", form).value = String(config.retries);
    if (config.cooldownSeconds !== undefined) $("#route-cooldown", form).value = String(config.cooldownSeconds);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("#route-form-error", form);
      error.hidden = true;
      const number = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
      const body = {
        name: $("#route-name", form).value,
        config: {
          targets: Array.from(targets.querySelectorAll(".route-target")).map((row) => ({
            connectorId: row.querySelector("select").value,
            weight: number(row.querySelector(".target-weight")),
          })),
          fallbacks: Array.from(fallbacks.querySelectorAll("select")).map((s) => s.value),
          retries: number($("#route-retries", form)),
          cooldownSeconds: number($("#route-cooldown", form)),
        },
      };
      for (const key of Object.keys(body.config)) if (body.config[key] === undefined) delete body.config[key];
      const result = route
        ? await api("PUT", `/actions/connector/${encodeURIComponent(route.id)}`, body)
        : await api("POST", "/actions/connector", { ...body, connector_type_id: ROUTE });
      if (!result.ok) {
        error.textContent = window.Llmrelay.apiMessage(result);
        error.hidden = false;
        error.focus();
        return;
      }
      onSaved(result.data);
    });
  }

  function describe(route) {
    const config = route.config || {};
    const targets = (config.targets || []).map((t) => `${t.connectorId} (weight ${t.weight})`).join(", ");
    return [
      ["Name", route.name], ["Connector ID", route.id], ["Targets", targets],
      ["Fallbacks", (config.fallbacks || []).join(", ") || "—"],
      ["Retries", String(config.retries)], ["Cooldown seconds", String(config.cooldownSeconds)],
    ];
  }

  function setupTabs(root, initial) {
    const { $, $all } = window.Llmrelay;
    const tabs = $all('[role="tab"]', root);
    function select(tab) {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        $("#" + t.getAttribute("aria-controls")).hidden = !on;
      }
      if (tab.id === "tab-attempts") loadAttempts(root.dataset.connectorId);
    }
    tabs.forEach((tab) => tab.addEventListener("click", () => select(tab)));
    select($(`#tab-${initial}`) || tabs[0]);
  }

  async function loadAttempts(routeId) {
    const { $, make, api } = window.Llmrelay;
    const body = $("#attempts-body");
    if (!body) return;
    const result = await api("GET", `/event_log/connector/${encodeURIComponent(routeId)}/_find?per_page=50`);
    if (!result.ok) {
      const error = $("#page-error");
      error.textContent = window.Llmrelay.apiMessage(result);
      error.hidden = false;
      return;
    }
    const executions = (result.data.data || []).filter((d) => d.event && d.event.action === "execute");
    body.textContent = "";
    for (const doc of executions) {
      const route = (doc.llmrelay && doc.llmrelay.route) || {};
      const row = make("tr", { class: "route-execution" });
      row.appendChild(make("td", {}, new Date(doc["@timestamp"]).toLocaleString()));
      row.appendChild(make("td", {}, doc.event.outcome));
      row.appendChild(make("td", {}, route.target || "—"));
      const tried = (route.attempts || []).map((a) =>
        `${a.connector_id}: ${a.outcome}${a.error ? ` (${a.error})` : ""}, ${Math.round(a.duration_ms)} ms`);
      row.appendChild(make("td", { class: "attempts" }, tried.join(" → ")));
      body.appendChild(row);
    }
    $("#attempts-empty").hidden = executions.length > 0;
    $("#attempts-table").hidden = executions.length === 0;
  }

  async function routePage() {
    const { $, api, flag } = window.Llmrelay;
    const root = $("#route-root");
    if (!root) return;
    const id = root.dataset.connectorId;
    const result = await api("GET", `/actions/connector/${encodeURIComponent(id)}`);
    if (!result.ok) {
      const error = $("#page-error");
      error.textContent = window.Llmrelay.apiMessage(result);
      error.hidden = false;
      return;
    }
    const route = result.data;
    const show = (r) => {
      document.title = `${r.name} · llmrelay`;
      $("#connector-title").textContent = r.name;
      $("#crumb-name").textContent = r.name;
      $("#connector-subtitle").textContent = `Route · ID ${r.id}`;
    };
    show(route);
    $("#connector-body").hidden = false;
    setupTabs(root, root.dataset.tab);
    if (flag("canWrite") && !route.is_preconfigured) {
      await routeForm(route, (saved) => show(saved));
      const del = $("#route-delete");
      del.hidden = false;
      del.addEventListener("click", async () => {
        if (!window.confirm(`Delete the route "${route.name}"? Applications using it will fail.`)) return;
        const gone = await api("DELETE", `/actions/connector/${encodeURIComponent(route.id)}`);
        if (gone.ok) location.assign(`${document.body.dataset.prefix}/app/connectors`);
      });
    } else {
      const list = $("#readonly-details");
      const { make } = window.Llmrelay;
      for (const [term, value] of describe(route)) {
        list.appendChild(make("dt", {}, term));
        list.appendChild(make("dd", {}, value || "—"));
      }
      list.hidden = false;
    }
    if (window.LlmrelayTestTab) window.LlmrelayTestTab.setup(route);
  }

  window.Llmrelay.onPage("connector-route-new", () => routeForm(null, (saved) => location.assign(window.Llmrelay.connectorUrl(saved.id) + "?created=1")));
  window.Llmrelay.onPage("connector-route", routePage);
})();
