"""Prices: the shipped table, the settings override, model name matching and cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmrelay.domain.events import TokenUsage
from llmrelay.domain.prices import (
    DEFAULT_PRICES,
    PRICES_AS_OF,
    PRICES_SOURCES,
    Price,
    PriceBook,
    cost_usd,
    execution_cost,
    merge_prices,
    price_for,
)
from llmrelay.domain.usage import usage_from_payload
from llmrelay.errors import ConfigurationError

REQUIRED = [
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "o4-mini",
    "o1",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
]


def test_the_default_table_is_dated_sourced_and_covers_the_current_models() -> None:
    assert PRICES_AS_OF.year >= 2025
    assert PRICES_SOURCES == (
        "https://openai.com/api/pricing",
        "https://platform.openai.com/docs/pricing",
    )
    for model in REQUIRED:
        assert model in DEFAULT_PRICES, model
    for name, price in DEFAULT_PRICES.items():
        assert name == name.lower()
        assert price.input > 0 and price.output >= 0
        assert price.cached_input is None or price.cached_input <= price.input


def test_cost_of_a_call_is_exact_decimal_arithmetic() -> None:
    # gpt-4o: 2.50 in, 10.00 out, 1.25 cached (USD per million)
    assert cost_usd("gpt-4o", 1_000_000, 0) == 2.5
    assert cost_usd("gpt-4o", 1000, 500) == 0.0075
    # 600 of the 1000 prompt tokens were cached: 400 * 2.5 + 600 * 1.25 + 500 * 10
    assert cost_usd("gpt-4o", 1000, 500, cached_tokens=600) == 0.00675
    # 0.1 + 0.2 style sums stay exact: 3 tokens of gpt-5-nano = 0.15 micro-USD
    assert cost_usd("gpt-5-nano", 3, 0) == float(Decimal("0.00000015"))
    assert cost_usd("text-embedding-3-small", 1_000_000, 0) == 0.02


def test_unknown_models_have_unknown_cost_never_zero() -> None:
    assert cost_usd("llama-3-8b-instruct", 1000, 1000) is None
    assert cost_usd(None, 1000, 1000) is None
    assert cost_usd("", 1000, 1000) is None
    assert price_for("gpt") is None  # a prefix of a priced name is not that name


def test_odd_token_counts() -> None:
    assert cost_usd("gpt-4o", 0, 0) == 0.0  # known and free: 0, not None
    assert cost_usd("gpt-4o", -5, -1) == 0.0
    # cached tokens never exceed the prompt
    assert cost_usd("gpt-4o", 100, 0, cached_tokens=500) == 100 * 1.25 / 1e6
    assert cost_usd("gpt-4o", 0, 0, cached_tokens=100) == 0.0
    # without a cached price, cached input costs the input price
    assert cost_usd("gpt-4", 1000, 0, cached_tokens=1000) == cost_usd("gpt-4", 1000, 0)


@pytest.mark.parametrize(
    ("model", "priced_as"),
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact entry wins over the family
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4-turbo-preview", "gpt-4-turbo"),  # the longest prefix
        ("gpt-4o-mini-search-preview", "gpt-4o-mini"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("o4-mini-2025-04-16", "o4-mini"),
    ],
)
def test_model_name_matching(model: str, priced_as: str) -> None:
    assert price_for(model) is DEFAULT_PRICES[priced_as]


def test_a_prefix_must_end_at_a_hyphen() -> None:
    assert price_for("o10") is None  # not "o1"
    assert price_for("gpt-4oo") is None  # not "gpt-4o"


# --- the override -----------------------------------------------------------------------------
def test_the_override_replaces_adds_and_removes() -> None:
    prices = merge_prices(
        {
            "gpt-4o": {"input_per_million": 2},  # the other figures stay
            "Local-Llama": {"input_per_million": 0, "output_per_million": "0.5"},
            "gpt-4": None,  # unpriced from now on
        }
    )
    assert prices["gpt-4o"] == Price(Decimal(2), Decimal("10.00"), Decimal("1.25"))
    assert cost_usd("local-llama", 1_000_000, 1_000_000, prices=prices) == 0.5
    assert cost_usd("local-llama-q4", 0, 0, prices=prices) == 0.0  # priced 0: known, free
    assert cost_usd("gpt-4", 10, 10, prices=prices) is None
    assert cost_usd("gpt-4-0613", 10, 10, prices=prices) is None
    assert DEFAULT_PRICES["gpt-4o"].input == Decimal("2.50")  # the defaults are untouched
    assert merge_prices(None) == dict(DEFAULT_PRICES)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"x": 3},
            "llmrelay.prices.x: expected an object with input_per_million and "
            "output_per_million (and optionally cached_input_per_million)",
        ),
        (
            {"x": {"input_per_million": 1}},
            "llmrelay.prices.x.output_per_million: required for a model without a default price",
        ),
        (
            {"gpt-4o": {"input_per_million": -1}},
            "llmrelay.prices.gpt-4o.input_per_million: must be a finite number of at least 0",
        ),
        (
            {"gpt-4o": {"output_per_million": "lots"}},
            "llmrelay.prices.gpt-4o.output_per_million: expected a number of USD per million "
            "tokens",
        ),
        (
            {"gpt-4o": {"input_per_million": True}},
            "llmrelay.prices.gpt-4o.input_per_million: expected a number of USD per million tokens",
        ),
        (
            {"gpt-4o": {"input_per_million": float("nan")}},
            "llmrelay.prices.gpt-4o.input_per_million: must be a finite number of at least 0",
        ),
        (
            {"gpt-4o": {"input": 1}},
            "llmrelay.prices.gpt-4o: unknown key input; expected input_per_million, "
            "output_per_million, cached_input_per_million",
        ),
        ({" ": {"input_per_million": 1}}, "llmrelay.prices: a model name must not be empty"),
    ],
)
def test_bad_overrides_name_the_setting(override: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        merge_prices(override)
    assert str(caught.value) == message


def test_price_to_dict() -> None:
    assert DEFAULT_PRICES["gpt-4o-mini"].to_dict() == {
        "input_per_million": 0.15,
        "output_per_million": 0.6,
        "cached_input_per_million": 0.075,
    }
    assert "cached_input_per_million" not in DEFAULT_PRICES["gpt-4"].to_dict()


def test_execution_cost_is_exact_and_agrees_with_cost_usd() -> None:
    usage = TokenUsage(1000, 500, 1500, "response", cached_tokens=600)
    assert execution_cost("gpt-4o", usage) == Decimal("0.00675")
    assert float(Decimal("0.00675")) == cost_usd("gpt-4o", 1000, 500, cached_tokens=600)
    assert execution_cost("llama-3-8b-instruct", usage) is None
    assert execution_cost("gpt-4o", TokenUsage()) == 0  # priced, nothing used: 0, not None
    table = merge_prices({"gpt-4o": None})
    assert execution_cost("gpt-4o-2024-08-06", usage, table) is None


def test_cached_tokens_are_read_from_the_usage_object() -> None:
    usage = usage_from_payload(
        {
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 500,
                "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 600},
            }
        }
    )
    assert usage.cached_tokens == 600
    assert usage.as_gen_ai() == {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "total_tokens": 1500,
    }
    odd = usage_from_payload({"usage": {"prompt_tokens": 5, "prompt_tokens_details": None}})
    assert odd.cached_tokens == 0


def test_a_price_book_answers_what_execution_cost_answers() -> None:
    table = merge_prices({"my-finetune": {"input_per_million": 3, "output_per_million": 12}})
    book = PriceBook(table, memo=2)
    usage = TokenUsage(1000, 500, 1500, "response", cached_tokens=100)
    models = ["gpt-4o-2024-08-06", "my-finetune-v2", "llama-3", None, "gpt-4o-2024-08-06"]
    for model in models * 2:  # past its memo of 2: evicted names are matched again
        assert book.cost(model, usage) == execution_cost(model, usage, table)
    assert book.cost("my-finetune-v2", usage) == Decimal("0.009")  # 1000 x 3 + 500 x 12
