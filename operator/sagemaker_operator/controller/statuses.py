"""Whole status documents, composed from SageMaker's description or the operator's verdicts.

Everything here is pure: the handlers and the poller decide *when* to write, these functions
decide *what*. A status only carries members the CRD's status schema declares, so what the
operator computes is exactly what the API server keeps, and comparing the two is meaningful.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sagemaker_operator.controller import conditions
from sagemaker_operator.resource import status as describe_mapping

Status = dict[str, Any]


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
    """The status for a job as SageMaker describes it."""
    status: Status = describe_mapping.status_from_description(description)
    sm_status = description.get("TrainingJobStatus")
    phase = conditions.phase_of(sm_status)
    if stop_requested and phase == "InProgress":
        phase = "Stopping"  # SageMaker has accepted Stop; its describe may lag by a moment
    status["phase"] = phase
    status["region"] = region
    status["logsUrl"] = logs_url(region, str(description["TrainingJobName"]))
    status["observedGeneration"] = generation
    state, reason, message = conditions.succeeded_for(
        sm_status, description.get("FailureReason"), description.get("SecondaryStatus")
    )
    found = conditions.with_condition(
        (previous or {}).get("conditions"), conditions.SUCCEEDED, state, reason, message, generation
    )
    status["conditions"] = conditions.with_condition(
        found, conditions.SYNCED, "True", "Synced", "Status matches SageMaker.", generation
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
    found = conditions.with_condition(
        (previous or {}).get("conditions"),
        conditions.SUCCEEDED,
        "False",
        reason,
        message,
        generation,
    )
    status: Status = {
        "phase": "Failed",
        "observedGeneration": generation,
        "conditions": conditions.with_condition(
            found, conditions.SYNCED, "False", reason, message, generation
        ),
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
        "conditions": conditions.with_condition(
            prior.get("conditions"), conditions.SYNCED, "False", reason, message, generation
        )
    }
    if not prior.get("phase"):
        status["phase"] = "Pending"
        status["conditions"] = conditions.with_condition(
            status["conditions"],
            conditions.SUCCEEDED,
            "Unknown",
            "Pending",
            "No SageMaker training job yet.",
            generation,
        )
    return status


def resynced(previous: Mapping[str, Any] | None, *, generation: int | None) -> Status:
    """Synced=True again after a transient fault or a refused change has passed."""
    return {
        "conditions": conditions.with_condition(
            (previous or {}).get("conditions"),
            conditions.SYNCED,
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
