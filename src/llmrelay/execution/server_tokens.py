"""Counting with the upstream server's own tokenizer (llama.cpp's ``POST /tokenize``).

Used only after a stream has ended, when its usage has to be estimated and the connector
opted in. Whether a server has the endpoint is learnt once per connector and remembered,
so servers without it cost one request per process, and never a byte of stream latency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import orjson

from llmrelay.domain.connectors import Connector
from llmrelay.domain.events import TokenUsage
from llmrelay.errors import TokenizerUnavailableError, UpstreamError, UpstreamStatusError
from llmrelay.transport.client import OutboundClient

__all__ = ["SERVER_TOKENIZER", "ServerTokenizer"]

log = logging.getLogger("llmrelay.execution")

SERVER_TOKENIZER = "server"
"""``TokenUsage.tokenizer`` (and the event's ``llmrelay.tokenizer``) of server counts."""

_TIMEOUT_MS = 5_000


class ServerTokenizer:
    """Asks ``/tokenize`` endpoints for token counts; remembers which ones exist."""

    def __init__(self, client: OutboundClient) -> None:
        self._client = client
        # (connector id, tokenize URL) -> the endpoint works (True) or does not (False)
        self._available: dict[tuple[str, str], bool] = {}

    def known_missing(self, connector: Connector, url: str) -> bool:
        return self._available.get((connector.id, url)) is False

    async def usage(
        self,
        connector: Connector,
        url: str,
        headers: Mapping[str, str],
        prompts: Sequence[str],
        completion: Sequence[str],
    ) -> TokenUsage | None:
        """Prompt and completion counted by the server, or None (use the local estimate)."""
        key = (connector.id, url)
        if self._available.get(key) is False:
            return None
        texts = [*prompts, *completion]
        try:
            counts = await asyncio.gather(
                *(self._count(connector, url, headers, text) for text in texts)
            )
        except TokenizerUnavailableError:
            self._available[key] = False
            log.info("connector %s: no usable %s; estimating with cl100k", connector.id, url)
            return None
        except UpstreamError as err:  # transient (network): keep what we know, fall back
            log.debug("connector %s: %s failed: %s", connector.id, url, err)
            return None
        self._available[key] = True
        prompt_tokens = sum(counts[: len(prompts)])
        completion_tokens = sum(counts[len(prompts) :])
        return TokenUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            usage_source="estimated",
            tokenizer=SERVER_TOKENIZER,
        )

    async def _count(
        self, connector: Connector, url: str, headers: Mapping[str, str], text: str
    ) -> int:
        if not text:
            return 0
        try:
            response = await self._client.request(
                "POST",
                url,
                headers=headers,
                body=orjson.dumps({"content": text}),
                timeout_ms=_TIMEOUT_MS,
                pki=connector.pki(),
            )
        except UpstreamStatusError as err:
            raise _not_a_tokenizer(url) from err
        try:
            status = response.status
            raw = await response.read()
        finally:
            await response.release()
        if status >= 400:
            raise _not_a_tokenizer(url)
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _not_a_tokenizer(url) from None
        tokens = payload.get("tokens") if isinstance(payload, dict) else None
        if not isinstance(tokens, list):
            raise _not_a_tokenizer(url)
        return len(tokens)


def _not_a_tokenizer(url: str) -> TokenizerUnavailableError:
    """The server answered, but not as a tokenizer does: counts fall back to cl100k."""
    return TokenizerUnavailableError(f"{url} did not answer as a tokenizer does")
