"""The one exception tree: every error llmrelay raises lives in ``llmrelay.errors`` and
declares the HTTP status and Kibana error name it is answered with."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from http import HTTPStatus

import pytest

import llmrelay
from llmrelay import errors
from llmrelay.errors import LlmrelayError


def _boom_name(status: int) -> str:
    """Kibana's (Boom's) name for a status: the standard phrase, but 413 keeps the name
    that Python 3.13's http.HTTPStatus renamed to "Content Too Large"."""
    return "Request Entity Too Large" if status == 413 else HTTPStatus(status).phrase


def _llmrelay_exceptions() -> list[type[BaseException]]:
    """Every exception class defined anywhere in the package (its modules imported)."""
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(llmrelay.__path__, "llmrelay."):
        if info.name.endswith(".__main__"):  # runs the command line when imported
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("llmrelay"):
                found.add(value)
    return sorted(found, key=lambda cls: (cls.__module__, cls.__qualname__))


TREE = [
    value
    for value in vars(errors).values()
    if isinstance(value, type) and issubclass(value, BaseException)
]


EXPORTED_FROM = {
    "llmrelay.errors",
    *(f"llmrelay.errors.{m.name}" for m in pkgutil.iter_modules(errors.__path__)),
}


def test_every_exception_class_lives_in_the_errors_package() -> None:
    elsewhere = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _llmrelay_exceptions()
        if cls.__module__ not in EXPORTED_FROM
    ]
    assert not elsewhere, f"define these in the llmrelay.errors package: {elsewhere}"
    # and every one of them is importable from the package itself
    assert set(_llmrelay_exceptions()) <= set(TREE)


@pytest.mark.parametrize("cls", TREE, ids=lambda cls: cls.__name__)
def test_each_class_declares_its_answer(cls: type[BaseException]) -> None:
    assert issubclass(cls, LlmrelayError)
    assert 400 <= cls.http_status <= 599
    assert cls.kibana_error == _boom_name(cls.http_status)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("ConnectorNotFoundError", 404),
        ("ConnectorConflictError", 409),
        ("ConnectorValidationError", 400),
        ("ConnectorBadRequestError", 400),
        ("BadRequestError", 400),
        ("RequestBodyError", 400),
        ("PayloadTooLargeError", 413),
        ("UnauthenticatedError", 401),
        ("ForbiddenError", 403),
        ("UserNotFoundError", 404),
        ("ApiKeyNotFoundError", 404),
        ("UserExistsError", 409),
        ("StoreError", 503),
        ("DecryptionError", 500),
        ("ConfigurationError", 500),
        ("UpstreamError", 502),
        ("UpstreamTimeoutError", 504),
        ("UpstreamForbiddenHostError", 403),
        ("ExecutionFailedError", 500),
        ("UnknownSubActionError", 400),
        ("ResponseValidationError", 502),
        ("ActionTypeDisabledError", 403),
        ("LimitValidationError", 400),
        ("LimitNotFoundError", 404),
        ("LimitReachedError", 429),
    ],
)
def test_statuses_the_api_answers(name: str, status: int) -> None:
    assert getattr(errors, name).http_status == status


def test_the_public_api_exports_execution_failed_error() -> None:
    assert llmrelay.ExecutionFailedError is errors.ExecutionFailedError
    assert issubclass(llmrelay.ExecutionFailedError, llmrelay.LlmrelayError)
