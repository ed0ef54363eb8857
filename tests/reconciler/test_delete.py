"""delete: stop a running job this resource owns; release once SageMaker says it is over.

Every resource can always be deleted: Retain and the release annotation work in every
state, and SageMaker's permanent refusals hold it with Synced=False naming that way out.
"""

from __future__ import annotations

import pytest

from sagemaker_operator.controller import reconcile
from sagemaker_operator.sagemaker import errors
from tests.reconciler.table import (
    ARN,
    COPIED,
    FORGED,
    INTERNAL,
    JOB,
    NOT_FOUND,
    OURS,
    PROOF,
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
NO_JOB_YET = {"phase": "Pending", "trainingJobName": JOB}
STOP_REQUESTED = {"phase": "Stopping"}
ALREADY_ENDED = client_error("ValidationException", "The training job has already completed")
# What SageMaker answers a second StopTrainingJob (the emulator's words, after AWS's for Stopped).
ALREADY_STOPPING = client_error(
    "ValidationException",
    "The request was rejected because the training job is in status Stopping.",
)
DENIED = client_error("AccessDeniedException", "not authorized to perform this action")
LOOK = [("describe", JOB), ("tags", ARN)]  # the ownership check before any stop
RELEASE_ANNOTATIONS = {reconcile.RELEASE_ANNOTATION: "true"}


def held(code: str) -> dict[str, object]:
    return {"Synced": ("False", code), "Synced.message": f"{DENIED_TEXT} ({code}); {WAY_OUT}"}


DENIED_TEXT = "not authorized to perform this action"
WAY_OUT = reconcile.WAY_OUT

ROWS = [
    Row(
        "Retain: released at once, the job keeps running",
        spec={**SPEC, "deletionPolicy": "Retain"},
        status=RUNNING,
        release=True,
        events=[("Normal", "Retained")],
    ),
    Row(
        "Retain while a stop is held by a refusal: released all the same",
        spec={**SPEC, "deletionPolicy": "Retain"},
        status={**RUNNING, "conditions": []},
        release=True,
        events=[("Normal", "Retained")],
    ),
    Row(
        "the release annotation: released without a call, audited by a Warning",
        status=RUNNING,
        annotations=RELEASE_ANNOTATIONS,
        release=True,
        events=[("Warning", "ReleasedWithoutStop")],
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
        "a Region SageMaker does not have: nothing could exist there, released",
        spec={**SPEC, "region": "xx-bogus-1"},
        release=True,
    ),
    Row(
        "running and ours: StopTrainingJob once, then wait",
        status=RUNNING,
        answers={"describe": [described()], "tags": [OURS], "stop": [{}]},
        calls=[*LOOK, ("stop", JOB)],
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row(
        "running, and the status holds this operator's proof: stopped with no ListTags",
        status={**RUNNING, "ownershipProof": PROOF},
        answers={"describe": [described()], "stop": [{}]},
        calls=[("describe", JOB), ("stop", JOB)],
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row(
        "a status with another resource's proof copied in: SageMaker's tags decide, not stopped",
        status={**RUNNING, "ownershipProof": COPIED},
        answers={"describe": [described()], "tags": [THEIRS]},
        calls=LOOK,
        release=True,
        events=[("Warning", "JobNotOwned")],
    ),
    Row(
        "a status with a proof made under another key: SageMaker's tags decide, not stopped",
        status={**RUNNING, "ownershipProof": FORGED},
        answers={"describe": [described()], "tags": [THEIRS]},
        calls=LOOK,
        release=True,
        events=[("Warning", "JobNotOwned")],
    ),
    Row(
        "this resource's proof, but the name now finds another job: its tags decide",
        status={**RUNNING, "ownershipProof": PROOF},
        answers={"describe": [described(TrainingJobArn=ARN + "-2")], "tags": [THEIRS]},
        calls=[("describe", JOB), ("tags", ARN + "-2")],
        release=True,
        events=[("Warning", "JobNotOwned")],
    ),
    Row(
        "a forged status names someone else's job: released, never stopped",
        status=RUNNING,
        answers={"describe": [described()], "tags": [THEIRS]},
        calls=LOOK,
        release=True,
        events=[("Warning", "JobNotOwned")],
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
        "the job is gone already: released",
        status=RUNNING,
        answers={"describe": [NOT_FOUND]},
        calls=[("describe", JOB)],
        release=True,
    ),
    Row(
        "ours and ended meanwhile: released without a stop",
        status=RUNNING,
        answers={"describe": [described("Completed", "Completed")], "tags": [OURS]},
        calls=LOOK,
        release=True,
    ),
    Row(
        "stop: SageMaker no longer knows the job, released",
        status=RUNNING,
        answers={"describe": [described()], "tags": [OURS], "stop": [NOT_FOUND]},
        calls=[*LOOK, ("stop", JOB)],
        release=True,
    ),
    Row(
        "stop refused because the job just ended: released",
        status=RUNNING,
        answers={
            "describe": [described(), described("Completed", "Completed")],
            "tags": [OURS],
            "stop": [ALREADY_ENDED],
        },
        calls=[*LOOK, ("stop", JOB), ("describe", JOB)],
        release=True,
    ),
    Row(
        "stop refused, then the job is gone: released",
        status=RUNNING,
        answers={"describe": [described(), NOT_FOUND], "tags": [OURS], "stop": [ALREADY_ENDED]},
        calls=[*LOOK, ("stop", JOB), ("describe", JOB)],
        release=True,
    ),
    Row(
        "stopped before a crash lost the status write: Stopping, waited for without a Stop",
        status=RUNNING,
        answers={"describe": [described("Stopping", "Training")], "tags": [OURS]},
        calls=LOOK,
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row(
        "no job recorded, ours already stopping (create and stop crashed midway): waited for",
        status=NO_JOB_YET,
        answers={"describe": [described("Stopping", "Stopping")], "tags": [OURS]},
        calls=LOOK,
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row(
        "stop refused because someone stopped it meanwhile: Stopping, waited for",
        status=RUNNING,
        answers={
            "describe": [described(), described("Stopping", "Training")],
            "tags": [OURS],
            "stop": [ALREADY_STOPPING],
        },
        calls=[*LOOK, ("stop", JOB), ("describe", JOB)],
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row(
        "stop refused while the job runs: held, Synced=False names the way out",
        status=RUNNING,
        answers={"describe": [described(), described()], "tags": [OURS], "stop": [DENIED]},
        calls=[*LOOK, ("stop", JOB), ("describe", JOB)],
        expect=held("AccessDeniedException"),
        events=[("Warning", "StopRefused")],
    ),
    Row(
        "the look-up refused (a Region blocked by policy): held, names the way out",
        status=RUNNING,
        answers={"describe": [DENIED]},
        calls=[("describe", JOB)],
        expect=held("AccessDeniedException"),
        events=[("Warning", "StopRefused")],
    ),
    Row(
        "the ownership check refused: held, names the way out",
        status=RUNNING,
        answers={"describe": [described()], "tags": [DENIED]},
        calls=LOOK,
        expect=held("AccessDeniedException"),
        events=[("Warning", "StopRefused")],
    ),
    Row(
        "stop throttled: retried",
        status=RUNNING,
        answers={"describe": [described()], "tags": [OURS], "stop": [THROTTLED]},
        calls=[*LOOK, ("stop", JOB)],
        raises=(errors.ThrottlingError, "ThrottlingException"),
    ),
    Row(
        "stop 500: retried",
        status=RUNNING,
        answers={"describe": [described()], "tags": [OURS], "stop": [INTERNAL]},
        calls=[*LOOK, ("stop", JOB)],
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
        calls=LOOK,
        release=True,
    ),
    Row(
        "no job recorded, ours runs (create crashed midway): stopped",
        status=NO_JOB_YET,
        answers={"describe": [described()], "tags": [OURS], "stop": [{}]},
        calls=[*LOOK, ("stop", JOB)],
        expect=STOP_REQUESTED,
        events=[("Normal", "StopRequested")],
    ),
    Row(
        "look-up throttled: retried",
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
