"""Test doubles on real sockets: :class:`FakeUpstream` and the :class:`ServerThread` under it.

FakeUpstream is an OpenAI-compatible chat-completions server for tests and benchmarks: a
Starlette app served by uvicorn (h11) in a background thread on ``127.0.0.1`` (random port),
over plain HTTP, TLS (certificate issued by a ``trustme.CA`` for ``hostnames``) or mTLS
(``ssl.CERT_REQUIRED`` against ``client_ca``). It speaks the protocol for real: SSE bytes are
written per chunk, ``reset_after`` aborts the TCP connection with an RST.

Default behaviour (nothing scripted):

* ``GET …/models`` lists ``model``; any other GET is a 404 in OpenAI's error shape.
* Any other method on any path (``/v1/chat/completions``, Azure deployment paths, custom paths):
  a body that is not a JSON object gets a 400 in OpenAI's error shape; ``"stream": true`` gets an
  SSE stream; anything else gets a ``chat.completion`` JSON.
* ``…/embeddings`` and legacy ``…/completions`` (OpenAI's paths and Azure's deployment paths)
  answer in those APIs' shapes: deterministic vectors (:func:`embedding_vector`, ``dimensions``
  and ``encoding_format: "base64"`` honoured) and ``text_completion`` answers or streams; see
  ``llmrelay.testing.endpoints``. ``without_usage()`` leaves their usage out too.
* Reply (:meth:`FakeUpstream.reply_text`): ``"You said: <text>"`` where ``<text>`` is the text of
  the last ``user`` message with whitespace collapsed, or ``"Hello! How can I help you today?"``
  when there is none. Streams carry it one word per chunk (each chunk keeps its leading space,
  so the deltas concatenate to the exact reply).
* Usage (:meth:`FakeUpstream.usage_for`): ``prompt_tokens`` = number of whitespace-separated
  words in the text of all request messages (any role), ``completion_tokens`` = words of the
  reply, ``total_tokens`` = their sum.
* Streams: a role chunk, the content chunks, a ``finish_reason: "stop"`` chunk and, only when
  ``stream_options.include_usage`` is true, a usage chunk (``choices: []``) — in that case every
  other chunk carries ``"usage": null`` as OpenAI does — then ``data: [DONE]``.
* ``model`` in answers is the request's ``model`` or the server default; ``created`` is the fixed
  :data:`CREATED`; ids are ``chatcmpl-fake-000001``, ``…002`` … (the counter restarts on reset).

Scripted behaviours (``reply_json``, ``fail``, ``stream``, …) queue up FIFO; each applies to the
next ``times`` requests of any kind, after which the default behaviour resumes. Response
headers are scriptable (``headers=`` of ``reply_json``, ``fail`` and ``stream``;
``with_headers`` for the default answer), e.g. ``retry-after`` or ``x-request-id``.
``serve_tokenize()`` (until reset) makes ``POST /tokenize`` answer like llama.cpp's server,
without consuming scripts.

Every request is recorded as a :class:`RecordedRequest` (``client_port`` tells connections
apart, e.g. to prove keep-alive reuse).

Modules: ``server`` (ServerThread), ``upstream`` (FakeUpstream), ``protocol`` (OpenAI payloads),
``endpoints`` (embeddings and legacy completions), ``streams`` (SSE writing, delays,
connection resets).
"""

from llmrelay.testing.endpoints import EMBEDDING_DIMENSIONS, embedding_vector, reply_to_prompt
from llmrelay.testing.protocol import CREATED, DEFAULT_REPLY, RecordedRequest
from llmrelay.testing.server import ServerThread
from llmrelay.testing.upstream import FakeUpstream

__all__ = [
    "CREATED",
    "DEFAULT_REPLY",
    "EMBEDDING_DIMENSIONS",
    "FakeUpstream",
    "RecordedRequest",
    "ServerThread",
    "embedding_vector",
    "reply_to_prompt",
]
