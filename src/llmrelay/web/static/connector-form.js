/* The connector form (create and edit, templates/_connector_form.html): fields that follow
 * the provider, custom headers, PKI files, every problem at its field (checks from
 * form-checks.js and headers.js), Save and Save & test, Cancel, and the prompt before
 * leaving unsaved changes. Helpers come from app.js (window.Llmrelay); the connector page
 * (connector-page.js) calls window.LlmrelayConnectorForm.setup with its connector. */
"use strict";
(function () {
  const { $, $all, make, api, apiMessage, showError, toast, sentence, connectorUrl } = window.Llmrelay;

  const PROVIDERS = {
    "OpenAI": {
      url: "https://api.openai.com/v1/chat/completions",
      modelHelp: "Optional: defaults to gpt-4.1.",
      modelRequired: false,
      keyRequired: true,
    },
    "Azure OpenAI": {
      url: "https://{your-resource-name}.openai.azure.com/openai/deployments/{deployment-id}/chat/completions?api-version={api-version}",
      modelHelp: "Optional: Azure picks the model from the deployment in the URL.",
      modelRequired: false,
      keyRequired: true,
    },
    "Other": {
      url: "http://localhost:1234/v1/chat/completions",
      modelHelp: "Required: the model name sent to your server, for example local-model.",
      modelRequired: true,
      keyRequired: false,
      responsesApi: true,
    },
  };
  // config keys only one provider accepts: dropped when the provider changes
  const PROVIDER_ONLY_KEYS = {
    "OpenAI": ["organizationId", "projectId"],
    "Other": ["enableNativeFunctionCalling", "streamUsage", "serverTokenizer", "responsesApi"],
  };
  const RESPONSES_API_DEFAULT = "auto"; // what the server assumes when the key is unset

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
    const responsesApi = $("#responsesApi", form);
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
      $("#responsesApi-field", form).hidden = !info.responsesApi;
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
      for (const name of checks().FIELDS) {
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
      const parsed = checks().fieldErrors(message);
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
      responsesApi.value = config.responsesApi || RESPONSES_API_DEFAULT;
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
      for (const k of ["apiProvider", "apiUrl", "defaultModel", "headers", "verificationMode", "responsesApi"]) delete keepExtras[k];
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
      if (PROVIDERS[chosen] && PROVIDERS[chosen].responsesApi) config.responsesApi = responsesApi.value;
      const secrets = {};
      if (apiKey.value) secrets.apiKey = apiKey.value;
      for (const key of ["certificateData", "privateKeyData", "caData"]) {
        const value = usePki.checked ? checks().pemValue($(`#${key}`, form).value) : "";
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

  window.LlmrelayConnectorForm = { setup: connectorForm };
  window.Llmrelay.onPage("connector-new", () => connectorForm({}));
})();
