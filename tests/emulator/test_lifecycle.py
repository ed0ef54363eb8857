"""Every path a job can take through SageMaker's statuses, watched through DescribeTrainingJob.

The session emulator runs at the test time scale: a default job takes about a second.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator.emulator import faults, lifecycle, operations, settings, testing
from tests.emulator.jobs import HandClock, error_of, request, wait_for, wait_status
from tests.plugins.emulator import client_for

SPOT = {
    "EnableManagedSpotTraining": True,
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    "CheckpointConfig": {"S3Uri": "s3://bucket/checkpoints/"},
}


def statuses(described: dict[str, Any]) -> list[str]:
    return [t["Status"] for t in described["SecondaryStatusTransitions"]]


def test_a_job_goes_through_every_phase_to_completed(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("happy"))
    seen: list[tuple[str, str]] = []
    modified: list[Any] = []

    def observe() -> dict[str, Any]:
        described: dict[str, Any] = sagemaker_client.describe_training_job(TrainingJobName="happy")
        pair = (described["TrainingJobStatus"], described["SecondaryStatus"])
        if not seen or seen[-1] != pair:
            seen.append(pair)
            modified.append(described["LastModifiedTime"])
        return described

    done = wait_for(observe, lambda d: d["TrainingJobStatus"] == "Completed", interval=0.005)
    assert seen[0] == ("InProgress", "Starting")
    assert seen[-1] == ("Completed", "Completed")
    assert all(s == "InProgress" for s, _ in seen[:-1])
    assert modified == sorted(modified)
    assert len(set(modified)) == len(modified)  # LastModifiedTime moved with every change
    assert statuses(done) == ["Starting", "Downloading", "Training", "Uploading", "Completed"]

    transitions = done["SecondaryStatusTransitions"]
    for earlier, later in itertools.pairwise(transitions):
        assert earlier["EndTime"] == later["StartTime"]
        assert earlier["StatusMessage"]
    assert transitions[-1]["StatusMessage"] == "Training job completed"
    assert done["TrainingStartTime"] == transitions[1]["StartTime"]
    assert done["TrainingEndTime"] == transitions[-1]["StartTime"] == done["LastModifiedTime"]
    assert done["ModelArtifacts"]["S3ModelArtifacts"] == (
        "s3://bucket/output/happy/output/model.tar.gz"
    )
    metrics = done["FinalMetricDataList"]
    assert [m["MetricName"] for m in metrics] == ["validation:accuracy"]
    assert 0 <= metrics[0]["Value"] <= 1
    assert done["TrainingTimeInSeconds"] >= 1
    assert done["BillableTimeInSeconds"] == done["TrainingTimeInSeconds"]
    assert "FailureReason" not in done


def test_a_job_tagged_to_fail_fails_with_its_reason(sagemaker_client: Any) -> None:
    fate = {"outcome": "Failed", "failure-reason": "ClientError: out of memory"}
    sagemaker_client.create_training_job(**request("doomed", fate=fate))
    done = wait_status(sagemaker_client, "doomed", "Failed")
    assert done["SecondaryStatus"] == "Failed"
    assert done["FailureReason"] == "ClientError: out of memory"
    assert statuses(done) == ["Starting", "Downloading", "Training", "Failed"]
    assert "ModelArtifacts" not in done
    assert "FinalMetricDataList" not in done


def test_a_failed_job_without_a_reason_gets_one(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("doomed2", fate={"outcome": "Failed"}))
    done = wait_status(sagemaker_client, "doomed2", "Failed")
    assert done["FailureReason"] == operations.DEFAULT_FAILURE_REASON


def test_max_runtime_stops_a_job_that_runs_too_long(sagemaker_client: Any) -> None:
    body = request(
        "too-long",
        fate={"duration-seconds": "100000"},
        StoppingCondition={"MaxRuntimeInSeconds": 120},
    )
    sagemaker_client.create_training_job(**body)
    done = wait_status(sagemaker_client, "too-long", "Stopped")
    assert done["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert statuses(done)[-1] == "MaxRuntimeExceeded"
    limit = settings.TEST_TIME_SCALE * 120
    runtime = (done["TrainingEndTime"] - done["TrainingStartTime"]).total_seconds()
    assert runtime == pytest.approx(limit, abs=0.01)


def test_a_spot_job_interrupted_resumes_and_bills_less(sagemaker_client: Any) -> None:
    body = request("spot", fate={"outcome": "Interrupted", "duration-seconds": "900"}, **SPOT)
    sagemaker_client.create_training_job(**body)
    done = wait_status(sagemaker_client, "spot", "Completed")
    assert statuses(done) == [
        "Starting",
        "Downloading",
        "Training",
        "Interrupted",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert done["EnableManagedSpotTraining"] is True
    # Time without spot capacity is not billed.
    (lost,) = [
        (t["EndTime"] - t["StartTime"]).total_seconds()
        for t in done["SecondaryStatusTransitions"]
        if t["Status"] == "Interrupted"
    ]
    ran = (done["TrainingEndTime"] - done["TrainingStartTime"]).total_seconds()
    assert lost > 0
    assert done["TrainingTimeInSeconds"] == math.ceil(ran)
    assert done["BillableTimeInSeconds"] == math.ceil(ran - lost)


def test_a_spot_job_that_waits_too_long_stops(sagemaker_client: Any) -> None:
    limits = {"MaxRuntimeInSeconds": 300, "MaxWaitTimeInSeconds": 600}
    body = request("spot-wait", fate={"outcome": "MaxWaitTimeExceeded"}, **SPOT)
    body["StoppingCondition"] = limits
    sagemaker_client.create_training_job(**body)
    done = wait_status(sagemaker_client, "spot-wait", "Stopped")
    assert done["SecondaryStatus"] == "MaxWaitTimeExceeded"
    assert statuses(done)[-2:] == ["Interrupted", "MaxWaitTimeExceeded"]
    waited = (done["TrainingEndTime"] - done["CreationTime"]).total_seconds()
    assert waited == pytest.approx(600 * settings.TEST_TIME_SCALE, abs=0.01)


@pytest.mark.parametrize("outcome", ["Interrupted", "MaxWaitTimeExceeded"])
def test_spot_fates_need_spot_training(sagemaker_client: Any, outcome: str) -> None:
    code, message, _ = error_of(
        sagemaker_client.create_training_job, **request("not-spot", fate={"outcome": outcome})
    )
    assert code == "ValidationException"
    assert operations.TAG_OUTCOME in message
    assert "enableManagedSpotTraining" in message


@pytest.mark.parametrize(("tag", "value"), [("outcome", "Exploded"), ("duration-seconds", "soon")])
def test_bad_fate_tags_are_refused_by_name(sagemaker_client: Any, tag: str, value: str) -> None:
    code, message, _ = error_of(
        sagemaker_client.create_training_job, **request("bad-fate", fate={tag: value})
    )
    assert code == "ValidationException"
    assert operations.FATE_PREFIX + tag in message


def test_a_warm_pool_is_available_then_terminated(sagemaker_client: Any) -> None:
    config = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    body = request("warm", ResourceConfig=config | {"KeepAlivePeriodInSeconds": 120})
    sagemaker_client.create_training_job(**body)
    done = wait_status(sagemaker_client, "warm", "Completed")
    assert done["WarmPoolStatus"]["Status"] == "Available"
    code, _, _ = error_of(sagemaker_client.delete_training_job, TrainingJobName="warm")
    assert code == "ResourceInUse"
    # An Available pool's keep-alive can still be changed; zero ends it.
    sagemaker_client.update_training_job(
        TrainingJobName="warm", ResourceConfig={"KeepAlivePeriodInSeconds": 0}
    )
    ended = wait_for(
        lambda: sagemaker_client.describe_training_job(TrainingJobName="warm"),
        lambda d: d["WarmPoolStatus"]["Status"] == "Terminated",
    )
    assert ended["TrainingJobStatus"] == "Completed"
    sagemaker_client.delete_training_job(TrainingJobName="warm")


def test_debugger_rules_report_an_evaluation_status(sagemaker_client: Any) -> None:
    rules = [
        {
            "RuleConfigurationName": "LossNotDecreasing",
            "RuleEvaluatorImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/rules:latest",
        }
    ]
    sagemaker_client.create_training_job(**request("ruled", DebugRuleConfigurations=rules))
    running = sagemaker_client.describe_training_job(TrainingJobName="ruled")
    assert running["DebugRuleEvaluationStatuses"][0]["RuleEvaluationStatus"] == "InProgress"
    done = wait_status(sagemaker_client, "ruled", "Completed")
    assert done["DebugRuleEvaluationStatuses"][0] == {
        "RuleConfigurationName": "LossNotDecreasing",
        "RuleEvaluationStatus": "NoIssuesFound",
        "LastModifiedTime": done["LastModifiedTime"],
    }


SCALE = settings.TEST_TIME_SCALE
PHASES = settings.Durations()
STARTING = PHASES.starting * SCALE  # wall-clock seconds of each phase in the session emulator
DOWNLOADING = PHASES.downloading * SCALE
STOPPING = PHASES.stopping * SCALE
WARM = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}


def seen(client: Any, name: str) -> tuple[str, str, str]:
    """Primary status, secondary status and the last transition's message."""
    described = client.describe_training_job(TrainingJobName=name)
    last = described["SecondaryStatusTransitions"][-1]
    assert last["Status"] == described["SecondaryStatus"]
    return described["TrainingJobStatus"], described["SecondaryStatus"], last["StatusMessage"]


