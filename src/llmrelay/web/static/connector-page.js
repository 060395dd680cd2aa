/* One connector's page (/app/connectors/<id>): its header, the Configuration, Test and
 * Executions tabs, the form to edit it (connector-form.js) or its read-only details, and
 * Delete. Helpers come from app.js (window.Llmrelay). */
"use strict";
(function () {
  const { $, $all, make, api, apiMessage, showError, toast, flag, withPreconfiguredSettings, PREFIX } = window.Llmrelay;

  function setupTabs(root, initial) {
    const tabs = $all('[role="tab"]', root);
    function select(tab, focus) {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on));
        t.tabIndex = on ? 0 : -1;
        $("#" + t.getAttribute("aria-controls")).hidden = !on;
      }
      if (focus) tab.focus();
      const url = new URL(location.href);
      if (tab.id !== "tab-config") url.searchParams.set("tab", tab.id.slice(4)); else url.searchParams.delete("tab");
      history.replaceState(null, "", url);
      tab.dispatchEvent(new CustomEvent("tab-shown", { bubbles: true }));
    }
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        let next = null;
        if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
        if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
        if (event.key === "Home") next = tabs[0];
        if (event.key === "End") next = tabs[tabs.length - 1];
        if (next) { event.preventDefault(); select(next, true); }
      });
    });
    select($(`#tab-${initial}`) || $("#tab-config"), false);
  }

  function showHeader(connector) {
    const config = connector.config || {};
    document.title = `${connector.name} · llmrelay`;
    $("#connector-title").textContent = connector.name;
    $("#crumb-name").textContent = connector.name;
    const parts = [config.apiProvider ? `${config.apiProvider} connector` : "OpenAI connector", `ID ${connector.id}`];
    if (connector.is_preconfigured) parts.push("preconfigured");
    $("#connector-subtitle").textContent = parts.join(" · ");
    const link = $("#dashboard-link");
    link.textContent = `View OpenAI Usage Dashboard for "${connector.name}" Connector`;
    link.hidden = false;
  }

  function readOnlyDetails(connector) {
    const list = $("#readonly-details");
    list.textContent = "";
    const config = connector.config;
    const rows = [["Name", connector.name], ["Connector ID", connector.id]];
    if (config) {
      rows.push(["OpenAI provider", window.LlmrelayFormChecks.PROVIDER_LABELS[config.apiProvider] || config.apiProvider]);
      rows.push(["URL", config.apiUrl]);
      rows.push(["Default model", config.defaultModel || "—"]);
      const headerNames = config.headerNames || Object.keys(config.headers || {});
      if (headerNames.length) rows.push(["Headers", headerNames.join(", ")]);
      if (config.verificationMode) rows.push(["Verification mode", config.verificationMode]);
      const shown = ["apiProvider", "apiUrl", "defaultModel", "headers", "headerNames", "verificationMode"];
      for (const [key, value] of Object.entries(config)) {
        if (!shown.includes(key)) rows.push([key, typeof value === "string" ? value : JSON.stringify(value)]);
      }
    } else {
      rows.push(["Settings", "Not shown: the connector's definition does not set exposeConfig."]);
    }
    for (const [term, value] of rows) {
      list.appendChild(make("dt", {}, term));
      list.appendChild(make("dd", {}, value || "—"));
    }
    list.hidden = false;
  }

  async function connectorPage() {
    const root = $("#connector-root");
    if (!root) return;
    const id = root.dataset.connectorId;
    const result = await api("GET", `/actions/connector/${encodeURIComponent(id)}`);
    if (!result.ok) {
      $("#connector-title").textContent = result.status === 404 ? "Connector not found" : "Connector";
      showError($("#page-error"), apiMessage(result));
      return;
    }
    const connector = result.data;
    if (connector.connector_type_id === ".llmrelay-route") { // routes have their own page (routes.js)
      location.replace(`${PREFIX}/app/routes/${encodeURIComponent(id)}${location.search}`);
      return;
    }
    await withPreconfiguredSettings([connector]);
    showHeader(connector);
    $("#connector-body").hidden = false;
    setupTabs(root, root.dataset.tab);
    if (new URLSearchParams(location.search).get("created")) {
      toast(`Created connector "${connector.name}".`);
      const url = new URL(location.href);
      url.searchParams.delete("created");
      history.replaceState(null, "", url);
    }
    const form = $("#connector-form");
    const editable = flag("canWrite") && !connector.is_preconfigured;
    if (editable) {
      window.LlmrelayConnectorForm.setup({
        connector,
        onSaved: (saved, thenTest) => {
          showHeader(saved);
          testTab.update(saved);
          if (thenTest) $("#tab-test").click();
        },
      });
      const del = $("#delete-button");
      if (del) del.hidden = false;
    } else {
      form.remove();
      const note = $("#readonly-note");
      note.textContent = connector.is_preconfigured
        ? "This connector is preconfigured in the service's settings file and is read-only here."
        : "You can view this connector but not change it (the connectors_all role is needed).";
      note.hidden = false;
      readOnlyDetails(connector);
    }
    setupDelete(connector);
    const testTab = window.LlmrelayTestTab.setup(connector);
    window.LlmrelayExecutions.setup(connector);
  }

  function setupDelete(connector) {
    const button = $("#delete-button");
    const dialog = $("#delete-dialog");
    if (!button || !dialog) return;
    $("#delete-name").textContent = connector.name;
    button.addEventListener("click", () => {
      dialog.showModal();
      $("#delete-cancel").focus();
    });
    $("#delete-cancel").addEventListener("click", () => dialog.close());
    $("#delete-confirm").addEventListener("click", async () => {
      const result = await api("DELETE", `/actions/connector/${encodeURIComponent(connector.id)}`);
      dialog.close();
      if (result.ok) location.assign(`${PREFIX}/app/connectors`);
      else showError($("#page-error"), apiMessage(result));
    });
    dialog.addEventListener("close", () => button.focus());
  }

  window.Llmrelay.onPage("connector", connectorPage);
})();
