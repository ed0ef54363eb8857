"""The HTTP face of the emulator: SageMaker's and SQS's APIs on ``POST /``, an admin API beside it.

One aiohttp application on one event loop. A SageMaker call goes through, in order: added
latency, injected faults (throttling, then 5xx), model validation, the operation, the
lost-response fault (the call is applied, then its answer replaced by a 5xx or a closed
connection), and the counters (every call is counted under the outcome it got, faults
included). Nothing blocks the loop but the file journal's small appends.

An ``X-Amz-Target`` of ``AmazonSQS.*`` is an SQS call instead (:mod:`.sqs`): validated
against botocore's ``sqs`` model, answered in JSON 1.0, counted apart (``GET
/_emulator/sqs``), and untouched by SageMaker's faults. A long poll awaits on the loop, so
other calls go on meanwhile. With ``Settings.events_queue`` a background task
(:mod:`.events`) puts a job-state-change event on that queue for every change of a job's
status.

The admin API, for tests, benchmarks and curious humans (JSON in and out), is served only
when ``Settings.admin`` is true (``--admin``); otherwise its paths are 404 like any unknown
path. Even then a request carrying an ``Origin`` header (a browser's, cross-origin or not), a
POST, or any request with a body whose ``Content-Type`` is not ``application/json`` is
refused with 403: a web page the user visits cannot reach ``127.0.0.1`` with a "simple"
(``text/plain``, form) request and reset or re-fault the emulator. Its routes:

``GET /_emulator/health``          ``{"ok": true, "jobs": n}``
``GET /_emulator/faults``          the :class:`faults.FaultSettings` in force
``POST /_emulator/faults``         change some of them: ``{"throttling": true}``
``GET /_emulator/counters``        calls per operation and outcome
``POST /_emulator/reset``          forget every job, zero the counters, restore the start-up
                                   faults (``{"jobs": false}`` etc. keeps a part)
``POST /_emulator/finish-training`` end the Training phase of every job now training in a
                                   region, in creation order, spread over ``spreadSeconds``
``POST /_emulator/history``        seed ``{"count": n, "region": r}`` finished jobs from
                                   before now (:mod:`.history`); answers how many were added
``GET /_emulator/sqs``             per queue: messages visible, in flight, delayed, receives
                                   waiting; and the SQS calls counted
``GET /_emulator/events``          the events queue, its faults and what was published
``POST /_emulator/events/faults``  change some event faults: ``{"lost": {"count": 1}}``

The SageMaker API itself (``POST /``) needs an ``X-Amz-Target`` header, which no browser
sends cross-origin without a CORS preflight that this server never grants.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import botocore.session
import pydantic
from aiohttp import web
from botocore.model import OperationModel, ServiceModel

from sagemaker_operator.emulator import (
    counters,
    events,
    faults,
    history,
    lifecycle,
    logs,
    operations,
    protocol,
    settings,
    sqs,
    store,
)
from sagemaker_operator.emulator.validation import Validator

logger = logging.getLogger(__name__)

ADMIN: Final = "/_emulator"
# The counters' outcome of an applied call whose answer was lost.
LOST_RESPONSE: Final = "LostResponse"
JSON: Final = "application/json"
MAX_HISTORY: Final = 1_000_000


def load_model(service: str = "sagemaker") -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


class Emulator:
    """Everything one running emulator holds; the aiohttp app is a thin shell around it."""

    def __init__(
        self,
        config: settings.Settings,
        *,
        model: ServiceModel | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.model = model or load_model()
        self.clock = clock
        self.validator = Validator(self.model)
        self.store = store.Store(config.state_file)
        self.faults = faults.Faults(config.faults)
        self.service = operations.Service(
            self.model, config, self.store, quotas=lambda: self.faults.settings.instance_quotas
        )
        self.counters = counters.Counters()
        self.logs = logs.Service(load_model("logs"), self.service, config.account)
        # The APIs answered on POST / through one path (faults, validation, counters), by
        # the X-Amz-Target prefix: SageMaker's, and CloudWatch Logs' (:mod:`.logs`).
        self._apis: dict[str, _Api] = {
            protocol.TARGET_PREFIX: _Api(
                {name: self.model.operation_model(name) for name in self.service.handlers},
                self.service.handlers,
                self.validator,
            ),
            logs.TARGET_PREFIX: _Api(self.logs.operations, self.logs.handlers, self.logs.validator),
        }
        self._seeded: dict[str, int] = {}  # history jobs seeded so far, per region
        if config.history:
            self.seed_history(config.region, config.history)
        self.sqs = sqs.Service(
            load_model("sqs"),
            account=config.account,
            region=config.region,
            clock=lambda: self.clock(),
        )
        self.sqs_counters = counters.Counters()
        self.events: events.Publisher | None = None
        if config.events_queue is not None:
            describe = self.model.operation_model("DescribeTrainingJob").output_shape
            assert describe is not None
            self.events = events.Publisher(
                jobs=self.store,
                service=self.service,
                queues=self.sqs,
                queue=self.sqs.create(config.events_queue),
                describe_output=describe,
                account=config.account,
                clock=lambda: self.clock(),
                dice=faults.EventDice(config.event_faults.model_copy(deep=True)),
            )
            self.store.on_put = self.events.watch

    async def call(
        self, target: str | None, body: bytes, authorization: str | None
    ) -> web.Response | None:
        """Answer one SageMaker (or CloudWatch Logs) call; None: it was applied, close the
        connection unanswered."""
        request_id = str(uuid.uuid4())
        prefix, _, operation = (target or "").partition(".")
        api = self._apis.get(prefix + ".")
        try:
            if api is None or operation not in api.operations:
                operation = "Unknown"
                raise protocol.unknown_operation(target or "")
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            now = round(self.clock(), 3)  # SageMaker's precision: see lifecycle.timeline
            fault = self.faults.check(operation, now)
            if fault is not None:
                raise fault
            params = protocol.decode_body(body)
            api.validator.validate_request(api.operations[operation], params)
            region = protocol.region_of(authorization, self.config.region)
            result = api.handlers[operation](params, region, now)
        except protocol.ApiError as error:
            self.counters.record(operation, error.code)
            return _error_response(error, request_id)
        except Exception:
            logger.exception("%s failed unexpectedly.", operation)
            failure = protocol.internal_failure()
            self.counters.record(operation, failure.code)
            return _error_response(failure, request_id)
        lost = self.faults.lose(operation)
        if lost is not None:
            self.counters.record(operation, LOST_RESPONSE)
            logger.info("%s applied; losing its answer (%s).", operation, lost)
            if lost == "drop":
                return None
            failure = (
                protocol.internal_failure() if lost == "error" else protocol.service_unavailable()
            )
            return _error_response(failure, request_id)
        self.counters.record(operation, "ok")
        return web.Response(
            body=protocol.encode(result),
            content_type=protocol.CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )

    async def sqs_call(self, target: str | None, body: bytes, origin: str) -> web.Response:
        """Answer one SQS call (a long poll included), counted apart from SageMaker's."""
        request_id = str(uuid.uuid4())
        operation = self.sqs.operation_of(target)
        try:
            if operation is None:
                raise sqs.unknown_operation(target or "")
            result = await self.sqs.call(operation, body, origin)
        except protocol.ApiError as error:
            self.sqs_counters.record(operation or "Unknown", error.code)
            return _error_response(error, request_id, sqs.CONTENT_TYPE)
        except Exception:
            logger.exception("%s failed unexpectedly.", operation)
            failure = sqs.internal_error()
            self.sqs_counters.record(operation or "Unknown", failure.code)
            return _error_response(failure, request_id, sqs.CONTENT_TYPE)
        self.sqs_counters.record(operation, "ok")
        return web.Response(
            body=protocol.encode(result),
            content_type=sqs.CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )

    def clock_moved(self) -> None:
        """The clock was moved by hand: publish what fell due, wake waiting receives."""
        if self.events is not None:
            self.events.tick()
            self.events.wake()
        self.sqs.wake()

    def finish_training(self, region: str, spread: float) -> int:
        """End every training job's Training phase, in creation order, over ``spread`` s.

        Returns how many jobs were told to finish. Jobs stopping, stopped or not yet training
        keep their plan: only what a Describe shows as ``Training`` now changes.
        """
        now = self.clock()
        training = sorted(
            (
                job
                for job in self.store.jobs(region)
                if job.stop_requested is None and job.observe(now).secondary == "Training"
            ),
            key=lambda job: (job.created, job.name),
        )
        for i, job in enumerate(training):
            at = now + (spread * i / len(training) if spread > 0 else 0.0)
            job.plan = lifecycle.end_training_at(job.plan, job.created, at)
            self.store.put(job)
        return len(training)

    def seed_history(self, region: str, count: int) -> int:
        """Add ``count`` finished jobs from before now to ``region`` (:mod:`.history`)."""
        first = self._seeded.get(region, 0)
        jobs = history.past_jobs(region, count, self.clock(), self.service.arn, first=first)
        self._seeded[region] = first + count
        return self.store.seed(jobs)

    def reset(
        self,
        *,
        jobs: bool = True,
        counters: bool = True,
        faults: bool = True,
        queues: bool = True,
    ) -> None:
        if jobs:
            self.store.clear()
            self._seeded.clear()
            if self.events is not None:
                self.events.reset()
        if counters:
            self.counters.reset()
            self.sqs_counters.reset()
            if self.events is not None:
                self.events.stats = events.Stats()
        if faults:
            self.faults.reset()
            if self.events is not None:
                self.events.dice.reset()
        if queues:
            self.sqs.reset()

    def close(self) -> None:
        self.store.close()


