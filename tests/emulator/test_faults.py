"""Faults on demand and the counters, through boto3 and the admin endpoint."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest
from click.testing import CliRunner

from sagemaker_operator.cli import main
from sagemaker_operator.emulator import testing
from tests.emulator.jobs import HandClock, error_of, request
from tests.plugins.emulator import ClientFactory


@pytest.fixture
def job(sagemaker_client: Any) -> str:
    sagemaker_client.create_training_job(**request("target", fate={"duration-seconds": "1e6"}))
    return "target"


def test_default_rates_are_the_documented_assumptions(sagemaker_emulator: testing.Running) -> None:
    faults = sagemaker_emulator.admin.faults()
    assert faults["throttling"] is False  # off in tests unless a test turns it on
    assert faults["rates"] == {
        "CreateTrainingJob": {"rate": 2.0, "burst": 5},
        "DescribeTrainingJob": {"rate": 10.0, "burst": 20},
        "ListTrainingJobs": {"rate": 2.0, "burst": 2},
        "StopTrainingJob": {"rate": 2.0, "burst": 5},
        "UpdateTrainingJob": {"rate": 1.0, "burst": 1},
        "DescribeLogStreams": {"rate": 5.0, "burst": 5},
        "GetLogEvents": {"rate": 25.0, "burst": 25},
        "FilterLogEvents": {"rate": 5.0, "burst": 5},
    }


@pytest.fixture
def hand_clock(sagemaker_emulator: testing.Running, monkeypatch: pytest.MonkeyPatch) -> HandClock:
    clock = HandClock()
    monkeypatch.setattr(sagemaker_emulator.emulator.faults, "clock", clock)
    return clock


def outcomes(call: Callable[[], object], times: int) -> list[str]:
    """Each call's outcome: "ok" or its error code."""
    seen = []
    for _ in range(times):
        try:
            call()
            seen.append("ok")
        except botocore.exceptions.ClientError as exc:
            seen.append(exc.response["Error"]["Code"])
    return seen


THROTTLED = "ThrottlingException"


def test_throttling_spends_the_burst_then_refills(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str, hand_clock: HandClock
) -> None:
    sagemaker_emulator.admin.set_faults(
        throttling=True, rates={"DescribeTrainingJob": {"rate": 4, "burst": 3}}
    )

    def describe() -> object:
        return sagemaker_client.describe_training_job(TrainingJobName=job)

    assert outcomes(describe, 4) == ["ok", "ok", "ok", THROTTLED]
    assert error_of(sagemaker_client.describe_training_job, TrainingJobName=job) == (
        THROTTLED,
        "Rate exceeded",
        400,
    )
    # Only Describe has a bucket now: other operations pass.
    assert outcomes(sagemaker_client.list_training_jobs, 5) == ["ok"] * 5
    hand_clock.advance(0.125)  # half a token at 4/s
    assert outcomes(describe, 1) == [THROTTLED]
    hand_clock.advance(0.125)  # the other half
    assert outcomes(describe, 2) == ["ok", THROTTLED]
    hand_clock.advance(60)  # a quiet minute refills the bucket up to its burst, no more
    assert outcomes(describe, 4) == ["ok", "ok", "ok", THROTTLED]
    counts = sagemaker_emulator.admin.counters()["operations"]["DescribeTrainingJob"]
    assert counts == {"ok": 7, THROTTLED: 5}


def test_throttling_default_buckets(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, hand_clock: HandClock
) -> None:
    sagemaker_emulator.admin.set_faults(throttling=True)
    # A burst of 2, refilled at 2/s (the default for ListTrainingJobs).
    assert outcomes(sagemaker_client.list_training_jobs, 3) == ["ok", "ok", THROTTLED]
    hand_clock.advance(0.5)
    assert outcomes(sagemaker_client.list_training_jobs, 2) == ["ok", THROTTLED]


