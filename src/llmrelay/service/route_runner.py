"""Running a route: try its connectors in order (``execution.routing``) until one answers,
through the executor exactly as if the caller had named that connector.

Each attempt is an execution of its own with its own events (tokens count once, on the
connector that answered; ``llmrelay.route_id`` names the route). The route's own
``execute`` event lists the attempts and the connector that answered, with no tokens.
A stream is handed over only once its first bytes arrived; after that it is never
switched, and how it ends is the answering connector's event. A target whose own limits
refuse it is passed over without being called, like one that answered 429 (see
docs/routes.md).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from llmrelay.domain.connector_types import Runnable
from llmrelay.domain.events import Endpoint, ExecutionRecord, RouteAttempt
from llmrelay.domain.params import validate_execute_params
from llmrelay.domain.routes import Route
from llmrelay.domain.subactions import GET_DASHBOARD
from llmrelay.errors import (
    ActionTypeDisabledError,
    LimitExceededError,
    LimitsUnavailableError,
    LlmrelayError,
    RouteUnavailableError,
)
from llmrelay.execution.errors import FRAMEWORK_ERRORS, error_kind, failure_result
from llmrelay.execution.executor import EventSink, Executor
from llmrelay.execution.gateway import GATEWAY_SUB_ACTION, GatewayResult
from llmrelay.execution.records import deferring_durability, new_record, settle
from llmrelay.execution.responses_stream import TranslatedResponseStream
from llmrelay.execution.results import ExecutionContext, ExecutionResult
from llmrelay.execution.routing import CircuitBreaker, attempt_order, is_retryable, retry_delay
from llmrelay.execution.streaming import ChunkIterator, TappedStream
from llmrelay.service.limits import LimitService

__all__ = ["RouteRunner"]

T = TypeVar("T")
Resolve = Callable[[str, str], Awaitable[Runnable]]
_MAX_DEPTH = 8  # routes of routes: loops are refused on save, this guards a race
_REFUSALS = (LimitExceededError, LimitsUnavailableError)  # a target's limits refused it


@dataclass(slots=True)
class _Tried:
    """One attempt's end: its value (when it returned one) and its failure, if any."""

    value: object
    error: LlmrelayError | None
    failed: bool
    retryable: bool


