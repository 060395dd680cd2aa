/* llmrelay web UI. Plain JavaScript; every piece of data comes from the public API
 * (/api or /s/<space>/api) with the session cookie and the session's CSRF token. */
"use strict";
(function () {
  const body = document.body;
  const API = body.dataset.api || "/api";
  const PREFIX = body.dataset.prefix || "";
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.content : "";
  const flag = (name) => body.dataset[name] === "true";

  const PROVIDERS = {
    "OpenAI": {
      label: "OpenAI",
      url: "https://api.openai.com/v1/chat/completions",
      modelHelp: "Optional: defaults to gpt-4.1.",
      modelRequired: false,
      keyRequired: true,
    },
    "Azure OpenAI": {
      label: "Azure OpenAI",
      url: "https://{your-resource-name}.openai.azure.com/openai/deployments/{deployment-id}/chat/completions?api-version={api-version}",
      modelHelp: "Optional: Azure picks the model from the deployment in the URL.",
      modelRequired: false,
      keyRequired: true,
    },
    "Other": {
      label: "Other (OpenAI-compatible service)",
      url: "http://localhost:1234/v1/chat/completions",
      modelHelp: "Required: the model name sent to your server, for example local-model.",
      modelRequired: true,
      keyRequired: false,
    },
  };
  const PROVIDER_ONLY_KEYS = { "OpenAI": ["organizationId", "projectId"], "Other": ["enableNativeFunctionCalling"] };

  // --- helpers ---------------------------------------------------------------------
  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }
  function make(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function toast(message) {
    const box = $("#toast");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }
  function showError(box, message) {
    if (!box) return;
    box.textContent = message;
    box.hidden = !message;
  }
  function sentence(text) { return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : "."); }
  function connectorUrl(id) { return `${PREFIX}/app/connectors/${encodeURIComponent(id)}`; }
  function loginRedirect() {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  async function api(method, path, payload, options) {
    const headers = { "accept": "application/json" };
    if (method !== "GET") {
      headers["kbn-xsrf"] = "llmrelay-ui";
      headers["x-csrf-token"] = CSRF;
    }
    const init = { method, headers, credentials: "same-origin", signal: options && options.signal };
    if (payload !== undefined) {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (err) {
      return { ok: false, status: 0, data: { message: "The service could not be reached: " + err.message } };
    }
    if (response.status === 401) { loginRedirect(); }
    if (options && options.raw) return { ok: response.ok, status: response.status, response };
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = { message: text }; }
    }
    return { ok: response.ok, status: response.status, data };
  }
  function apiMessage(result) {
    return (result.data && result.data.message) || `Request failed with status ${result.status}.`;
  }

  /* The one date format of the UI: "2026-12-06 14:05:09 UTC", in the browser's time zone,
   * named. `seconds: false` drops the seconds. */
  function formatTime(value, options) {
    const date = value instanceof Date ? value : new Date(value);
    if (Number.isNaN(date.getTime())) return "—";
    const parts = {};
    const format = new Intl.DateTimeFormat("en-GB", {
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23", timeZoneName: "short",
    });
    for (const part of format.formatToParts(date)) parts[part.type] = part.value;
    const time = `${parts.hour}:${parts.minute}` + (options && options.seconds === false ? "" : `:${parts.second}`);
    return `${parts.year}-${parts.month}-${parts.day} ${time} ${parts.timeZoneName}`;
  }

  // the helpers other page scripts (test-tab.js, executions.js) share
  window.Llmrelay = { $, $all, make, api, flag, formatTime, apiMessage, showError, toast };

  function setupAutosubmit() {
    $all("select[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
  }

  /* Preconfigured connectors without exposeConfig come without config from Kibana's API;
   * llmrelay's own endpoint gives their settings (never secrets) to who may see them. */
  async function withPreconfiguredSettings(connectors) {
    if (!connectors.some((c) => c.is_preconfigured && !c.config)) return;
    const extra = await api("GET", "/llmrelay/preconfigured_connectors");
    if (!extra.ok) return;
    const byId = new Map(extra.data.map((e) => [e.id, e.config]));
    for (const c of connectors) if (c.is_preconfigured && !c.config && byId.has(c.id)) c.config = byId.get(c.id);
  }

  // --- connectors list ---------------------------------------------------------------
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

  // --- connector form (create and edit) ----------------------------------------------
  const FIELD_OF = {
    name: "name", apiProvider: "apiProvider", apiUrl: "apiUrl", defaultModel: "defaultModel",
    headers: "headers", apiKey: "apiKey", certificateData: "certificateData",
    privateKeyData: "privateKeyData", caData: "caData", verificationMode: "verificationMode",
  };
  const LABELS = {
    name: "Name", apiProvider: "OpenAI provider", apiUrl: "URL", defaultModel: "Default model",
    headers: "Headers", apiKey: "API key", certificateData: "Certificate", privateKeyData: "Private key",
    caData: "CA certificate", verificationMode: "Verification mode",
  };

  /* Split a Kibana-style validation message into {field: message}; the rest is general. */
  function fieldErrors(message) {
    const out = {};
    const general = [];
    const text = String(message || "").replace(/^error validating (?:connector type (?:config|secrets)|action params): /, "");
    for (const part of text.split(/\n- /)) {
      const match = /^\[([^\]]*)\]: ([\s\S]*)$/.exec(part);
      let field = null;
      let reason = part;
      if (match) {
        field = FIELD_OF[match[1].split(".")[0]] || null;
        reason = match[2];
        if (field && reason === "Required") reason = `${LABELS[field]} is required.`;
        else if (field === "headers") reason = sentence(reason);
      } else if (/Certificate data|PKI configuration|certificate data file/i.test(part) && !/CA certificate/.test(part)) {
        field = "certificateData";
      } else if (/Private key/i.test(part)) {
        field = "privateKeyData";
      } else if (/CA certificate/i.test(part)) {
        field = "caData";
      } else if (/API Provider/i.test(part)) {
        field = "apiProvider";
      } else if (/url|URL/.test(part)) {
        field = "apiUrl";
      }
      if (field) out[field] = out[field] ? out[field] + " " + reason : reason;
      else general.push(part);
    }
    return { fields: out, general: general.join("\n") };
  }

  function toBase64(text) {
    const bytes = new TextEncoder().encode(text);
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary);
  }

  /* A PEM pasted or read from a file goes out base64-encoded; an already encoded value as is. */
  function pemValue(text) {
    const trimmed = text.trim();
    if (!trimmed) return "";
    return trimmed.includes("-----BEGIN") ? toBase64(trimmed + "\n") : trimmed.replace(/\s+/g, "");
  }

  function connectorForm(options) {
    const form = $("#connector-form");
    if (!form) return null;
    const mode = form.dataset.mode;
    const provider = $("#apiProvider", form);
    const url = $("#apiUrl", form);
    const model = $("#defaultModel", form);
    const apiKey = $("#apiKey", form);
    const usePki = $("#usePki", form);
    const pki = $("#pki-fields", form);
    const verification = $("#verificationMode", form);
    const rows = $("#header-rows", form);
    let original = options.connector || null;
    let headerCount = 0;

    function addHeader(key, value) {
      headerCount += 1;
      const n = headerCount;
      const row = make("div", { class: "header-row" });
      const keyField = make("div", { class: "field" });
      keyField.appendChild(make("label", { for: `header-key-${n}` }, "Header name"));
      keyField.appendChild(make("input", { id: `header-key-${n}`, class: "header-key", autocomplete: "off", spellcheck: "false", "aria-describedby": "headers-error", value: key || "" }));
      const valueField = make("div", { class: "field" });
      valueField.appendChild(make("label", { for: `header-value-${n}` }, "Header value"));
      valueField.appendChild(make("input", { id: `header-value-${n}`, class: "header-value", autocomplete: "off", spellcheck: "false", "aria-describedby": "headers-error", value: value || "" }));
      const remove = make("button", { type: "button", class: "button ghost icon", "aria-label": `Remove header ${n}` }, "✕");
      remove.addEventListener("click", () => {
        row.remove();
        $("#add-header", form).focus();
      });
      row.append(keyField, valueField, remove);
      rows.appendChild(row);
      return row;
    }

    /* On the create form OpenAI's URL is filled in (it is the one URL that works as is);
     * a prefilled URL the user did not change follows the provider. */
    let prefilled = "";
    function syncProvider() {
      const info = PROVIDERS[provider.value] || PROVIDERS.OpenAI;
      url.placeholder = info.url;
      if (mode === "create" && url.value.trim() === prefilled) {
        prefilled = provider.value === "OpenAI" ? info.url : "";
        url.value = prefilled;
      }
      $("#defaultModel-help", form).textContent = info.modelHelp;
      $("#defaultModel-optional", form).textContent = info.modelRequired ? "required" : "optional";
      model.required = info.modelRequired;
      const editing = mode === "edit";
      $("#apiKey-optional", form).textContent = info.keyRequired ? "required" : "required unless PKI is used";
      $("#apiKey-help", form).textContent = editing
        ? "Secrets are never shown. Leave empty to keep the stored API key."
        : (info.keyRequired ? "The API key for authentication." : "Your server's API key, or any placeholder if it does not check keys.");
    }

    function syncPki() {
      pki.hidden = !usePki.checked;
      $("#verificationMode-warning", form).hidden = !(usePki.checked && verification.value === "none");
    }

    function clearErrors() {
      $all(".field-error", form).forEach((p) => { p.hidden = true; p.textContent = ""; });
      $all("[aria-invalid]", form).forEach((i) => i.removeAttribute("aria-invalid"));
      showError($("#form-error", form), "");
    }

    /* Each message at its field, marked aria-invalid; returns the first invalid input. */
    function showFieldErrors(fields) {
      let first = null;
      for (const name of Object.keys(FIELD_OF)) {
        const reason = fields[name];
        if (!reason) continue;
        const field = name;
        const box = $(`#${field}-error`, form);
        if (!box) continue;
        box.textContent = reason;
        box.hidden = false;
        const input = field === "headers" ? $(".header-key", form) : $(`#${field}`, form);
        if (input) {
          input.setAttribute("aria-invalid", "true");
          first = first || input;
        }
      }
      if (fields.certificateData || fields.privateKeyData || fields.caData) {
        usePki.checked = true;
        syncPki();
      }
      return first;
    }

    function showErrors(message) {
      const parsed = fieldErrors(message);
      const fields = {};
      for (const [field, reason] of Object.entries(parsed.fields)) {
        fields[field] = field === "headers" ? reason : checks().reword(field, reason, provider.value);
      }
      const general = parsed.general;
      const first = showFieldErrors(fields);
      const fallback = general || (first ? "" : message);
      if (fallback) {
        showError($("#form-error", form), fallback);
        $("#form-error", form).focus();
      } else if (first) {
        first.focus();
      }
    }

    /* The server's header rule (headers.js), checked before saving and when a header
     * field is left; problems are shown at the headers field. True when all are fine. */
    function checkHeaders(focus) {
      const rule = window.LlmrelayHeaders;
      const box = $("#headers-error", form);
      $all(".header-key, .header-value", form).forEach((i) => i.removeAttribute("aria-invalid"));
      const problems = [];
      let first = null;
      for (const row of $all(".header-row", form)) {
        const key = $(".header-key", row);
        const value = $(".header-value", row);
        const name = key.value.trim();
        if (!name && !value.value) continue;
        const nameProblem = rule.nameProblem(name);
        const problem = nameProblem || rule.valueProblem(name, value.value);
        if (!problem) continue;
        const input = nameProblem ? key : value;
        input.setAttribute("aria-invalid", "true");
        first = first || input;
        problems.push(sentence(problem));
      }
      box.textContent = problems.join(" ");
      box.hidden = problems.length === 0;
      if (focus && first) first.focus();
      return problems.length === 0;
    }

    function checks() { return window.LlmrelayFormChecks; }

    /* Every problem the browser can see, each at its field; true when there is none. */
    function validate() {
      const hadPki = Boolean(original && original.config && original.config.verificationMode);
      const fields = checks().check({
        name: $("#name", form).value,
        apiProvider: provider.value,
        apiUrl: url.value,
        defaultModel: model.value,
        apiKey: apiKey.value,
        usePki: usePki.checked,
        certificateData: $("#certificateData", form).value,
        privateKeyData: $("#privateKeyData", form).value,
        caData: $("#caData", form).value,
        keepsSecrets: mode === "edit",
        hadPki,
      });
      const headersOk = checkHeaders(false);
      const first = showFieldErrors(fields);
      const firstHeader = headersOk ? null : $('.header-row [aria-invalid="true"]', form);
      const order = $all("input, select, textarea", form);
      const candidates = [first, firstHeader].filter(Boolean).sort((a, b) => order.indexOf(a) - order.indexOf(b));
      if (candidates.length) candidates[0].focus();
      return candidates.length === 0;
    }

    function fill(connector) {
      const config = connector.config || {};
      $("#name", form).value = connector.name || "";
      provider.value = config.apiProvider || "OpenAI";
      url.value = config.apiUrl || "";
      model.value = config.defaultModel || "";
      rows.textContent = "";
      for (const [k, v] of Object.entries(config.headers || {})) addHeader(k, v);
      usePki.checked = Boolean(config.verificationMode);
      verification.value = config.verificationMode || "full";
      syncProvider();
      syncPki();
    }

    function readPem(input, target) {
      input.addEventListener("change", () => {
        const file = input.files && input.files[0];
        if (!file) return;
        if (file.size > 256 * 1024) {
          const box = $(`#${target.id}-error`, form);
          box.textContent = "This file is too large for a PEM certificate or key.";
          box.hidden = false;
          return;
        }
        const reader = new FileReader();
        reader.onload = () => {
          const text = String(reader.result || "");
          const box = $(`#${target.id}-error`, form);
          const problem = checks().fileProblem(target.id, text, file.name);
          if (problem) {
            input.value = "";
            input.setAttribute("aria-invalid", "true");
            box.textContent = problem;
            box.hidden = false;
            return;
          }
          input.removeAttribute("aria-invalid");
          target.removeAttribute("aria-invalid");
          box.hidden = true;
          target.value = text;
        };
        reader.readAsText(file);
      });
    }

    function payload() {
      const config = {};
      const keepExtras = original && original.config ? { ...original.config } : {};
      const chosen = provider.value;
      if (original && original.config && original.config.apiProvider !== chosen) {
        for (const keys of Object.values(PROVIDER_ONLY_KEYS)) for (const k of keys) delete keepExtras[k];
      }
      for (const k of ["apiProvider", "apiUrl", "defaultModel", "headers", "verificationMode"]) delete keepExtras[k];
      Object.assign(config, keepExtras);
      config.apiProvider = chosen;
      config.apiUrl = url.value.trim();
      if (model.value.trim()) config.defaultModel = model.value.trim();
      const headers = {};
      for (const row of $all(".header-row", form)) {
        const k = $(".header-key", row).value.trim();
        const v = $(".header-value", row).value;
        if (k || v) headers[k] = v;
      }
      if (Object.keys(headers).length) config.headers = headers;
      if (usePki.checked) config.verificationMode = verification.value;
      const secrets = {};
      if (apiKey.value) secrets.apiKey = apiKey.value;
      for (const key of ["certificateData", "privateKeyData", "caData"]) {
        const value = usePki.checked ? pemValue($(`#${key}`, form).value) : "";
        if (value) secrets[key] = value;
        else if (mode === "edit" && !usePki.checked) secrets[key] = null;
      }
      return { name: $("#name", form).value, config, secrets };
    }

    provider.addEventListener("change", syncProvider);
    usePki.addEventListener("change", syncPki);
    verification.addEventListener("change", syncPki);
    $("#add-header", form).addEventListener("click", () => {
      const row = addHeader("", "");
      $(".header-key", row).focus();
    });
    for (const key of ["certificateData", "privateKeyData", "caData"]) readPem($(`#${key}-file`, form), $(`#${key}`, form));

    // once a header problem is shown, leaving a header field checks again (not before:
    // a message appearing on the way to the Save button would move the button away)
    rows.addEventListener("change", () => { if (!$("#headers-error", form).hidden) checkHeaders(false); });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors();
      if (!validate()) return;
      const thenTest = Boolean(event.submitter && event.submitter.dataset.thenTest);
      const save = $("#save-button", form);
      const saveTest = $("#save-test-button", form);
      save.disabled = true;
      saveTest.disabled = true;
      const data = payload();
      let result;
      if (mode === "create") {
        result = await api("POST", "/actions/connector", { ...data, connector_type_id: ".gen-ai" });
      } else {
        result = await api("PUT", `/actions/connector/${encodeURIComponent(original.id)}?keep_secrets=true`, data);
      }
      save.disabled = false;
      saveTest.disabled = false;
      if (!result.ok) {
        showErrors(apiMessage(result));
        return;
      }
      if (mode === "create") {
        clean = null;
        location.assign(connectorUrl(result.data.id) + "?created=1" + (thenTest ? "&tab=test" : ""));
        return;
      }
      original = result.data;
      apiKey.value = "";
      for (const key of ["certificateData", "privateKeyData", "caData"]) {
        $(`#${key}`, form).value = "";
        $(`#${key}-file`, form).value = "";
      }
      toast("Connector saved.");
      clean = snapshot();
      if (options.onSaved) options.onSaved(result.data, thenTest);
    });

    // unsaved changes: leaving the page asks first (the browser's own prompt)
    let clean = null;
    const snapshot = () => JSON.stringify([payload(), apiKey.value, $all("textarea", form).map((t) => t.value)]);
    window.addEventListener("beforeunload", (event) => {
      if (clean !== null && snapshot() !== clean) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    const cancel = $("#cancel-button", form);
    if (cancel) {
      cancel.addEventListener("click", () => {
        clearErrors();
        fill(original);
        apiKey.value = "";
        for (const key of ["certificateData", "privateKeyData", "caData"]) {
          $(`#${key}`, form).value = "";
          $(`#${key}-file`, form).value = "";
        }
        clean = snapshot();
        toast("Changes discarded.");
      });
    }

    if (original) fill(original);
    else { syncProvider(); syncPki(); }
    clean = snapshot();
    return { form, fill };
  }

  // --- connector page ----------------------------------------------------------------
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
      rows.push(["OpenAI provider", PROVIDERS[config.apiProvider] ? PROVIDERS[config.apiProvider].label : config.apiProvider]);
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
      connectorForm({
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

  // --- usage dashboard ---------------------------------------------------------------
  const RANGES = {
    "15m": ["now-15m", "minute", 15 * 60e3], "1h": ["now-1h", "minute", 3600e3],
    "24h": ["now-24h", "hour", 24 * 3600e3], "7d": ["now-7d", "day", 7 * 86400e3],
    "30d": ["now-30d", "day", 30 * 86400e3], "90d": ["now-90d", "day", 90 * 86400e3],
  };
  const REFRESH_SECONDS = ["10", "30", "60", "300"];
  const STEP = { minute: 60e3, hour: 3600e3, day: 86400e3 };

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
    if (flag("canRead")) {
      const listed = await api("GET", "/actions/connectors");
      if (listed.ok) {
        for (const c of listed.data) {
          names[c.id] = c.name;
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
      const [byUser, byConnector, byModel, byEndpoint] = await Promise.all(
        [query("user"), query("connector"), query("model"), query("endpoint")]);
      dashboard.setAttribute("aria-busy", "false");
      for (const r of [byUser, byConnector, byModel, byEndpoint]) {
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

    function timeAxis(buckets, interval, startMs, endMs) {
      const step = STEP[interval];
      let times = [];
      const first = floorTo(startMs, interval);
      if ((endMs - first) / step <= 400) {
        for (let t = first; t <= endMs; t += step) times.push(t);
      }
      for (const b of buckets) times.push(Date.parse(b.bucket));
      times = [...new Set(times)].sort((a, b) => a - b);
      return { times, index: new Map(times.map((t, i) => [t, i])) };
    }

    function renderCostTimeline(buckets, interval, startMs, endMs) {
      const { times, index } = timeAxis(buckets, interval, startMs, endMs);
      const endpoints = [...new Set(buckets.map((b) => b.key || "(unknown)"))];
      const series = endpoints.map((name) => {
        const values = new Array(times.length).fill(0);
        for (const b of buckets) if ((b.key || "(unknown)") === name) values[index.get(Date.parse(b.bucket))] += b.cost_usd || 0;
        return { name, values };
      });
      const full = times.map((t) => formatTime(t, { seconds: false }));
      charts.render($("#chart-cost-time"), {
        id: "chart-cost-time-svg", title: "Cost over Time per Endpoint", orientation: "vertical", stacked: true,
        categories: times.map((t) => bucketLabel(t, interval)), series, categoryLabel: `Time (${timeZoneName()})`,
        tooltipTitles: full, rowLabels: full,
        unit: "USD", format: charts.formatUsd, axisFormat: charts.compactUsd, emptyText: "No priced executions in this time range.",
      });
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
      const { times, index } = timeAxis(buckets, interval, startMs, endMs);
      const connectorIds = [...new Set(buckets.map((b) => b.key || "(unknown)"))];
      const series = connectorIds.map((id) => {
        const values = new Array(times.length).fill(0);
        for (const b of buckets) if ((b.key || "(unknown)") === id) values[index.get(Date.parse(b.bucket))] += b.total_tokens;
        return { name: names[id] || id, values };
      });
      const full = times.map((t) => formatTime(t, { seconds: false }));
      charts.render($("#chart-connector-time"), {
        id: "chart-connector-time-svg", title: "Tokens over Time per Connector", orientation: "vertical", stacked: true,
        categories: times.map((t) => bucketLabel(t, interval)), series, categoryLabel: `Time (${timeZoneName()})`,
        tooltipTitles: full, rowLabels: full,
      });
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

  // --- start -------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    setupAutosubmit();
    const page = body.dataset.page;
    const start = {
      "connectors": connectorsPage,
      "connector-new": () => connectorForm({}),
      "connector": connectorPage,
      "usage": usagePage,
    }[page];
    if (start) {
      Promise.resolve(start()).catch((err) => showError($("#page-error"), "Something went wrong: " + err.message));
    }
  });
})();