def test_buckets_run_on_the_servers_clock_by_default(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    assert sagemaker_emulator.emulator.faults.clock is None
    # One token a minute: a third call throttled unless a whole minute passed between them.
    sagemaker_emulator.admin.set_faults(
        throttling=True, rates={"ListTrainingJobs": {"rate": 1 / 60, "burst": 2}}
    )
    assert outcomes(sagemaker_client.list_training_jobs, 3) == ["ok", "ok", THROTTLED]


def test_no_throttling_when_switched_off(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    sagemaker_emulator.admin.set_faults(throttling=False)
    for _ in range(60):
        sagemaker_client.describe_training_job(TrainingJobName=job)
    assert sagemaker_emulator.admin.calls("DescribeTrainingJob") == 60


def test_every_call_can_fail_with_5xx(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    sagemaker_emulator.admin.set_faults(errorFraction=1.0, seed=7)
    seen = set()
    for _ in range(20):
        code, _, status = error_of(sagemaker_client.describe_training_job, TrainingJobName=job)
        seen.add((code, status))
    assert seen == {("InternalFailure", 500), ("ServiceUnavailable", 503)}


def test_5xx_can_target_one_operation(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    sagemaker_emulator.admin.set_faults(errorFraction=1.0, errorOperations=["ListTrainingJobs"])
    sagemaker_client.describe_training_job(TrainingJobName=job)
    code, _, status = error_of(sagemaker_client.list_training_jobs)
    assert status >= 500
    assert code in ("InternalFailure", "ServiceUnavailable")


def test_botocore_retries_get_through_a_fraction_of_5xx(
    sagemaker_emulator: testing.Running, make_sagemaker_client: ClientFactory, job: str
) -> None:
    client = make_sagemaker_client(retries={"mode": "standard", "max_attempts": 10})
    sagemaker_emulator.admin.set_faults(errorFraction=0.4, seed=3)
    for _ in range(20):
        assert client.describe_training_job(TrainingJobName=job)["TrainingJobName"] == job
    counts = sagemaker_emulator.admin.counters()["operations"]["DescribeTrainingJob"]
    assert counts["ok"] == 20
    assert counts.get("InternalFailure", 0) + counts.get("ServiceUnavailable", 0) > 0


def test_added_latency(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    sagemaker_emulator.admin.set_faults(latencyMs=300)
    started = time.monotonic()
    sagemaker_client.describe_training_job(TrainingJobName=job)
    assert time.monotonic() - started >= 0.3


def test_counters_per_operation_and_outcome(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    sagemaker_client.describe_training_job(TrainingJobName=job)
    error_of(sagemaker_client.describe_training_job, TrainingJobName="ghost")
    error_of(sagemaker_client.create_training_job, **request(job))
    sagemaker_client.list_training_jobs()
    assert sagemaker_emulator.admin.counters() == {
        "operations": {
            "CreateTrainingJob": {"ok": 1, "ResourceInUse": 1},
            "DescribeTrainingJob": {"ok": 1, "ValidationException": 1},
            "ListTrainingJobs": {"ok": 1},
        },
        "total": 5,
    }
    sagemaker_emulator.admin.reset(jobs=False)
    assert sagemaker_emulator.admin.counters() == {"operations": {}, "total": 0}
    assert sagemaker_client.describe_training_job(TrainingJobName=job)["TrainingJobName"] == job


def test_reset_restores_start_up_faults_and_forgets_jobs(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    sagemaker_emulator.admin.set_faults(throttling=True, errorFraction=0.5)
    sagemaker_emulator.admin.reset()
    faults = sagemaker_emulator.admin.faults()
    assert (faults["throttling"], faults["errorFraction"]) == (False, 0.0)
    assert sagemaker_client.list_training_jobs()["TrainingJobSummaries"] == []


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_admin_refuses_invalid_faults(sagemaker_emulator: testing.Running) -> None:
    for bad in ({"errorFraction": 2}, {"latencyMs": -1}, {"rates": {"X": {"rate": 0}}}):
        status, answer = post(
            sagemaker_emulator.admin.url + "/faults",
            json.dumps(bad).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 400
        assert "error" in answer
    assert sagemaker_emulator.admin.faults()["errorFraction"] == 0.0


@pytest.mark.parametrize(
    ("target", "body", "code"),
    [
        ("SageMaker.CreateModel", b"{}", "UnknownOperationException"),
        ("Other.DescribeTrainingJob", b"{}", "UnknownOperationException"),
        ("SageMaker.DescribeTrainingJob", b"{not json", "SerializationException"),
        ("SageMaker.DescribeTrainingJob", b"[1]", "SerializationException"),
    ],
)
def test_protocol_errors(
    sagemaker_emulator: testing.Running, target: str, body: bytes, code: str
) -> None:
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    status, answer = post(sagemaker_emulator.url + "/", body, headers)
    assert status == 400
    assert answer["__type"] == code
    assert answer["message"]


def test_the_command_is_registered() -> None:
    result = CliRunner().invoke(main, ["emulator", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--time-scale",
        "--state-file",
        "--no-throttle",
        "--error-fraction",
        "--rate",
        "--admin / --no-admin",
        "--lost-response-count",
        "--lost-response-fraction",
        "--lost-response-operation",
        "--lost-response-mode",
    ):
        assert flag in result.output


def test_the_command_refuses_a_bad_rate() -> None:
    result = CliRunner().invoke(main, ["emulator", "--rate", "DescribeTrainingJob=fast"])
    assert result.exit_code != 0
    assert "OPERATION=RATE" in result.output.upper()


def test_an_operation_can_be_refused_permanently(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    sagemaker_emulator.admin.refuse("StopTrainingJob", message="explicit deny in an SCP")
    code, message, status = error_of(sagemaker_client.stop_training_job, TrainingJobName=job)
    assert (code, message, status) == ("AccessDeniedException", "explicit deny in an SCP", 400)
    sagemaker_client.describe_training_job(TrainingJobName=job)  # other operations answer
    sagemaker_emulator.admin.refuse_nothing()
    sagemaker_client.stop_training_job(TrainingJobName=job)
