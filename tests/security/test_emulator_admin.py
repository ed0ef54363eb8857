"""The emulator's admin endpoint: off unless asked for, and closed to browsers when on.

The admin endpoint (``/_emulator/...``) resets jobs and counters and injects faults. A web
page the user visits can send "simple" cross-origin requests (``text/plain`` or form POSTs)
to ``127.0.0.1``; those must not drive it. And the ``--state-file`` journal holds whole
requests, so only its owner may read it.
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator.emulator import faults, settings, testing
from tests.emulator import process
from tests.emulator.jobs import request
from tests.plugins.emulator import client_for

ROUTES = [
    ("GET", "/_emulator/health"),
    ("GET", "/_emulator/faults"),
    ("POST", "/_emulator/faults"),
    ("GET", "/_emulator/counters"),
    ("POST", "/_emulator/reset"),
    ("POST", "/_emulator/finish-training"),
]
JSON = {"Content-Type": "application/json"}
ORIGIN = "https://attacker.example"


def send(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One raw request: exactly these headers (urllib would add a form Content-Type)."""
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def body_for(method: str) -> bytes | None:
    return b"{}" if method == "POST" else None


def refusal(answer: bytes) -> str:
    message: str = json.loads(answer)["error"]
    return message


@pytest.fixture
def admin_off() -> Iterator[testing.Running]:
    """An emulator started with settings that do not mention the admin endpoint."""
    config = settings.Settings(
        port=0,
        time_scale=settings.TEST_TIME_SCALE,
        faults=faults.FaultSettings(throttling=False),
    )
    with testing.running(config) as running:
        yield running


@pytest.fixture
def job(sagemaker_client: Any) -> str:
    sagemaker_client.create_training_job(**request("kept", fate={"duration-seconds": "1e6"}))
    return "kept"


def test_the_setting_defaults_to_off() -> None:
    assert settings.Settings().admin is False
    assert settings.Settings(admin=True).admin is True


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_admin_paths_are_unknown_paths_when_off(
    admin_off: testing.Running, method: str, path: str
) -> None:
    client = client_for(admin_off.url)
    client.create_training_job(**request("survivor", fate={"duration-seconds": "1e6"}))
    # A body that would do harm if it were obeyed: every fault on, every job forgotten.
    harmful = json.dumps({"errorFraction": 1.0, "jobs": True}).encode()
    body = harmful if method == "POST" else None
    unknown = send(admin_off.url, method, "/_emulator/no-such-thing", body, JSON)
    assert unknown[0] == 404
    assert send(admin_off.url, method, path, body, JSON) == unknown
    # Not obeyed: the job is still there and calls still succeed.
    described = client.describe_training_job(TrainingJobName="survivor")
    assert described["TrainingJobName"] == "survivor"


@pytest.mark.parametrize(
    ("flags", "status"), [((), 404), (("--no-admin",), 404), (("--admin",), 200)]
)
def test_the_command_serves_admin_only_with_the_flag(
    tmp_path: Path, flags: tuple[str, ...], status: int
) -> None:
    with process.command(tmp_path / "emulator.log", *flags) as url:
        answer = send(url, "GET", "/_emulator/health")
        assert answer[0] == status
        if status == 200:
            assert json.loads(answer[1]) == {"ok": True, "jobs": 0}
        else:
            assert answer == send(url, "GET", "/_emulator/no-such-thing")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_the_test_emulator_serves_admin_without_an_origin(
    sagemaker_emulator: testing.Running, method: str, path: str
) -> None:
    status, _ = send(sagemaker_emulator.url, method, path, body_for(method), JSON)
    assert status == 200


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("origin", [ORIGIN, "null", "http://127.0.0.1:8600"])
def test_requests_with_an_origin_are_refused(
    sagemaker_emulator: testing.Running, job: str, method: str, path: str, origin: str
) -> None:
    headers = JSON | {"Origin": origin}
    status, answer = send(sagemaker_emulator.url, method, path, body_for(method), headers)
    assert status == 403
    assert "Origin" in refusal(answer)


