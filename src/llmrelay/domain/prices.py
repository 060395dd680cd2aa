"""Model prices and the cost of one execution, in USD.

A price is USD per million tokens for input (prompt), output (completion, reasoning
included) and cached input. Figures are kept as :class:`~decimal.Decimal` parsed from their
decimal text, so ``0.075`` is exactly 0.075 and a cost is computed exactly; only the result
of :func:`cost_usd` is turned into a ``float`` (the nearest one to the exact cost), because
events and JSON carry numbers. A model without a price has an *unknown* cost: ``None``,
never 0 (a local model that is free is priced 0 in the settings, explicitly).

Model names are matched by :func:`price_for` with one rule, documented in docs/limits.md:
1. the exact name (case-insensitive);
2. a dated snapshot without its date: ``gpt-4o-2024-08-06`` -> ``gpt-4o``,
   ``gpt-4-0613`` -> ``gpt-4`` (a trailing ``-YYYY-MM-DD`` or ``-MMDD``);
3. the longest priced name the model starts with, followed by ``-``:
   ``gpt-4o-mini-search-preview`` -> ``gpt-4o-mini``.
A name that is priced exactly therefore always wins over its family (``gpt-4o-2024-05-13``,
priced higher than later ``gpt-4o`` snapshots, has its own entry).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache, partial

from llmrelay.domain.events import TokenUsage
from llmrelay.errors import ConfigurationError

__all__ = [
    "DEFAULT_PRICES",
    "PRICES_AS_OF",
    "PRICES_SOURCES",
    "Price",
    "PriceBook",
    "cost_usd",
    "execution_cost",
    "merge_prices",
    "price_for",
    "usd_number",
]

PRICES_AS_OF = date(2025, 8, 7)
"""When the default figures were taken (standard tier, per million tokens, USD)."""
PRICES_SOURCES = ("https://openai.com/api/pricing", "https://platform.openai.com/docs/pricing")
SETTING = "llmrelay.prices"
PRICE_FIELDS = ("input_per_million", "output_per_million", "cached_input_per_million")
_MILLION = Decimal(1_000_000)
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})$")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. ``cached_input`` None: cached input costs the input price."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None

    def to_dict(self) -> dict[str, float]:
        body = {"input_per_million": float(self.input), "output_per_million": float(self.output)}
        if self.cached_input is not None:
            body["cached_input_per_million"] = float(self.cached_input)
        return body


def _p(input_: str, output: str, cached: str | None = None) -> Price:
    return Price(Decimal(input_), Decimal(output), None if cached is None else Decimal(cached))


DEFAULT_PRICES: Mapping[str, Price] = {
    # GPT-5 family
    "gpt-5": _p("1.25", "10.00", "0.125"),
    "gpt-5-chat-latest": _p("1.25", "10.00", "0.125"),
    "gpt-5-mini": _p("0.25", "2.00", "0.025"),
    "gpt-5-nano": _p("0.05", "0.40", "0.005"),
    # GPT-4.1 family
    "gpt-4.1": _p("2.00", "8.00", "0.50"),
    "gpt-4.1-mini": _p("0.40", "1.60", "0.10"),
    "gpt-4.1-nano": _p("0.10", "0.40", "0.025"),
    # GPT-4o family
    "gpt-4o": _p("2.50", "10.00", "1.25"),
    "gpt-4o-2024-05-13": _p("5.00", "15.00"),
    "chatgpt-4o-latest": _p("5.00", "15.00"),
    "gpt-4o-mini": _p("0.15", "0.60", "0.075"),
    # reasoning models
    "o1": _p("15.00", "60.00", "7.50"),
    "o1-mini": _p("1.10", "4.40", "0.55"),
    "o1-pro": _p("150.00", "600.00"),
    "o3": _p("2.00", "8.00", "0.50"),
    "o3-pro": _p("20.00", "80.00"),
    "o3-mini": _p("1.10", "4.40", "0.55"),
    "o4-mini": _p("1.10", "4.40", "0.275"),
    # older chat models still served
    "gpt-4-turbo": _p("10.00", "30.00"),
    "gpt-4-1106-preview": _p("10.00", "30.00"),
    "gpt-4-0125-preview": _p("10.00", "30.00"),
    "gpt-4": _p("30.00", "60.00"),
    "gpt-3.5-turbo": _p("0.50", "1.50"),
    # embeddings (input only)
    "text-embedding-3-small": _p("0.02", "0"),
    "text-embedding-3-large": _p("0.13", "0"),
    "text-embedding-ada-002": _p("0.10", "0"),
}


# --- the settings override --------------------------------------------------------------------
def _figure(model: str, field: str, value: object) -> Decimal:
    where = f"{SETTING}.{model}.{field}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigurationError(f"{where}: expected a number of USD per million tokens")
    try:
        figure = Decimal(str(value).strip())
    except ArithmeticError:
        raise ConfigurationError(f"{where}: expected a number of USD per million tokens") from None
    if not figure.is_finite() or figure < 0:
        raise ConfigurationError(f"{where}: must be a finite number of at least 0")
    return figure


def _override(model: str, entry: object, default: Price | None) -> Price:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(
            f"{SETTING}.{model}: expected an object with input_per_million and "
            "output_per_million (and optionally cached_input_per_million)"
        )
    unknown = [str(key) for key in entry if key not in PRICE_FIELDS]
    if unknown:
        raise ConfigurationError(
            f"{SETTING}.{model}: unknown key {unknown[0]}; expected {', '.join(PRICE_FIELDS)}"
        )
    given = {field: _figure(model, field, entry[field]) for field in PRICE_FIELDS if field in entry}
    if default is None:
        missing = [f for f in PRICE_FIELDS[:2] if f not in given]
        if missing:
            raise ConfigurationError(
                f"{SETTING}.{model}.{missing[0]}: required for a model without a default price"
            )
    base = default or Price(Decimal(0), Decimal(0))
    return Price(
        given.get("input_per_million", base.input),
        given.get("output_per_million", base.output),
        given.get("cached_input_per_million", base.cached_input),
    )


def merge_prices(
    override: Mapping[str, object] | None, defaults: Mapping[str, Price] = DEFAULT_PRICES
) -> dict[str, Price]:
    """The defaults with the ``llmrelay.prices`` setting applied on top.

    An entry for a priced model replaces the figures it names and keeps the others; a new
    model needs input and output figures; ``null`` removes a default (its cost becomes
    unknown). Names are case-insensitive. Bad entries raise :class:`ConfigurationError`
    naming the setting path.
    """
    merged = {name.lower(): price for name, price in defaults.items()}
    for raw_name, entry in (override or {}).items():
        name = str(raw_name).strip().lower()
        if not name:
            raise ConfigurationError(f"{SETTING}: a model name must not be empty")
        if entry is None:
            merged.pop(name, None)
            continue
        merged[name] = _override(str(raw_name), entry, merged.get(name))
    return merged


# --- matching and cost ------------------------------------------------------------------------
def price_for(model: str | None, prices: Mapping[str, Price] = DEFAULT_PRICES) -> Price | None:
    """The price of ``model`` by the module's matching rule; None when it has none.

    ``prices`` keys must be lower case (:func:`merge_prices` makes them so).
    """
    if not model:
        return None
    name = model.strip().lower()
    found = prices.get(name)
    if found is not None:
        return found
    undated = _DATED.sub("", name)
    if undated != name and undated in prices:
        return prices[undated]
    best: str | None = None
    for candidate in prices:
        if name.startswith(candidate + "-") and (best is None or len(candidate) > len(best)):
            best = candidate
    return prices[best] if best is not None else None


def _tokens(value: int) -> int:
    return value if value > 0 else 0


def _exact_cost(
    price: Price, prompt_tokens: int, completion_tokens: int, cached_tokens: int
) -> Decimal:
    prompt = _tokens(prompt_tokens)
    cached = min(_tokens(cached_tokens), prompt)
    cached_price = price.input if price.cached_input is None else price.cached_input
    return (
        (prompt - cached) * price.input
        + cached * cached_price
        + _tokens(completion_tokens) * price.output
    ) / _MILLION


def _usage_cost(price: Price | None, usage: TokenUsage) -> Decimal | None:
    if price is None:
        return None
    return _exact_cost(price, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)


def execution_cost(
    model: str | None, usage: TokenUsage, prices: Mapping[str, Price] = DEFAULT_PRICES
) -> Decimal | None:
    """The exact cost in USD of an execution that used ``usage`` on ``model``; None when
    the model has no price. The one cost of an execution: its ``execute`` event carries
    it (``llmrelay.cost_usd``) and cost limits count it."""
    return _usage_cost(price_for(model, prices), usage)


class PriceBook:
    """A price table for the request path: :func:`execution_cost` with a bounded memo of
    model name -> price. A name the table does not hold exactly (a dated snapshot, a local
    model) is matched by scanning the table, ~10 µs; a process sees few distinct models."""

    def __init__(self, prices: Mapping[str, Price] = DEFAULT_PRICES, *, memo: int = 1024) -> None:
        self.prices = prices
        self._price_of = lru_cache(maxsize=memo)(partial(price_for, prices=prices))

    def cost(self, model: str | None, usage: TokenUsage) -> Decimal | None:
        """What :func:`execution_cost` answers for this table."""
        return _usage_cost(self._price_of(model), usage)


def cost_usd(
    model: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    prices: Mapping[str, Price] = DEFAULT_PRICES,
) -> float | None:
    """The cost of one execution, or None when the model has no price (unknown, not 0).

    ``prompt_tokens`` includes ``cached_tokens`` (OpenAI's ``usage`` counts them inside
    ``prompt_tokens_details``); the cached part is billed at the cached-input price.
    Negative counts count as 0 and cached tokens never exceed the prompt.
    """
    price = price_for(model, prices)
    if price is None:
        return None
    return usd_number(_exact_cost(price, prompt_tokens, completion_tokens, cached_tokens))


def usd_number(cost: Decimal | None) -> float | None:
    """An exact cost as the nearest JSON number (None stays None: unknown)."""
    if cost is None:
        return None
    result = float(cost)
    return result if math.isfinite(result) else None
