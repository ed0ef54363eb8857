"""A CreateTrainingJob that is applied and then loses its answer, in the emulator.

After a 5xx or a reset connection a client cannot tell an applied call from a failed one;
retrying a non-idempotent call then meets its own first attempt. These tests prove the
emulator can stage exactly that (armed with ``admin.lose_responses``), so the operator's
tests can show it still yields one job: the call raises, yet the job exists, once.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from sagemaker_operator.emulator import testing
from tests.emulator import process
from tests.emulator.jobs import error_of, request
from tests.plugins.emulator import ClientFactory, client_for

LOST = "LostResponse"


def all_jobs(client: Any) -> list[str]:
    """The names of every job in the region, read to the last page, sorted."""
    names: list[str] = []
    for page in client.get_paginator("list_training_jobs").paginate():
        names.extend(job["TrainingJobName"] for job in page["TrainingJobSummaries"])
    return sorted(names)


def exists_once(client: Any, name: str) -> dict[str, Any]:
    described: dict[str, Any] = client.describe_training_job(TrainingJobName=name)
    assert described["TrainingJobName"] == name
    assert all_jobs(client).count(name) == 1
    return described


@pytest.mark.parametrize(
    ("mode", "code", "status"),
    [("error", "InternalFailure", 500), ("unavailable", "ServiceUnavailable", 503)],
)
def test_create_is_applied_then_answered_with_a_5xx(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, mode: Any, code: str, status: int
) -> None:
    armed = sagemaker_emulator.admin.lose_responses("CreateTrainingJob", mode=mode)
    assert armed == {"count": 1, "fraction": 0.0, "operations": ["CreateTrainingJob"], "mode": mode}
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        sagemaker_client.create_training_job(**request("applied"))
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    described = exists_once(sagemaker_client, "applied")
    assert described["TrainingJobStatus"] == "InProgress"
    assert all_jobs(sagemaker_client) == ["applied"]
    assert sagemaker_emulator.admin.calls("CreateTrainingJob", LOST) == 1
    assert sagemaker_emulator.admin.calls("CreateTrainingJob", "ok") == 0


def test_create_is_applied_then_the_connection_is_dropped(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob", mode="drop")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        sagemaker_client.create_training_job(**request("dropped"))
    exists_once(sagemaker_client, "dropped")
    assert all_jobs(sagemaker_client) == ["dropped"]
    assert sagemaker_emulator.admin.calls("CreateTrainingJob", LOST) == 1


def test_the_fault_disarms_after_count_calls(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob", count=2)
    for name in ("first", "second"):
        assert error_of(sagemaker_client.create_training_job, **request(name))[2] == 500
    assert sagemaker_emulator.admin.faults()["lostResponse"]["count"] == 0
    answer = sagemaker_client.create_training_job(**request("third"))
    assert answer["TrainingJobArn"].endswith("/third")
    assert all_jobs(sagemaker_client) == ["first", "second", "third"]
    assert sagemaker_emulator.admin.counters()["operations"]["CreateTrainingJob"] == {
        LOST: 2,
        "ok": 1,
    }


def test_only_the_targeted_operation_loses_answers(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_client.create_training_job(**request("before", fate={"duration-seconds": "1e6"}))
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob")
    sagemaker_client.describe_training_job(TrainingJobName="before")
    sagemaker_client.list_training_jobs()
    sagemaker_client.stop_training_job(TrainingJobName="before")
    assert sagemaker_emulator.admin.faults()["lostResponse"]["count"] == 1  # still armed
    assert error_of(sagemaker_client.create_training_job, **request("after"))[2] == 500
    exists_once(sagemaker_client, "after")


def test_a_refused_call_keeps_its_answer_and_the_fault_stays_armed(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_client.create_training_job(**request("taken"))
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob")
    # Refused, so not applied: nothing to lose.
    assert error_of(sagemaker_client.create_training_job, **request("taken"))[0] == "ResourceInUse"
    bad = request("bad", RoleArn="not-a-role-arn-at-all-x")
    assert error_of(sagemaker_client.create_training_job, **bad)[0] == "ValidationException"
    assert sagemaker_emulator.admin.faults()["lostResponse"]["count"] == 1
    assert error_of(sagemaker_client.create_training_job, **request("applied"))[2] == 500
    exists_once(sagemaker_client, "applied")


def test_botocore_retrying_the_lost_create_meets_its_own_job(
    sagemaker_emulator: testing.Running, make_sagemaker_client: ClientFactory
) -> None:
    """Why this matters: botocore resends the create after the 5xx, and the resend is refused.

    The caller sees ``ResourceInUse`` for a job it created itself; it must recognise its own
    job (the operator does, by its uid tag) rather than report a name conflict or create
    another under a new name.
    """
    client = make_sagemaker_client(retries={"mode": "standard", "max_attempts": 3})
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob")
    code, _, status = error_of(client.create_training_job, **request("mine"))
    assert (code, status) == ("ResourceInUse", 400)
    exists_once(client, "mine")
    assert all_jobs(client) == ["mine"]
    assert sagemaker_emulator.admin.counters()["operations"]["CreateTrainingJob"] == {
        LOST: 1,
        "ResourceInUse": 1,
    }


def test_a_fraction_of_answers_can_be_lost(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_emulator.admin.lose_responses(fraction=1.0, mode="unavailable")
    assert sagemaker_emulator.admin.faults()["lostResponse"]["count"] == 0  # no count given
    assert error_of(sagemaker_client.create_training_job, **request("a"))[2] == 503
    assert error_of(sagemaker_client.describe_training_job, TrainingJobName="a")[2] == 503
    sagemaker_emulator.admin.lose_responses(count=0)  # disarmed
    exists_once(sagemaker_client, "a")
    sagemaker_emulator.admin.set_faults(seed=4)
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob", fraction=0.5)
    outcomes = set()
    for i in range(20):
        try:
            sagemaker_client.create_training_job(**request(f"dice-{i}"))
            outcomes.add("ok")
        except botocore.exceptions.ClientError:
            outcomes.add("lost")
        exists_once(sagemaker_client, f"dice-{i}")
    assert outcomes == {"ok", "lost"}
    assert all_jobs(sagemaker_client) == sorted(["a"] + [f"dice-{i}" for i in range(20)])


def test_reset_disarms_the_fault(
    sagemaker_emulator: testing.Running, sagemaker_client: Any
) -> None:
    sagemaker_emulator.admin.lose_responses("CreateTrainingJob")
    sagemaker_emulator.admin.reset()
    sagemaker_client.create_training_job(**request("clean"))
    assert sagemaker_emulator.admin.calls("CreateTrainingJob", LOST) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "explode"},
        {"fraction": 1.5},
        {"count": -1},
        {"operations": "CreateTrainingJob"},
        {"surprise": 1},
    ],
)
def test_invalid_settings_are_refused(
    sagemaker_emulator: testing.Running, bad: dict[str, Any]
) -> None:
    status, answer = _post_faults(sagemaker_emulator.admin.url, {"lostResponse": bad})
    assert status == 400
    assert "error" in answer
    assert sagemaker_emulator.admin.faults()["lostResponse"] == {
        "count": 0,
        "fraction": 0.0,
        "operations": None,
        "mode": "error",
    }


def _post_faults(admin_url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        admin_url + "/faults",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_command_arms_the_fault_with_flags(tmp_path: Path) -> None:
    flags = (
        "--lost-response-count=1",
        "--lost-response-operation=CreateTrainingJob",
        "--lost-response-mode=drop",
    )
    with process.command(tmp_path / "emulator.log", *flags) as url:
        client = client_for(url)
        client.list_training_jobs()  # another operation: answered
        with pytest.raises(botocore.exceptions.ConnectionClosedError):
            client.create_training_job(**request("from-the-command"))
        exists_once(client, "from-the-command")
        client.create_training_job(**request("next"))  # the count is spent
        assert all_jobs(client) == ["from-the-command", "next"]
