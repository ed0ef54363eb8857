"""Requests and waiting, shared by the emulator's tests."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sagemaker_operator.emulator import operations

T = TypeVar("T")

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"

BASE_REQUEST: dict[str, Any] = {
    "AlgorithmSpecification": {
        "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest",
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": "acc=([0-9.]+)"}],
    },
    "RoleArn": ROLE,
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}
            },
        }
    ],
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "HyperParameters": {"epochs": "3"},
}


def request(name: str, *, fate: dict[str, str] | None = None, **members: Any) -> dict[str, Any]:
    """A valid CreateTrainingJob request; ``fate`` keys are the fate tags' short names."""
    body = copy.deepcopy(BASE_REQUEST) | {"TrainingJobName": name} | members
    tags = list(body.get("Tags", []))
    for key, value in (fate or {}).items():
        tags.append({"Key": operations.FATE_PREFIX + key, "Value": value})
    if tags:
        body["Tags"] = tags
    return body


class HandClock:
    """A clock for the emulator that moves only when the test moves it.

    Set as the token buckets' clock (``Faults.clock``), calls spend and regain tokens exactly
    as the rates say; set as the emulator's own clock (``Emulator.clock``), every job is seen
    at exactly the instant the test chose, however slowly a loaded machine runs. Steps that
    are powers of two add up without rounding.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for(
    probe: Callable[[], T],
    until: Callable[[T], bool],
    timeout: float = 15.0,
    interval: float = 0.01,
) -> T:
    """Poll ``probe`` until its value satisfies ``until``; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"Condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)
        value = probe()
    return value


def wait_status(client: Any, name: str, *statuses: str, timeout: float = 15.0) -> dict[str, Any]:
    """Describe ``name`` until its TrainingJobStatus is one of ``statuses``."""
    result: dict[str, Any] = wait_for(
        lambda: client.describe_training_job(TrainingJobName=name),
        lambda d: d["TrainingJobStatus"] in statuses,
        timeout=timeout,
    )
    return result


def error_of(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    """Code, message and HTTP status of the error ``call(**params)`` must raise."""
    try:
        call(**params)
    except Exception as exc:  # botocore's ClientError, whatever its modelled subclass
        response = getattr(exc, "response", None)
        if response is None:
            raise
        error = response["Error"]
        return error["Code"], error["Message"], response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("The call succeeded; an error was expected.")
