"""Job-state-change events on the emulator's SQS queue, as EventBridge would deliver them.

On a hand clock at time scale 1 (see :mod:`tests.emulator.queues`): a job is created at
``START`` and changes at +60 (Downloading), +90 (Training), +270 (Uploading), +285
(Completed).
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator.emulator import testing
from tests.emulator import process
from tests.emulator.jobs import request
from tests.emulator.queues import START, Harness, long_poll, sqs_client_for
from tests.plugins.emulator import client_for

LIFECYCLE = [
    (0, "InProgress", "Starting"),
    (60, "InProgress", "Downloading"),
    (90, "InProgress", "Training"),
    (270, "InProgress", "Uploading"),
    (285, "Completed", "Completed"),
]


def states(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["detail"]["TrainingJobStatus"], e["detail"]["SecondaryStatus"]) for e in events]


def iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_event_detail(value: Any) -> Any:
    """A boto3 Describe answer as the event writes it: timestamps in epoch milliseconds."""
    if isinstance(value, datetime.datetime):
        return str(round(value.timestamp() * 1000))
    if isinstance(value, dict):
        return {k: as_event_detail(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [as_event_detail(v) for v in value]
    return value


def test_one_event_per_state_change_walks_the_lifecycle(harness: Harness) -> None:
    harness.sagemaker.create_training_job(**request("walk"))
    assert states(harness.events()) == [("InProgress", "Starting")]
    for at, status, secondary in LIFECYCLE[1:]:
        harness.advance(START + at - harness.clock.now - 0.001)
        assert harness.events() == []  # not a moment early
        harness.advance(0.001)
        [event] = harness.events()
        assert states([event]) == [(status, secondary)]
        assert event["time"] == iso(START + at)
        described = harness.sagemaker.describe_training_job(TrainingJobName="walk")
        detail = event["detail"]
        assert detail["LastModifiedTime"] == as_event_detail(described["LastModifiedTime"])
        assert len(detail["SecondaryStatusTransitions"]) == len(
            described["SecondaryStatusTransitions"]
        )
    harness.advance(86400)
    assert harness.events() == []  # settled: nothing more


def test_an_event_is_the_eventbridge_envelope_of_the_description_with_tags(
    harness: Harness,
) -> None:
    tags = [{"Key": "team", "Value": "vision"}, {"Key": "cost-center", "Value": "42"}]
    arn = harness.sagemaker.create_training_job(**request("envelope", Tags=tags))["TrainingJobArn"]
    [created] = harness.events()
    assert created["version"] == "0"
    assert uuid.UUID(created["id"])
    assert created["detail-type"] == "SageMaker Training Job State Change"
    assert created["source"] == "aws.sagemaker"
    assert created["account"] == "123456789012"
    assert created["time"] == iso(START) == "2023-11-14T22:13:20Z"
    assert created["region"] == "us-east-1"
    assert created["resources"] == [arn]
    assert created["detail"]["Tags"] == {"team": "vision", "cost-center": "42"}
    assert created["detail"]["CreationTime"] == "1700000000000"

    harness.advance(285)
    completed = harness.events()[-1]
    assert states([completed]) == [("Completed", "Completed")]
    described = harness.sagemaker.describe_training_job(TrainingJobName="envelope")
    detail = dict(completed["detail"])
    assert detail.pop("Tags") == {"team": "vision", "cost-center": "42"}
    assert detail == as_event_detail(described)  # every member Describe has, as of then
    assert {"ModelArtifacts", "FinalMetricDataList", "TrainingEndTime"} <= set(detail)
    assert len({e["id"] for e in [created, completed]}) == 2


def test_a_jump_over_several_phases_publishes_each_one_as_of_its_own_time(
    harness: Harness,
) -> None:
    harness.sagemaker.create_training_job(**request("jump"))
    harness.events()
    harness.advance(3600)
    events = harness.events()
    assert states(events) == [(s, ss) for _, s, ss in LIFECYCLE[1:]]
    assert [e["time"] for e in events] == [iso(START + at) for at, _, _ in LIFECYCLE[1:]]
    assert [len(e["detail"]["SecondaryStatusTransitions"]) for e in events] == [2, 3, 4, 5]
    assert "TrainingEndTime" not in events[0]["detail"]


def test_stop_publishes_stopping_at_once_then_stopped(harness: Harness) -> None:
    harness.sagemaker.create_training_job(**request("stopped"))
    harness.advance(100)
    assert states(harness.events()) == [
        ("InProgress", "Starting"),
        ("InProgress", "Downloading"),
        ("InProgress", "Training"),
    ]
    harness.sagemaker.stop_training_job(TrainingJobName="stopped")
    [stopping] = harness.events()  # published by the request itself, the clock unmoved
    # SageMaker's primary status says Stopping at once; its secondary catches up a moment
    # later (docs/emulator.md), each change its own event.
    assert states([stopping]) == [("Stopping", "Training")]
    assert stopping["time"] == iso(START + 100)
    harness.advance(20)
    assert states(harness.events()) == [("Stopping", "Stopping"), ("Stopped", "Stopped")]


def test_a_failed_job_says_why(harness: Harness) -> None:
    harness.sagemaker.create_training_job(
        **request("broken", fate={"outcome": "Failed", "failure-reason": "AlgorithmError: oom"})
    )
    harness.advance(300)
    last = harness.events()[-1]
    assert states([last]) == [("Failed", "Failed")]
    assert last["detail"]["FailureReason"] == "AlgorithmError: oom"


def test_delete_publishes_deleting(harness: Harness) -> None:
    harness.sagemaker.create_training_job(**request("deleted"))
    harness.advance(300)
    harness.events()
    harness.sagemaker.delete_training_job(TrainingJobName="deleted")
    assert states(harness.events()) == [("Deleting", "Completed")]
    harness.advance(3600)
    assert harness.events() == []


def test_events_come_from_every_region(harness: Harness) -> None:
    ireland = harness.sagemaker_in("eu-west-1")
    arn = ireland.create_training_job(**request("abroad"))["TrainingJobArn"]
    [event] = harness.events()
    assert event["region"] == "eu-west-1"
    assert event["resources"] == [arn]
    assert ":eu-west-1:" in arn


def test_long_poll_returns_as_soon_as_an_event_is_published(harness: Harness) -> None:
    harness.sagemaker.create_training_job(**request("awaited"))
    harness.events()
    poll = long_poll(harness, harness.url, wait=20, MaxNumberOfMessages=10)
    harness.advance(60)
    messages = poll.result()
    assert states([json.loads(m["Body"]) for m in messages]) == [("InProgress", "Downloading")]
    assert poll.elapsed < 10  # well before the 20 s it could wait


# -- faults ---------------------------------------------------------------------------------


def test_a_lost_event_never_arrives(harness: Harness) -> None:
    harness.running.admin.set_event_faults(lost={"count": 1})
    harness.sagemaker.create_training_job(**request("lossy"))
    assert harness.events() == []
    harness.advance(60)
    assert states(harness.events()) == [("InProgress", "Downloading")]
    stats = harness.running.admin.events()["stats"]
    assert (stats["published"], stats["lost"], stats["delivered"]) == (2, 1, 1)
    assert harness.running.admin.events()["faults"]["lost"]["count"] == 0  # spent


def test_a_duplicated_event_arrives_twice_with_the_same_id(harness: Harness) -> None:
    harness.running.admin.set_event_faults(duplicated={"count": 1})
    harness.sagemaker.create_training_job(**request("twice"))
    first, second = harness.events()
    assert first == second
    harness.advance(60)
    assert states(harness.events()) == [("InProgress", "Downloading")]  # once again


def test_a_delayed_event_arrives_late(harness: Harness) -> None:
    harness.running.admin.set_event_faults(delayed={"count": 1}, delaySeconds=30)
    harness.sagemaker.create_training_job(**request("late"))
    assert harness.events() == []
    assert harness.counts()["delayed"] == 1
    harness.advance(29.999)
    assert harness.events() == []
    harness.advance(0.001)
    [late] = harness.events()
    assert states([late]) == [("InProgress", "Starting")]
    assert late["time"] == iso(START)  # the time of the change, not of the delivery


def test_a_reordered_event_arrives_after_the_jobs_next_one(harness: Harness) -> None:
    harness.running.admin.set_event_faults(reordered={"count": 1})
    harness.sagemaker.create_training_job(**request("shuffled"))
    assert harness.events() == []  # held back
    harness.advance(60)
    assert states(harness.events()) == [
        ("InProgress", "Downloading"),
        ("InProgress", "Starting"),
    ]
    harness.advance(30)
    assert states(harness.events()) == [("InProgress", "Training")]


def test_fractions_by_seeded_dice_are_reproducible(harness: Harness) -> None:
    def run() -> list[tuple[str, str]]:
        harness.running.admin.set_event_faults(lost={"fraction": 0.5}, seed=7)
        harness.sagemaker.create_training_job(**request("dice"))
        harness.advance(3600)
        return states(harness.events())

    first = run()
    harness.running.admin.reset()
    assert run() == first
    assert 0 < len(first) < len(LIFECYCLE)  # some lost, not all
    assert first == [(s, ss) for _, s, ss in LIFECYCLE if (s, ss) in first]  # in order


def test_event_faults_are_validated(harness: Harness) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        harness.running.admin.set_event_faults(lost={"fraction": 2})
    assert raised.value.code == 400
    assert harness.running.admin.events()["faults"]["lost"] == {"count": 0, "fraction": 0.0}


def test_without_an_events_queue_there_are_no_events(sagemaker_emulator: testing.Running) -> None:
    assert sagemaker_emulator.admin.events() == {"queue": None}
    with pytest.raises(urllib.error.HTTPError) as raised:
        sagemaker_emulator.admin.set_event_faults(lost={"count": 1})
    assert raised.value.code == 409


def test_the_command_publishes_events_on_the_real_clock(tmp_path: Path) -> None:
    """``--events-queue`` end to end: a job at the test time scale, watched by long polls."""
    with process.command(tmp_path / "emulator.log", "--events-queue=jobs", "--admin") as url:
        queues = sqs_client_for(url)
        queue = queues.get_queue_url(QueueName="jobs")["QueueUrl"]
        client_for(url).create_training_job(**request("real"))
        seen: list[tuple[str, str]] = []
        while ("Completed", "Completed") not in seen:
            answer = queues.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=10
            )
            messages = answer.get("Messages", [])
            assert messages, f"No event within 10 s; seen so far: {seen}"
            seen.extend(states([json.loads(m["Body"]) for m in messages]))
            for m in messages:
                queues.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        assert seen == [(s, ss) for _, s, ss in LIFECYCLE]
        with urllib.request.urlopen(f"{url}/_emulator/events", timeout=10) as response:
            assert json.loads(response.read())["stats"]["delivered"] == len(LIFECYCLE)
