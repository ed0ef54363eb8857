"""kopf handlers: each turns one of kopf's causes into a :mod:`reconcile` decision and back.

Importing this module registers the handlers with kopf's default registry. The decisions live
in :mod:`reconcile`, observation in :mod:`observation`; what is here is only the glue
(:func:`_decide`): build the resource, decide, retry transient faults, write the status first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from sagemaker_operator import metrics, names
from sagemaker_operator.controller import observation, owned, policies, reconcile, status_writes
from sagemaker_operator.controller.kube import FAULTS as KUBE_FAULTS
from sagemaker_operator.controller.kube import fault_text, until_answered
from sagemaker_operator.controller.ports import Ports
from sagemaker_operator.controller.runtime import Runtime
from sagemaker_operator.resource import conditions
from sagemaker_operator.sagemaker import errors

RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
THROTTLED_EVENT_AFTER = 5  # retries: long enough that a human should hear about it
EVENT_DRAIN_SECONDS = 5.0  # at shutdown, queued Events get this long to go out
HELD_RETRY_SECONDS = 60.0  # a deletion SageMaker refused is tried again this often
PRIME_SECONDS = 30.0  # the index's first LIST, before kopf watches: well inside the liveness probe

logger = logging.getLogger(__name__)

Decide = Callable[[Ports, reconcile.Resource], Awaitable[reconcile.Outcome]]


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


async def _decide(
    step: str,
    decide: Decide,
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    retry: int,
    memo: kopf.Memo,
    creating: bool = False,
    unless_terminal: bool = False,
) -> reconcile.Outcome:
    """Run one decision: retry its transient faults, write its status first, post its Events.

    ``creating`` and ``unless_terminal``: how its status is written (status_writes)."""
    runtime = _runtime(memo)
    resource = reconcile.Resource(
        namespace=str(body.metadata.namespace),
        name=str(body.metadata.name),
        uid=str(body.metadata.uid),
        generation=int(body.metadata.get("generation", 0)),
        spec=dict(spec),
        status=dict(status),
        annotations=dict(body.metadata.annotations),
    )
    try:
        outcome = await decide(runtime.ports, resource)
    except status_writes.SupersededError as error:  # the name recorded onto a status with a job
        raise _decide_again(step, error) from error
    except KUBE_FAULTS as error:  # reading policies, remembering the name
        cap = runtime.settings.retry_max_delay_seconds
        raise kube_fault(error, None, retry, cap) from error
    except errors.TransientError as error:
        with contextlib.suppress(status_writes.SupersededError):  # retried all the same
            await _write(runtime, resource, _unsynced_by(error, resource), retry)
        if retry + 1 == THROTTLED_EVENT_AFTER:
            message = f"Still retrying after {retry + 1} tries: {error}"
            kopf.warn(body, reason=_reason(error), message=message)
        metrics.RETRIES.labels(step).inc()
        metrics.RECONCILE_ERRORS.labels(step, "transient").inc()
        delay = backoff(retry, runtime.settings.retry_max_delay_seconds)
        raise kopf.TemporaryError(str(error), delay=delay) from error
    try:
        written = await _write(
            runtime,
            resource,
            outcome.status,
            retry,
            creating=creating,
            unless_terminal=unless_terminal,
        )
    except status_writes.SupersededError as error:
        raise _decide_again(step, error) from error
    if outcome.owned_arn:
        runtime.owned.claimed(resource.uid, outcome.owned_arn, written)
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)
    return outcome


def _decide_again(step: str, error: status_writes.SupersededError) -> kopf.TemporaryError:
    """A decision made on an older copy than the resource is dropped, Events and all, and
    made again on the copy kopf has next: seen at N = 10,000, where create handlers re-ran
    on copies from before their own writes and put back descriptions older than the
    poller's."""
    metrics.SUPERSEDED_DECISIONS.labels(step).inc()
    return kopf.TemporaryError(f"{error}; deciding again", delay=1.0)


def backoff(retry: int, cap: float) -> float:
    """Full jitter, doubling per retry up to ``cap``."""
    return random.uniform(1.0, min(cap, 2.0 ** (retry + 1)))


def kube_fault(
    error: BaseException, doing: str | None, retry: int, cap: float
) -> kopf.TemporaryError:
    """The API server's trouble is transient for us. An answer (a 409, a 429) is tried again
    in a second; no answer (the API server down, restarting) backs off like SageMaker's
    faults. Left to kopf, an unreachable API server was an unexpected error retried only a
    minute later: in the fault run, the creates whose status write met an API-server restart
    showed their jobs a minute after it was back."""
    answered = isinstance(error, ApiException)
    delay = 1.0 if answered else backoff(retry, cap)
    said = fault_text(error)
    return kopf.TemporaryError(f"{doing}: {said}" if doing else said, delay=delay)


def _reason(error: errors.TransientError) -> str:
    return (
        conditions.THROTTLED
        if isinstance(error, errors.ThrottlingError)
        else conditions.UNAVAILABLE
    )


def _unsynced_by(error: errors.TransientError, resource: reconcile.Resource) -> dict[str, Any]:
    return conditions.unsynced(
        resource.status, reason=_reason(error), message=str(error), generation=resource.generation
    )


