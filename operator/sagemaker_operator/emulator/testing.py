"""Start an emulator inside the current process, for tests, benchmarks and demos.

:func:`start` runs the server on its own event loop in a daemon thread, on a free loopback
port unless told otherwise, and returns a :class:`Running` handle with the endpoint URL, an
:class:`AdminClient` and a ``stop()``; :func:`running` is the same as a context manager.
The admin client uses only the standard library, so it works from any thread and any test
framework, synchronous or not. The emulator must serve its admin endpoint
(``Settings(admin=True)``); :func:`start`'s default settings do.

Arming the lost-response fault (the call is applied, then its answer is lost)::

    emulator.admin.lose_responses("CreateTrainingJob")               # the next one: a 500
    emulator.admin.lose_responses("CreateTrainingJob", mode="drop")  # connection closed
    emulator.admin.lose_responses(fraction=0.2, mode="unavailable")  # 1 in 5 of all: a 503
    emulator.admin.calls("CreateTrainingJob", "LostResponse")        # how many were lost
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from sagemaker_operator.emulator import server, settings
from sagemaker_operator.emulator.faults import LostMode


class AdminClient:
    """The ``/_emulator`` endpoint of one emulator."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + server.ADMIN

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/faults")
        return result

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change faults; keys in the endpoint's camelCase (``errorFraction=0.5``)."""
        result: dict[str, Any] = self._call("POST", "/faults", changes)
        return result

    def refuse(
        self, operation: str, code: str = "AccessDeniedException", message: str = ""
    ) -> None:
        """Answer every ``operation`` call with a permanent refusal (``refuse_nothing`` ends it)."""
        refusal = {"code": code, **({"message": message} if message else {})}
        refusals = self.faults()["refusals"] | {operation: refusal}
        self.set_faults(refusals=refusals)

    def refuse_nothing(self) -> None:
        self.set_faults(refusals={})

    def lose_responses(
        self,
        *operations: str,
        count: int | None = None,
        fraction: float = 0.0,
        mode: LostMode = "error",
    ) -> dict[str, Any]:
        """Arm the lost-response fault; returns its settings (``lostResponse``) now in force.

        The next ``count`` calls of ``operations`` (all operations if none are named) that
        succeed are applied and then answered with a 500 (``mode="error"``), a 503
        (``"unavailable"``) or a connection closed without an answer (``"drop"``); then a
        ``fraction`` of them, by the dice (``seed`` makes that reproducible). ``count``
        defaults to 1 without a ``fraction``, else to 0. ``lose_responses(count=0)`` disarms.
        Lost calls count under the outcome ``LostResponse``.
        """
        if count is None:
            count = 0 if fraction else 1
        lost = {
            "count": count,
            "fraction": fraction,
            "operations": list(operations) or None,
            "mode": mode,
        }
        result: dict[str, Any] = self.set_faults(lostResponse=lost)["lostResponse"]
        return result

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/counters")
        return result

    def calls(self, operation: str, outcome: str = "ok") -> int:
        count: int = self.counters()["operations"].get(operation, {}).get(outcome, 0)
        return count

    def reset(
        self, *, jobs: bool = True, counters: bool = True, faults: bool = True, queues: bool = True
    ) -> None:
        body = {"jobs": jobs, "counters": counters, "faults": faults, "queues": queues}
        self._call("POST", "/reset", body)

    def sqs(self) -> dict[str, Any]:
        """Messages per queue (``visible``, ``inFlight``, ``delayed``) and SQS calls counted."""
        result: dict[str, Any] = self._call("GET", "/sqs")
        return result

    def events(self) -> dict[str, Any]:
        """The events queue's name, its faults and counts (``published``, ``lost``...)."""
        result: dict[str, Any] = self._call("GET", "/events")
        return result

    def set_event_faults(self, **changes: Any) -> dict[str, Any]:
        """Change event faults, camelCase: ``lost={"count": 1}``, ``delaySeconds=30``."""
        result: dict[str, Any] = self._call("POST", "/events/faults", changes)
        return result

    def finish_training(self, region: str, spread_seconds: float = 0.0) -> int:
        """End the Training phase of the region's training jobs; how many were told."""
        body = {"region": region, "spreadSeconds": spread_seconds}
        told: int = self._call("POST", "/finish-training", body)["jobs"]
        return told

    def seed_history(self, count: int, region: str = "us-east-1") -> int:
        """Seed ``count`` finished jobs from before now; how many were added."""
        added: int = self._call("POST", "/history", {"count": count, "region": region})["jobs"]
        return added


@dataclasses.dataclass
class Running:
    url: str
    admin: AdminClient
    emulator: server.Emulator
    _loop: asyncio.AbstractEventLoop
    _runner: web.AppRunner
    _thread: threading.Thread

    def clock_moved(self) -> None:
        """Tell the emulator its clock was moved by hand; returns once it has looked again.

        Events that fell due are then on the queue, and waiting receives have looked again.
        """

        async def moved() -> None:
            self.emulator.clock_moved()

        asyncio.run_coroutine_threadsafe(moved(), self._loop).result(timeout=10)

    def stop(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def start(config: settings.Settings | None = None) -> Running:
    """Start an emulator in a background thread; ``port=0`` (the default here) picks one.

    Without ``config``: a free port, ~1 s jobs, and the admin endpoint on (for ``admin``).
    """
    config = config or settings.Settings(port=0, time_scale=settings.TEST_TIME_SCALE, admin=True)
    loop = asyncio.new_event_loop()
    emulator = server.Emulator(config)
    runner = web.AppRunner(server.make_app(emulator), access_log=None)
    thread = threading.Thread(target=loop.run_forever, name="sagemaker-emulator", daemon=True)
    thread.start()

    async def listen() -> int:
        await runner.setup()
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        port: int = runner.addresses[0][1]
        return port

    port = asyncio.run_coroutine_threadsafe(listen(), loop).result(timeout=30)
    url = f"http://{config.host}:{port}"
    return Running(url, AdminClient(url), emulator, loop, runner, thread)


@contextmanager
def running(config: settings.Settings | None = None) -> Iterator[Running]:
    handle = start(config)
    try:
        yield handle
    finally:
        handle.stop()
