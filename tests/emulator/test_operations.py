"""Every training-job operation, through boto3 as the operator will call them."""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sagemaker_operator.cli import main
from sagemaker_operator.emulator import protocol, settings, testing
from tests.emulator.jobs import HandClock, error_of, request, wait_for, wait_status
from tests.emulator.process import command
from tests.plugins.emulator import ClientFactory, client_for, emulator_config

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:training-job/"


def test_create_returns_the_arn_with_the_name_in_lower_case(sagemaker_client: Any) -> None:
    answer = sagemaker_client.create_training_job(**request("My-Job-1"))
    assert answer["TrainingJobArn"] == ARN_PREFIX + "my-job-1"


def test_describe_echoes_the_request_and_adds_the_status(sagemaker_client: Any) -> None:
    body = request("echo", EnableNetworkIsolation=True, Environment={"MODE": "test"})
    sagemaker_client.create_training_job(**body)
    described = sagemaker_client.describe_training_job(TrainingJobName="echo")
    for member in (
        "AlgorithmSpecification",
        "RoleArn",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
        "HyperParameters",
        "EnableNetworkIsolation",
        "Environment",
    ):
        assert described[member] == body[member], member
    assert described["TrainingJobName"] == "echo"
    assert described["TrainingJobArn"] == ARN_PREFIX + "echo"
    assert described["TrainingJobStatus"] == "InProgress"
    assert described["SecondaryStatus"] == "Starting"
    assert described["EnableManagedSpotTraining"] is False
    assert described["LastModifiedTime"] >= described["CreationTime"]
    assert "Tags" not in described


def test_describe_defaults_the_stopping_condition(sagemaker_client: Any) -> None:
    body = request("no-limit")
    del body["StoppingCondition"]
    sagemaker_client.create_training_job(**body)
    described = sagemaker_client.describe_training_job(TrainingJobName="no-limit")
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}


def test_a_duplicate_name_is_resource_in_use_whatever_its_case(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("twice"))
    for name in ("twice", "TWICE"):
        code, message, status = error_of(sagemaker_client.create_training_job, **request(name))
        assert (code, status) == ("ResourceInUse", 400)
        assert ARN_PREFIX + "twice" in message


def test_unknown_jobs_are_validation_exceptions_as_aws_answers(sagemaker_client: Any) -> None:
    calls: dict[Any, dict[str, Any]] = {
        sagemaker_client.describe_training_job: {"TrainingJobName": "ghost"},
        sagemaker_client.stop_training_job: {"TrainingJobName": "ghost"},
        sagemaker_client.delete_training_job: {"TrainingJobName": "ghost"},
        sagemaker_client.update_training_job: {
            "TrainingJobName": "ghost",
            "ResourceConfig": {"KeepAlivePeriodInSeconds": 60},
        },
        sagemaker_client.list_tags: {"ResourceArn": ARN_PREFIX + "ghost"},
    }
    for call, params in calls.items():
        assert error_of(call, **params) == ("ValidationException", protocol.NOT_FOUND_MESSAGE, 400)


def test_stop_moves_the_job_to_stopped(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("stop-me", fate={"duration-seconds": "1e6"}))
    sagemaker_client.stop_training_job(TrainingJobName="stop-me")
    described = wait_status(sagemaker_client, "stop-me", "Stopped")
    assert described["SecondaryStatus"] == "Stopped"
    statuses = [t["Status"] for t in described["SecondaryStatusTransitions"]]
    assert statuses[-2:] == ["Stopping", "Stopped"]


def test_stop_of_a_finished_job_is_refused(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("done"))
    wait_status(sagemaker_client, "done", "Completed")
    code, message, _ = error_of(sagemaker_client.stop_training_job, TrainingJobName="done")
    assert code == "ValidationException"
    assert "Completed" in message


