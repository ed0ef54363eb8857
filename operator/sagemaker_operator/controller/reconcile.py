"""The reconciler's decisions: create exactly once, update, stop on delete, track.

Each decision reads the resource, asks SageMaker through :mod:`ports` and returns an
:class:`Outcome`: the status to write, the Events to post and, for a deletion, whether the
finalizer may go. A transient fault is raised as an :mod:`errors` class for the caller to
retry. Nothing here knows kopf, boto3 or the runtime; ``tests/reconciler`` holds a table of
cases per decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagemaker_operator import metrics, names
from sagemaker_operator.controller import owned, tenancy
from sagemaker_operator.controller.news import Event, events_between
from sagemaker_operator.controller.ports import Ports, SageMaker
from sagemaker_operator.resource import conditions, jobnames
from sagemaker_operator.resource import request as requests
from sagemaker_operator.sagemaker import errors

ADOPT_ANNOTATION = f"{names.GROUP}/adopt"


@dataclass(frozen=True)
class Outcome:
    status: conditions.Status = field(default_factory=dict)  # members to merge into status
    events: tuple[Event, ...] = ()
    release: bool = False  # deletions only: the finalizer may go


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
        recorded = self.status.get("trainingJobName")
        return str(recorded) if recorded else jobnames.job_name_of(self.spec, self.name, self.uid)

    def provenance(self) -> dict[str, str]:
        return {
            names.TAG_NAMESPACE: self.namespace,
            names.TAG_NAME: self.name,
            names.TAG_UID: self.uid,
        }


def region_of(ports: Ports, resource: Resource) -> str | None:
    return str(resource.spec.get("region") or resource.status.get("region") or "") or (
        ports.default_region
    )


async def create(ports: Ports, resource: Resource) -> Outcome:
    """Make sure exactly one SageMaker job exists for the resource; return its status."""
    if resource.status.get("trainingJobArn"):
        return Outcome()  # created before a restart; observation owns it from here
    job_name = resource.job_name
    region = region_of(ports, resource)
    if region is None:
        return _refuse(
            resource, "NoRegion", "spec.region is empty and the operator has no default region."
        )
    refusal = tenancy.check(resource.spec, await ports.allowance(resource.namespace))
    if refusal is not None:
        return _refuse(resource, refusal.reason, refusal.message, region)

    client = ports.sagemaker(region)
    # Look up first: a crash between CreateTrainingJob and the status write left a job behind.
    existing = await _describe(client, job_name)
    if existing is None:
        try:
            request = requests.create_request(
                resource.spec, job_name=job_name, tags=resource.provenance()
            )
        except requests.MappingError as error:
            # The schema should have refused this spec; retrying cannot make it fit the model.
            metrics.RECONCILE_ERRORS.labels("create", "permanent").inc()
            return _refuse(resource, "InvalidSpec", str(error), region)
        try:
            arn = str((await client.create(request))["TrainingJobArn"])
        except errors.NameInUseError:
            # A racing creator: whose is it? (It may be gone again: then try once more later.)
            existing = await _describe(client, job_name)
            if existing is None:
                raise errors.TransientError(
                    "ResourceInUse", f"{job_name} was in use but is not found now"
                ) from None
        except errors.PermanentError as error:
            metrics.RECONCILE_ERRORS.labels("create", "permanent").inc()
            return _refuse(resource, error.code, error.message, region)
        else:
            return Outcome(
                conditions.created(
                    job_name, arn, resource.status, region=region, generation=resource.generation
                ),
                (("Normal", "Created", f"Created SageMaker training job {job_name} in {region}."),),
            )
    return await _claim(client, resource, existing, region)


async def _describe(client: SageMaker, job_name: str) -> Mapping[str, Any] | None:
    try:
        return await client.describe(job_name)
    except errors.JobNotFoundError:
        return None


async def _claim(
    client: SageMaker, resource: Resource, description: Mapping[str, Any], region: str
) -> Outcome:
    """Track an existing job if it is ours (uid tag) or the resource asks to adopt it."""
    arn = str(description["TrainingJobArn"])
    tags = await client.tags(arn)
    status = conditions.observed(
        description, resource.status, region=region, generation=resource.generation
    )
    if tags.get(names.TAG_UID) == resource.uid:
        message = f"Found this resource's job {resource.job_name} after a restart."
        return Outcome(status, (("Normal", "Adopted", message),))
    if resource.annotations.get(ADOPT_ANNOTATION) == "true":
        await client.add_tags(arn, resource.provenance())
        message = f"Tracking existing job {resource.job_name} as asked."
        return Outcome(status, (("Normal", "Adopted", message),))
    owner = (
        f"another resource ({tags.get(names.TAG_NAMESPACE)}/{tags.get(names.TAG_NAME)})"
        if tags.get(names.TAG_UID)
        else "no resource of this operator"
    )
    message = (
        f"SageMaker training job {resource.job_name} already exists in {region} and belongs to "
        f"{owner}; choose another spec.trainingJobName, or annotate {ADOPT_ANNOTATION}="
        '"true" to track it.'
    )
    return _refuse(resource, "NameConflict", message, region)


def _refuse(resource: Resource, reason: str, message: str, region: str | None = None) -> Outcome:
    status = conditions.refused(
        resource.status,
        reason=reason,
        message=message,
        generation=resource.generation,
        job_name=resource.job_name,
        region=region,
    )
    return Outcome(status, (("Warning", reason, message),))


def _unsynced(resource: Resource, reason: str, message: str, event_reason: str) -> Outcome:
    status = conditions.unsynced(
        resource.status, reason=reason, message=message, generation=resource.generation
    )
    return Outcome(status, (("Warning", event_reason, message),))


async def update(ports: Ports, resource: Resource, old_spec: Mapping[str, Any]) -> Outcome:
    """Send an allowed spec change through UpdateTrainingJob; report anything else."""
    if not resource.status.get("trainingJobArn") or conditions.is_terminal(resource.status):
        return Outcome()  # nothing to update: no job, or a finished one
    try:
        request = requests.update_request(old_spec, resource.spec, job_name=resource.job_name)
    except requests.ImmutableFieldChanged as error:
        # The CRD's CEL rules refuse this at admission; reaching here means an older CRD.
        message = f"{error}; SageMaker cannot change these after creation, so they are ignored."
        return _unsynced(resource, "ImmutableFieldChanged", message, "ImmutableFieldChanged")
    resynced = conditions.resynced(resource.status, generation=resource.generation)
    if request is None:
        return Outcome(resynced)
    region = region_of(ports, resource) or ""
    try:
        await ports.sagemaker(region).update(request)
    except errors.PermanentError as error:
        metrics.RECONCILE_ERRORS.labels("update", "permanent").inc()
        return _unsynced(resource, error.code, error.message, "UpdateRefused")
    message = f"Sent {', '.join(sorted(request))} to UpdateTrainingJob."
    return Outcome(resynced, (("Normal", "Updated", message),))


RELEASE = Outcome(release=True)
WAIT = Outcome()


async def delete(ports: Ports, resource: Resource, *, describe_stopping: bool = False) -> Outcome:
    """Stop a running job; release the resource once SageMaker says it is terminal.

    A job asked to stop is waited for without a call: observation writes its terminal
    status. ``describe_stopping`` (for an operator without bulk observation) describes it.
    """
    if resource.spec.get("deletionPolicy") == "Retain":
        message = "deletionPolicy is Retain: the job keeps running."
        return Outcome(release=True, events=(("Normal", "Retained", message),))
    region = region_of(ports, resource)
    if conditions.is_terminal(resource.status) or region is None:
        return RELEASE
    client = ports.sagemaker(region)
    job_name = resource.job_name
    if not resource.status.get("trainingJobArn"):
        # Deleted before the status recorded a job; one may exist if create crashed midway.
        description = await _describe(client, job_name)
        if description is None:
            return RELEASE
        tags = await client.tags(str(description["TrainingJobArn"]))
        if tags.get(names.TAG_UID) != resource.uid:
            return RELEASE  # not ours: never stop someone else's job
        if description.get("TrainingJobStatus") in conditions.TERMINAL_STATUSES:
            return RELEASE
    if resource.status.get("phase") == "Stopping":
        if not describe_stopping:
            return WAIT  # asked already; observation reports when stopped
        return await _confirm_stopped(client, resource, region)
    try:
        await client.stop(job_name)
    except errors.JobNotFoundError:
        return RELEASE
    except errors.PermanentError as error:
        # SageMaker refuses to stop a job that already ended: describe to know for sure.
        description = await _describe(client, job_name)
        if description is None or description.get("TrainingJobStatus") in (
            conditions.TERMINAL_STATUSES
        ):
            return RELEASE
        metrics.RECONCILE_ERRORS.labels("delete", "permanent").inc()
        return _unsynced(resource, error.code, error.message, "StopRefused")
    message = f"Asked SageMaker to stop {job_name}."
    return Outcome({"phase": "Stopping"}, (("Normal", "StopRequested", message),))


async def _confirm_stopped(client: SageMaker, resource: Resource, region: str) -> Outcome:
    description = await _describe(client, resource.job_name)
    if description is None:
        return RELEASE
    if description.get("TrainingJobStatus") not in conditions.TERMINAL_STATUSES:
        return WAIT
    final = conditions.observed(
        description, resource.status, region=region, generation=resource.generation
    )
    return Outcome(final, release=True)


def track(job: owned.OwnedJob, description: Mapping[str, Any] | None) -> Outcome:
    """Observation's verdict for one described job (None: SageMaker no longer knows it)."""
    if description is None:
        message = f"SageMaker no longer knows training job {job.job_name} in {job.region}."
        status = conditions.refused(
            job.status, reason="JobNotFound", message=message, generation=job.generation
        )
        return Outcome(status, (("Warning", "JobNotFound", message),))
    new = conditions.observed(
        description,
        job.status,
        region=job.region,
        generation=job.generation,
        stop_requested=job.status.get("phase") == "Stopping",
    )
    return Outcome(new, tuple(events_between(job.status, new)))
