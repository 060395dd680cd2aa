"""HTTP answers as data, read alike by the outbound stack, the executor, the web layer
and the command line: a status's reason phrase, a body as JSON or text."""

from __future__ import annotations

from http import HTTPStatus

import orjson


def reason_phrase(status: int) -> str:
    """The standard reason phrase (``404`` -> ``Not Found``); empty for an unknown status
    (HTTP/2 answers carry none, and servers send codes outside the registry)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def json_or_text(body: object) -> object:
    """An answer's body parsed when it is JSON text (bytes or str); other text as ``str``
    (bad UTF-8 replaced, as Node decodes it); anything already parsed as it is."""
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return body if isinstance(body, str) else bytes(body).decode("utf-8", "replace")
    return body
