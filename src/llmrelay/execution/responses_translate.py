"""The Responses API over chat completions, for servers that offer only the latter.

A ``/v1/responses`` request becomes a chat completions request (text input and message
items, ``instructions``, ``max_output_tokens``, ``temperature``, ``top_p``, ``stream``) and
the chat answer becomes a ``response`` object. Everything else that would change the
answer (tools, files and images, stored state, reasoning, structured output) has no
faithful chat equivalent here and is refused with an OpenAI error naming the parameter;
parameters that only steer OpenAI's service (``metadata``, ``service_tier``...) are
accepted and dropped. Pure functions: no I/O.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from llmrelay.errors import ResponsesTranslationError

__all__ = [
    "chat_request",
    "new_ids",
    "output_text",
    "prompt_of",
    "response_object",
    "responses_usage",
]

JsonObject = dict[str, Any]

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def _no(reason: str) -> Callable[[object], str | None]:
    return lambda value: reason


def _only(allowed: tuple[object, ...], reason: str) -> Callable[[object], str | None]:
    return lambda value: None if value in allowed else reason


def _text_format(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return "must be an object"
    fmt = value.get("format")
    if fmt is None or (isinstance(fmt, Mapping) and fmt.get("type") == "text"):
        return None
    return "(structured output) cannot be translated: only the text format can"


def _empty_list(reason: str) -> Callable[[object], str | None]:
    return lambda value: None if value == [] else reason


def _accepted(value: object) -> str | None:
    return None


# Every Responses parameter llmrelay knows, with the check its (non-null) value must pass:
# None = translated or harmlessly dropped; a reason = refused. Unknown keys are refused.
_CHECKS: dict[str, Callable[[object], str | None]] = {
    "model": _accepted,
    "input": _accepted,  # checked item by item below
    "instructions": _accepted,
    "max_output_tokens": _accepted,
    "temperature": _accepted,
    "top_p": _accepted,
    "stream": _accepted,
    "user": _accepted,
    "metadata": _accepted,
    "service_tier": _accepted,
    "prompt_cache_key": _accepted,
    "safety_identifier": _accepted,
    "stream_options": _accepted,
    "parallel_tool_calls": _accepted,
    "max_tool_calls": _accepted,
    "store": _only(
        (False,),
        "cannot be true: nothing is stored, so a response cannot be retrieved or continued later",
    ),
    "tools": _empty_list("(tools, function calling) cannot be translated"),
    "tool_choice": _only(("none", "auto"), "cannot be translated: there are no tools"),
    "text": _text_format,
    "truncation": _only(("disabled",), "cannot be translated: only 'disabled' can"),
    "include": _empty_list("cannot be translated"),
    "previous_response_id": _no("cannot be translated: nothing is stored to continue from"),
    "conversation": _no("cannot be translated: nothing is stored to continue from"),
    "prompt": _no("(prompt templates) cannot be translated"),
    "reasoning": _no("cannot be translated"),
    "background": _only((False,), "cannot be true: background responses are stored"),
    "top_logprobs": _only((0,), "cannot be translated"),
}


def _refuse(param: str, reason: str) -> ResponsesTranslationError:
    return ResponsesTranslationError(param, reason)


def _content(item_path: str, content: object) -> str:
    """A message item's content as chat text: a string, or text parts joined by newlines."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _refuse(f"{item_path}.content", "must be a string or a list of content parts")
    texts: list[str] = []
    for index, part in enumerate(content):
        path = f"{item_path}.content[{index}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in _TEXT_PARTS or not isinstance(part, Mapping):
            shown = f"of type '{kind}' " if isinstance(kind, str) else ""
            raise _refuse(path, f"{shown}cannot be translated: only text parts can")
        text = part.get("text")
        if not isinstance(text, str):
            raise _refuse(f"{path}.text", "must be a string")
        texts.append(text)
    return "\n".join(texts)


def _messages(value: object) -> list[JsonObject]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise _refuse("input", "must be a string or a list of input items")
    messages: list[JsonObject] = []
    for index, item in enumerate(value):
        path = f"input[{index}]"
        if not isinstance(item, Mapping):
            raise _refuse(path, "must be an object")
        kind = item.get("type", "message")
        if kind != "message":
            raise _refuse(path, f"of type '{kind}' cannot be translated: only messages can")
        given = item.get("role")
        role = _ROLES.get(given) if isinstance(given, str) else None
        if role is None:
            raise _refuse(f"{path}.role", "must be one of user, assistant, system, developer")
        messages.append({"role": role, "content": _content(path, item.get("content"))})
    return messages


