"""``llmrelay serve`` as the benchmark runs it, with the event log optionally switched off.

llmrelay has no setting to turn the event log off, so for scenario 5 the sink that builds
event documents and queues them for the writer is replaced before the app is built: it
still updates the Prometheus metrics (they are not part of the event log), nothing else.
The sink class is looked up by name (in ``llmrelay.service``, its submodules if it became
a package, then anywhere in ``llmrelay``), so the same launcher works for this checkout and
for an earlier or later commit run as a baseline (bench/baseline.py).
Everything else is the real command: ``llmrelay.cli.main`` with ``serve`` and the given
arguments (uvicorn picks uvloop and httptools when the ``bench`` extra installed them,
as it would in a deployment that has them).

``--expect-source DIR`` refuses to start unless ``llmrelay`` was imported from ``DIR``:
the harness passes the tree it means to measure, and the first line of the log names the
file actually imported.

Run: ``python -m bench.relay_launcher [--event-log off] [--expect-source DIR] -- --port N``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.mock_upstream import raise_fd_limit

SINK_NAMES = ("_EventLogSink", "EventLogSink")


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    yield package
    for info in pkgutil.walk_packages(getattr(package, "__path__", []), package.__name__ + "."):
        with contextlib.suppress(Exception):  # an optional extra the bench does not install
            yield importlib.import_module(info.name)


def find_sink() -> type[Any]:
    """The class whose ``started``/``finished`` turn execution records into events."""
    import llmrelay

    places = [importlib.import_module("llmrelay.service")]
    for where in (*places, llmrelay):
        for module in _modules(where):
            for name in SINK_NAMES:
                found = getattr(module, name, None)
                if isinstance(found, type) and found.__module__ == module.__name__:
                    if callable(getattr(found, "started", None)) and callable(
                        getattr(found, "finished", None)
                    ):
                        return found
                    raise SystemExit(
                        f"bench.relay_launcher: {module.__name__}.{name} has no started/"
                        "finished methods any more; update the event-log-off patch"
                    )
    raise SystemExit(
        f"bench.relay_launcher: no event-log sink class ({' or '.join(SINK_NAMES)}) found in "
        f"llmrelay ({Path(llmrelay.__file__).parent}); cannot switch the event log off"
    )


def switch_event_log_off() -> None:
    sink = find_sink()
    original_init = sink.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if not callable(getattr(getattr(self, "_metrics", None), "observe", None)):
            raise SystemExit(
                f"bench.relay_launcher: {sink.__qualname__} keeps no _metrics.observe; "
                "update the event-log-off patch"
            )

    def no_event(self: Any, record: object) -> None:
        return None

    def metrics_only(self: Any, record: object) -> None:
        metrics = self._metrics
        getattr(metrics, "later", metrics.observe)(record)  # (older baselines: observe)

    sink.__init__ = init
    sink.started = no_event
    sink.finished = metrics_only
    sink.journaled = no_event
    if hasattr(sink, "started_final"):  # (older baselines have none)
        sink.started_final = no_event
    print(f"event log off: {sink.__module__}.{sink.__qualname__} patched", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--event-log", choices=("on", "off"), default="on")
    parser.add_argument("--expect-source", type=Path, default=None)
    args, rest = parser.parse_known_args()
    raise_fd_limit()
    import llmrelay

    imported = Path(llmrelay.__file__).resolve().parent
    print(f"llmrelay imported from {llmrelay.__file__}", flush=True)
    if args.expect_source is not None and imported != args.expect_source.resolve():
        raise SystemExit(
            f"bench.relay_launcher: llmrelay was imported from {imported}, "
            f"not from {args.expect_source} as the harness asked"
        )
    if args.event_log == "off":
        switch_event_log_off()
    from llmrelay.cli.main import main as llmrelay_main

    sys.argv = ["llmrelay", "serve", *[a for a in rest if a != "--"]]
    llmrelay_main()


if __name__ == "__main__":
    main()