async def _write(
    runtime: Runtime,
    resource: reconcile.Resource,
    status: dict[str, Any],
    retry: int,
    *,
    creating: bool = False,
    unless_terminal: bool = False,
) -> Mapping[str, Any] | None:
    try:
        return await until_answered(
            lambda: status_writes.write_first(
                runtime.kube,
                resource.namespace,
                resource.name,
                status,
                read=resource.status,
                creating=creating,
                unless_terminal=unless_terminal,
            )
        )
    except KUBE_FAULTS as error:
        cap = runtime.settings.retry_max_delay_seconds
        raise kube_fault(error, "could not write status", retry, cap) from error


@kopf.on.login(id="login")
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod, the ServiceAccount; elsewhere $KUBECONFIG (``run --kubeconfig`` sets it).

    kopf's fallback login goes through the kubernetes client, which reads $KUBECONFIG once
    at import, before the command line is parsed; kopf's own loaders read it when called.
    """
    if os.path.exists(SERVICE_ACCOUNT_TOKEN):
        return kopf.login_with_service_account(**kwargs)
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.event(*RESOURCE, id="owned-jobs")
async def owned_jobs(
    type: str | None,  # kopf's keyword
    namespace: str | None,
    name: str,
    uid: str,
    meta: kopf.Meta,
    status: kopf.Status,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    # NB: async though it does no I/O: kopf runs a sync handler on its thread pool.
    record = owned.record_of(namespace=str(namespace), name=name, uid=uid, meta=meta, status=status)
    if type == "DELETED":
        _runtime(memo).owned.forget(uid)
    else:
        _runtime(memo).owned.put(uid, record)


@kopf.on.create(*RESOURCE, id="create-training-job")
async def create_training_job(**kwargs: Any) -> None:
    await _decide("create", reconcile.create, creating=True, **_args(kwargs))


@kopf.on.update(*RESOURCE, field="spec", id="update-training-job")
async def update_training_job(old: Any, **kwargs: Any) -> None:
    async def decide(ports: Ports, resource: reconcile.Resource) -> reconcile.Outcome:
        return await reconcile.update(ports, resource, old or {})

    await _decide("update", decide, **_args(kwargs))


@kopf.on.delete(*RESOURCE, id="stop-training-job")
async def stop_training_job(**kwargs: Any) -> None:
    runtime = _runtime(kwargs["memo"])
    describe = runtime.observation.describes_stopping_jobs

    async def decide(ports: Ports, resource: reconcile.Resource) -> reconcile.Outcome:
        return await reconcile.delete(ports, resource, describe_stopping=describe)

    outcome = await _decide("delete", decide, unless_terminal=True, **_args(kwargs))
    if outcome.release:
        return
    if outcome.status.get("conditions"):
        # SageMaker refused: a person must act (the status names the way out). Look again
        # now and then, in case the refusal passes (a permission fixed), and so the held
        # status is written again should a status write of observation's have crossed it.
        raise kopf.TemporaryError(
            "deletion held by SageMaker's refusal",
            delay=min(HELD_RETRY_SECONDS, runtime.settings.retry_max_delay_seconds),
        )
    # No AWS call while waiting: observation writes the terminal status, and this retry (an
    # async sleep in kopf, no worker held) only reads it back from the resource.
    raise kopf.TemporaryError(
        "waiting for SageMaker to report the job stopped",
        delay=runtime.settings.poll_interval_seconds,
    )


def _args(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs[key] for key in ("body", "spec", "status", "retry", "memo")}


@kopf.on.startup()
async def start_observation(memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    # NB: before the prime: a poller with a listing hint (window_hints) lists while the
    # index is read, and waits for ``runtime.primed`` only to match what it read.
    runtime.tasks["observation"] = asyncio.create_task(runtime.observation.run(runtime))
    # NB: here, because kopf's watch waits for the startup handlers: at 10,000 resources the
    # watch's own LIST and kopf's walk over every object held this LIST back, and with it
    # a restart's first page, for about 13 s. Bounded: the watch fills the index all the same.
    try:
        async with asyncio.timeout(PRIME_SECONDS):
            await observation.prime_index(runtime)
    except TimeoutError:
        logger.warning("the index was not primed in %.0fs; the watch fills it", PRIME_SECONDS)
    finally:
        runtime.primed.set()
    runtime.tasks["policies"] = asyncio.create_task(policies.keep_statuses(runtime))


@kopf.on.cleanup()
async def stop_tasks(memo: kopf.Memo, **_: Any) -> None:
    runtime = _runtime(memo)
    for task in runtime.tasks.values():
        task.cancel()
    await asyncio.gather(*runtime.tasks.values(), return_exceptions=True)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(EVENT_DRAIN_SECONDS):
            await runtime.poll_kube.drain()
    runtime.kube.close()
    runtime.poll_kube.close()


@kopf.on.probe(id="pollers")
def pollers_alive(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    """Seconds since each poller last finished a cycle; stuck observation fails the probe."""
    runtime = _runtime(memo)
    observing = runtime.tasks.get("observation")
    if observing is not None and observing.done():
        raise RuntimeError("observation has stopped")
    settings = runtime.settings
    slowest = settings.poll_interval_seconds
    if settings.events_queue_url:  # the queue's Region's poller only sweeps
        slowest = max(slowest, settings.events_sweep_interval_seconds)
    return runtime.observation.health(max(600.0, 10 * slowest))