EMULATOR_KEY: Final = web.AppKey("emulator", Emulator)


@dataclasses.dataclass(frozen=True)
class _Api:
    operations: dict[str, OperationModel]
    handlers: Mapping[str, Callable[[dict[str, Any], str, float], dict[str, Any]]]
    validator: Validator


def _error_response(
    error: protocol.ApiError, request_id: str, content_type: str = protocol.CONTENT_TYPE
) -> web.Response:
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code}
    if isinstance(error, sqs.SqsError):
        headers |= error.headers
    return web.Response(
        status=error.status, body=error.body(), content_type=content_type, headers=headers
    )


def _emulator(request: web.Request) -> Emulator:
    return request.app[EMULATOR_KEY]


async def _api(request: web.Request) -> web.Response:
    body = await request.read()
    target = request.headers.get("X-Amz-Target")
    if target is not None and target.startswith(sqs.TARGET_PREFIX):
        origin = f"{request.scheme}://{request.host}"
        return await _emulator(request).sqs_call(target, body, origin)
    answer = await _emulator(request).call(target, body, request.headers.get("Authorization"))
    if answer is None:
        # NB: closed before anything is written: aiohttp's write of the placeholder below
        # then fails as a client disconnection, which it ignores; the client sees the
        # connection close with no status line at all.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    return answer


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _admin_only(handler: Handler) -> Handler:
    """Refuse what a browser could send: an ``Origin``, a POST or body that is not JSON."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if "Origin" in request.headers:
            return _refused("The admin endpoint refuses requests with an Origin header.")
        if (request.method not in ("GET", "HEAD") or request.body_exists) and (
            request.content_type != JSON
        ):
            return _refused(f"The admin endpoint takes only Content-Type {JSON} bodies.")
        return await handler(request)

    return guarded


def _refused(message: str) -> web.Response:
    return web.json_response({"error": message}, status=403)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "jobs": len(_emulator(request).store)})


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(_emulator(request).faults.settings.model_dump(by_alias=True))


async def _set_faults(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    changes = await _json_object(request)
    try:
        updated = emulator.faults.update(changes)
    except pydantic.ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(updated.model_dump(by_alias=True))


async def _get_counters(request: web.Request) -> web.Response:
    return web.json_response(_emulator(request).counters.snapshot())


async def _get_sqs(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    now = emulator.clock()
    queues = {}
    for name, queue in emulator.sqs.queues.items():
        visible, in_flight, delayed = queue.counts(now)
        queues[name] = {
            "visible": visible,
            "inFlight": in_flight,
            "delayed": delayed,
            "waiting": queue.waiting,
        }
    return web.json_response({"queues": queues, "counters": emulator.sqs_counters.snapshot()})


async def _reset(request: web.Request) -> web.Response:
    parts = await _json_object(request)
    _emulator(request).reset(
        jobs=bool(parts.get("jobs", True)),
        counters=bool(parts.get("counters", True)),
        faults=bool(parts.get("faults", True)),
        queues=bool(parts.get("queues", True)),
    )
    return web.json_response({"ok": True})


async def _get_events(request: web.Request) -> web.Response:
    publisher = _emulator(request).events
    if publisher is None:
        return web.json_response({"queue": None})
    return web.json_response(
        {
            "queue": publisher.queue.name,
            "faults": publisher.dice.settings.model_dump(by_alias=True),
            "stats": dataclasses.asdict(publisher.stats),
            "watching": publisher.watching,
        }
    )


async def _set_event_faults(request: web.Request) -> web.Response:
    publisher = _emulator(request).events
    if publisher is None:
        return web.json_response(
            {"error": "No events queue: start the emulator with --events-queue."}, status=409
        )
    changes = await _json_object(request)
    try:
        updated = publisher.dice.update(changes)
    except pydantic.ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(updated.model_dump(by_alias=True))


async def _finish_training(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    body = await _json_object(request)
    try:
        region = str(body.get("region", emulator.config.region))
        spread = float(body.get("spreadSeconds", 0.0))
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text="spreadSeconds must be a number.") from None
    if spread < 0:
        raise web.HTTPBadRequest(text="spreadSeconds must not be negative.")
    return web.json_response({"jobs": emulator.finish_training(region, spread)})


async def _seed_history(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    body = await _json_object(request)
    count = body.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_HISTORY:
        raise web.HTTPBadRequest(text=f"count must be a whole number from 0 to {MAX_HISTORY}.")
    region = str(body.get("region", emulator.config.region))
    return web.json_response({"jobs": emulator.seed_history(region, count)})


async def _json_object(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        value = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="The body must be a JSON object.") from None
    if not isinstance(value, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object.")
    return value


def make_app(emulator: Emulator) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app.router.add_post("/", _api)
    if emulator.config.admin:
        app.router.add_get(f"{ADMIN}/health", _admin_only(_health))
        app.router.add_get(f"{ADMIN}/faults", _admin_only(_get_faults))
        app.router.add_post(f"{ADMIN}/faults", _admin_only(_set_faults))
        app.router.add_get(f"{ADMIN}/counters", _admin_only(_get_counters))
        app.router.add_post(f"{ADMIN}/reset", _admin_only(_reset))
        app.router.add_post(f"{ADMIN}/finish-training", _admin_only(_finish_training))
        app.router.add_post(f"{ADMIN}/history", _admin_only(_seed_history))
        app.router.add_get(f"{ADMIN}/sqs", _admin_only(_get_sqs))
        app.router.add_get(f"{ADMIN}/events", _admin_only(_get_events))
        app.router.add_post(f"{ADMIN}/events/faults", _admin_only(_set_event_faults))

    async def publish(_: web.Application) -> AsyncIterator[None]:
        task = None
        if emulator.events is not None:
            task = asyncio.create_task(emulator.events.run(), name="sagemaker-events")
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(_: web.Application) -> None:
        emulator.close()

    async def end_long_polls(_: web.Application) -> None:
        # NB: before aiohttp waits for requests in flight, which a 20 s long poll would hold.
        emulator.sqs.close()

    app.on_shutdown.append(end_long_polls)
    app.cleanup_ctx.append(publish)
    app.on_cleanup.append(close)
    return app


async def serve(config: settings.Settings) -> None:
    """Run until cancelled (the command's main loop)."""
    emulator = Emulator(config)
    runner = web.AppRunner(make_app(emulator), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    logger.info(
        "SageMaker emulator listening on http://%s:%d (time scale %g, %d jobs loaded, "
        "admin endpoint %s, events %s).",
        config.host,
        config.port,
        config.time_scale,
        len(emulator.store),
        f"on at {ADMIN}/" if config.admin else "off",
        f"to SQS queue {config.events_queue}" if config.events_queue else "off",
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