class RouteRunner:
    """Runs routes for the execution service; one per process (the breaker's state)."""

    def __init__(
        self,
        executor: Executor,
        resolve: Resolve,
        sink: EventSink,
        *,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        limits: LimitService | None = None,
    ) -> None:
        self._executor = executor
        self._limits = limits
        self._resolve = resolve
        self._sink = sink
        self._rng = rng or random.Random()  # noqa: S311 (load spreading, not secrecy)
        self.breaker = breaker or CircuitBreaker()
        self._sleep = sleep

    async def execute(
        self, route: Route, space_id: str, params: object, ctx: ExecutionContext, depth: int = 0
    ) -> ExecutionResult:
        """``_execute`` through the route: the envelope of the connector that answered, or
        of the last failure, under the route's id. A bad envelope or a disabled type is
        refused before anything runs, without events (as for a connector)."""
        try:
            sub_action, _ = validate_execute_params(params)
            self._ensure_enabled(route)
        except LlmrelayError as err:
            return failure_result(route.id, err, FRAMEWORK_ERRORS, pki=False)

        async def run(target: Runnable, sub_ctx: ExecutionContext) -> _Tried:
            if isinstance(target, Route):
                try:
                    result = await self.execute(target, space_id, params, sub_ctx, depth + 1)
                except _REFUSALS as refused:  # its last target's limits refused it: move on
                    return _Tried(None, refused, True, True)
            else:
                result = await self._executor.execute_params(target, params, context=sub_ctx)
            if result.ok:
                try:
                    await _first_bytes(result.data)
                except LlmrelayError as stream_err:  # nothing reached the caller: move on
                    failed = failure_result(target.id, stream_err, FRAMEWORK_ERRORS, pki=False)
                    failed.error = stream_err
                    return _Tried(failed, stream_err, True, True)
                return _Tried(result, None, False, False)
            err = result.error
            return _Tried(result, err, True, err is not None and is_retryable(err))

        try:
            tried = await self._walk(route, space_id, ctx, sub_action, "chat", depth, run)
        except RouteUnavailableError as err:
            return ExecutionResult(
                "error", route.id, message=str(err), retry=True, error_source="framework", error=err
            )
        result = tried.value
        if result is None and tried.error is not None:  # the last target's limits refused it
            raise tried.error
        assert isinstance(result, ExecutionResult)
        result.connector_id = route.id
        return result

    async def chat_completions(
        self,
        route: Route,
        space_id: str,
        body: Mapping[str, object],
        stream: bool,
        ctx: ExecutionContext,
        depth: int = 0,
    ) -> GatewayResult:
        """``/v1/chat/completions`` through the route (failures raised, as the executor's)."""

        async def call(target: Runnable, sub_ctx: ExecutionContext) -> GatewayResult:
            if isinstance(target, Route):
                return await self.chat_completions(
                    target, space_id, body, stream, sub_ctx, depth + 1
                )
            return await self._executor.chat_completions(
                target, body, stream=stream, context=sub_ctx
            )

        return await self._gateway(route, space_id, ctx, GATEWAY_SUB_ACTION, "chat", depth, call)

    async def endpoint(
        self,
        route: Route,
        space_id: str,
        endpoint: Endpoint,
        body: Mapping[str, object],
        ctx: ExecutionContext,
        depth: int = 0,
    ) -> GatewayResult:
        """``/v1/embeddings`` and ``/v1/completions`` through the route."""

        async def call(target: Runnable, sub_ctx: ExecutionContext) -> GatewayResult:
            if isinstance(target, Route):
                return await self.endpoint(target, space_id, endpoint, body, sub_ctx, depth + 1)
            return await self._executor.endpoint(target, endpoint, body, context=sub_ctx)

        return await self._gateway(route, space_id, ctx, endpoint, endpoint, depth, call)

    async def _gateway(
        self,
        route: Route,
        space_id: str,
        ctx: ExecutionContext,
        sub_action: str,
        endpoint: Endpoint,
        depth: int,
        call: Callable[[Runnable, ExecutionContext], Awaitable[GatewayResult]],
    ) -> GatewayResult:
        self._ensure_enabled(route)

        async def run(target: Runnable, sub_ctx: ExecutionContext) -> _Tried:
            try:
                result = await call(target, sub_ctx)
            except LlmrelayError as err:  # (a route's last target refused by its limits too)
                return _Tried(None, err, True, is_retryable(err) or isinstance(err, _REFUSALS))
            try:
                await _first_bytes(result.stream)
            except LlmrelayError as err:  # nothing reached the caller: move on
                return _Tried(None, err, True, True)
            return _Tried(result, None, False, False)

        tried = await self._walk(route, space_id, ctx, sub_action, endpoint, depth, run)
        if tried.error is not None:
            raise tried.error
        assert isinstance(tried.value, GatewayResult)
        return tried.value

    async def _walk(
        self,
        route: Route,
        space_id: str,
        ctx: ExecutionContext,
        sub_action: str,
        endpoint: Endpoint,
        depth: int,
        run: Callable[[Runnable, ExecutionContext], Awaitable[_Tried]],
    ) -> _Tried:
        """Try the route's connectors in order until one answers or one fails for good;
        the route's own event records every attempt."""
        config = route.config
        record = new_record(route, sub_action, ctx, endpoint)
        # its execute-start document, and the start of its execute document, are built
        # while the first attempt waits for its upstream: nothing they hold changes after
        # this point (unlike a connector's record, whose model and body size the call
        # fills in). Two turns of the loop later, so that the request body is sent first
        # (aiohttp writes it in a task of its own, scheduled after this callback).
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self._sink.started_final, record)
        attempts: list[RouteAttempt] = []
        record.route_attempts = attempts
        sub_route_id = ctx.route_id or route.id
        last: _Tried | None = None
        durable: list[Awaitable[None]] = []  # the attempts' events, journalled with the route's
        order = attempt_order(
            config, self._rng, lambda target: self.breaker.cooling((space_id, route.id, target))
        )
        try:
            for target_id in order:
                target = await self._target(space_id, target_id, depth)
                if target is None:
                    attempts.append(RouteAttempt(target_id, "missing", 0))
                    continue
                key = (space_id, route.id, target_id)
                tries = 1 if isinstance(target, Route) else 1 + config.retries
                for number in range(tries):
                    sub_ctx = ctx.for_attempt(sub_route_id)
                    started = time.perf_counter_ns()
                    with deferring_durability(durable):  # awaited with the route's own
                        refused = await self._refused(target, sub_ctx, sub_action, endpoint)
                        last = refused or await run(target, sub_ctx)
                    took = time.perf_counter_ns() - started
                    if not last.failed:
                        self.breaker.succeeded(key)
                        attempts.append(RouteAttempt(target_id, "success", took))
                        record.route_target = target_id
                        return last
                    attempts.append(RouteAttempt(target_id, "failure", took, _kind(last.error)))
                    if not last.retryable:
                        return last
                    if isinstance(last.error, _REFUSALS):
                        break  # not the connector's failure: no retry, no breaker; next one
                    self.breaker.failed(key, config.cooldownSeconds)
                    if number + 1 < tries and last.error is not None:
                        delay = retry_delay(last.error)
                        if delay > 0:
                            await self._sleep(delay)
            if last is None:
                raise RouteUnavailableError(route.id)
            return last
        finally:
            await _finish(self._sink, record, durable)

    async def _refused(
        self, target: Runnable, ctx: ExecutionContext, sub_action: str, endpoint: Endpoint
    ) -> _Tried | None:
        """The target's own limits (connector scope) refusing this attempt, or None when
        they admit it (counted) or there are none. The refusal's event is durable then."""
        if self._limits is None or sub_action == GET_DASHBOARD:
            return None
        try:
            await self._limits.admit_target(target, ctx, sub_action, endpoint)
        except _REFUSALS as refused:
            return _Tried(None, refused, True, True)
        return None

    def _ensure_enabled(self, route: Route) -> None:
        if not self._executor.settings.action_type_enabled(route.connector_type_id):
            raise ActionTypeDisabledError(route.connector_type_id)

    async def _target(self, space_id: str, target_id: str, depth: int) -> Runnable | None:
        """The connector (or route) to try, or None when it no longer exists or cannot
        run (too deep a chain of routes)."""
        try:
            target = await self._resolve(space_id, target_id)
        except LlmrelayError:
            return None
        if isinstance(target, Route) and depth + 1 > _MAX_DEPTH:
            return None
        return target


