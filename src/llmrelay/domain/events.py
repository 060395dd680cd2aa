"""Token usage and execution records: what every execution leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

UsageSource = Literal["response", "stream", "estimated", "missing"]

Endpoint = Literal["chat", "embeddings", "completions", "responses"]
"""The OpenAI API an execution called (``llmrelay.endpoint``): every ``_execute``
sub-action and ``/v1/chat/completions`` is ``chat``; the ``/v1`` gateway also forwards
``embeddings``, legacy ``completions`` and ``responses`` (also when translated to chat)."""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one execution and where they came from.

    ``response``: the body's ``usage``; ``stream``: a usage chunk of the SSE stream;
    ``estimated``: counted locally (``tokenizer`` says with what); ``missing``: none known.
    ``cached_tokens`` (part of ``prompt_tokens``, from ``prompt_tokens_details``) only
    prices the execution; the event's ``gen_ai.usage`` keeps Kibana's three counts.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    usage_source: UsageSource = "missing"
    tokenizer: str | None = None
    cached_tokens: int = 0

    @classmethod
    def missing(cls) -> TokenUsage:
        return cls()

    @property
    def known(self) -> bool:
        return self.usage_source != "missing"

    def as_gen_ai(self) -> dict[str, int]:
        """The ``kibana.action.execution.gen_ai.usage`` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


_NO_USAGE = TokenUsage()


@dataclass(frozen=True, slots=True)
class RouteAttempt:
    """One connector a route tried: ``outcome`` is ``success``, ``failure`` (``error``
    says why: an error kind such as ``http_503`` or ``connection``) or ``missing`` (the
    connector no longer exists)."""

    connector_id: str
    outcome: Literal["success", "failure", "missing"]
    duration_ns: int
    error: str | None = None

    def as_document(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "connector_id": self.connector_id,
            "outcome": self.outcome,
            "duration_ms": round(self.duration_ns / 1_000_000, 3),
        }
        if self.error:
            doc["error"] = self.error
        return doc


@dataclass(slots=True)
class ExecutionRecord:
    """Everything the event log needs about one execution, filled as it runs.

    The executor creates it before the outbound call and completes it when the result
    (or, for streams, the end of the stream, an error or a cancel) is known.
    """

    execution_id: str
    connector_id: str
    connector_name: str
    connector_type_id: str
    sub_action: str
    endpoint: Endpoint = "chat"
    space_id: str = "default"
    is_preconfigured: bool = False
    source: str = "http_request"
    user_name: str | None = None
    api_key_id: str | None = None  # with api_key_name: kibana.user_api_key
    api_key_name: str | None = None
    started_ns: int = 0  # time.time_ns() at start
    ended_ns: int = 0
    outcome: Literal["success", "failure", "unknown"] = "unknown"
    model: str | None = None
    request_body_bytes: int = 0
    usage: TokenUsage = _NO_USAGE  # (immutable: one shared instance)
    error_message: str | None = None
    stream: bool = False
    cancelled: bool = False  # a stream the caller stopped early
    upstream_ns: int = 0  # time spent waiting on the upstream (headers, buffered body)
    error_kind: str | None = None  # timeout, tls, connection, http_429, ... (for metrics)
    upstream_request_id: str | None = None  # the upstream's x-request-id / apim-request-id
    refused_by: str | None = None  # the id of the limit that refused the request
    route_id: str | None = None  # the route the caller named, when a route ran this
    route_attempts: list[RouteAttempt] | None = None  # a route's own event: what it tried
    route_target: str | None = None  # a route's own event: the connector that answered
    # the event sink's: its execute document's fixed part, built ahead (a route's own)
    execute_base: dict[str, Any] | None = None

    @property
    def duration_ns(self) -> int:
        return max(0, self.ended_ns - self.started_ns)

    @property
    def recorded_usage(self) -> TokenUsage:
        """The usage the ``execute`` event records (and that is priced): a success's known
        usage; nothing for failures, as in Kibana's event log."""
        if self.outcome == "success" and self.usage.known:
            return self.usage
        return _NO_USAGE

    @property
    def added_ns(self) -> int:
        """What llmrelay itself added around the upstream call (non-stream executions)."""
        return max(0, self.duration_ns - self.upstream_ns)
