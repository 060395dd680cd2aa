"""Routes through ``Relay`` (the service as a library): a route type left out of
``xpack.actions.enabledActionTypes`` is refused at execution like any disabled type, while
its connectors still run when called directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmrelay.errors import ActionTypeDisabledError
from llmrelay.service import ExecutionContext, Relay
from llmrelay.testing import FakeUpstream
from tests.fixtures.service import make_settings
from tests.routes.conftest import route_in_process

RUN = {
    "subAction": "run",
    "subActionParams": {"body": json.dumps({"messages": [{"role": "user", "content": "hi"}]})},
}


async def test_a_disabled_route_type_is_refused(tmp_path: Path, upstream: FakeUpstream) -> None:
    home = tmp_path / "home"
    async with Relay.open(make_settings(home)) as relay:
        target, route = await route_in_process(relay, upstream)
        assert (await relay.execute("default", route.id, RUN, ExecutionContext())).ok
    only_gen_ai = make_settings(home, **{"xpack.actions.enabledActionTypes": [".gen-ai"]})
    async with Relay.open(only_gen_ai) as relay:
        refused = await relay.execute("default", route.id, RUN, ExecutionContext())
        assert not refused.ok
        assert refused.connector_id == route.id
        assert refused.message is not None and ".llmrelay-route" in refused.message
        assert (await relay.execute("default", target.id, RUN, ExecutionContext())).ok
        with pytest.raises(ActionTypeDisabledError):
            await relay.execution.chat_completions(
                "default", {"messages": [{"role": "user", "content": "hi"}]}, route.id,
                ExecutionContext(),
            )  # fmt: skip
    assert len(upstream.requests) == 2
