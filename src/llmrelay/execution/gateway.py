"""The OpenAI-compatible gateway's rules that are not HTTP: which connector and model a
``model`` value names, how the caller's body is adjusted, and what the executor returns.

The call itself runs in :meth:`Executor.chat_completions`, through the same
``prepare`` / ``_send`` / usage / event path as ``_execute``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass

from llmrelay.execution.responses_stream import TranslatedResponseStream
from llmrelay.execution.streaming import TappedStream

__all__ = [
    "GATEWAY_SOURCE",
    "GATEWAY_SUB_ACTION",
    "GatewayResult",
    "apply_model",
    "split_model",
]

GATEWAY_SOURCE = "openai_gateway"
"""``kibana.action.execution.source`` of gateway executions."""

GATEWAY_SUB_ACTION = "chatCompletions"
"""``llmrelay.sub_action`` of gateway executions."""


@dataclass(frozen=True, slots=True)
class GatewayResult:
    """A successful upstream answer: a JSON body (``body``) or an SSE stream (``stream``)
    to pass through with the upstream's ``status``; ``headers`` are the upstream's own (the
    web layer forwards a few of them)."""

    status: int
    headers: Mapping[str, str]
    body: bytes | None = None
    stream: TappedStream | TranslatedResponseStream | None = None


def split_model(model: str, known_ids: Container[str] = ()) -> tuple[str, str | None]:
    """``<connector id>`` or ``<connector id>/<model name>`` -> (connector id, model name).

    Model names may contain ``/`` (``meta-llama/Llama-3``), so the first ``/`` splits; a
    value that is itself one of ``known_ids`` (preconfigured ids, checked in memory) is
    taken whole.
    """
    model = model.strip()
    if model in known_ids:
        return model, None
    connector_id, _, name = model.partition("/")
    return connector_id, (name or None)


def apply_model(body: Mapping[str, object], model_name: str | None) -> dict[str, object]:
    """The caller's body with the connector's model rules: ``model`` becomes the chosen
    model name, or is removed so that the provider injects ``defaultModel`` (Azure without
    one: the deployment decides)."""
    sent = dict(body)
    if model_name:
        sent["model"] = model_name
    else:
        sent.pop("model", None)
    return sent
