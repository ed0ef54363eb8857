"""update: an allowed spec change goes to UpdateTrainingJob; anything else is reported."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from sagemaker_operator.controller import reconcile
from sagemaker_operator.sagemaker import errors
from tests.reconciler.table import (
    ARN,
    COPIED,
    INTERNAL,
    JOB,
    OURS,
    PROOF,
    RUNNING,
    SPEC,
    TEAM_A,
    THEIRS,
    THROTTLED,
    TOO_MANY,
    Row,
    client_error,
    decide,
    governed,
)

PROFILER = {"profilerConfig": {"s3OutputPath": "s3://team-a/profiler/"}}
KEEP_ALIVE = {"resourceConfig": {**SPEC["resourceConfig"], "keepAlivePeriodInSeconds": 600}}
UPDATED = {"TrainingJobArn": "arn"}
SYNCED = {"Synced": ("True", "Synced"), "observedGeneration": 2}


def unsynced(reason: str, message: str | None = None) -> dict[str, Any]:
    expect: dict[str, Any] = {"Synced": ("False", reason)}
    if message is not None:
        expect["Synced.message"] = message
    return expect


ROWS = [
    Row("no job yet: nothing to update", spec={**SPEC, **PROFILER}),
    Row(
        "a finished job: nothing to update",
        spec={**SPEC, **PROFILER},
        status={**RUNNING, "phase": "Completed", "trainingJobStatus": "Completed"},
    ),
    Row(
        "only deletionPolicy changed: in sync, no call",
        spec={**SPEC, "deletionPolicy": "Retain"},
        status=RUNNING,
        expect=SYNCED,
    ),
    Row(
        "profilerConfig changed: UpdateTrainingJob with just that",
        spec={**SPEC, **PROFILER},
        status=RUNNING,
        answers={"tags": [OURS], "update": [UPDATED]},
        calls=[("tags", ARN), ("update", JOB)],
        expect=SYNCED,
        events=[("Normal", "Updated")],
        requests=[
            {
                "TrainingJobName": JOB,
                "ProfilerConfig": {"S3OutputPath": "s3://team-a/profiler/"},
            }
        ],
    ),
    Row(
        "the status holds this operator's proof: UpdateTrainingJob with no ListTags",
        spec={**SPEC, **PROFILER},
        status={**RUNNING, "ownershipProof": PROOF},
        answers={"update": [UPDATED]},
        calls=[("update", JOB)],
        expect=SYNCED,
        events=[("Normal", "Updated")],
    ),
    Row(
        "another resource's proof copied into the status: the tags refuse the update",
        spec={**SPEC, **PROFILER},
        status={**RUNNING, "ownershipProof": COPIED},
        answers={"tags": [THEIRS]},
        calls=[("tags", ARN)],
        expect=unsynced("JobNotOwned"),
        events=[("Warning", "UpdateRefused")],
    ),
    Row(
        "keepAlivePeriodInSeconds changed: only that member of resourceConfig is sent",
        spec={**SPEC, **KEEP_ALIVE},
        status=RUNNING,
        answers={"tags": [OURS], "update": [UPDATED]},
        calls=[("tags", ARN), ("update", JOB)],
        expect=SYNCED,
        events=[("Normal", "Updated")],
        requests=[{"TrainingJobName": JOB, "ResourceConfig": {"KeepAlivePeriodInSeconds": 600}}],
    ),
    Row(
        "roleArn changed (an older CRD let it through): reported, never sent",
        spec={**SPEC, "roleArn": "arn:aws:iam::123456789012:role/other"},
        status=RUNNING,
        expect=unsynced("ImmutableFieldChanged"),
        events=[("Warning", "ImmutableFieldChanged")],
    ),
    Row(
        "region changed: reported, never sent",
        spec={**SPEC, "region": "eu-west-1"},
        status=RUNNING,
        expect=unsynced("ImmutableFieldChanged"),
        events=[("Warning", "ImmutableFieldChanged")],
    ),
    Row(
        "the policy refuses the new profiler location: Synced=False, nothing sent",
        spec={**SPEC, "profilerConfig": {"s3OutputPath": "s3://team-b/profiler/"}},
        status=RUNNING,
        governance=governed(TEAM_A),
        expect=unsynced("NotAllowedByPolicy"),
        events=[("Warning", "UpdateRefused")],
    ),
    Row(
        "the policy admits the change: sent",
        spec={**SPEC, **PROFILER},
        status=RUNNING,
        governance=governed(TEAM_A),
        answers={"tags": [OURS], "update": [UPDATED]},
        calls=[("tags", ARN), ("update", JOB)],
        expect=SYNCED,
        events=[("Normal", "Updated")],
    ),
    Row(
        "the job in status is not this resource's (a forged status): nothing sent",
        spec={**SPEC, **PROFILER},
        status=RUNNING,
        answers={"tags": [THEIRS]},
        calls=[("tags", ARN)],
        expect=unsynced("JobNotOwned"),
        events=[("Warning", "UpdateRefused")],
    ),
    Row(
        "ownership check throttled: retried",
        spec={**SPEC, **PROFILER},
        status=RUNNING,
        answers={"tags": [THROTTLED]},
        calls=[("tags", ARN)],
        raises=(errors.ThrottlingError, "ThrottlingException"),
    ),
    *(
        Row(
            f"UpdateTrainingJob refused ({code}): Synced=False with SageMaker's words",
            spec={**SPEC, **PROFILER},
            status=RUNNING,
            answers={"tags": [OURS], "update": [client_error(code, message)]},
            calls=[("tags", ARN), ("update", JOB)],
            expect=unsynced(code, message),
            events=[("Warning", "UpdateRefused")],
        )
        for code, message in [
            ("ValidationException", "ProfilerConfig cannot be updated while the job is stopping"),
            ("ResourceLimitExceeded", "Warm pool limit reached"),
            ("ResourceNotFound", "Training job not found"),
        ]
    ),
    *(
        Row(
            f"UpdateTrainingJob {label}: retried",
            spec={**SPEC, **PROFILER},
            status=RUNNING,
            answers={"tags": [OURS], "update": [answer]},
            calls=[("tags", ARN), ("update", JOB)],
            raises=raises,
        )
        for label, answer, raises in [
            ("throttled", THROTTLED, (errors.ThrottlingError, "ThrottlingException")),
            ("HTTP 429", TOO_MANY, (errors.ThrottlingError, "SlowDownPlease")),
            ("500", INTERNAL, (errors.TransientError, "InternalFailure")),
            (
                "read timeout",
                ReadTimeoutError(endpoint_url="https://api.sagemaker"),
                (errors.TransientError, "NetworkError"),
            ),
        ]
    ),
]


@pytest.mark.parametrize("row", [row.param() for row in ROWS])
async def test_update(row: Row) -> None:
    await decide(row, reconcile.update, SPEC)
