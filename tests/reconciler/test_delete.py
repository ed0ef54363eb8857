"""delete: stop a running job, release the resource once SageMaker says it is over."""

from __future__ import annotations

import pytest

from sagemaker_operator.controller import reconcile
from sagemaker_operator.sagemaker import errors
from tests.reconciler.table import (
    ARN,
    INTERNAL,
    JOB,
    NOT_FOUND,
    OURS,
    RUNNING,
    SPEC,
    THEIRS,
    THROTTLED,
    Row,
    client_error,
    decide,
    described,
)

STOPPING = {**RUNNING, "phase": "Stopping"}
NO_JOB_YET = {"phase": "Pending"}
STOP_REQUESTED = {"phase": "Stopping"}
ALREADY_ENDED = client_error("ValidationException", "The training job has already completed")

ROWS = [
    Row(
        "Retain: released at once, the job keeps running",
        spec={**SPEC, "deletionPolicy": "Retain"},
        status=RUNNING,
        release=True,
        events=[("Normal", "Retained")],
    ),
    Row(
        "already terminal: released without a call",
        status={**RUNNING, "phase": "Completed", "trainingJobStatus": "Completed"},
        release=True,
    ),
    Row(
        "SageMaker's status terminal though a late phase says Stopping: released",
        status={**STOPPING, "trainingJobStatus": "Stopped"},
        release=True,
    ),
    Row("no region at all: nothing could exist, released", default_region=None, release=True),
    Row(
        "running: StopTrainingJob once, then wait",
        status=RUNNING,
        answers={"stop": [{}]},
        calls=[("stop", JOB)],
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row("stop already asked: wait without a call", status=STOPPING),
    Row(
        "stop asked, describing observation: still stopping, wait",
        status=STOPPING,
        answers={"describe": [described("Stopping", "Stopping")]},
        calls=[("describe", JOB)],
    ),
    Row(
        "stop asked, describing observation: stopped, released with the final status",
        status=STOPPING,
        answers={"describe": [described("Stopped", "Stopped")]},
        calls=[("describe", JOB)],
        expect={"phase": "Stopped", "Succeeded": ("False", "Stopped")},
        release=True,
    ),
    Row(
        "stop asked, describing observation: the job is gone, released",
        status=STOPPING,
        answers={"describe": [NOT_FOUND]},
        calls=[("describe", JOB)],
        release=True,
    ),
    Row(
        "stop: SageMaker no longer knows the job, released",
        status=RUNNING,
        answers={"stop": [NOT_FOUND]},
        calls=[("stop", JOB)],
        release=True,
    ),
    Row(
        "stop refused because the job just ended: released",
        status=RUNNING,
        answers={"stop": [ALREADY_ENDED], "describe": [described("Completed", "Completed")]},
        calls=[("stop", JOB), ("describe", JOB)],
        release=True,
    ),
    Row(
        "stop refused, then the job is gone: released",
        status=RUNNING,
        answers={"stop": [ALREADY_ENDED], "describe": [NOT_FOUND]},
        calls=[("stop", JOB), ("describe", JOB)],
        release=True,
    ),
    Row(
        "stop refused while the job runs: held, Synced=False with SageMaker's words",
        status=RUNNING,
        answers={
            "stop": [client_error("AccessDeniedException", "not authorized: StopTrainingJob")],
            "describe": [described()],
        },
        calls=[("stop", JOB), ("describe", JOB)],
        expect={
            "Synced": ("False", "AccessDeniedException"),
            "Synced.message": "not authorized: StopTrainingJob",
        },
        events=[("Warning", "StopRefused")],
    ),
    Row(
        "stop throttled: retried",
        status=RUNNING,
        answers={"stop": [THROTTLED]},
        calls=[("stop", JOB)],
        raises=(errors.ThrottlingError, "ThrottlingException"),
    ),
    Row(
        "stop 500: retried",
        status=RUNNING,
        answers={"stop": [INTERNAL]},
        calls=[("stop", JOB)],
        raises=(errors.TransientError, "InternalFailure"),
    ),
    Row(
        "no job recorded, none exists: released",
        status=NO_JOB_YET,
        answers={"describe": [NOT_FOUND]},
        calls=[("describe", JOB)],
        release=True,
    ),
    Row(
        "no job recorded, the name is someone else's job: released, never stopped",
        status=NO_JOB_YET,
        answers={"describe": [described()], "tags": [THEIRS]},
        calls=[("describe", JOB), ("tags", ARN)],
        release=True,
    ),
    Row(
        "no job recorded, ours exists and has ended: released",
        status=NO_JOB_YET,
        answers={"describe": [described("Failed", "Failed")], "tags": [OURS]},
        calls=[("describe", JOB), ("tags", ARN)],
        release=True,
    ),
    Row(
        "no job recorded, ours runs (create crashed midway): stopped",
        status=NO_JOB_YET,
        answers={"describe": [described()], "tags": [OURS], "stop": [{}]},
        calls=[("describe", JOB), ("tags", ARN), ("stop", JOB)],
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row(
        "no job recorded, look-up throttled: retried",
        status=NO_JOB_YET,
        answers={"describe": [THROTTLED]},
        calls=[("describe", JOB)],
        raises=(errors.ThrottlingError, "ThrottlingException"),
    ),
]


@pytest.mark.parametrize("row", [row.param() for row in ROWS])
async def test_delete(row: Row) -> None:
    describing = "describing observation" in row.id
    await decide(row, reconcile.delete, describe_stopping=describing)
