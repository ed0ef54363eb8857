"""Throttling a fraction of calls by the dice (``throttleFraction``), through boto3."""

from __future__ import annotations

import urllib.error
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner

from sagemaker_operator.cli import main
from sagemaker_operator.emulator import testing
from tests.emulator.jobs import error_of, request
from tests.plugins.emulator import ClientFactory


def outcome(call: Any, **kwargs: Any) -> str:
    try:
        call(**kwargs)
    except Exception as exc:  # botocore's ClientError: the code is the outcome
        code: str = exc.response["Error"]["Code"]  # type: ignore[attr-defined]
        return code
    return "ok"


def test_a_fraction_of_calls_is_throttled_like_an_empty_bucket(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    created = sagemaker_client.create_training_job(
        **request("target", fate={"duration-seconds": "1e6"})
    )
    sagemaker_emulator.admin.set_faults(throttleFraction=0.3, seed=11)
    assert sagemaker_emulator.admin.faults()["throttling"] is False  # no bucket in play
    seen = Counter(
        outcome(sagemaker_client.describe_training_job, TrainingJobName="target")
        for _ in range(400)
    )
    assert set(seen) == {"ok", "ThrottlingException"}
    # 30% of 400 is 120; the seeded dice land within a few standard deviations (~9) of it.
    assert 90 <= seen["ThrottlingException"] <= 150
    # Every operation gets the dice, not only those with a bucket.
    tags = Counter(
        outcome(sagemaker_client.list_tags, ResourceArn=created["TrainingJobArn"])
        for _ in range(100)
    )
    assert 0 < tags["ThrottlingException"] < 100
    counts = sagemaker_emulator.admin.counters()["operations"]["DescribeTrainingJob"]
    assert counts == {"ok": seen["ok"], "ThrottlingException": seen["ThrottlingException"]}


def test_the_answer_is_aws_throttling(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_emulator.admin.set_faults(throttleFraction=1.0)
    assert error_of(sagemaker_client.create_training_job, **request("never")) == (
        "ThrottlingException",
        "Rate exceeded",
        400,
    )
    sagemaker_emulator.admin.set_faults(throttleFraction=0.0)
    # A throttled create created nothing.
    assert sagemaker_client.list_training_jobs()["TrainingJobSummaries"] == []


def test_the_same_seed_throttles_the_same_calls(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    def sequence() -> list[str]:
        sagemaker_emulator.admin.set_faults(throttleFraction=0.5, seed=5)
        return [outcome(sagemaker_client.list_training_jobs) for _ in range(30)]

    first = sequence()
    assert "ok" in first
    assert "ThrottlingException" in first
    assert sequence() == first


def test_botocore_retries_get_through_throttling_and_5xx(
    sagemaker_emulator: testing.Running, make_sagemaker_client: ClientFactory
) -> None:
    client = make_sagemaker_client(retries={"mode": "standard", "max_attempts": 10})
    sagemaker_emulator.admin.set_faults(throttleFraction=0.3, errorFraction=0.05, seed=2)
    for index in range(20):
        client.create_training_job(**request(f"job-{index}"))
    counts = sagemaker_emulator.admin.counters()["operations"]["CreateTrainingJob"]
    assert counts["ok"] == 20
    assert counts["ThrottlingException"] > 0
    sagemaker_emulator.admin.set_faults(throttleFraction=0.0, errorFraction=0.0)
    listed = client.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
    assert len(listed) == 20


def test_admin_and_command_take_the_fraction(sagemaker_emulator: testing.Running) -> None:
    assert sagemaker_emulator.admin.faults()["throttleFraction"] == 0.0
    with pytest.raises(urllib.error.HTTPError) as refused_by_admin:
        sagemaker_emulator.admin.set_faults(throttleFraction=1.5)
    assert refused_by_admin.value.code == 400
    assert sagemaker_emulator.admin.faults()["throttleFraction"] == 0.0
    result = CliRunner().invoke(main, ["emulator", "--help"])
    assert "--throttle-fraction" in result.output
    refused = CliRunner().invoke(main, ["emulator", "--throttle-fraction", "2"])
    assert refused.exit_code != 0
