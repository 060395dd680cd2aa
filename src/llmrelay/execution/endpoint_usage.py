"""Token usage of the ``/v1`` gateway's other endpoints when the server reports none:
embeddings count their input (all prompt tokens), legacy completions their ``prompt``.

Counted with the same offline tokenizer as chat estimates (``usage_source: estimated``);
token arrays are already tokens and count one each.
"""

from __future__ import annotations

from llmrelay.domain.events import TokenUsage
from llmrelay.errors import TokenizerUnavailableError
from llmrelay.execution.tokens import count_tokens, encoding_for_model

__all__ = ["completion_prompts", "embedding_usage", "text_usage"]


def embedding_usage(body: dict[str, object] | None, model: str | None) -> TokenUsage:
    """The estimated usage of an embeddings request's ``input``: a string, a list of
    strings, a token array or a list of token arrays; ``missing`` for anything else."""
    encoding = encoding_for_model(model)
    try:
        tokens = _input_tokens(body.get("input") if body else None, encoding)
    except TokenizerUnavailableError:
        return TokenUsage.missing()
    if tokens is None:
        return TokenUsage.missing()
    return TokenUsage(
        prompt_tokens=tokens,
        total_tokens=tokens,
        usage_source="estimated",
        tokenizer=encoding,
    )


def _input_tokens(value: object, encoding: str) -> int | None:
    if isinstance(value, str):
        return count_tokens(value, encoding)
    if not isinstance(value, list):
        return None
    total = 0
    for item in value:
        if isinstance(item, str):
            total += count_tokens(item, encoding)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += 1  # one token of a token array
        elif isinstance(item, list):
            total += len(item)  # a token array among several
        else:
            return None
    return total


def completion_prompts(prompt: object) -> list[str]:
    """The texts a legacy completion's ``prompt`` holds (a string or a list of strings),
    for a stream's estimate; token arrays hold no text and are not counted."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list):
        return [item for item in prompt if isinstance(item, str)]
    return []


def text_usage(prompt: str, completion: str, model: str | None) -> TokenUsage:
    """The estimated usage of a plain (non-streamed) answer that reported none: its prompt
    and completion texts counted locally (a Responses answer)."""
    encoding = encoding_for_model(model)
    try:
        prompt_tokens = count_tokens(prompt, encoding)
        completion_tokens = count_tokens(completion, encoding)
    except TokenizerUnavailableError:
        return TokenUsage.missing()
    return TokenUsage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        usage_source="estimated",
        tokenizer=encoding,
    )