def test_update_changes_profiler_and_keep_alive(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("upd", fate={"duration-seconds": "1e6"}))
    before = sagemaker_client.describe_training_job(TrainingJobName="upd")
    answer = sagemaker_client.update_training_job(
        TrainingJobName="upd",
        ProfilerConfig={"ProfilingIntervalInMilliseconds": 500},
        ResourceConfig={"KeepAlivePeriodInSeconds": 120},
    )
    assert answer["TrainingJobArn"] == ARN_PREFIX + "upd"
    after = sagemaker_client.describe_training_job(TrainingJobName="upd")
    assert after["ProfilerConfig"]["ProfilingIntervalInMilliseconds"] == 500
    assert after["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 120
    assert after["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    assert after["LastModifiedTime"] > before["LastModifiedTime"]


def test_update_of_a_finished_job_without_warm_pool_is_refused(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("fin"))
    wait_status(sagemaker_client, "fin", "Completed")
    code, message, _ = error_of(
        sagemaker_client.update_training_job,
        TrainingJobName="fin",
        ProfilerConfig={"ProfilingIntervalInMilliseconds": 500},
    )
    assert code == "ValidationException"
    assert "profilerConfig" in message


def test_update_with_nothing_to_change_is_refused(sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("idle", fate={"duration-seconds": "1e6"}))
    code, message, _ = error_of(sagemaker_client.update_training_job, TrainingJobName="idle")
    assert code == "ValidationException"
    assert "Nothing to update" in message


def test_delete_only_when_terminal_then_the_name_is_free() -> None:
    # NB: Deleting lasts as long as Stopping (20 emulated seconds): 70 ms at the tests' time
    # scale, less than one Describe takes on a loaded CI machine (this test failed so once).
    # Its own emulator runs at 0.1: Deleting lasts 2 s.
    with testing.running(emulator_config(time_scale=0.1)) as running:
        sagemaker_client = client_for(running.url)
        sagemaker_client.create_training_job(**request("del", fate={"duration-seconds": "1e6"}))
        code, message, _ = error_of(sagemaker_client.delete_training_job, TrainingJobName="del")
        assert code == "ResourceInUse"
        assert "InProgress" in message

        sagemaker_client.stop_training_job(TrainingJobName="del")
        wait_status(sagemaker_client, "del", "Stopped")
        sagemaker_client.delete_training_job(TrainingJobName="del")
        seen = sagemaker_client.describe_training_job(TrainingJobName="del")
        assert seen["TrainingJobStatus"] == "Deleting"

        def gone() -> bool:
            try:
                sagemaker_client.describe_training_job(TrainingJobName="del")
            except sagemaker_client.exceptions.ClientError:
                return True
            return False

        wait_for(gone, bool)
        sagemaker_client.create_training_job(**request("del"))  # the name can be used again
        assert sagemaker_client.describe_training_job(TrainingJobName="del")["TrainingJobStatus"]


def test_tags_are_added_listed_paged_and_deleted(sagemaker_client: Any) -> None:
    arn = sagemaker_client.create_training_job(
        **request("tagged", Tags=[{"Key": "team", "Value": "ml"}])
    )["TrainingJobArn"]
    added = [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(49)]
    assert sagemaker_client.add_tags(ResourceArn=arn, Tags=added)["Tags"] == added

    listed = sagemaker_client.list_tags(ResourceArn=arn)
    assert len(listed["Tags"]) == 50
    assert listed["Tags"][0] == {"Key": "team", "Value": "ml"}
    assert "NextToken" not in listed

    code, message, _ = error_of(
        sagemaker_client.add_tags, ResourceArn=arn, Tags=[{"Key": "one-too-many", "Value": ""}]
    )
    assert code == "ValidationException"
    assert "tags" in message

    sagemaker_client.delete_tags(ResourceArn=arn, TagKeys=[t["Key"] for t in added])
    assert sagemaker_client.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_list_tags_pages_with_next_token(sagemaker_client: Any) -> None:
    arn = sagemaker_client.create_training_job(**request("many-tags"))["TrainingJobArn"]
    tags = [{"Key": f"k{i:02d}", "Value": "v"} for i in range(50)]
    sagemaker_client.add_tags(ResourceArn=arn, Tags=tags)
    # MaxResults has a minimum of 50, so a page of 50 over 50 tags has no next page...
    assert "NextToken" not in sagemaker_client.list_tags(ResourceArn=arn, MaxResults=50)
    paginator = sagemaker_client.get_paginator("list_tags")
    pages = list(paginator.paginate(ResourceArn=arn))
    assert [t for p in pages for t in p["Tags"]] == tags


def test_jobs_live_in_the_region_the_request_was_signed_for(
    make_sagemaker_client: ClientFactory,
) -> None:
    east, west = make_sagemaker_client("us-east-1"), make_sagemaker_client("eu-west-1")
    arn = west.create_training_job(**request("regional"))["TrainingJobArn"]
    assert arn.startswith("arn:aws:sagemaker:eu-west-1:")
    assert east.list_training_jobs()["TrainingJobSummaries"] == []
    assert error_of(east.describe_training_job, TrainingJobName="regional")[0] == (
        "ValidationException"
    )
    east.create_training_job(**request("regional"))  # same name, other region: no conflict
    assert [s["TrainingJobName"] for s in west.list_training_jobs()["TrainingJobSummaries"]] == [
        "regional"
    ]


def test_health_counts_jobs(sagemaker_emulator: testing.Running, sagemaker_client: Any) -> None:
    sagemaker_client.create_training_job(**request("one"))
    assert sagemaker_emulator.admin.health() == {"ok": True, "jobs": 1}


GROUPS = [
    {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1, "InstanceGroupName": "gpu"},
    {"InstanceType": "ml.m5.large", "InstanceCount": 2, "InstanceGroupName": "cpu"},
]


def test_instance_groups_exclude_an_instance_type_and_count(sagemaker_client: Any) -> None:
    mixed = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "InstanceGroups": GROUPS}
    code, message, status = error_of(
        sagemaker_client.create_training_job,
        **request("mixed", ResourceConfig=mixed | {"VolumeSizeInGB": 10}),
    )
    assert (code, status) == ("ValidationException", 400)
    assert "'resourceConfig.instanceType' and 'resourceConfig.instanceCount'" in message
    assert "'resourceConfig.instanceGroups'" in message
    only_count = {"InstanceCount": 1, "InstanceGroups": GROUPS, "VolumeSizeInGB": 10}
    code, message, _ = error_of(
        sagemaker_client.create_training_job, **request("mixed", ResourceConfig=only_count)
    )
    assert code == "ValidationException"
    assert "'resourceConfig.instanceCount' cannot" in message

    groups = {"InstanceGroups": GROUPS, "VolumeSizeInGB": 10}
    sagemaker_client.create_training_job(**request("hetero", ResourceConfig=groups))
    described = sagemaker_client.describe_training_job(TrainingJobName="hetero")
    assert described["ResourceConfig"]["InstanceGroups"] == GROUPS


def quota_message(kind: str, quota: int, used: int, delta: int) -> str:
    return (
        f"The account-level service limit '{kind} for training job usage' is {quota} "
        f"Instances, with current utilization of {used} Instances and a request delta of "
        f"{delta} Instances. Please contact AWS support to request an increase for this limit."
    )


def test_instance_quotas_refuse_what_the_account_may_not_hold(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, clock: HandClock
) -> None:
    quotas = {"ml.p4d.24xlarge": 0, "ml.m5.large": 3}
    assert sagemaker_emulator.admin.set_faults(instanceQuotas=quotas)["instanceQuotas"] == quotas
    gpu = {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10}
    assert error_of(sagemaker_client.create_training_job, **request("gpu", ResourceConfig=gpu)) == (
        "ResourceLimitExceeded",
        quota_message("ml.p4d.24xlarge", 0, 0, 1),
        400,
    )
    forever = {"duration-seconds": "1e6"}
    two = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 10}
    sagemaker_client.create_training_job(**request("cpu-a", fate=forever, ResourceConfig=two))
    code, message, _ = error_of(
        sagemaker_client.create_training_job, **request("cpu-b", fate=forever, ResourceConfig=two)
    )
    assert (code, message) == ("ResourceLimitExceeded", quota_message("ml.m5.large", 3, 2, 2))
    # Instance groups count per type; other types are not limited.
    code, message, _ = error_of(
        sagemaker_client.create_training_job,
        **request("hetero", ResourceConfig={"InstanceGroups": GROUPS, "VolumeSizeInGB": 10}),
    )
    assert (code, message) == ("ResourceLimitExceeded", quota_message("ml.m5.large", 3, 2, 2))
    other = {"InstanceType": "ml.c5.xlarge", "InstanceCount": 8, "VolumeSizeInGB": 10}
    sagemaker_client.create_training_job(**request("other", ResourceConfig=other))
    assert sagemaker_emulator.admin.calls("CreateTrainingJob", "ResourceLimitExceeded") == 3

    # A stopping job still holds its instances; a stopped one gives them back.
    sagemaker_client.stop_training_job(TrainingJobName="cpu-a")
    assert error_of(
        sagemaker_client.create_training_job, **request("cpu-b", fate=forever, ResourceConfig=two)
    )[0] == ("ResourceLimitExceeded")
    clock.advance(settings.Durations().stopping * settings.TEST_TIME_SCALE)
    stopped = sagemaker_client.describe_training_job(TrainingJobName="cpu-a")
    assert stopped["TrainingJobStatus"] == "Stopped"
    sagemaker_client.create_training_job(**request("cpu-b", fate=forever, ResourceConfig=two))

    # Raising the quota at run time lets the refused job in.
    sagemaker_emulator.admin.set_faults(instanceQuotas={"ml.p4d.24xlarge": 1})
    sagemaker_client.create_training_job(**request("gpu", ResourceConfig=gpu))


