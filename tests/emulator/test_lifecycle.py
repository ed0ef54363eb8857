"""Every path a job can take through SageMaker's statuses, watched through DescribeTrainingJob.

The session emulator runs at the test time scale: a default job takes about a second.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator.emulator import faults, lifecycle, operations, settings, testing
from tests.emulator.jobs import error_of, request, wait_for, wait_status
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


@pytest.fixture(scope="module")
def slow_stop() -> Iterator[testing.Running]:
    """An emulator whose Stopping lasts long enough (~2 s) to be seen on a busy machine."""
    config = settings.Settings(
        port=0,
        time_scale=settings.TEST_TIME_SCALE,
        durations=dataclasses.replace(settings.Durations(), stopping=600),
        faults=faults.FaultSettings(throttling=False),
    )
    with testing.running(config) as running:
        yield running


def test_stop_shows_stopping_before_stopped(slow_stop: testing.Running) -> None:
    client = client_for(slow_stop.url)
    client.create_training_job(**request("halt", fate={"duration-seconds": "1e6"}))
    wait_for(
        lambda: client.describe_training_job(TrainingJobName="halt"),
        lambda d: d["SecondaryStatus"] == "Training",
    )
    client.stop_training_job(TrainingJobName="halt")
    stopping = client.describe_training_job(TrainingJobName="halt")
    assert (stopping["TrainingJobStatus"], stopping["SecondaryStatus"]) == ("Stopping", "Stopping")
    assert "TrainingEndTime" not in stopping
    done = wait_status(client, "halt", "Stopped", timeout=20)
    assert statuses(done) == ["Starting", "Downloading", "Training", "Stopping", "Stopped"]
    assert done["ModelArtifacts"]["S3ModelArtifacts"].endswith("/halt/output/model.tar.gz")
    assert done["LastModifiedTime"] == done["TrainingEndTime"]
    assert done["TrainingTimeInSeconds"] >= 1


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
