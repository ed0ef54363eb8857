"""kopf handlers: a thin translation from kopf's causes to :mod:`reconcile` and back.

Importing this module registers the handlers with kopf's default registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from sagemaker_operator import metrics, names
from sagemaker_operator.controller import conditions, observer, owned, reconcile, statuses
from sagemaker_operator.controller.runtime import Runtime
from sagemaker_operator.sagemaker import errors

RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
THROTTLED_EVENT_AFTER = 5  # retries: long enough that a human should hear about it
EVENT_DRAIN_SECONDS = 5.0  # at shutdown, queued Events get this long to go out


def _runtime(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime


def _resource(
    body: kopf.Body, spec: Mapping[str, Any], status: Mapping[str, Any]
) -> reconcile.Resource:
    return reconcile.Resource(
        namespace=str(body.metadata.namespace),
        name=str(body.metadata.name),
        uid=str(body.metadata.uid),
        generation=int(body.metadata.get("generation", 0)),
        spec=dict(spec),
        status=dict(status),
        annotations=dict(body.metadata.annotations),
    )


def _apply(outcome: reconcile.Outcome, body: kopf.Body, patch: kopf.Patch) -> None:
    for key, value in outcome.status.items():
        patch.status[key] = value
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)


async def _write_status_first(
    runtime: Runtime,
    outcome: reconcile.Outcome,
    body: kopf.Body,
    *,
    unless_terminal: bool = False,
) -> reconcile.Outcome:
    """Write the outcome's status now, before kopf records the handler as done.

    kopf writes its bookkeeping (handler succeeded, last-handled-configuration) to the
    annotations and the status to the status subresource in two requests, annotations first.
    A crash between the two would leave a resource kopf counts as created with no job in its
    status, never handled again: the job exists, but nothing links the resource to it (issue
    5's SIGKILL test found dozens of these). Written here, a crash at any point either finds
    the status written or runs the handler again, whose look-up adopts the job it created.

    ``unless_terminal`` (the delete's ``Stopping``): skip the write if the job's status is
    terminal by then. The poller can see the job stopped between StopTrainingJob and this
    write; kopf's own patch used to put ``phase: Stopping`` over ``Stopped`` for good (8 of
    1,000 deletions at N = 10,000 waited so).

    Returns the outcome with the status taken out, so kopf does not write it a second time.
    """
    if not outcome.status:
        return outcome
    namespace, name = str(body.metadata.namespace), str(body.metadata.name)
    try:
        if unless_terminal:
            await runtime.kube.patch_status_unless(
                namespace, name, outcome.status, refuse=conditions.is_terminal
            )
        else:
            await runtime.kube.patch_status(namespace, name, outcome.status)
    except ApiException as error:  # the API server's trouble is transient for us
        raise kopf.TemporaryError(
            f"could not write status: {error.status} {error.reason}", delay=1.0
        ) from error
    return reconcile.Outcome({}, outcome.events)


def _retry_later(
    runtime: Runtime,
    error: errors.SageMakerError,
    step: str,
    retry: int,
    body: kopf.Body,
    patch: kopf.Patch,
    status: Mapping[str, Any],
) -> kopf.TemporaryError:
    """Synced=False while a transient fault lasts; exponential backoff with full jitter."""
    reason = "Throttled" if isinstance(error, errors.ThrottlingError) else "SageMakerUnavailable"
    for key, value in statuses.unsynced(
        status, reason=reason, message=str(error), generation=body.metadata.get("generation")
    ).items():
        patch.status[key] = value
    if retry + 1 == THROTTLED_EVENT_AFTER:
        kopf.warn(body, reason=reason, message=f"Still retrying after {retry + 1} tries: {error}")
    metrics.RETRIES.labels(step).inc()
    metrics.RECONCILE_ERRORS.labels(step, "transient").inc()
    cap = runtime.settings.retry_max_delay_seconds
    delay = random.uniform(1.0, min(cap, 2.0 ** (retry + 1)))
    return kopf.TemporaryError(str(error), delay=delay)


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
    # Async though it does no I/O: kopf runs a sync handler on its thread pool, a thread hop
    # for every watch event of every resource.
    record = owned.record_of(namespace=str(namespace), name=name, uid=uid, meta=meta, status=status)
    _runtime(memo).owned.put(uid, None if type == "DELETED" else record)


@kopf.on.create(*RESOURCE, id="create-training-job")
async def create_training_job(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    retry: int,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    runtime = _runtime(memo)
    try:
        outcome = await reconcile.create(runtime, _resource(body, spec, status))
    except errors.TransientError as error:
        raise _retry_later(runtime, error, "create", retry, body, patch, status) from error
    _apply(await _write_status_first(runtime, outcome, body), body, patch)


@kopf.on.update(*RESOURCE, field="spec", id="update-training-job")
async def update_training_job(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    old: Any,
    patch: kopf.Patch,
    retry: int,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    runtime = _runtime(memo)
    try:
        outcome = await reconcile.update(runtime, _resource(body, spec, status), old or {})
    except errors.TransientError as error:
        raise _retry_later(runtime, error, "update", retry, body, patch, status) from error
    _apply(await _write_status_first(runtime, outcome, body), body, patch)


@kopf.on.delete(*RESOURCE, id="stop-training-job")
async def stop_training_job(
    body: kopf.Body,
    spec: kopf.Spec,
    status: kopf.Status,
    patch: kopf.Patch,
    retry: int,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    runtime = _runtime(memo)
    try:
        deletion = await reconcile.delete(runtime, _resource(body, spec, status))
    except errors.TransientError as error:
        raise _retry_later(runtime, error, "delete", retry, body, patch, status) from error
    outcome = await _write_status_first(runtime, deletion.outcome, body, unless_terminal=True)
    _apply(outcome, body, patch)
    if not deletion.release:
        # No AWS call while waiting: the poller writes the terminal status, and this retry
        # (an async sleep in kopf, no worker held) only reads it back from the resource.
        raise kopf.TemporaryError(
            "waiting for SageMaker to report the job stopped",
            delay=runtime.settings.poll_interval_seconds,
        )


@kopf.on.startup()
async def start_pollers(memo: kopf.Memo, **_: Any) -> None:
    """One poller per region that has owned jobs; a supervisor adds pollers as regions appear."""
    runtime = _runtime(memo)
    runtime.tasks["supervisor"] = asyncio.create_task(_supervise(runtime, runtime.owned))


async def _supervise(runtime: Runtime, index: owned.OwnedIndex) -> None:
    while True:
        for region in index.regions() - set(runtime.pollers):
            poller = observer.RegionPoller(
                runtime.clients.polling(region),
                index,
                lambda job, description: _track(runtime, job, description),
                interval=runtime.settings.poll_interval_seconds,
                concurrency=runtime.settings.thread_pool_size,
                full_sweep_interval=runtime.settings.full_sweep_interval_seconds,
                skew=runtime.settings.clock_skew_seconds,
            )
            runtime.pollers[region] = poller
            runtime.tasks[f"poller/{region}"] = asyncio.create_task(poller.run_forever())
        await asyncio.sleep(runtime.settings.poll_interval_seconds)


async def _track(
    runtime: Runtime, job: owned.OwnedJob, description: Mapping[str, Any] | None
) -> None:
    outcome = reconcile.track(job, description)
    patch = statuses.changed_members(job.status, outcome.status)
    if not patch:
        return
    if not await runtime.poll_kube.patch_status(job.namespace, job.name, patch):
        return  # the resource is gone
    metrics.STATUS_PATCHES.inc()
    modified = owned.parse_time((description or {}).get("LastModifiedTime"))
    if modified is not None:
        metrics.STATUS_LAG.observe(max(0.0, time.time() - modified.timestamp()))
    # The status is written; its Events follow in their own lane, so the next job's status
    # patch does not wait behind them.
    for type_, reason, message in outcome.events:
        runtime.poll_kube.emit(job.ref, type_, reason, message)


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
    """Seconds since each poller last finished a cycle; a stuck poller fails the probe."""
    runtime = _runtime(memo)
    limit = max(600.0, 10 * runtime.settings.poll_interval_seconds)
    ages = {region: time.monotonic() - p.last_progress for region, p in runtime.pollers.items()}
    stuck = {region: age for region, age in ages.items() if age > limit}
    if stuck:
        raise RuntimeError(f"poller stuck for {stuck} seconds")
    supervisor = runtime.tasks.get("supervisor")
    if supervisor is not None and supervisor.done():
        raise RuntimeError("poller supervisor has stopped")
    return ages
