/* The connectors list (/app/connectors): every connector of the space with its provider,
 * URL and default model, filtered as you type. Helpers come from app.js (window.Llmrelay). */
"use strict";
(function () {
  const { $, $all, make, api, apiMessage, showError, connectorUrl, withPreconfiguredSettings } = window.Llmrelay;

  async function connectorsPage() {
    const tbody = $("#connectors-body");
    if (!tbody) return;
    const result = await api("GET", "/actions/connectors");
    if (!result.ok) {
      tbody.textContent = "";
      showError($("#page-error"), apiMessage(result));
      return;
    }
    const connectors = result.data || [];
    await withPreconfiguredSettings(connectors);
    tbody.textContent = "";
    for (const c of connectors) {
      const config = c.config || {};
      const row = make("tr", { "data-connector-id": c.id });
      row.dataset.search = [c.name, config.apiProvider, config.apiUrl, config.defaultModel, c.id].filter(Boolean).join(" ").toLowerCase();
      const nameCell = make("td", { "data-label": "Name" });
      nameCell.appendChild(make("a", { href: connectorUrl(c.id) }, c.name));
      row.appendChild(nameCell);
      const providerCell = make("td", { "data-label": "Provider" });
      if (config.apiProvider) providerCell.appendChild(make("span", { class: "badge provider" }, config.apiProvider));
      else providerCell.appendChild(make("span", { class: "muted" }, c.connector_type_id === ".gen-ai" ? "OpenAI connector" : c.connector_type_id));
      row.appendChild(providerCell);
      row.appendChild(make("td", { class: "url", "data-label": "URL" }, config.apiUrl || "—"));
      row.appendChild(make("td", { "data-label": "Default model" }, config.defaultModel || "—"));
      const badges = make("td", { "data-label": "" });
      if (c.is_preconfigured) badges.appendChild(make("span", { class: "badge pre", title: "Defined in the settings file; read-only" }, "Preconfigured"));
      if (c.is_missing_secrets) badges.appendChild(make("span", { class: "badge error" }, "Missing secrets"));
      row.appendChild(badges);
      tbody.appendChild(row);
    }
    $("#connectors-empty").hidden = connectors.length > 0;
    $("#connectors-table").hidden = connectors.length === 0;
    const filter = $("#connector-filter");
    const count = $("#connector-count");
    const apply = () => {
      const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const row of $all("tr", tbody)) {
        const match = words.every((w) => row.dataset.search.includes(w));
        row.hidden = !match;
        if (match) shown += 1;
      }
      count.textContent = words.length ? `${shown} of ${connectors.length} connectors` : `${connectors.length} connector${connectors.length === 1 ? "" : "s"}`;
    };
    filter.addEventListener("input", apply);
    apply();
  }

  window.Llmrelay.onPage("connectors", connectorsPage);
})();
