/* The Limits page (admins): the space's limits with their current use as bars; create,
 * edit and delete through /api/llmrelay/limits. Helpers come from app.js (window.Llmrelay). */
"use strict";
(function () {
  const FIGURES = [
    // field, what it counts, its window's suffix in "current", words
    ["requests_per_minute", "requests", "this_minute", "requests this minute"],
    ["tokens_per_minute", "tokens", "this_minute", "tokens this minute"],
    ["tokens_per_day", "tokens", "today", "tokens today"],
    ["tokens_per_month", "tokens", "this_month", "tokens this month"],
    ["cost_usd_per_day", "cost_usd", "today", "USD today"],
    ["cost_usd_per_month", "cost_usd", "this_month", "USD this month"],
  ];
  const SCOPES = {
    connector: ["Connector id", "The id shown on the connector's page."],
    user: ["User name", "Every request made by this user (with a password or an API key of theirs)."],
    api_key: ["API key id", "The id that llmrelay api-keys list shows."],
    space: ["Space", "Every request in this space."],
  };

  function start() {
    const L = window.Llmrelay;
    const { $, make, api } = L;
    const form = $("#limit-form");
    const space = document.body.dataset.space;
    let editing = null; // the limit being edited, or null when creating

    function number(value) {
      return Number.isInteger(value) ? value.toLocaleString("en-US") : String(Number(value.toPrecision(6)));
    }
    function scopeText(scope) {
      const [kind, target] = Object.entries(scope)[0];
      return { connector: "Connector ", user: "User ", api_key: "API key ", space: "Space " }[kind] + target;
    }

    function useCell(limit) {
      const box = make("div", { class: "limit-use" });
      for (const [field, metric, suffix, words] of FIGURES) {
        if (limit[field] === undefined || limit[field] === null) continue;
        const used = limit.current[`${metric}_${suffix}`] || 0;
        const id = `use-${limit.id}-${field}`;
        box.appendChild(make("span", { class: "use-label", id }, `${number(used)} of ${number(limit[field])} ${words}`));
        box.appendChild(make("meter", { min: 0, max: limit[field], value: Math.min(used, limit[field]),
          high: limit[field] * 0.8, optimum: 0, "aria-labelledby": id }));
      }
      return box;
    }

    async function load() {
      const result = await api("GET", "/llmrelay/limits");
      const tbody = $("#limits-body");
      if (!result.ok) {
        tbody.textContent = "";
        L.$("#page-error").textContent = (result.data && result.data.message) || "Could not load the limits.";
        L.$("#page-error").hidden = false;
        return;
      }
      const limits = result.data.data;
      tbody.textContent = "";
      $("#limits-empty").hidden = limits.length > 0;
      $("#limits-table").hidden = limits.length === 0;
      for (const limit of limits) {
        const row = make("tr");
        row.appendChild(make("th", { scope: "row" }, limit.name));
        row.appendChild(make("td", {}, scopeText(limit.scope)));
        const use = make("td");
        use.appendChild(useCell(limit));
        row.appendChild(use);
        const actions = make("td");
        const box = make("div", { class: "limit-actions" });
        const edit = make("button", { type: "button", class: "button small", "aria-label": `Edit ${limit.name}` }, "Edit");
        edit.addEventListener("click", () => openForm(limit));
        const remove = make("button", { type: "button", class: "button small danger ghost", "aria-label": `Delete ${limit.name}` }, "Delete");
        remove.addEventListener("click", () => removeLimit(limit));
        box.append(edit, remove);
        actions.appendChild(box);
        row.appendChild(actions);
        tbody.appendChild(row);
      }
    }

    function showScope() {
      const kind = $("#limit-scope-kind").value;
      const [label, help] = SCOPES[kind];
      $("label[for=limit-scope-id]").textContent = label;
      $("#limit-scope-help").textContent = help;
      const input = $("#limit-scope-id");
      input.readOnly = kind === "space";
      if (kind === "space") input.value = space;
    }

    function openForm(limit) {
      editing = limit;
      $("#limit-form-title").textContent = limit ? `Edit limit ${limit.name}` : "Create limit";
      $("#limit-name").value = limit ? limit.name : "";
      const [kind, target] = limit ? Object.entries(limit.scope)[0] : ["connector", ""];
      $("#limit-scope-kind").value = kind;
      $("#limit-scope-id").value = target;
      for (const [field] of FIGURES) {
        const value = limit ? limit[field] : undefined;
        $(`#limit-${field}`).value = value === undefined || value === null ? "" : String(value);
      }
      $("#limit-form-error").hidden = true;
      showScope();
      form.hidden = false;
      $("#limit-name").focus();
    }

    function bodyOf() {
      const body = {
        name: $("#limit-name").value,
        scope: { [$("#limit-scope-kind").value]: $("#limit-scope-id").value.trim() },
      };
      for (const [field] of FIGURES) {
        const raw = $(`#limit-${field}`).value.trim();
        body[field] = raw === "" ? null : Number(raw);
      }
      return body;
    }

    async function save(event) {
      event.preventDefault();
      const body = bodyOf();
      const result = editing
        ? await api("PUT", `/llmrelay/limits/${encodeURIComponent(editing.id)}`, body)
        : await api("POST", "/llmrelay/limits", body);
      if (!result.ok) {
        const box = $("#limit-form-error");
        box.textContent = (result.data && result.data.message) || `Saving failed (status ${result.status}).`;
        box.hidden = false;
        box.focus();
        return;
      }
      form.hidden = true;
      editing = null;
      await load();
    }

    async function removeLimit(limit) {
      if (!window.confirm(`Delete the limit "${limit.name}" and its counts?`)) return;
      const result = await api("DELETE", `/llmrelay/limits/${encodeURIComponent(limit.id)}`);
      if (!result.ok) {
        L.$("#page-error").textContent = (result.data && result.data.message) || "Deleting failed.";
        L.$("#page-error").hidden = false;
        return;
      }
      await load();
    }

    $("#limit-new").addEventListener("click", () => openForm(null));
    $("#limit-cancel").addEventListener("click", () => { form.hidden = true; editing = null; });
    $("#limit-scope-kind").addEventListener("change", showScope);
    form.addEventListener("submit", save);
    load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (document.body.dataset.page === "limits" && document.getElementById("limits-body")) start();
  });
})();
