"""``llmrelay serve`` as the benchmark runs it, with the event log optionally switched off.

llmrelay has no setting to turn the event log off, so for scenario 5 the sink that builds
event documents and queues them for the writer is replaced before the app is built: it
still updates the Prometheus metrics (they are not part of the event log), nothing else.
Everything else is the real command: ``llmrelay.cli.main`` with ``serve`` and the given
arguments (uvicorn picks uvloop and httptools when the ``bench`` extra installed them,
as it would in a deployment that has them).

Run: ``python -m bench.relay_launcher [--event-log off] -- --port N``.
"""

from __future__ import annotations

import argparse
import sys

from bench.mock_upstream import raise_fd_limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--event-log", choices=("on", "off"), default="on")
    args, rest = parser.parse_known_args()
    raise_fd_limit()
    if args.event_log == "off":
        from llmrelay import service
        from llmrelay.domain.events import ExecutionRecord

        def _no_event(self: service._EventLogSink, record: object) -> None:
            return None

        def _metrics_only(self: service._EventLogSink, record: ExecutionRecord) -> None:
            self._metrics.observe(record)

        service._EventLogSink.started = _no_event  # type: ignore[method-assign]
        service._EventLogSink.finished = _metrics_only  # type: ignore[method-assign]
    from llmrelay.cli.main import main as llmrelay_main

    sys.argv = ["llmrelay", "serve", *[a for a in rest if a != "--"]]
    llmrelay_main()


if __name__ == "__main__":
    main()