def test_an_available_warm_pool_counts_against_the_quota(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_emulator.admin.set_faults(instanceQuotas={"ml.m5.large": 1})
    pooled = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    body = request("pooled", ResourceConfig=pooled | {"KeepAlivePeriodInSeconds": 3600})
    sagemaker_client.create_training_job(**body)
    done = wait_status(sagemaker_client, "pooled", "Completed")
    assert done["WarmPoolStatus"]["Status"] == "Available"
    code, message, _ = error_of(
        sagemaker_client.create_training_job, **request("next", ResourceConfig=pooled)
    )
    assert (code, message) == ("ResourceLimitExceeded", quota_message("ml.m5.large", 1, 1, 1))
    sagemaker_client.update_training_job(
        TrainingJobName="pooled", ResourceConfig={"KeepAlivePeriodInSeconds": 0}
    )
    sagemaker_client.create_training_job(**request("next", ResourceConfig=pooled))


def test_a_negative_quota_is_refused_by_the_admin_endpoint(
    sagemaker_emulator: testing.Running,
) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        sagemaker_emulator.admin.set_faults(instanceQuotas={"ml.m5.large": -1})
    assert refused.value.code == 400


def test_the_command_takes_instance_quotas(tmp_path: Path) -> None:
    with command(tmp_path / "emulator.log", "--instance-quota", "ml.p4d.24xlarge=0") as url:
        client = client_for(url)
        gpu = {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 2, "VolumeSizeInGB": 10}
        assert error_of(client.create_training_job, **request("gpu", ResourceConfig=gpu)) == (
            "ResourceLimitExceeded",
            quota_message("ml.p4d.24xlarge", 0, 0, 2),
            400,
        )
    refused = CliRunner().invoke(main, ["emulator", "--instance-quota", "ml.p4d.24xlarge"])
    assert refused.exit_code != 0
    assert "INSTANCE_TYPE=N" in refused.output
