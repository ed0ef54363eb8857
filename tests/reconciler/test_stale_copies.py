"""A handler's write onto a status newer than the copy it decided on (status_writes).

kopf hands a handler the copy its watch delivered; at N = 10,000 that copy was minutes old,
from before the handler's own earlier write, and the write put a description read before
the poller's ``Training`` back over it. These rows are the rule that prevents it: a write
carries only what its decision changed, and a decision older than the status is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from sagemaker_operator.controller import status_writes
from sagemaker_operator.resource import conditions
from tests.reconciler.table import ARN, JOB, REGION

EARLIER, LATER = "2026-12-03T23:58:01+00:00", "2026-12-03T23:58:09+00:00"
RECORDED = {"trainingJobName": JOB, "region": REGION, "phase": "Pending"}


def description(secondary: str, modified: str) -> dict[str, Any]:
    return {
        "TrainingJobName": JOB,
        "TrainingJobArn": ARN,
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": secondary,
        "LastModifiedTime": modified,
    }


def shown(secondary: str, modified: str) -> dict[str, Any]:
    """The status observation wrote for the job at ``secondary``."""
    return conditions.observed(
        description(secondary, modified), RECORDED, region=REGION, generation=1
    )


DOWNLOADING = shown("Downloading", EARLIER)
TRAINING = shown("Training", LATER)


@dataclass
class Row:
    id: str
    read: Mapping[str, Any]  # the status on kopf's copy
    decided: Mapping[str, Any]  # the decision's status
    shown: Mapping[str, Any]  # the status as it is when written
    creating: bool = False
    superseded: bool = False
    patch: Mapping[str, Any] = field(default_factory=dict)  # view(): members, conditions

    def param(self) -> Any:
        return pytest.param(self, id=self.id)


def view(patch: Mapping[str, Any]) -> dict[str, Any]:
    flat = {key: value for key, value in patch.items() if key != "conditions"}
    for condition in patch.get("conditions") or ():
        flat[condition["type"]] = (condition["status"], condition["reason"])
    return flat


ROWS = [
    Row(
        "an adoption read before the poller's Training is refused",
        read=RECORDED,
        decided=DOWNLOADING,
        shown=TRAINING,
        creating=True,
        superseded=True,
    ),
    Row(
        "the same adoption, refused by the job's newer change alone",
        read=RECORDED,
        decided=DOWNLOADING,
        shown=TRAINING,
        superseded=True,
    ),
    Row(
        "the name recorded onto a status that names a job is refused",
        read={},
        decided=RECORDED,
        shown=TRAINING,
        creating=True,
        superseded=True,
    ),
    Row(
        "a create whose copy is current writes all it decided",
        read=RECORDED,
        decided=DOWNLOADING,
        shown=RECORDED,
        creating=True,
        patch={
            "trainingJobArn": ARN,
            "secondaryStatus": "Downloading",
            "phase": "InProgress",
            "lastModifiedTime": EARLIER,
            "Succeeded": ("Unknown", "InProgress"),
            "Synced": ("True", "Synced"),
        },
    ),
    Row(
        "an adoption of the change the status shows already is written as it is",
        read=RECORDED,
        decided=TRAINING,
        shown=TRAINING,
        creating=True,
        patch={"phase": "InProgress", "secondaryStatus": "Training", "lastModifiedTime": LATER},
    ),
    Row(
        "a throttled retry from an older copy writes only its Synced condition",
        read=DOWNLOADING,
        decided=conditions.unsynced(
            DOWNLOADING, reason="Throttled", message="Rate exceeded", generation=1
        ),
        shown=TRAINING,
        patch={"Succeeded": ("Unknown", "InProgress"), "Synced": ("False", "Throttled")},
    ),
    Row(
        "an update's Synced=True from an older copy keeps the newer Succeeded",
        read=conditions.unsynced(TRAINING, reason="Throttled", message="slow", generation=1),
        decided=conditions.resynced(
            conditions.unsynced(TRAINING, reason="Throttled", message="slow", generation=1),
            generation=2,
        ),
        shown=shown("Completed", "2026-12-04T00:10:00+00:00"),
        patch={"Synced": ("True", "Synced")},
    ),
    Row(
        "Stopping carries no change of the job and is never refused as older",
        read=DOWNLOADING,
        decided={"phase": "Stopping"},
        shown=TRAINING,
        patch={"phase": "Stopping"},
    ),
]


@pytest.mark.parametrize("row", [row.param() for row in ROWS])
def test_a_write_onto_a_newer_status(row: Row) -> None:
    patch = status_writes.rebased(row.read, row.decided, row.shown)
    assert status_writes.superseded(row.shown, patch, creating=row.creating) is row.superseded
    if row.superseded:
        return
    got = view(patch)
    for key, value in row.patch.items():
        assert got.get(key) == value, key
    # Nothing the decision merely copied from its copy is written back.
    copied = {k for k, v in row.decided.items() if row.read.get(k) == v and k != "conditions"}
    assert not copied & set(patch)
    # Nor a condition it copied: that one stays as the status shows it.
    before = {c["type"]: c for c in row.read.get("conditions") or ()}
    now = {c["type"]: c for c in row.shown.get("conditions") or ()}
    for condition in patch.get("conditions") or ():
        if condition == before.get(condition["type"]) or condition["type"] not in {
            c["type"] for c in row.decided.get("conditions") or ()
        }:
            assert condition == now[condition["type"]], condition["type"]
