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
from sagemaker_operator.controller import owned, proofs, tenancy
from sagemaker_operator.controller.news import Event, events_between
from sagemaker_operator.controller.ports import Ports, SageMaker
from sagemaker_operator.resource import conditions, described, jobnames
from sagemaker_operator.resource import request as requests
from sagemaker_operator.sagemaker import errors

ADOPT_ANNOTATION = f"{names.GROUP}/adopt"
RELEASE_ANNOTATION = f"{names.GROUP}/release-without-stop"
WAY_OUT = (
    "to let the resource go without stopping the job, set spec.deletionPolicy: Retain or "
    f'annotate {RELEASE_ANNOTATION}="true" (docs/reconciling.md, "Stuck deletions")'
)


@dataclass(frozen=True)
class Outcome:
    status: conditions.Status = field(default_factory=dict)  # members to merge into status
    events: tuple[Event, ...] = ()
    release: bool = False  # deletions only: the finalizer may go
    owned_arn: str | None = None  # a job this resource was just proven to own (uid tag)


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
    if region not in ports.regions:
        # NB: before any client exists: a bogus region must cost nothing (no boto3 client,
        # no metrics label) and never reach botocore's endpoint resolution.
        return _refuse(resource, "UnknownRegion", f"{region} is not a Region SageMaker has.")
    governance = await ports.governance(resource.namespace)
    refusal = tenancy.check(resource.spec, region, governance)
    if refusal is not None:
        return _refuse(resource, refusal.reason, refusal.message, region)

    client = ports.sagemaker(region)
    # Look up first where a create may have gone before: name and region are recorded before
    # every CreateTrainingJob, so a crash or a lost answer since left them in status. A
    # resource without them never reached SageMaker; if its name is taken all the same (an
    # older operator's crash, another's job), CreateTrainingJob says ResourceInUse and the
    # job is judged below, so the look-up's Describe would only cost budget.
    attempted = bool(resource.status.get("trainingJobName"))
    existing = await _describe(client, job_name) if attempted else None
    if existing is None:
        try:
            request = requests.create_request(
                resource.spec, job_name=job_name, tags=resource.provenance()
            )
        except requests.MappingError as error:
            # The schema should have refused this spec; retrying cannot make it fit the model.
            metrics.RECONCILE_ERRORS.labels("create", "permanent").inc()
            return _refuse(resource, "InvalidSpec", str(error), region)
        if (resource.status.get("trainingJobName"), resource.status.get("region")) != (
            job_name,
            region,
        ):
            # Name and region are settled before the call: a retry after a lost answer looks
            # for the job where it went, even if the operator's default region changes.
            await ports.remember(
                resource.namespace,
                resource.name,
                {"trainingJobName": job_name, "region": region, "phase": "Pending"},
            )
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
            created = conditions.created(
                job_name, arn, resource.status, region=region, generation=resource.generation
            )
            return Outcome(
                _sealed(ports, resource, arn, created),
                (("Normal", "Created", f"Created SageMaker training job {job_name} in {region}."),),
                owned_arn=arn,
            )
    return await _claim(ports, resource, existing, region, governance)


def _sealed(
    ports: Ports, resource: Resource, arn: str, status: conditions.Status
) -> conditions.Status:
    """``status`` with the proof that ``arn`` is the resource's job, where there is a key."""
    proof = ports.proofs.seal(resource.uid, arn)
    return status if proof is None else {**status, proofs.FIELD: proof}


async def _carries_uid(
    client: SageMaker, sealer: proofs.Proofs, resource: Resource, arn: str
) -> bool:
    """Whether the job ``arn`` carries the resource's uid tag: the status's proof says so
    with no call (only this operator's key makes one), else SageMaker's ``ListTags``."""
    if sealer.holds(resource.uid, arn, resource.status.get(proofs.FIELD)):
        return True
    return (await client.tags(arn)).get(names.TAG_UID) == resource.uid


async def _describe(client: SageMaker, job_name: str) -> Mapping[str, Any] | None:
    try:
        return await client.describe(job_name)
    except errors.JobNotFoundError:
        return None


