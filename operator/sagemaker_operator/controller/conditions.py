"""Phase and conditions: pure functions from what SageMaker (or the operator) said to status.

Conditions follow the Kubernetes API conventions for bounded work, as Tekton does:
``Succeeded`` is Unknown while the job runs, True once SageMaker says Completed, False once it
says Failed or Stopped, or once the operator refuses the resource. ``Synced`` is False while
the operator cannot reach SageMaker or is refused by it. ``phase`` is one word for workflow
engines that cannot query lists (Argo's ``successCondition``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Phase = Literal["Pending", "InProgress", "Stopping", "Completed", "Failed", "Stopped"]
ConditionStatus = Literal["True", "False", "Unknown"]

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
TERMINAL_PHASES: frozenset[str] = TERMINAL_STATUSES

SUCCEEDED = "Succeeded"
SYNCED = "Synced"


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
        status.get("phase") in TERMINAL_PHASES
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