async def _finish(
    sink: EventSink, record: ExecutionRecord, attempts_durable: list[Awaitable[None]]
) -> None:
    """Close the route's record and wait until its event and its attempts' events are
    durable (see ``execution.records``): the answer leaves after them. The attempts'
    documents were queued first, so they usually share the route's group write."""
    record.ended_ns = time.time_ns()
    attempts = record.route_attempts or []
    if record.route_target is not None:
        record.outcome = "success"
    else:
        record.outcome = "failure"
        tried = ", ".join(f"{a.connector_id}: {a.error or a.outcome}" for a in attempts)
        record.error_message = f"no connector of the route answered ({tried or 'none tried'})"
    own = sink.finished(record)
    if own is not None:
        attempts_durable.append(own)
    failed: BaseException | None = None
    for durable in attempts_durable:  # one after the other: they share a group write
        try:
            await settle(durable)
        except Exception as err:  # every one awaited (no unretrieved error); the first raised
            failed = failed or err
    if failed is not None:
        raise failed


def _kind(err: LlmrelayError | None) -> str:
    """An attempt's failure as the route's event lists it."""
    if err is None:
        return "refused"
    if isinstance(err, LimitExceededError):
        return "limit"
    if isinstance(err, LimitsUnavailableError):
        return "limits_unavailable"
    return error_kind(err)


async def _first_bytes(data: object) -> None:
    """Hold a stream until its first bytes arrived (see ``TappedStream.first_chunk``)."""
    if isinstance(data, TappedStream | ChunkIterator | TranslatedResponseStream):
        await data.first_chunk()
