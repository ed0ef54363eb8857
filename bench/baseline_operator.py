"""The naive design, for comparison: the same operator with a Describe per resource every 30 s.

This is what the AWS Controllers for Kubernetes SageMaker controller does (requeue each
resource and call ``DescribeTrainingJob``), built from this operator's own parts so the
benchmark compares *only* the observation strategy, chosen through the operator's one seam
for it (``running.run(observation=...)``, reached from the command line through click's
context object):

- the real kopf handlers (create exactly once, update, stop on delete) run as they are;
- :class:`PerResourceObservation` starts no poller, so no ``ListTrainingJobs`` runs, and
  tells deletions to describe a stopping job themselves (as ACK's requeue does);
- a ``kopf.timer`` per resource (interval 30 s) describes its job while it is not terminal
  and patches status when it changed, through the same :func:`reconcile.track`.

Run it exactly like the operator: ``python -m bench.baseline_operator run --kubeconfig ...``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from sagemaker_operator.cli import main
from sagemaker_operator.controller import handlers, owned, reconcile
from sagemaker_operator.controller.runtime import Runtime
from sagemaker_operator.resource import conditions
from sagemaker_operator.sagemaker import errors

logger = logging.getLogger(__name__)
INTERVAL = 30.0


class PerResourceObservation:
    """No bulk pollers: each resource's timer observes its own job."""

    describes_stopping_jobs = True

    async def run(self, runtime: Runtime) -> None:
        await asyncio.Event().wait()  # alive for ever, so the liveness probe holds

    def health(self, limit: float) -> dict[str, float]:
        return {}


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
    if job is None or job.terminal:
        return  # no SageMaker job yet (the create handler's business), or nothing to see
    try:
        # The pollers' lane, as ours observes on: the designs differ in what they call.
        description: Any = await runtime.clients.polling(job.region).describe(job.job_name)
    except errors.JobNotFoundError:
        description = None
    except errors.TransientError as error:
        logger.warning("describe %s: %s (next tick retries)", job.job_name, error)
        return
    outcome = reconcile.track(job, description)
    for key, value in conditions.changed_members(job.status, outcome.status).items():
        patch.status[key] = value
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)


if __name__ == "__main__":
    main(obj={"observation": PerResourceObservation()})
