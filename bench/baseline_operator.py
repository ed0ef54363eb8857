"""The naive design, for comparison: the same operator with a Describe per resource every 30 s.

This is what the AWS Controllers for Kubernetes SageMaker controller does (requeue each
resource and call ``DescribeTrainingJob``), built from this operator's own parts so the
benchmark compares *only* the observation strategy:

- the real kopf handlers (create exactly once, update, stop on delete) are imported as they
  are; the bulk poller's supervisor is replaced by a no-op, so no ``ListTrainingJobs`` runs;
- a ``kopf.timer`` per resource (interval 30 s) describes its job while it is not terminal
  and patches status when it changed, through the same :func:`reconcile.track`;
- on delete, the real handler stops the job and then waits; with no poller to write the
  terminal status, the wait describes the job each retry (as ACK's requeue does).

Run it exactly like the operator: ``python -m bench.baseline_operator run --kubeconfig ...``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from sagemaker_operator.cli import main
from sagemaker_operator.controller import conditions, handlers, owned, reconcile, statuses
from sagemaker_operator.controller.runtime import Runtime
from sagemaker_operator.sagemaker import errors

logger = logging.getLogger(__name__)
INTERVAL = 30.0
_real_delete = reconcile.delete


async def _no_poller(runtime: Runtime, index: Any) -> None:
    """Replaces the poller supervisor: the baseline observes per resource instead.

    It waits for ever, so the liveness probe (which checks the supervisor is alive) holds.
    """
    await asyncio.Event().wait()


async def _delete_by_describing(runtime: Runtime, resource: reconcile.Resource) -> Any:
    """The real delete, but a pending stop is confirmed by a Describe, not by the poller."""
    if resource.status.get("phase") == "Stopping" and resource.status.get("trainingJobArn"):
        region = reconcile.region_of(runtime, resource) or ""
        try:
            description = await runtime.clients[region].describe(resource.job_name)
        except errors.JobNotFoundError:
            return reconcile.Deletion(True, reconcile.Outcome({}))
        if description.get("TrainingJobStatus") in conditions.TERMINAL_STATUSES:
            final = statuses.observed(
                description, resource.status, region=region, generation=resource.generation
            )  # written with the finalizer's release, as the poller would have
            return reconcile.Deletion(True, reconcile.Outcome(final))
        return reconcile.Deletion(False, reconcile.Outcome({}))
    return await _real_delete(runtime, resource)


@kopf.timer(*handlers.RESOURCE, id="describe-every-30s", interval=INTERVAL)
async def describe_timer(
    body: kopf.Body,
    meta: kopf.Meta,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    runtime: Runtime = memo.runtime
    job = owned.record_of(
        namespace=str(meta.namespace),
        name=str(meta.name),
        uid=str(meta.uid),
        meta=meta,
        status=status,
    )
    if job is None:
        return  # no SageMaker job yet: the create handler's business
    if job.terminal:
        return
    try:
        # The pollers' lane, as ours observes on: the designs differ in what they call.
        description: Any = await runtime.clients.polling(job.region).describe(job.job_name)
    except errors.JobNotFoundError:
        description = None
    except errors.TransientError as error:
        logger.warning("describe %s: %s (next tick retries)", job.job_name, error)
        return
    outcome = reconcile.track(job, description)
    for key, value in statuses.changed_members(job.status, outcome.status).items():
        patch.status[key] = value
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)


handlers._supervise = _no_poller
reconcile.delete = _delete_by_describing

if __name__ == "__main__":
    main()