def test_a_cross_origin_request_changes_nothing(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    url, headers = sagemaker_emulator.url, JSON | {"Origin": ORIGIN}
    faulty = json.dumps({"errorFraction": 1.0}).encode()
    assert send(url, "POST", "/_emulator/faults", faulty, headers)[0] == 403
    assert send(url, "POST", "/_emulator/reset", b"{}", headers)[0] == 403
    assert sagemaker_emulator.admin.faults()["errorFraction"] == 0.0
    assert sagemaker_client.describe_training_job(TrainingJobName=job)["TrainingJobName"] == job


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] == "POST"])
def test_posts_that_are_not_json_are_refused(
    sagemaker_emulator: testing.Running,
    sagemaker_client: Any,
    job: str,
    content_type: str | None,
    method: str,
    path: str,
) -> None:
    # What a page can send cross-origin without a preflight, the body JSON all the same.
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps({"errorFraction": 1.0}).encode()
    status, answer = send(sagemaker_emulator.url, method, path, body, headers)
    assert status == 403
    assert "application/json" in refusal(answer)
    assert sagemaker_emulator.admin.faults()["errorFraction"] == 0.0
    assert sagemaker_client.describe_training_job(TrainingJobName=job)["TrainingJobName"] == job


def test_a_bodiless_post_is_refused_unless_json(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, job: str
) -> None:
    url = sagemaker_emulator.url
    assert send(url, "POST", "/_emulator/reset")[0] == 403
    assert sagemaker_client.describe_training_job(TrainingJobName=job)["TrainingJobName"] == job
    assert send(url, "POST", "/_emulator/reset", headers=JSON)[0] == 200
    assert sagemaker_client.list_training_jobs()["TrainingJobSummaries"] == []


def test_a_get_with_a_text_body_is_refused(sagemaker_emulator: testing.Running) -> None:
    headers = {"Content-Type": "text/plain"}
    assert send(sagemaker_emulator.url, "GET", "/_emulator/counters", b"x", headers)[0] == 403


def test_json_with_parameters_is_accepted(sagemaker_emulator: testing.Running) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    body = json.dumps({"latencyMs": 1}).encode()
    status, answer = send(sagemaker_emulator.url, "POST", "/_emulator/faults", body, headers)
    assert status == 200
    assert json.loads(answer)["latencyMs"] == 1


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Files created meanwhile would be 0666 if their creator left the mode to the umask."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def journalled(state_file: Path) -> settings.Settings:
    return settings.Settings(
        port=0,
        time_scale=settings.TEST_TIME_SCALE,
        state_file=state_file,
        faults=faults.FaultSettings(throttling=False),
        admin=True,
    )


def test_a_new_journal_is_private(tmp_path: Path, permissive_umask: None) -> None:
    state_file = tmp_path / "state.jsonl"
    with testing.running(journalled(state_file)) as running:
        assert mode(state_file) == 0o600
        client_for(running.url).create_training_job(**request("secret", Environment={"K": "v"}))
        assert "secret" in state_file.read_text()
        assert mode(state_file) == 0o600
        running.admin.reset()  # rewrites the journal
        assert mode(state_file) == 0o600
    assert mode(state_file) == 0o600


def test_an_existing_journal_is_made_private(tmp_path: Path, permissive_umask: None) -> None:
    state_file = tmp_path / "state.jsonl"
    with testing.running(journalled(state_file)) as first:
        client_for(first.url).create_training_job(**request("old"))
    state_file.chmod(0o644)
    leftover = state_file.with_name(state_file.name + ".tmp")
    leftover.write_text("")
    leftover.chmod(0o666)
    assert (mode(state_file), mode(leftover)) == (0o644, 0o666)
    with testing.running(journalled(state_file)) as second:
        assert mode(state_file) == 0o600
        described = client_for(second.url).describe_training_job(TrainingJobName="old")
        assert described["TrainingJobName"] == "old"