def chat_request(body: Mapping[str, object]) -> JsonObject:
    """The chat completions body for a Responses request (``model`` as already resolved);
    :class:`ResponsesTranslationError` names the first parameter that cannot be."""
    for key, value in body.items():
        if value is None:
            continue
        check = _CHECKS.get(key)
        if check is None:
            raise _refuse(key, "is not a Responses parameter that can be translated")
        reason = check(value)
        if reason is not None:
            raise _refuse(key, reason)
    if body.get("input") is None:
        raise _refuse("input", "is required")
    messages = _messages(body["input"])
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _refuse("instructions", "must be a string")
        messages.insert(0, {"role": "system", "content": instructions})
    chat: JsonObject = {}
    if body.get("model") is not None:
        chat["model"] = body["model"]
    chat["messages"] = messages
    for source, target in (
        ("max_output_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("user", "user"),
    ):
        if body.get(source) is not None:
            chat[target] = body[source]
    chat["stream"] = body.get("stream") is True
    return chat


# ------------------------------------------------------------------------- answers
def new_ids() -> tuple[str, str]:
    """(response id, message id) of a translated answer."""
    return f"resp_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"


def responses_usage(chat_usage: object) -> JsonObject | None:
    """A chat ``usage`` object in the Responses API's names; None when there is none."""
    if not isinstance(chat_usage, Mapping):
        return None
    prompt = chat_usage.get("prompt_tokens")
    completion = chat_usage.get("completion_tokens")
    prompt = prompt if isinstance(prompt, int) else 0
    completion = completion if isinstance(completion, int) else 0
    total = chat_usage.get("total_tokens")
    details = chat_usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached if isinstance(cached, int) else 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total if isinstance(total, int) else prompt + completion,
    }


def message_item(message_id: str, text: str, status: str) -> JsonObject:
    """The assistant message output item holding ``text``."""
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": message_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status != "in_progress" else [],
    }


def status_of(finish_reason: object) -> tuple[str, JsonObject | None]:
    """A response's ``status`` and ``incomplete_details`` for a chat ``finish_reason``."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_object(
    request: Mapping[str, object],
    *,
    response_id: str,
    model: object,
    status: str,
    output: list[JsonObject],
    usage: JsonObject | None,
    incomplete: JsonObject | None = None,
    created_at: int | None = None,
) -> JsonObject:
    """A ``response`` object answering ``request`` (its settings echoed as OpenAI does)."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at if created_at is not None else int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model if isinstance(model, str) else request.get("model"),
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": request.get("temperature"),
        "text": {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def translated_answer(request: Mapping[str, object], chat: object) -> JsonObject:
    """The ``response`` object for a (non-streamed) chat completion answer."""
    chat = chat if isinstance(chat, Mapping) else {}
    choices = chat.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") if isinstance(choice, Mapping) else None
    content = message.get("content") if isinstance(message, Mapping) else None
    finish = choice.get("finish_reason") if isinstance(choice, Mapping) else None
    status, incomplete = status_of(finish)
    response_id, message_id = new_ids()
    created = chat.get("created")
    return response_object(
        request,
        response_id=response_id,
        model=chat.get("model"),
        status=status,
        output=[message_item(message_id, content if isinstance(content, str) else "", status)],
        usage=responses_usage(chat.get("usage")),
        incomplete=incomplete,
        created_at=created if isinstance(created, int) else None,
    )


# -------------------------------------------------------------------- estimates
def prompt_of(body: Mapping[str, object]) -> str:
    """The text of a Responses request's ``instructions`` and ``input`` (for estimates)."""
    texts: list[str] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        texts.append(instructions)
    value = body.get("input")
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, list):
        for item in value:
            content = item.get("content") if isinstance(item, Mapping) else None
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [
                    str(part["text"])
                    for part in content
                    if isinstance(part, Mapping) and isinstance(part.get("text"), str)
                ]
    return "\n".join(texts)


def output_text(response: object) -> str:
    """The text of a ``response`` object's output messages (for estimates)."""
    output = response.get("output") if isinstance(response, Mapping) else None
    texts: list[str] = []
    for item in output if isinstance(output, list) else []:
        content = item.get("content") if isinstance(item, Mapping) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(str(part["text"]))
    return "".join(texts)
