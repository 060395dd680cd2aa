"""The one reading of an OpenAI ``usage`` object (Kibana's rule, spec §3).

A ``usage`` object present means the usage is known: missing or unusable numbers count 0 and
a missing ``total_tokens`` is prompt + completion. No ``usage`` object means unknown
(``missing``). The executor reads responses and stream usage chunks through here, so the
two cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from llmrelay.domain.events import TokenUsage, UsageSource


def token_count(value: object) -> int | None:
    """A token count from JSON: a non-negative integer (or integral float), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return int(value)
    return None


def usage_of(raw: Mapping[str, object], source: UsageSource) -> TokenUsage:
    """A present ``usage`` object as :class:`TokenUsage`; the Responses API's
    ``input_tokens`` / ``output_tokens`` are its prompt and completion tokens."""
    prompt = token_count(raw.get("prompt_tokens", raw.get("input_tokens"))) or 0
    completion = token_count(raw.get("completion_tokens", raw.get("output_tokens"))) or 0
    total = token_count(raw.get("total_tokens"))
    details = raw.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, Mapping) else None
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion if total is None else total,
        usage_source=source,
        cached_tokens=cached or 0,
    )


def usage_from_payload(payload: object, *, source: UsageSource = "response") -> TokenUsage:
    """``payload["usage"]`` as :class:`TokenUsage`; ``missing`` when there is none."""
    raw = payload.get("usage") if isinstance(payload, Mapping) else None
    return usage_of(raw, source) if isinstance(raw, Mapping) else TokenUsage.missing()
