/* llmrelay web UI: the helpers every page script shares (as window.Llmrelay): DOM
 * shortcuts, the fetch wrapper with the session's CSRF token, messages, the one date
 * format, and onPage() that starts a page's code. Each page loads its own script beside
 * this one (connectors.js, connector-form.js, connector-page.js, dashboard.js, ...).
 * Every piece of data comes from the public API (/api or /s/<space>/api). */
"use strict";
(function () {
  const body = document.body;
  const API = body.dataset.api || "/api";
  const PREFIX = body.dataset.prefix || "";
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.content : "";
  const flag = (name) => body.dataset[name] === "true";

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



  /* Preconfigured connectors without exposeConfig come without config from Kibana's API;
   * llmrelay's own endpoint gives their settings (never secrets) to who may see them. */
  async function withPreconfiguredSettings(connectors) {
    if (!connectors.some((c) => c.is_preconfigured && !c.config)) return;
    const extra = await api("GET", "/llmrelay/preconfigured_connectors");
    if (!extra.ok) return;
    const byId = new Map(extra.data.map((e) => [e.id, e.config]));
    for (const c of connectors) if (c.is_preconfigured && !c.config && byId.has(c.id)) c.config = byId.get(c.id);
  }

  /* Run `start` once the page is ready, if the page (body data-page) is one of `pages`;
   * a failure shows in the page's error box instead of vanishing into the console. */
  function onPage(pages, start) {
    const names = Array.isArray(pages) ? pages : [pages];
    document.addEventListener("DOMContentLoaded", () => {
      if (!names.includes(body.dataset.page)) return;
      Promise.resolve()
        .then(() => start(body.dataset.page))
        .catch((err) => showError($("#page-error"), "Something went wrong: " + err.message));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $all("select[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
  });

  window.Llmrelay = {
    $, $all, make, api, flag, formatTime, apiMessage, showError, toast, sentence,
    connectorUrl, withPreconfiguredSettings, onPage, PREFIX,
  };
})();
