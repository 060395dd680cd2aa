/* The connector page's Test tab: run or stream a body through the connector, show the
 * answer, the duration and the token numbers (from the response, then from the
 * execution's event, which also names where the numbers came from).
 *
 * Runs may overlap: Run stays available, and a new run supersedes the one before. Every
 * run has a sequence number, and only the latest may touch the view; the previous run's
 * requests are aborted. The event of a run is recognised as one that was not in the event
 * log when the run started and has the run's sub-action and user, so a plain run's
 * event, written a moment late, is never taken for a stream's. */
"use strict";
(function () {
  const SEED_BODY = { model: "gpt-3.5-turbo", messages: [{ role: "user", content: "Hello world" }] };
  const LOOKBACK_MS = 2000; // browser and server clocks may differ a little
  const POLLS = 20;
  const POLL_MS = 150;

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
    });
  }

  function executionId(doc) {
    const action = (doc.kibana && doc.kibana.action) || {};
    return (action.execution && action.execution.uuid) || (doc.event && doc.event.id) || "";
  }

  function setup(connector) {
    const { $, make, api, flag } = window.Llmrelay;
    const user = document.body.dataset.user;
    const form = $("#test-form");
    if (!form) return { update() {} };
    const editor = $("#test-body");
    const stream = $("#test-stream");
    const result = $("#test-result");
    const initial = (c) => {
      const body = JSON.parse(JSON.stringify(SEED_BODY));
      const model = c.config && c.config.defaultModel;
      if (model) body.model = model;
      return JSON.stringify(body, null, 2);
    };
    editor.value = initial(connector);
    let latest = 0; // sequence number of the newest run
    let running = null; // its AbortController
    const claimed = new Set(); // executions already shown by a run on this page

    function reset() {
      result.hidden = false;
      delete result.dataset.done;
      for (const id of ["result-prompt", "result-completion", "result-total", "result-source", "result-duration"]) $("#" + id).textContent = "–";
      $("#result-error").hidden = true;
      $("#result-service-row").hidden = true;
      $("#result-stream-box").hidden = true;
      $("#result-json-box").hidden = true;
      $("#result-stream").textContent = "";
      $("#result-json").textContent = "";
    }
    function status(ok, text) {
      const dd = $("#result-status");
      dd.textContent = "";
      dd.appendChild(make("span", { class: `badge ${ok ? "ok" : "error"}`, "data-status": ok ? "ok" : "error" }, text));
    }
    function tokens(usage, source) {
      if (!usage) return;
      $("#result-prompt").textContent = usage.prompt_tokens ?? "–";
      $("#result-completion").textContent = usage.completion_tokens ?? "–";
      $("#result-total").textContent = usage.total_tokens ?? "–";
      $("#result-source").textContent = source || "–";
    }
    function failure(envelope) {
      status(false, "Error");
      $("#result-message").textContent = envelope.message || "The request failed.";
      if (envelope.service_message) {
        $("#result-service-message").textContent = envelope.service_message;
        $("#result-service-row").hidden = false;
      }
      $("#result-error").hidden = false;
    }
    function shown(envelope) {
      status(true, "OK");
      $("#result-json").textContent = JSON.stringify(envelope.data, null, 2);
      $("#result-json-box").hidden = false;
    }

    function eventsPath(since, perPage) {
      return `/event_log/connector/${encodeURIComponent(connector.id)}/_find?per_page=${perPage}&start=${encodeURIComponent(since)}`;
    }

    /* Executions already in the log when a run starts: never the run's own. */
    async function knownExecutions(since, signal) {
      const found = await api("GET", eventsPath(since, 1000), undefined, { signal });
      const known = new Set(claimed);
      if (found.ok) for (const doc of found.data.data || []) known.add(executionId(doc));
      return known;
    }

    /* The run's execute event: its usage and usage_source, or null when none came. */
    async function eventUsage(subAction, since, known, signal) {
      for (let attempt = 0; attempt < POLLS && !signal.aborted; attempt += 1) {
        const found = await api("GET", eventsPath(since, 10), undefined, { signal });
        if (!found.ok || signal.aborted) return null;
        const doc = (found.data.data || []).find((d) => d.event && d.event.action === "execute"
          && !known.has(executionId(d))
          && (d.llmrelay && d.llmrelay.sub_action) === subAction
          && (!d.user || d.user.name === user));
        if (doc) {
          claimed.add(executionId(doc));
          const execution = (doc.kibana && doc.kibana.action && doc.kibana.action.execution) || {};
          const usage = execution.gen_ai && execution.gen_ai.usage;
          const source = doc.llmrelay && doc.llmrelay.usage_source;
          return { usage: usage || null, source: source || "missing" };
        }
        await sleep(POLL_MS, signal);
      }
      return null;
    }

    async function readStream(response, current) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const output = $("#result-stream");
      let buffer = "";
      let usage = null;
      let error = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done || !current()) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
          const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
          if (!data || data === "[DONE]") continue;
          let parsed;
          try { parsed = JSON.parse(data); } catch (_) { continue; }
          if (parsed.error) error = parsed.error.message || JSON.stringify(parsed.error);
          const choice = parsed.choices && parsed.choices[0];
          const piece = choice && choice.delta && choice.delta.content;
          if (piece) output.append(piece);
          if (parsed.usage) usage = parsed.usage;
        }
      }
      return { usage, error };
    }

    function validBody() {
      const bodyError = $("#test-body-error");
      bodyError.hidden = true;
      editor.removeAttribute("aria-invalid");
      try {
        JSON.parse(editor.value);
        return true;
      } catch (err) {
        bodyError.textContent = "The body is not valid JSON: " + err.message;
        bodyError.hidden = false;
        editor.setAttribute("aria-invalid", "true");
        editor.focus();
        return false;
      }
    }

    /* One run: the execution, then its event. Each step after a wait first checks that
     * this run is still the latest; a superseded run changes nothing. */
    async function execute(current, signal) {
      const startedAt = Date.now();
      const since = new Date(startedAt - LOOKBACK_MS).toISOString();
      const known = flag("canUsage") ? await knownExecutions(since, signal) : null;
      if (!current()) return;
      const path = `/actions/connector/${encodeURIComponent(connector.id)}/_execute`;
      const elapsed = () => { $("#result-duration").textContent = `${Date.now() - startedAt} ms`; };
      const subAction = stream.checked ? "stream" : "run";
      if (subAction === "stream") {
        $("#result-stream-box").hidden = false;
        const params = { subAction, subActionParams: { body: editor.value, stream: true } };
        const answer = await api("POST", path, { params }, { raw: true, signal });
        if (!current()) return;
        if (!answer.response) { failure(answer.data || {}); return; }
        const type = answer.response.headers.get("content-type") || "";
        if (!type.startsWith("text/event-stream")) {
          const envelope = await answer.response.json().catch(() => ({ message: `HTTP ${answer.status}` }));
          if (!current()) return;
          elapsed();
          if (envelope.status === "ok") shown(envelope); else failure(envelope);
          return;
        }
        const streamed = await readStream(answer.response, current);
        if (!current()) return;
        elapsed();
        if (streamed.error) failure({ message: streamed.error });
        else status(true, "OK");
        if (streamed.usage) tokens(streamed.usage, "stream");
      } else {
        const params = { subAction, subActionParams: { body: editor.value } };
        const answer = await api("POST", path, { params }, { signal });
        if (!current()) return;
        elapsed();
        const envelope = answer.data || {};
        if (answer.ok && envelope.status === "ok") {
          shown(envelope);
          if (envelope.data && envelope.data.usage) tokens(envelope.data.usage, "response");
        } else {
          failure(envelope);
        }
      }
      if (!known) return;
      const logged = await eventUsage(subAction, since, known, signal);
      if (!current() || !logged) return;
      if (logged.usage) tokens(logged.usage, logged.source);
      else $("#result-source").textContent = logged.source;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!validBody()) return;
      if (running) running.abort();
      const controller = new AbortController();
      running = controller;
      const mine = ++latest;
      const current = () => mine === latest;
      reset();
      status(true, "Running…");
      result.setAttribute("aria-busy", "true");
      try {
        await execute(current, controller.signal);
      } catch (err) {
        if (current() && err.name !== "AbortError") failure({ message: err.message });
      } finally {
        if (current()) {
          result.setAttribute("aria-busy", "false");
          result.dataset.done = "true";
          running = null;
        }
      }
    });
    return {
      update(c) {
        if (editor.value === initial(connector)) editor.value = initial(c);
        connector = c;
      },
    };
  }

  window.LlmrelayTestTab = { setup };
})();