async def _claim(
    ports: Ports,
    resource: Resource,
    description: Mapping[str, Any],
    region: str,
    governance: tenancy.Governance,
) -> Outcome:
    """Track an existing job if it is ours (uid tag), or adopt one nobody owns if allowed."""
    client = ports.sagemaker(region)
    arn = str(description["TrainingJobArn"])
    tags = await client.tags(arn)
    status = conditions.observed(
        description, resource.status, region=region, generation=resource.generation
    )
    if tags.get(names.TAG_UID) == resource.uid:
        message = f"Found this resource's job {resource.job_name} after a restart."
        sealed = _sealed(ports, resource, arn, status)
        return Outcome(sealed, (("Normal", "Adopted", message),), owned_arn=arn)
    conflict = (
        f"SageMaker training job {resource.job_name} already exists in {region} and is not "
        "this resource's; choose another spec.trainingJobName"
    )
    if resource.annotations.get(ADOPT_ANNOTATION) != "true":
        return _refuse(
            resource,
            "NameConflict",
            f'{conflict}, or annotate {ADOPT_ANNOTATION}="true" to adopt a job no resource owns.',
            region,
        )
    if any(key in tags for key in resource.provenance()):
        # NB: another resource's job, in this namespace or another: never say whose.
        return _refuse(resource, "NameConflict", f"{conflict}: it belongs to a resource.", region)
    refusal = tenancy.check(described.as_spec(description), region, governance, adopting=True)
    if refusal is not None:
        return _refuse(resource, refusal.reason, f"cannot adopt: {refusal.message}", region)
    await client.add_tags(arn, resource.provenance())
    message = f"Adopted existing job {resource.job_name}, which no resource owned."
    sealed = _sealed(ports, resource, arn, status)
    return Outcome(sealed, (("Normal", "Adopted", message),), owned_arn=arn)


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
    refusal = tenancy.check(resource.spec, region, await ports.governance(resource.namespace))
    if refusal is not None:
        return _unsynced(resource, refusal.reason, refusal.message, "UpdateRefused")
    client = ports.sagemaker(region)
    arn = str(resource.status["trainingJobArn"])
    if not await _carries_uid(client, ports.proofs, resource, arn):
        return _unsynced(resource, "JobNotOwned", _not_owned(resource.job_name), "UpdateRefused")
    try:
        await client.update(request)
    except errors.PermanentError as error:
        metrics.RECONCILE_ERRORS.labels("update", "permanent").inc()
        return _unsynced(resource, error.code, error.message, "UpdateRefused")
    message = f"Sent {', '.join(sorted(request))} to UpdateTrainingJob."
    return Outcome(_sealed(ports, resource, arn, resynced), (("Normal", "Updated", message),))


def _not_owned(job_name: str) -> str:
    return (
        f"SageMaker training job {job_name}, named in this resource's status, does not carry "
        "this resource's uid tag: the operator neither changes, stops nor mirrors it."
    )


RELEASE = Outcome(release=True)
WAIT = Outcome()


async def delete(ports: Ports, resource: Resource, *, describe_stopping: bool = False) -> Outcome:
    """Stop a running job this resource owns; release once SageMaker says it is terminal.

    A job asked to stop is waited for without a call: observation writes its terminal
    status. ``describe_stopping`` (for an operator without bulk observation) describes it.
    SageMaker's permanent refusals hold the resource with Synced=False naming the way out.
    """
    if resource.spec.get("deletionPolicy") == "Retain":
        message = "deletionPolicy is Retain: the job keeps running."
        return Outcome(release=True, events=(("Normal", "Retained", message),))
    if resource.annotations.get(RELEASE_ANNOTATION) == "true":
        message = f"Released without stopping the job, as {RELEASE_ANNOTATION} asks."
        return Outcome(release=True, events=(("Warning", "ReleasedWithoutStop", message),))
    region = region_of(ports, resource)
    if conditions.is_terminal(resource.status) or region not in ports.regions:
        return RELEASE  # nothing runs: no job, a finished one, or a Region that has none
    client = ports.sagemaker(region)
    try:
        return await _stop(
            client, ports.proofs, resource, region, describe_stopping=describe_stopping
        )
    except errors.PermanentError as error:  # transient faults go up: the handler retries
        metrics.RECONCILE_ERRORS.labels("delete", "permanent").inc()
        message = f"{error.message} ({error.code}); {WAY_OUT}"
        return _unsynced(resource, error.code, message, "StopRefused")


