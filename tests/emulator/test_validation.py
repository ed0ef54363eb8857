"""Invalid requests, each refused by the server with AWS's code and the offending member named.

The client here skips botocore's own parameter validation, so every request reaches the
emulator as a careless or outdated client would send it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.jobs import ROLE, error_of, request
from tests.plugins.emulator import ClientFactory

ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/target"


def without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


def spot(**stopping: int) -> dict[str, Any]:
    return request("spot", EnableManagedSpotTraining=True, StoppingCondition=stopping)


def channel(**members: Any) -> list[dict[str, Any]]:
    source = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}
    return [{"ChannelName": "train", "DataSource": source} | members]


def resources(**members: Any) -> dict[str, Any]:
    return {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10} | members


def tags(n: int, key: str = "k") -> list[dict[str, str]]:
    return [{"Key": f"{key}{i}", "Value": "v"} for i in range(n)]


V = "ValidationException"
S = "SerializationException"

# (operation, request, error code, member the message must name)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("create_training_job", without(request("x"), "TrainingJobName"), V, "'trainingJobName'"),
    ("create_training_job", request("bad_name"), V, "'trainingJobName'"),
    ("create_training_job", request("n" * 64), V, "'trainingJobName'"),
    ("create_training_job", request("-leading-dash"), V, "'trainingJobName'"),
    ("create_training_job", without(request("x"), "RoleArn"), V, "'roleArn'"),
    ("create_training_job", request("x", RoleArn="arn:aws:iam::1:user/me"), V, "'roleArn'"),
    (
        "create_training_job",
        without(request("x"), "AlgorithmSpecification"),
        V,
        "'algorithmSpecification'",
    ),
    (
        "create_training_job",
        request("x", AlgorithmSpecification={"TrainingImage": "i", "TrainingInputMode": "Disk"}),
        V,
        "'algorithmSpecification.trainingInputMode'",
    ),
    (
        "create_training_job",
        request("x", AlgorithmSpecification={"TrainingInputMode": "File"}),
        V,
        "'algorithmSpecification.trainingImage'",
    ),
    (
        "create_training_job",
        request("x", ResourceConfig=resources(InstanceType="ml.huge")),
        V,
        "'resourceConfig.instanceType'",
    ),
    (
        "create_training_job",
        request("x", ResourceConfig=resources(InstanceCount="two")),
        S,
        "'resourceConfig.instanceCount'",
    ),
    (
        "create_training_job",
        request("x", ResourceConfig=resources(VolumeSizeInGB=-1)),
        V,
        "'resourceConfig.volumeSizeInGB'",
    ),
    (
        "create_training_job",
        request("x", StoppingCondition={"MaxRuntimeInSeconds": 0}),
        V,
        "'stoppingCondition.maxRuntimeInSeconds'",
    ),
    (
        "create_training_job",
        request("x", StoppingCondition={"MaxRuntimeInSeconds": 2419201}),
        V,
        "'stoppingCondition.maxRuntimeInSeconds'",
    ),
    (
        "create_training_job",
        spot(MaxRuntimeInSeconds=60),
        V,
        "'stoppingCondition.maxWaitTimeInSeconds'",
    ),
    (
        "create_training_job",
        spot(MaxRuntimeInSeconds=60, MaxWaitTimeInSeconds=30),
        V,
        "'stoppingCondition.maxWaitTimeInSeconds'",
    ),
    ("create_training_job", request("x", InputDataConfig=[]), V, "'inputDataConfig'"),
    (
        "create_training_job",
        request("x", InputDataConfig=channel(ChannelName="tr ain")),
        V,
        "'inputDataConfig.1.member.channelName'",
    ),
    (
        "create_training_job",
        request(
            "x",
            InputDataConfig=channel(
                DataSource={"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "ftp://bucket/"}}
            ),
        ),
        V,
        "'inputDataConfig.1.member.dataSource.s3DataSource.s3Uri'",
    ),
    (
        "create_training_job",
        without(request("x"), "OutputDataConfig", "S3OutputPath"),
        V,
        "'outputDataConfig.s3OutputPath'",
    ),
    (
        "create_training_job",
        request("x", HyperParameters={f"p{i}": "1" for i in range(101)}),
        V,
        "'hyperParameters'",
    ),
    (
        "create_training_job",
        request("x", HyperParameters={"lr": "1" * 2501}),
        V,
        "'hyperParameters.lr'",
    ),
    (
        "create_training_job",
        request("x", EnableNetworkIsolation="yes"),
        S,
        "'enableNetworkIsolation'",
    ),
    (
        "create_training_job",
        request("x", Tags=[{"Key": "k" * 129, "Value": "v"}]),
        V,
        "'tags.1.member.key'",
    ),
    (
        "create_training_job",
        request("x", Tags=[{"Key": "a,b", "Value": "v"}]),
        V,
        "'tags.1.member.key'",
    ),
    ("create_training_job", request("x", Tags=tags(51)), V, "'tags'"),
    ("create_training_job", request("x", Tags=tags(1) + tags(1)), V, "'tags.2.member.key'"),
    ("describe_training_job", {"TrainingJobName": ""}, V, "'trainingJobName'"),
    ("stop_training_job", {"TrainingJobName": "a_b"}, V, "'trainingJobName'"),
    ("delete_training_job", {}, V, "'trainingJobName'"),
    (
        "update_training_job",
        {"TrainingJobName": "target", "ResourceConfig": {"KeepAlivePeriodInSeconds": 21601}},
        V,
        "'resourceConfig.keepAlivePeriodInSeconds'",
    ),
    ("list_training_jobs", {"MaxResults": 101}, V, "'maxResults'"),
    ("list_training_jobs", {"MaxResults": 0}, V, "'maxResults'"),
    ("list_training_jobs", {"SortBy": "Size"}, V, "'sortBy'"),
    ("list_training_jobs", {"SortOrder": "Up"}, V, "'sortOrder'"),
    ("list_training_jobs", {"StatusEquals": "Running"}, V, "'statusEquals'"),
    ("list_training_jobs", {"NameContains": "a_b"}, V, "'nameContains'"),
    ("list_training_jobs", {"NextToken": "not-a-token"}, V, "'nextToken'"),
    ("list_training_jobs", {"MaxResults": "ten"}, S, "'maxResults'"),
    ("add_tags", {"ResourceArn": "arn:aws:s3:::bucket", "Tags": tags(1)}, V, "'resourceArn'"),
    ("add_tags", {"ResourceArn": ARN}, V, "'tags'"),
    ("delete_tags", {"ResourceArn": ARN, "TagKeys": []}, V, "'tagKeys'"),
    ("list_tags", {"ResourceArn": ARN, "MaxResults": 10}, V, "'maxResults'"),
]


@pytest.fixture
def careless_client(make_sagemaker_client: ClientFactory) -> Any:
    client = make_sagemaker_client(parameter_validation=False)
    client.create_training_job(**request("target", fate={"duration-seconds": "1e6"}))
    return client


@pytest.mark.parametrize(
    ("operation", "params", "code", "member"),
    CASES,
    ids=[f"{i:02d}-{case[0]}-{case[3].strip(chr(39))}" for i, case in enumerate(CASES)],
)
def test_invalid_requests_are_refused_naming_the_member(
    careless_client: Any, operation: str, params: dict[str, Any], code: str, member: str
) -> None:
    got_code, message, status = error_of(getattr(careless_client, operation), **params)
    assert (got_code, status) == (code, 400)
    assert member in message


def test_several_errors_are_reported_together(careless_client: Any) -> None:
    body = request("bad_name", RoleArn=ROLE[:-1] + " ")
    _, message, _ = error_of(careless_client.create_training_job, **body)
    assert message.startswith("2 validation errors detected: ")
    assert "'trainingJobName'" in message
    assert "'roleArn'" in message


def test_a_refused_create_stores_nothing(careless_client: Any) -> None:
    error_of(careless_client.create_training_job, **request("x", InputDataConfig=[]))
    names = [
        s["TrainingJobName"] for s in careless_client.list_training_jobs()["TrainingJobSummaries"]
    ]
    assert names == ["target"]


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 20
