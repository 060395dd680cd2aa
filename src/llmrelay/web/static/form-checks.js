/* The connector form's checks in the browser: the server's rules (required fields per
 * provider, URL shape, PKI pairs and PEM headers; header names are headers.js) applied to
 * every field at once, and the server's Kibana-worded messages reworded for a person. The
 * API keeps Kibana's exact texts (domain/connectors.py, domain/secrets.py); only the form
 * rewords them; the server's one-line refusal split per field, and PEM values as they are sent.
 * Pure functions: connector-form.js reads the form and shows what these return. */
"use strict";
(function () {
  const LABELS = {
    "OpenAI": "OpenAI",
    "Azure OpenAI": "Azure OpenAI",
    "Other": "Other (OpenAI-compatible service)",
  };
  const CERT_HEADER = "-----BEGIN CERTIFICATE-----";
  const KEY_HEADER = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/;
  const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

  const TEXT = {
    nameRequired: "Name is required.",
    urlRequired: "URL is required.",
    urlWithoutScheme: (url) => `The URL needs a scheme: did you mean https://${url}?`,
    urlProtocol: "The URL must start with https:// or http://.",
    urlInvalid: "This is not a valid URL. Enter it as https://host/path.",
    urlNoHost: "The URL needs a host name, as in https://api.example.com/v1/chat/completions.",
    urlNotAllowed: "This host is not in the service's allowed hosts (xpack.actions.allowedHosts): ask an administrator to add it.",
    modelRequired: (provider) => `Default model is required for ${LABELS[provider] || provider}.`,
    keyRequired: (provider) => provider === "Other"
      ? "API key is required: enter your server's key, or any placeholder if it does not check keys."
      : `API key is required for ${LABELS[provider] || provider}.`,
    certRequired: "Certificate is required for a client certificate (PKI).",
    keyPemRequired: "Private key is required for a client certificate (PKI).",
    certNotPem: "The certificate must be PEM text beginning with -----BEGIN CERTIFICATE-----.",
    caNotPem: "The CA certificate must be PEM text beginning with -----BEGIN CERTIFICATE-----.",
    keyNotPem: "The private key must be PEM text beginning with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY).",
    keyEncrypted: "This private key is protected by a passphrase, which is not supported: export it without one (openssl pkey -in key.pem -out plain-key.pem).",
    keyMismatch: "The private key does not belong to the certificate: choose the key the certificate was issued for.",
    blank: (label) => `${label} must not be empty or only spaces.`,
  };

  /* The PEM text of a pasted value: PEM as is, base64 of a PEM decoded; "" if neither. */
  function pemText(value) {
    const trimmed = value.trim();
    if (trimmed.includes("-----BEGIN")) return trimmed;
    try {
      return atob(trimmed.replace(/\s+/g, ""));
    } catch (_) {
      return "";
    }
  }

  function urlProblem(raw) {
    const url = raw.trim();
    if (!url) return TEXT.urlRequired;
    if (/\s/.test(url)) return TEXT.urlInvalid;
    if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(url)) {
      // "api.example.com/v1" or "localhost:1234/v1": a host without its scheme
      if (/^[A-Za-z0-9.-]+(?::\d+)?(?:[/?#].*)?$/.test(url) && !/^https?:/i.test(url)) {
        return TEXT.urlWithoutScheme(url);
      }
      return /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url) && !/^https?:/i.test(url) ? TEXT.urlProtocol : TEXT.urlInvalid;
    }
    if (!/^https?:\/\//i.test(url)) return TEXT.urlProtocol;
    let parsed;
    try {
      parsed = new URL(url);
    } catch (_) {
      return TEXT.urlInvalid;
    }
    if (!parsed.hostname) return TEXT.urlNoHost;
    return null;
  }

  /* Every problem of the form's values, as {field: message}; an empty object when fine.
   * `values`: name, apiProvider, apiUrl, defaultModel, apiKey, usePki, certificateData,
   * privateKeyData, caData, and `keepsSecrets` (editing: an empty secret keeps the stored
   * one) and `hadPki` (the stored connector uses PKI already). */
  function check(values) {
    const out = {};
    const provider = values.apiProvider;
    if (!values.name.trim()) out.name = TEXT.nameRequired;
    const url = urlProblem(values.apiUrl);
    if (url) out.apiUrl = url;
    if (provider === "Other" && !values.defaultModel.trim()) out.defaultModel = TEXT.modelRequired(provider);
    if (!values.usePki && !values.keepsSecrets && !values.apiKey.trim()) out.apiKey = TEXT.keyRequired(provider);
    if (values.usePki) {
      const keepStored = values.keepsSecrets && values.hadPki;
      const cert = values.certificateData.trim();
      const key = values.privateKeyData.trim();
      const ca = values.caData.trim();
      if (!cert && !keepStored) out.certificateData = TEXT.certRequired;
      else if (cert && !pemText(cert).includes(CERT_HEADER)) out.certificateData = TEXT.certNotPem;
      if (!key && !keepStored) out.privateKeyData = TEXT.keyPemRequired;
      else if (key && ENCRYPTED_KEY.test(pemText(key))) out.privateKeyData = TEXT.keyEncrypted;
      else if (key && !KEY_HEADER.test(pemText(key))) out.privateKeyData = TEXT.keyNotPem;
      if (ca && !pemText(ca).includes(CERT_HEADER)) out.caData = TEXT.caNotPem;
    }
    return out;
  }

  /* A server message about `field` in plain words (the original when none fits). */
  function reword(field, message, provider) {
    const text = String(message);
    if (/^Required\b|expected value of type \[string\] but got \[undefined\]|is required\.?$/.test(text)) {
      if (field === "name") return TEXT.nameRequired;
      if (field === "apiUrl") return TEXT.urlRequired;
      if (field === "defaultModel") return TEXT.modelRequired(provider);
      if (field === "apiKey") return TEXT.keyRequired(provider);
    }
    if (/must not be empty or whitespace only/.test(text)) {
      if (field === "apiKey" || field === "defaultModel" || field === "name") {
        return field === "apiKey" ? TEXT.keyRequired(provider) : field === "name" ? TEXT.nameRequired : TEXT.modelRequired(provider);
      }
    }
    if (field === "apiUrl") {
      if (/xpack\.actions\.allowedHosts/.test(text)) return TEXT.urlNotAllowed;
      if (/Invalid protocol/.test(text)) return TEXT.urlProtocol;
      if (/must contain hostname/.test(text)) return TEXT.urlNoHost;
      const invalid = /Invalid URL: (.*)$/.exec(text);
      if (invalid) return urlProblem(invalid[1]) || TEXT.urlInvalid;
      return text.replace(/^Error configuring OpenAI action: Error: (?:error validating url: )?/, "");
    }
    if (field === "certificateData") {
      if (/must be provided|requires certificate/.test(text)) return TEXT.certRequired;
      if (/file format/.test(text)) return TEXT.certNotPem;
    }
    if (field === "privateKeyData") {
      if (/must be provided/.test(text)) return TEXT.keyPemRequired;
      if (/file format/.test(text)) return TEXT.keyNotPem;
      if (/encrypted with a passphrase/.test(text)) return TEXT.keyEncrypted;
      if (/does not match/.test(text)) return TEXT.keyMismatch;
    }
    if (field === "caData" && /file format/.test(text)) return TEXT.caNotPem;
    return text;
  }

  /* Why a chosen PKI file cannot be used (its text as read), or null. */
  function fileProblem(field, text, fileName) {
    if (text.includes("-----BEGIN") && !/\u0000/.test(text)) return null;
    const what = field === "privateKeyData" ? "a PEM private key" : "a PEM certificate";
    return `"${fileName}" is not ${what} (PEM text beginning with -----BEGIN). Choose the .pem file, or convert a DER file with openssl first.`;
  }

  const FIELD_OF = {
    name: "name", apiProvider: "apiProvider", apiUrl: "apiUrl", defaultModel: "defaultModel",
    headers: "headers", apiKey: "apiKey", certificateData: "certificateData",
    privateKeyData: "privateKeyData", caData: "caData", verificationMode: "verificationMode",
    responsesApi: "responsesApi",
  };
  const FIELD_LABELS = {
    name: "Name", apiProvider: "OpenAI provider", apiUrl: "URL", defaultModel: "Default model",
    headers: "Headers", apiKey: "API key", certificateData: "Certificate", privateKeyData: "Private key",
    caData: "CA certificate", verificationMode: "Verification mode", responsesApi: "Responses API",
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
        if (field && reason === "Required") reason = `${FIELD_LABELS[field]} is required.`;
        else if (field === "headers") reason = window.Llmrelay.sentence(reason);
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

  window.LlmrelayFormChecks = {
    check, reword, fileProblem, urlProblem, fieldErrors, pemValue, PROVIDER_LABELS: LABELS,
    FIELDS: Object.keys(FIELD_OF),
  };
})();
