"""The sub-actions of the ``.gen-ai`` connector: the one list of their names, params models
and answers (spec §2.1).

The table is split by layer on purpose: this half (names, params, descriptions) lives in
``domain`` so the OpenAPI document and the params schema read it without importing
``execution``; :mod:`llmrelay.execution.subactions` maps the same names to their handlers
and refuses to import when the two key sets differ. A new sub-action is one entry here,
one there, and its params model in :mod:`llmrelay.domain.params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from llmrelay.domain.params import DashboardParams, InvokeAIParams, RunParams, StreamParams
from llmrelay.domain.validation import StrictModel

__all__ = ["GET_DASHBOARD", "INVOKE_ASYNC_ITERATOR", "SUB_ACTIONS", "SubActionSpec"]

Answer = Literal["json", "sse", "json-or-sse", "chunks"]


@dataclass(frozen=True, slots=True)
class SubActionSpec:
    """One sub-action: its ``subActionParams`` schema and what a success answers.

    ``answers``: ``json`` (the envelope), ``sse`` (the upstream's events), ``json-or-sse``
    (``stream`` follows its ``stream`` flag), ``chunks`` (parsed chunks, library use; SSE
    over HTTP).
    """

    name: str
    params: type[StrictModel]
    description: str
    answers: Answer


INVOKE_ASYNC_ITERATOR = "invokeAsyncIterator"
GET_DASHBOARD = "getDashboard"  # answers from llmrelay itself: no limit counts it
"""The sub-action ``Executor.stream`` runs."""

SUB_ACTIONS: Mapping[str, SubActionSpec] = {
    spec.name: spec
    for spec in (
        SubActionSpec("run", RunParams, "Send a JSON body string as is", "json"),
        SubActionSpec("test", RunParams, "Like run; the connector's Test tab", "json"),
        SubActionSpec(
            "stream", StreamParams, "Like run, streamed when `stream` is true", "json-or-sse"
        ),
        SubActionSpec(GET_DASHBOARD, DashboardParams, "Whether the caller may read usage", "json"),
        SubActionSpec("invokeAI", InvokeAIParams, "Structured chat; answers the text", "json"),
        SubActionSpec("invokeStream", InvokeAIParams, "Structured chat, streamed", "sse"),
        SubActionSpec(
            INVOKE_ASYNC_ITERATOR, InvokeAIParams, "Structured chat, as SDK chunks", "chunks"
        ),
    )
}
"""Kibana's seven sub-actions, in Kibana's order."""
