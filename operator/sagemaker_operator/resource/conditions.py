"""Phase and conditions, and the whole status documents made of them (pure).

The controller decides *when* to write; these functions decide *what*: the status for a job
as SageMaker describes it (``observed``), right after creation (``created``), for a refusal
(``refused``), for a passing fault (``unsynced``, ``resynced``). A status only carries members
the CRD's status schema declares, so what the operator computes is exactly what the API
server keeps, and comparing the two (``changed_members``) is meaningful.

Conditions follow the Kubernetes API conventions for bounded work, as Tekton does:
``Succeeded`` is Unknown while the job runs, True once SageMaker says Completed, False once it
says Failed or Stopped, or once the operator refuses the resource. ``Synced`` is False while
the operator cannot reach SageMaker or is refused by it. ``phase`` is one word for workflow
engines that cannot query lists (Argo's ``successCondition``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from sagemaker_operator.resource import described
from sagemaker_operator.resource.described import ConditionStatus, Phase

Status = dict[str, Any]

# SageMaker's TrainingJobStatus values (and phases) after which nothing changes.
TERMINAL_STATUSES: frozenset[str] = frozenset({"Completed", "Failed", "Stopped"})

SUCCEEDED = "Succeeded"
SYNCED = "Synced"
# Synced=False reasons of faults that pass by themselves (the rest are refusals).
THROTTLED, UNAVAILABLE = "Throttled", "SageMakerUnavailable"
PASSING = frozenset({THROTTLED, UNAVAILABLE})


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def phase_of(training_job_status: str | None) -> Phase:
    """SageMaker's TrainingJobStatus as a phase; no job yet is ``Pending``."""
    match training_job_status:
        case None:
            return "Pending"
        case "InProgress" | "Stopping" | "Completed" | "Failed" | "Stopped":
            return training_job_status
        case _:
            return "InProgress"


def is_terminal(status: Mapping[str, Any]) -> bool:
    # SageMaker's own status counts too: a phase written late by another writer must not
    # keep a finished job "running" (and its resource's finalizer held) for ever.
    return (
        status.get("phase") in TERMINAL_STATUSES
        or status.get("trainingJobStatus") in TERMINAL_STATUSES
    )


def with_condition(
    conditions: Sequence[Mapping[str, Any]] | None,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Set one condition in a list keyed by type; lastTransitionTime moves only on a change."""
    result: list[dict[str, Any]] = []
    previous: Mapping[str, Any] | None = None
    for condition in conditions or ():
        if condition.get("type") == type_:
            previous = condition
        else:
            result.append(dict(condition))
    changed = previous is None or previous.get("status") != status
    condition = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now()
        if changed or previous is None
        else previous.get("lastTransitionTime", now()),
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    result.append(condition)
    return sorted(result, key=lambda c: str(c["type"]))


# Secondary statuses that say why a job stopped without anyone asking it to.
_STOPPED_BY_LIMIT = {
    "MaxRuntimeExceeded": "The job ran longer than stoppingCondition.maxRuntimeInSeconds.",
    "MaxWaitTimeExceeded": "Spot capacity did not come back within "
    "stoppingCondition.maxWaitTimeInSeconds.",
}


def succeeded_for(
    training_job_status: str | None,
    failure_reason: str | None,
    secondary_status: str | None = None,
) -> tuple[ConditionStatus, str, str]:
    """The Succeeded condition's (status, reason, message) for a SageMaker status."""
    if training_job_status == "Stopped" and secondary_status in _STOPPED_BY_LIMIT:
        return "False", secondary_status, _STOPPED_BY_LIMIT[secondary_status]
    match training_job_status:
        case "Completed":
            return "True", "Completed", "SageMaker reports the training job Completed."
        case "Failed":
            return "False", "Failed", failure_reason or "SageMaker reports the training job Failed."
        case "Stopped":
            return "False", "Stopped", "The training job was stopped."
        case "Stopping":
            return "Unknown", "Stopping", "The training job is stopping."
        case None:
            return "Unknown", "Pending", "No SageMaker training job yet."
        case _:
            return "Unknown", "InProgress", "The training job is running."


def logs_url(region: str, job_name: str) -> str:
    """The CloudWatch console page of the job's log streams (group /aws/sagemaker/TrainingJobs)."""
    # The console double-encodes the fragment: '/' -> %2F -> $252F.
    group = quote("/aws/sagemaker/TrainingJobs", safe="").replace("%", "$25")
    stream_filter = quote(f"?logStreamNameFilter={job_name}", safe="").replace("%", "$")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{group}/log-events{stream_filter}"
    )


