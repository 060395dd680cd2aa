/* The rule for custom header names and values, as the server applies it at save
 * (src/llmrelay/domain/headers.py: keep the two and their messages in step). The connector
 * form checks it before sending, so a bad header is shown at the field at once. */
"use strict";
(function () {
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const LINE_BREAK = /[\r\n]/;
  const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
  const HOP_BY_HOP = "it is a hop-by-hop header, managed by the HTTP client";
  const RESERVED = {
    "connection": HOP_BY_HOP,
    "keep-alive": HOP_BY_HOP,
    "proxy-connection": HOP_BY_HOP,
    "transfer-encoding": HOP_BY_HOP,
    "upgrade": HOP_BY_HOP,
    "te": HOP_BY_HOP,
    "trailer": HOP_BY_HOP,
    "host": "the HTTP client sets it from apiUrl",
    "content-length": "the HTTP client sets it from the request body",
  };

  function shown(name) {
    const text = JSON.stringify(name);
    return text.length <= 80 ? text : text.slice(0, 76) + '..."';
  }

  /* Why `name` cannot be a custom header name, or null. */
  function nameProblem(name) {
    if (!name) return 'header name "" is empty';
    if (!TOKEN.test(name)) return `header name ${shown(name)} is not a valid HTTP token`;
    const reason = Object.prototype.hasOwnProperty.call(RESERVED, name.toLowerCase()) ? RESERVED[name.toLowerCase()] : null;
    return reason ? `header name ${shown(name)} is not allowed: ${reason}` : null;
  }

  /* Why `value` cannot be sent as header `name`, or null; never repeats the value. */
  function valueProblem(name, value) {
    if (LINE_BREAK.test(value)) return `header ${shown(name)} has a line break (CR or LF) in its value`;
    if (CONTROL.test(value)) return `header ${shown(name)} has a control character in its value`;
    return null;
  }

  window.LlmrelayHeaders = { nameProblem, valueProblem };
})();
