"""The reconciler's decisions, free of kopf: create exactly once, update, stop on delete.

Each function returns the status to write (or raises a transient :mod:`errors` class for the
handler to retry), so the kopf handlers stay a thin translation layer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker_operator import metrics, names
from sagemaker_operator.controller import conditions, jobnames, owned, statuses, tenancy
from sagemaker_operator.controller.runtime import Runtime
from sagemaker_operator.controller.transitions import Event, events_between
from sagemaker_operator.resource import request as requests
from sagemaker_operator.sagemaker import errors

logger = logging.getLogger(__name__)
ADOPT_ANNOTATION = f"{names.GROUP}/adopt"


@dataclass
class Outcome:
    status: statuses.Status
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class Resource:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str]

    @property
    def job_name(self) -> str:
        return (
            str(self.status.get("trainingJobName"))
            if self.status.get("trainingJobName")
            else jobnames.job_name_of(self.spec, self.name, self.uid)
        )

    def provenance(self) -> dict[str, str]:
        return {
            names.TAG_NAMESPACE: self.namespace,
            names.TAG_NAME: self.name,
            names.TAG_UID: self.uid,
        }


def region_of(runtime: Runtime, resource: Resource) -> str | None:
    return str(resource.spec.get("region") or resource.status.get("region") or "") or (
        runtime.default_region
    )


async def create(runtime: Runtime, resource: Resource) -> Outcome:
    """Make sure exactly one SageMaker job exists for the resource; return its status."""
    if resource.status.get("trainingJobArn"):
        return Outcome({})  # created before a restart; the poller owns it from here
    job_name = resource.job_name
    region = region_of(runtime, resource)
    if region is None:
        return _refuse(
            resource,
            "NoRegion",
            "spec.region is empty and the operator has no default region.",
            job_name,
        )

    refusal = tenancy.check(resource.spec, await runtime.allowance(resource.namespace))
    if refusal is not None:
        return _refuse(resource, refusal.reason, refusal.message, job_name, region)

    client = runtime.clients[region]
    # Look up first: a crash between CreateTrainingJob and the status write left a job behind.
    try:
        existing = await client.describe(job_name)
    except errors.JobNotFoundError:
        existing = None
    if existing is None:
        try:
            request = requests.create_request(
                resource.spec, job_name=job_name, tags=resource.provenance()
            )
        except requests.MappingError as error:
            # The schema should have refused this spec; retrying cannot make it fit the model.
            metrics.RECONCILE_ERRORS.labels("create", "permanent").inc()
            return _refuse(resource, "InvalidSpec", str(error), job_name, region)
        try:
            arn = (await client.create(request))["TrainingJobArn"]
        except errors.NameInUseError:
            existing = await client.describe(job_name)  # a racing creator: whose is it?
        except errors.PermanentError as error:
            metrics.RECONCILE_ERRORS.labels("create", "permanent").inc()
            return _refuse(resource, error.code, error.message, job_name, region)
        else:
            return Outcome(
                statuses.created(
                    job_name, arn, resource.status, region=region, generation=resource.generation
                ),
                [("Normal", "Created", f"Created SageMaker training job {job_name} in {region}.")],
            )
    return await _claim(runtime, resource, existing, region)


async def _claim(
    runtime: Runtime, resource: Resource, description: Mapping[str, Any], region: str
) -> Outcome:
    """Track an existing job if it is ours (uid tag) or the resource asks to adopt it."""
    client = runtime.clients[region]
    arn = str(description["TrainingJobArn"])
    tags = await client.tags(arn)
    status = statuses.observed(
        description, resource.status, region=region, generation=resource.generation
    )
    if tags.get(names.TAG_UID) == resource.uid:
        return Outcome(
            status,
            [
                (
                    "Normal",
                    "Adopted",
                    f"Found this resource's job {resource.job_name} after a restart.",
                )
            ],
        )
    if resource.annotations.get(ADOPT_ANNOTATION) == "true":
        await client.call(
            "add_tags",
            ResourceArn=arn,
            Tags=[{"Key": key, "Value": value} for key, value in resource.provenance().items()],
        )
        return Outcome(
            status, [("Normal", "Adopted", f"Tracking existing job {resource.job_name} as asked.")]
        )
    owner = tags.get(names.TAG_UID)
    message = (
        f"SageMaker training job {resource.job_name} already exists in {region} and belongs to "
        + (
            f"another resource ({tags.get(names.TAG_NAMESPACE)}/{tags.get(names.TAG_NAME)})"
            if owner
            else "no resource of this operator"
        )
        + f'; choose another spec.trainingJobName, or annotate {ADOPT_ANNOTATION}="true" '
        "to track it."
    )
    return _refuse(resource, "NameConflict", message, resource.job_name, region)


def _refuse(
    resource: Resource,
    reason: str,
    message: str,
    job_name: str | None,
    region: str | None = None,
) -> Outcome:
    return Outcome(
        statuses.refused(
            resource.status,
            reason=reason,
            message=message,
            generation=resource.generation,
            job_name=job_name,
            region=region,
        ),
        [("Warning", reason, message)],
    )


async def update(runtime: Runtime, resource: Resource, old_spec: Mapping[str, Any]) -> Outcome:
    """Send an allowed spec change through UpdateTrainingJob; report anything else."""
    if not resource.status.get("trainingJobArn") or conditions.is_terminal(resource.status):
        return Outcome({})  # nothing to update: no job, or a finished one
    try:
        request = requests.update_request(old_spec, resource.spec, job_name=resource.job_name)
    except requests.ImmutableFieldChanged as error:
        # The CRD's CEL rules refuse this at admission; reaching here means an older CRD.
        message = f"{error}; SageMaker cannot change these after creation, so they are ignored."
        return Outcome(
            statuses.unsynced(
                resource.status,
                reason="ImmutableFieldChanged",
                message=message,
                generation=resource.generation,
            ),
            [("Warning", "ImmutableFieldChanged", message)],
        )
    if request is None:
        return Outcome(statuses.resynced(resource.status, generation=resource.generation))
    region = region_of(runtime, resource) or ""
    try:
        await runtime.clients[region].update(request)
    except errors.PermanentError as error:
        metrics.RECONCILE_ERRORS.labels("update", "permanent").inc()
        return Outcome(
            statuses.unsynced(
                resource.status,
                reason=error.code,
                message=error.message,
                generation=resource.generation,
            ),
            [("Warning", "UpdateRefused", error.message)],
        )
    return Outcome(
        statuses.resynced(resource.status, generation=resource.generation),
        [("Normal", "Updated", f"Sent {', '.join(sorted(request))} to UpdateTrainingJob.")],
    )


@dataclass
class Deletion:
    release: bool
    outcome: Outcome


async def delete(runtime: Runtime, resource: Resource) -> Deletion:
    """Stop a running job; release the resource once SageMaker says it is terminal."""
    if resource.spec.get("deletionPolicy") == "Retain":
        return Deletion(
            True,
            Outcome(
                {}, [("Normal", "Retained", "deletionPolicy is Retain: the job keeps running.")]
            ),
        )
    region = region_of(runtime, resource)
    if conditions.is_terminal(resource.status) or region is None:
        return Deletion(True, Outcome({}))
    client = runtime.clients[region]
    job_name = resource.job_name
    if not resource.status.get("trainingJobArn"):
        # Deleted before the status recorded a job; one may exist if create crashed midway.
        try:
            description = await client.describe(job_name)
        except errors.JobNotFoundError:
            return Deletion(True, Outcome({}))
        tags = await client.tags(str(description["TrainingJobArn"]))
        if tags.get(names.TAG_UID) != resource.uid:
            return Deletion(True, Outcome({}))  # not ours: never stop someone else's job
        if description.get("TrainingJobStatus") in conditions.TERMINAL_STATUSES:
            return Deletion(True, Outcome({}))
    if resource.status.get("phase") == "Stopping":
        return Deletion(False, Outcome({}))  # asked already; the poller reports when stopped
    try:
        await client.stop(job_name)
    except errors.JobNotFoundError:
        return Deletion(True, Outcome({}))
    except errors.PermanentError as error:
        # SageMaker refuses to stop a job that already ended: describe to know for sure.
        try:
            description = await client.describe(job_name)
        except errors.JobNotFoundError:
            return Deletion(True, Outcome({}))
        if description.get("TrainingJobStatus") in conditions.TERMINAL_STATUSES:
            return Deletion(True, Outcome({}))
        metrics.RECONCILE_ERRORS.labels("delete", "permanent").inc()
        return Deletion(
            False,
            Outcome(
                statuses.unsynced(
                    resource.status,
                    reason=error.code,
                    message=error.message,
                    generation=resource.generation,
                ),
                [("Warning", "StopRefused", error.message)],
            ),
        )
    return Deletion(
        False,
        Outcome(
            {"phase": "Stopping"},
            [("Normal", "StopRequested", f"Asked SageMaker to stop {job_name}.")],
        ),
    )


def track(job: owned.OwnedJob, description: Mapping[str, Any] | None) -> Outcome:
    """The poller's verdict for one described job: the new status and its events."""
    if description is None:
        message = f"SageMaker no longer knows training job {job.job_name} in {job.region}."
        return Outcome(
            statuses.refused(
                job.status, reason="JobNotFound", message=message, generation=job.generation
            ),
            [("Warning", "JobNotFound", message)],
        )
    new = statuses.observed(
        description,
        job.status,
        region=job.region,
        generation=job.generation,
        stop_requested=job.status.get("phase") == "Stopping",
    )
    return Outcome(new, events_between(job.status, new))