def observed(
    description: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    *,
    region: str,
    generation: int | None,
    stop_requested: bool = False,
) -> Status:
    """The status for a job as SageMaker describes it.

    Synced=False for a passing fault is cleared: SageMaker answered. Synced=False for a
    refusal (an update or a deletion refused, by the policy or by SageMaker) stays: it waits
    for a person, and its message says what to do, whatever else is observed meanwhile.
    """
    status: Status = described.status_from_description(description)
    sm_status = description.get("TrainingJobStatus")
    phase = phase_of(sm_status)
    if stop_requested and phase == "InProgress":
        phase = "Stopping"  # SageMaker has accepted Stop; its describe may lag by a moment
    status["phase"] = phase
    status["region"] = region
    status["logsUrl"] = logs_url(region, str(description["TrainingJobName"]))
    status["observedGeneration"] = generation
    state, reason, message = succeeded_for(
        sm_status, description.get("FailureReason"), description.get("SecondaryStatus")
    )
    found = with_condition(
        (previous or {}).get("conditions"), SUCCEEDED, state, reason, message, generation
    )
    if any(
        c.get("type") == SYNCED and c.get("status") == "False" and c.get("reason") not in PASSING
        for c in (previous or {}).get("conditions") or ()
    ):
        status["conditions"] = found
        return status
    status["conditions"] = with_condition(
        found, SYNCED, "True", "Synced", "Status matches SageMaker.", generation
    )
    return status


def created(
    job_name: str, arn: str, previous: Mapping[str, Any] | None, *, region: str, generation: int
) -> Status:
    """The status right after CreateTrainingJob succeeded, before the first describe."""
    return observed(
        {
            "TrainingJobName": job_name,
            "TrainingJobArn": arn,
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
        },
        previous,
        region=region,
        generation=generation,
    )


def refused(
    previous: Mapping[str, Any] | None,
    *,
    reason: str,
    message: str,
    generation: int | None,
    job_name: str | None = None,
    region: str | None = None,
) -> Status:
    """A terminal refusal (by SageMaker or the operator): phase Failed, Succeeded=False."""
    found = with_condition(
        (previous or {}).get("conditions"),
        SUCCEEDED,
        "False",
        reason,
        message,
        generation,
    )
    status: Status = {
        "phase": "Failed",
        "observedGeneration": generation,
        "conditions": with_condition(found, SYNCED, "False", reason, message, generation),
    }
    if job_name:
        status["trainingJobName"] = job_name
    if region:
        status["region"] = region
    return status


def unsynced(
    previous: Mapping[str, Any] | None, *, reason: str, message: str, generation: int | None
) -> Status:
    """Only Synced=False (a transient fault, or a change SageMaker refused); phase untouched."""
    prior = previous or {}
    status: Status = {
        "conditions": with_condition(
            prior.get("conditions"), SYNCED, "False", reason, message, generation
        )
    }
    if not prior.get("phase"):
        status["phase"] = "Pending"
        status["conditions"] = with_condition(
            status["conditions"],
            SUCCEEDED,
            "Unknown",
            "Pending",
            "No SageMaker training job yet.",
            generation,
        )
    return status


def resynced(previous: Mapping[str, Any] | None, *, generation: int | None) -> Status:
    """Synced=True again after a transient fault or a refused change has passed."""
    return {
        "conditions": with_condition(
            (previous or {}).get("conditions"),
            SYNCED,
            "True",
            "Synced",
            "Status matches SageMaker.",
            generation,
        ),
        "observedGeneration": generation,
    }


def changed_members(current: Mapping[str, Any], new: Mapping[str, Any]) -> Status:
    """The members of ``new`` that differ from ``current`` (a merge patch), or {} if none."""
    return {key: value for key, value in new.items() if current.get(key) != value}