def test_a_stop_shows_in_the_primary_status_first(sagemaker_client: Any, clock: HandClock) -> None:
    sagemaker_client.create_training_job(**request("halt", fate={"duration-seconds": "1e6"}))
    clock.advance(STARTING + DOWNLOADING + 0.125)
    assert seen(sagemaker_client, "halt")[:2] == ("InProgress", "Training")

    sagemaker_client.stop_training_job(TrainingJobName="halt")
    stopped_at = clock.now
    stopping = sagemaker_client.describe_training_job(TrainingJobName="halt")
    # SageMaker turns the job Stopping at once; the secondary status still says Training.
    assert (stopping["TrainingJobStatus"], stopping["SecondaryStatus"]) == ("Stopping", "Training")
    assert stopping["LastModifiedTime"].timestamp() == pytest.approx(stopped_at, abs=1e-3)
    assert "TrainingEndTime" not in stopping
    summary = sagemaker_client.list_training_jobs()["TrainingJobSummaries"][0]
    assert (summary["TrainingJobStatus"], summary["SecondaryStatus"]) == ("Stopping", "Training")

    clock.advance(STOPPING * lifecycle.STOPPING_LAG)
    caught_up = sagemaker_client.describe_training_job(TrainingJobName="halt")
    assert (caught_up["TrainingJobStatus"], caught_up["SecondaryStatus"]) == (
        "Stopping",
        "Stopping",
    )
    assert caught_up["LastModifiedTime"] > stopping["LastModifiedTime"]

    clock.advance(STOPPING)
    done = sagemaker_client.describe_training_job(TrainingJobName="halt")
    assert (done["TrainingJobStatus"], done["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert statuses(done) == ["Starting", "Downloading", "Training", "Stopping", "Stopped"]
    training, stopping_step = done["SecondaryStatusTransitions"][2:4]
    assert training["EndTime"] == stopping_step["StartTime"]
    assert done["TrainingEndTime"].timestamp() == pytest.approx(stopped_at + STOPPING, abs=1e-3)
    assert done["ModelArtifacts"]["S3ModelArtifacts"].endswith("/halt/output/model.tar.gz")
    assert done["LastModifiedTime"] == done["TrainingEndTime"]
    assert done["TrainingTimeInSeconds"] >= 1


def test_a_second_stop_while_stopping_is_refused(sagemaker_client: Any, clock: HandClock) -> None:
    sagemaker_client.create_training_job(**request("twice", fate={"duration-seconds": "1e6"}))
    sagemaker_client.stop_training_job(TrainingJobName="twice")
    expected = ("ValidationException", STOP_REFUSED.format("Stopping"), 400)
    # Refused both before and after the secondary status has caught up with the Stop.
    assert error_of(sagemaker_client.stop_training_job, TrainingJobName="twice") == expected
    clock.advance(STOPPING * lifecycle.STOPPING_LAG)
    assert seen(sagemaker_client, "twice")[:2] == ("Stopping", "Stopping")
    assert error_of(sagemaker_client.stop_training_job, TrainingJobName="twice") == expected
    clock.advance(STOPPING)
    assert error_of(sagemaker_client.stop_training_job, TrainingJobName="twice") == (
        "ValidationException",
        STOP_REFUSED.format("Stopped"),
        400,
    )


STOP_REFUSED = "The request was rejected because the training job is in status {}."


def test_the_message_moves_on_within_a_secondary_status(
    sagemaker_client: Any, clock: HandClock
) -> None:
    sagemaker_client.create_training_job(**request("chatty", fate={"duration-seconds": "1e6"}))
    first = sagemaker_client.describe_training_job(TrainingJobName="chatty")
    messages = [seen(sagemaker_client, "chatty")]
    for step in (STARTING / 3, STARTING / 3, STARTING / 3 + DOWNLOADING, STARTING / 4):
        clock.advance(step + 0.001)
        messages.append(seen(sagemaker_client, "chatty"))
    assert messages == [
        ("InProgress", "Starting", "Starting the training job"),
        ("InProgress", "Starting", "Launching requested ML instances"),
        ("InProgress", "Starting", "Preparing the instances for training"),
        ("InProgress", "Training", "Downloading the training image"),
        ("InProgress", "Training", "Training image download completed. Training in progress."),
    ]
    now = sagemaker_client.describe_training_job(TrainingJobName="chatty")
    # A finished transition keeps the last message it reached.
    assert now["SecondaryStatusTransitions"][0]["StatusMessage"] == (
        "Preparing the instances for training"
    )
    # NB: a new message is not a new transition and does not move LastModifiedTime (as far
    # as anyone outside AWS can tell): only a full describe shows it.
    assert len(now["SecondaryStatusTransitions"]) == 3
    assert first["LastModifiedTime"] == first["CreationTime"]


def test_a_job_can_fail_while_starting_for_want_of_capacity(
    sagemaker_client: Any, clock: HandClock
) -> None:
    body = request(
        "no-room",
        fate={"outcome": "CapacityError"},
        ResourceConfig=WARM | {"KeepAlivePeriodInSeconds": 600},
    )
    sagemaker_client.create_training_job(**body)
    clock.advance(STARTING * 0.9)
    assert seen(sagemaker_client, "no-room") == (
        "InProgress",
        "Starting",
        "Insufficient capacity error from EC2 while launching instances, retrying!",
    )
    clock.advance(STARTING * 0.1 + 0.001)
    failed = sagemaker_client.describe_training_job(TrainingJobName="no-room")
    assert (failed["TrainingJobStatus"], failed["SecondaryStatus"]) == ("Failed", "Failed")
    assert failed["FailureReason"] == lifecycle.CAPACITY_FAILURE
    assert failed["FailureReason"].startswith("CapacityError: ")
    assert statuses(failed) == ["Starting", "Failed"]
    # No instance ever ran: nothing started, nothing billed, no model, no warm pool.
    for member in (
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingTimeInSeconds",
        "BillableTimeInSeconds",
        "ModelArtifacts",
        "WarmPoolStatus",
    ):
        assert member not in failed, member
    sagemaker_client.delete_training_job(TrainingJobName="no-room")  # nothing holds it


def test_a_capacity_failure_takes_its_reason_from_the_tag(sagemaker_client: Any) -> None:
    fate = {"outcome": "CapacityError", "failure-reason": "CapacityError: try ml.g5.xlarge"}
    sagemaker_client.create_training_job(**request("no-room2", fate=fate))
    failed = wait_status(sagemaker_client, "no-room2", "Failed")
    assert failed["FailureReason"] == "CapacityError: try ml.g5.xlarge"


@pytest.mark.parametrize(
    ("label", "fate", "pool"),
    [
        ("stopped", {"duration-seconds": "1e6"}, "Available"),
        ("algorithm error", {"outcome": "Failed"}, "Available"),
        (
            "client error",
            {"outcome": "Failed", "failure-reason": "ClientError: no data"},
            "Terminated",
        ),
    ],
)
def test_a_warm_pool_outlives_a_stop_or_an_algorithm_error(
    sagemaker_client: Any, clock: HandClock, label: str, fate: dict[str, str], pool: str
) -> None:
    keep_alive = 600
    body = request(
        "pooled", fate=fate, ResourceConfig=WARM | {"KeepAlivePeriodInSeconds": keep_alive}
    )
    sagemaker_client.create_training_job(**body)
    clock.advance(STARTING + DOWNLOADING + 0.125)
    assert sagemaker_client.describe_training_job(TrainingJobName="pooled")["WarmPoolStatus"] == {
        "Status": "InUse"
    }
    if label == "stopped":
        sagemaker_client.stop_training_job(TrainingJobName="pooled")
    clock.advance(PHASES.training * SCALE + STOPPING)
    ended = sagemaker_client.describe_training_job(TrainingJobName="pooled")
    assert ended["TrainingJobStatus"] in ("Stopped", "Failed")
    assert ended["WarmPoolStatus"]["Status"] == pool
    if pool == "Available":
        code, message, _ = error_of(sagemaker_client.delete_training_job, TrainingJobName="pooled")
        assert code == "ResourceInUse"
        assert "warm pool" in message
        listed = sagemaker_client.list_training_jobs(WarmPoolStatusEquals="Available")
        assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["pooled"]
        clock.advance(keep_alive * SCALE)
        expired = sagemaker_client.describe_training_job(TrainingJobName="pooled")
        assert expired["WarmPoolStatus"]["Status"] == "Terminated"
        assert expired["LastModifiedTime"] > ended["LastModifiedTime"]
    sagemaker_client.delete_training_job(TrainingJobName="pooled")


def test_jobs_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    config = settings.Settings(
        port=0,
        time_scale=settings.TEST_TIME_SCALE,
        state_file=tmp_path / "state.jsonl",
        faults=faults.FaultSettings(throttling=False),
    )
    with testing.running(config) as first:
        client = client_for(first.url)
        client.create_training_job(**request("kept", fate={"duration-seconds": "1e6"}))
        client.create_training_job(**request("dropped"))
        client.add_tags(
            ResourceArn=client.describe_training_job(TrainingJobName="kept")["TrainingJobArn"],
            Tags=[{"Key": "owner", "Value": "me"}],
        )
        client.stop_training_job(TrainingJobName="kept")
        wait_status(client, "dropped", "Completed")
        client.delete_training_job(TrainingJobName="dropped")
        before = client.describe_training_job(TrainingJobName="kept")

    with testing.running(config) as second:
        client = client_for(second.url)
        after = wait_status(client, "kept", "Stopped")
        assert after["CreationTime"] == before["CreationTime"]
        assert after["TrainingJobArn"] == before["TrainingJobArn"]
        assert statuses(after)[-2:] == ["Stopping", "Stopped"]
        tags = client.list_tags(ResourceArn=after["TrainingJobArn"])["Tags"]
        assert {"Key": "owner", "Value": "me"} in tags
        names = wait_for(
            lambda: [
                s["TrainingJobName"] for s in client.list_training_jobs()["TrainingJobSummaries"]
            ],
            lambda n: n == ["kept"],
        )
        assert names == ["kept"]


def test_status_is_a_pure_function_of_the_clock() -> None:
    plan = lifecycle.Plan(starting=10, downloading=5, training=20, uploading=5, stopping=3)
    at = {t: lifecycle.observe(plan, 100.0, 100.0 + t) for t in (0, 12, 16, 36, 40, 1000)}
    assert {t: s.secondary for t, s in at.items()} == {
        0: "Starting",
        12: "Downloading",
        16: "Training",
        36: "Uploading",
        40: "Completed",
        1000: "Completed",
    }
    assert at[40] == at[1000]  # settled: nothing changes without a new request
    stopped = lifecycle.observe(plan, 100.0, 130.0, stop_requested=120.0)
    assert (stopped.status, stopped.secondary, stopped.last_modified) == (
        "Stopped",
        "Stopped",
        123.0,
    )


def test_end_training_at_moves_only_the_end_of_training() -> None:
    plan = lifecycle.Plan(starting=2, downloading=1, training=86400, uploading=1, stopping=1)
    ended = lifecycle.end_training_at(plan, created=100.0, at=110.0)
    assert ended.training == 7.0  # Training began at 103
    assert dataclasses.replace(ended, training=plan.training) == plan
    steps = lifecycle.timeline(ended, 100.0, None)
    assert [(s.status, s.start) for s in steps[-2:]] == [("Uploading", 110.0), ("Completed", 111.0)]
    spot = dataclasses.replace(plan, outcome=lifecycle.INTERRUPTED)
    assert lifecycle.end_training_at(spot, 100.0, 110.0) == spot


def test_finish_training_ends_training_jobs_in_creation_order(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    day = {"duration-seconds": "86400"}
    for name in ("first", "second", "stopped"):
        sagemaker_client.create_training_job(**request(name, fate=day))
    for name in ("first", "second", "stopped"):
        wait_for(
            functools.partial(sagemaker_client.describe_training_job, TrainingJobName=name),
            lambda d: d["SecondaryStatus"] == "Training",
        )
    sagemaker_client.stop_training_job(TrainingJobName="stopped")

    told = sagemaker_emulator.admin.finish_training("us-east-1", spread_seconds=0.5)

    assert told == 2  # the stopping job keeps its own end
    first = wait_status(sagemaker_client, "first", "Completed")
    second = wait_status(sagemaker_client, "second", "Completed")
    assert first["TrainingEndTime"] <= second["TrainingEndTime"]
    assert wait_status(sagemaker_client, "stopped", "Stopped")["TrainingJobStatus"] == "Stopped"
    assert sagemaker_emulator.admin.finish_training("us-east-1") == 0  # nothing trains now


def test_finish_training_refuses_a_negative_spread(sagemaker_emulator: testing.Running) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        sagemaker_emulator.admin.finish_training("us-east-1", spread_seconds=-1)
    assert refused.value.code == 400
