"""Structured JSON logs with secrets redacted, for ``llmrelay serve``.

Every line is one JSON object (ECS-style keys). A redaction pass masks anything that
looks like a credential — ``Bearer``/``Basic``/``ApiKey`` values, ``sk-`` style keys,
``api-key`` headers, JSON ``apiKey``/secret fields and PEM private keys — so a secret that
reaches a log call by mistake still never reaches the log.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

import orjson

MASK = "[REDACTED]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic|apikey)\s+[A-Za-z0-9._~+/=:-]{4,}"), rf"\1 {MASK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), MASK),
    (
        re.compile(
            r"(?i)(api[-_]?key|authorization|password|secret|token)(\"?\s*[:=]\s*\"?)[^\s\",}]+"
        ),
        rf"\1\2{MASK}",
    ),
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        MASK,
    ),
    (
        re.compile(r"(?i)(certificateData|privateKeyData|caData)(\"?\s*[:=]\s*\"?)[A-Za-z0-9+/=]+"),
        rf"\1\2{MASK}",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (redacted), error."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "@timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            doc["error.type"] = type(err).__name__
            doc["error.message"] = redact(str(err))
            doc["error.stack_trace"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(doc).decode()


class RedactingFormatter(logging.Formatter):
    """Human-readable lines, same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(*, level: int = logging.INFO, json_lines: bool = True) -> None:
    """Route every logger (uvicorn's included) through one redacting handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
