"""track: what observation makes of one description (or of a job SageMaker forgot)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from sagemaker_operator.controller import owned, reconcile
from tests.reconciler.table import (
    ARN,
    JOB,
    NAME,
    NAMESPACE,
    PROOF,
    REGION,
    RUNNING,
    UID,
    described,
    view,
)


@dataclass
class TrackRow:
    id: str
    description: Mapping[str, Any] | None
    expect: Mapping[str, Any]
    events: list[tuple[str, str]]
    status: Mapping[str, Any] = field(default_factory=lambda: RUNNING)
    owned_by_it: bool = True
    unchanged: bool = False  # the status as it was, to the letter
    proof: str | None = None


def job_of(status: Mapping[str, Any]) -> owned.OwnedJob:
    meta: dict[str, Any] = {"generation": 2, "creationTimestamp": "2026-12-01T10:00:00Z"}
    job = owned.record_of(namespace=NAMESPACE, name=NAME, uid=UID, meta=meta, status=status)
    assert job is not None
    return job


ARTIFACTS = {"S3ModelArtifacts": "s3://team-a/out/model.tar.gz"}
CAPACITY = (
    "CapacityError: Unable to provision requested ML compute capacity. "
    "Please retry using a different ML instance type."
)
HELD = {
    "type": "Synced",
    "status": "False",
    "reason": "AccessDeniedException",
    "message": "denied; the way out",
    "observedGeneration": 2,
    "lastTransitionTime": "2026-12-01T11:00:00Z",
}
ROWS = [
    TrackRow(
        "the job lacks the resource's uid tag (a forged status): nothing mirrored",
        described("Completed", "Completed", ModelArtifacts=ARTIFACTS),
        {"phase": "Failed", "Succeeded": ("False", "JobNotOwned"), "modelArtifacts": None},
        [("Warning", "JobNotOwned")],
        owned_by_it=False,
    ),
    TrackRow(
        "a refusal (a deletion SageMaker refused) waits for a person: Synced=False stays",
        described("InProgress", "Training"),
        {"phase": "InProgress", "Synced": ("False", "AccessDeniedException")},
        [],
        status={**RUNNING, "conditions": [HELD]},
    ),
    TrackRow(
        "an update the policy refused: Synced=False stays",
        described("InProgress", "Uploading"),
        {"phase": "InProgress", "Synced": ("False", "NotAllowedByPolicy")},
        [("Normal", "SecondaryStatus")],
        status={**RUNNING, "conditions": [{**HELD, "reason": "NotAllowedByPolicy"}]},
    ),
    TrackRow(
        "a passing fault (throttled) is cleared by the next observation",
        described("InProgress", "Training"),
        {"phase": "InProgress", "Synced": ("True", "Synced")},
        [],
        status={**RUNNING, "conditions": [{**HELD, "reason": "Throttled"}]},
    ),
    TrackRow(
        "SageMaker no longer knows the job: Failed, JobNotFound",
        None,
        {"phase": "Failed", "Succeeded": ("False", "JobNotFound")},
        [("Warning", "JobNotFound")],
    ),
    TrackRow(
        "nothing new: the same status, no Event",
        described("InProgress", "Training"),
        {"phase": "InProgress", "secondaryStatus": "Training", "Synced": ("True", "Synced")},
        [],
    ),
    TrackRow(
        "a new secondary status: one Event with SageMaker's message",
        described(
            "InProgress",
            "Uploading",
            SecondaryStatusTransitions=[{"Status": "Uploading", "StatusMessage": "Uploading"}],
        ),
        {"phase": "InProgress", "secondaryStatus": "Uploading"},
        [("Normal", "SecondaryStatus")],
    ),
    TrackRow(
        "completed: Succeeded=True, model artifacts in status and Event",
        described("Completed", "Completed", ModelArtifacts=ARTIFACTS),
        {
            "phase": "Completed",
            "Succeeded": ("True", "Completed"),
            "modelArtifacts": {"s3ModelArtifacts": ARTIFACTS["S3ModelArtifacts"]},
        },
        [("Normal", "SecondaryStatus"), ("Normal", "Completed")],
    ),
    TrackRow(
        "failed: Succeeded=False with SageMaker's failure reason",
        described("Failed", "Failed", FailureReason="AlgorithmError: out of memory"),
        {
            "phase": "Failed",
            "Succeeded": ("False", "Failed"),
            "Succeeded.message": "AlgorithmError: out of memory",
            "failureReason": "AlgorithmError: out of memory",
        },
        [("Normal", "SecondaryStatus"), ("Warning", "Failed")],
    ),
    TrackRow(
        "stopped by its runtime limit: the reason says so",
        described("Stopped", "MaxRuntimeExceeded"),
        {"phase": "Stopped", "Succeeded": ("False", "MaxRuntimeExceeded")},
        [("Normal", "SecondaryStatus"), ("Normal", "Stopped")],
    ),
    TrackRow(
        "stopped by spot's wait limit: the reason says so",
        described("Stopped", "MaxWaitTimeExceeded"),
        {"phase": "Stopped", "Succeeded": ("False", "MaxWaitTimeExceeded")},
        [("Normal", "SecondaryStatus"), ("Normal", "Stopped")],
    ),
    TrackRow(
        "stop asked, SageMaker still says InProgress: phase stays Stopping",
        described("InProgress", "Training"),
        {"phase": "Stopping", "Succeeded": ("Unknown", "InProgress")},
        [],
        status={**RUNNING, "phase": "Stopping"},
    ),
    TrackRow(
        "SageMaker says Stopping: phase Stopping, an Event",
        described("Stopping", "Stopping"),
        {"phase": "Stopping", "Succeeded": ("Unknown", "Stopping")},
        [("Normal", "SecondaryStatus"), ("Normal", "Stopping")],
    ),
    TrackRow(
        "failed while Starting for want of capacity: Failed, no start time, SageMaker's reason",
        described(
            "Failed",
            "Failed",
            FailureReason=CAPACITY,
            SecondaryStatusTransitions=[
                {"Status": "Starting", "StatusMessage": "Launching requested ML instances"},
                {"Status": "Failed", "StatusMessage": CAPACITY},
            ],
        ),
        {
            "phase": "Failed",
            "Succeeded": ("False", "Failed"),
            "Succeeded.message": CAPACITY,
            "failureReason": CAPACITY,
            "trainingStartTime": None,
            "trainingTimeInSeconds": None,
        },
        [("Normal", "SecondaryStatus"), ("Warning", "Failed")],
        status={**RUNNING, "secondaryStatus": "Starting"},
    ),
    TrackRow(
        "SageMaker says Stopping before its secondary status does: phase Stopping, one Event",
        described("Stopping", "Training"),
        {"phase": "Stopping", "secondaryStatus": "Training", "Succeeded": ("Unknown", "Stopping")},
        [("Normal", "Stopping")],
    ),
    TrackRow(
        "a new message within the same secondary status: written to status, no Event",
        described(
            "InProgress",
            "Training",
            SecondaryStatusTransitions=[
                {"Status": "Training", "StatusMessage": "Training in progress."}
            ],
        ),
        {
            "phase": "InProgress",
            "secondaryStatusTransitions": [
                {"status": "Training", "statusMessage": "Training in progress."}
            ],
        },
        [],
        status={
            **RUNNING,
            "secondaryStatusTransitions": [
                {"status": "Training", "statusMessage": "Downloading the training image"}
            ],
        },
    ),
    TrackRow(
        "a description older than the change the status shows changes nothing",
        described("InProgress", "Downloading", LastModifiedTime="2026-12-01T11:00:00.500Z"),
        {"secondaryStatus": "Training", "lastModifiedTime": "2026-12-01T11:00:03.793Z"},
        [],
        status={**RUNNING, "lastModifiedTime": "2026-12-01T11:00:03.793Z"},
        unchanged=True,
    ),
    TrackRow(
        "a description of the moment the status shows (a summary's) is written, in full",
        described(
            "InProgress",
            "Training",
            LastModifiedTime="2026-12-01T11:00:03.793Z",
            TrainingStartTime="2026-12-01T11:00:03.793Z",
        ),
        {"secondaryStatus": "Training", "trainingStartTime": "2026-12-01T11:00:03.793Z"},
        [],
        status={**RUNNING, "lastModifiedTime": "2026-12-01T11:00:03.793Z"},
    ),
    TrackRow(
        "a newer description is written over an older status",
        described("InProgress", "Training", LastModifiedTime="2026-12-01T11:00:03.793Z"),
        {"secondaryStatus": "Training"},
        [("Normal", "SecondaryStatus")],
        status={
            **RUNNING,
            "secondaryStatus": "Downloading",
            "lastModifiedTime": "2026-12-01T11:00:00.5Z",
        },
    ),
    TrackRow(
        "a job proven ours: the proof is written with the status, a restart asks no ListTags",
        described("InProgress", "Training"),
        {"phase": "InProgress", "ownershipProof": PROOF},
        [],
        proof=PROOF,
    ),
    TrackRow(
        "a job not ours: no proof is written, whatever is offered",
        described("InProgress", "Training"),
        {"Succeeded": ("False", "JobNotOwned"), "ownershipProof": None},
        [("Warning", "JobNotOwned")],
        owned_by_it=False,
        proof=PROOF,
    ),
    TrackRow(
        "a job SageMaker forgot: no proof",
        None,
        {"Succeeded": ("False", "JobNotFound"), "ownershipProof": None},
        [("Warning", "JobNotFound")],
        proof=PROOF,
    ),
    TrackRow(
        "a status SageMaker may add later reads as in progress",
        described("Paused", "Training"),
        {"phase": "InProgress", "trainingJobStatus": "Paused"},
        [],
    ),
]


@pytest.mark.parametrize("row", [pytest.param(row, id=row.id) for row in ROWS])
def test_track(row: TrackRow) -> None:
    job = job_of(row.status)
    outcome = reconcile.track(job, row.description, owned_by_it=row.owned_by_it, proof=row.proof)
    got = view(outcome.status)
    assert {key: got.get(key) for key in row.expect} == dict(row.expect)
    assert [(type_, reason) for type_, reason, _ in outcome.events] == row.events
    assert outcome.release is False
    if row.unchanged:
        assert outcome.status == row.status
    elif row.description is not None and row.owned_by_it:
        assert got["trainingJobArn"] == ARN
        assert got["region"] == REGION
        assert got["logsUrl"].endswith(f"logStreamNameFilter$3D{JOB}")