async def _stop(
    client: SageMaker,
    sealer: proofs.Proofs,
    resource: Resource,
    region: str,
    *,
    describe_stopping: bool,
) -> Outcome:
    job_name = resource.job_name
    if resource.status.get("phase") == "Stopping":
        if not describe_stopping:
            return WAIT  # asked already; observation reports when stopped
        return await _confirm_stopped(client, resource, region)
    # Whatever the status says (anyone who can write it can put any job there), only a job
    # carrying this resource's uid tag is ever stopped.
    description = await _describe(client, job_name)
    if description is None:
        return RELEASE
    if not await _carries_uid(client, sealer, resource, str(description["TrainingJobArn"])):
        if resource.status.get("trainingJobArn"):
            message = _not_owned(resource.job_name)
            return Outcome(release=True, events=(("Warning", "JobNotOwned", message),))
        return RELEASE  # the name is someone else's job: never stop it
    if description.get("TrainingJobStatus") in conditions.TERMINAL_STATUSES:
        return RELEASE
    if description.get("TrainingJobStatus") == "Stopping":
        # Asked already (before a crash lost the status write, or by someone else), and
        # SageMaker refuses a second Stop: wait for it, as after our own.
        return _stopping(f"SageMaker training job {job_name} was already stopping.")
    try:
        await client.stop(job_name)
    except errors.JobNotFoundError:
        return RELEASE
    except errors.PermanentError:
        # SageMaker refuses to stop a job that has just ended, or that someone else has just
        # asked to stop (a second Stop is a ValidationException): describe to know for sure.
        description = await _describe(client, job_name)
        if description is None or description.get("TrainingJobStatus") in (
            conditions.TERMINAL_STATUSES
        ):
            return RELEASE
        if description.get("TrainingJobStatus") == "Stopping":
            return _stopping(f"SageMaker training job {job_name} was already stopping.")
        raise
    return _stopping(f"Asked SageMaker to stop {job_name}.")


def _stopping(message: str) -> Outcome:
    """Wait for a job SageMaker has accepted a Stop for, ours or an earlier one."""
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


def track(
    job: owned.OwnedJob,
    description: Mapping[str, Any] | None,
    *,
    owned_by_it: bool = True,
    proof: str | None = None,
) -> Outcome:
    """Observation's verdict for one described job (None: SageMaker no longer knows it).

    ``owned_by_it`` False: the job lacks the resource's uid tag (a status written by someone
    else named it), so nothing of it is mirrored. ``proof``: the ownership proof of the
    described job, recorded with what is written so a restart need not ask for the tag again.
    """
    outcome = _tracked(job, description, owned_by_it=owned_by_it)
    if proof is None or not owned_by_it or description is None:
        return outcome
    return Outcome({**outcome.status, proofs.FIELD: proof}, outcome.events)


def _tracked(
    job: owned.OwnedJob, description: Mapping[str, Any] | None, *, owned_by_it: bool
) -> Outcome:
    if not owned_by_it:
        message = _not_owned(job.job_name)
        status = conditions.refused(
            job.status, reason="JobNotOwned", message=message, generation=job.generation
        )
        return Outcome(status, (("Warning", "JobNotOwned", message),))
    if description is None:
        message = f"SageMaker no longer knows training job {job.job_name} in {job.region}."
        status = conditions.refused(
            job.status, reason="JobNotFound", message=message, generation=job.generation
        )
        return Outcome(status, (("Warning", "JobNotFound", message),))
    if owned.predates(description.get("LastModifiedTime"), job.status):
        # NB: a Describe or summary read before a change the status shows already (a
        # Describe paid beside the listing, written after a 409 onto the newer status): the
        # status must never go back. Seen at N = 10,000: a job shown Downloading for ever,
        # as the poller had recorded its Training summary as shown.
        return Outcome(dict(job.status), ())
    new = conditions.observed(
        description,
        job.status,
        region=job.region,
        generation=job.generation,
        stop_requested=job.status.get("phase") == "Stopping",
    )
    return Outcome(new, tuple(events_between(job.status, new)))
