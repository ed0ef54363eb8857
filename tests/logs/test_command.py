"""``sagemaker-operator logs`` as a user runs it: a subprocess reading a real TrainingJob from
the test control plane and the job's log from the emulator (on a hand clock)."""

from __future__ import annotations

import functools
import operator
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, manifest, patch
from tests.emulator.jobs import HandClock, request, wait_for
from tests.emulator.test_logs import TRAINING_ENDS, TRAINING_STARTS, every_event, logs_client
from tests.plugins.emulator import client_for

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _crd(crd_installed: None) -> None:
    """Every test here reads a TrainingJob resource."""


@pytest.fixture
def clock(sagemaker_emulator: testing.Running, monkeypatch: pytest.MonkeyPatch) -> HandClock:
    hand = HandClock(1_700_000_000.0)
    monkeypatch.setattr(sagemaker_emulator.emulator, "clock", hand)
    return hand


def _env(emulator: testing.Running) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return environ | {
        "AWS_ACCESS_KEY_ID": "user",
        "AWS_SECRET_ACCESS_KEY": "user",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_OPERATOR_ENDPOINT_URL": emulator.url,
    }


def _argv(plane: ControlPlane, namespace: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sagemaker_operator.cli",
        "logs",
        f"--kubeconfig={plane.kubeconfig}",
        "-n",
        namespace,
        "--interval=0.05",
        *args,
    ]


@pytest.fixture
def run(control_plane: ControlPlane, namespace: str, sagemaker_emulator: testing.Running) -> Run:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _argv(control_plane, namespace, *args),
            env=_env(sagemaker_emulator),
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture
def start(
    control_plane: ControlPlane, namespace: str, sagemaker_emulator: testing.Running
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    # NB: a non-interactive shell starts a background job (`make test &`, a CI runner's
    # script) with SIGINT ignored, and an ignored signal stays ignored across exec: Python
    # then installs no KeyboardInterrupt handler, and the command cannot be interrupted (the
    # Ctrl-C test hung so). A handled signal is reset to the default at exec, as a user's
    # terminal has it.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            _argv(control_plane, namespace, *args),
            env=_env(sagemaker_emulator),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        signal.signal(signal.SIGINT, inherited)
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()


def resource(
    plane: ControlPlane,
    namespace: str,
    name: str,
    *,
    job: str | None = None,
    region: str = "us-east-1",
    status: dict[str, Any] | None = None,
) -> None:
    """A TrainingJob whose status names SageMaker job ``job`` (as the operator writes it)."""
    apply(plane, namespace, manifest(name))
    if job is not None:
        arn = f"arn:aws:sagemaker:{region}:123456789012:training-job/{job}"
        status = {
            "trainingJobName": job,
            "trainingJobArn": arn,
            "region": region,
            "phase": "InProgress",
        }
    if status:
        patch(plane, namespace, name, status=status)


def create(
    emulator: testing.Running,
    name: str,
    hosts: int = 1,
    region: str = "us-east-1",
    fate: dict[str, str] | None = None,
) -> None:
    body = request(name, fate=fate)
    body["ResourceConfig"]["InstanceCount"] = hosts
    client_for(emulator.url, region).create_training_job(**body)


def streams(emulator: testing.Running, job: str, region: str = "us-east-1") -> dict[str, list[str]]:
    cw = logs_client(emulator.url, region)
    found = cw.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{job}/"
    )
    return {
        s["logStreamName"].split("/")[1].rsplit("-", 1)[0]: [
            e["message"] for e in every_event(cw, s["logStreamName"])
        ]
        for s in found["logStreams"]
    }


def per_host(stdout: str) -> dict[str, list[str]]:
    hosts: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        host, _, message = line.partition("] ")
        hosts.setdefault(host.removeprefix("["), []).append(message)
    return hosts


def read_until(pipe: IO[str], text: str) -> str:
    seen = ""
    while text not in seen:
        line = pipe.readline()
        assert line, f"ended before {text!r}: {seen!r}"
        seen += line
    return seen


def test_follows_a_two_host_job_from_before_its_first_line_to_completed(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    clock: HandClock,
    start: Callable[..., subprocess.Popen[str]],
) -> None:
    create(sagemaker_emulator, "follow-me", hosts=2)
    resource(control_plane, namespace, "follow", job="follow-me")
    process = start("follow", "-f")
    assert process.stderr is not None
    assert "Waiting for logs: training job follow-me is InProgress (Starting)" in read_until(
        process.stderr, "Waiting for logs"
    )
    admin = sagemaker_emulator.admin
    clock.advance(TRAINING_STARTS)
    # In steps through Training, each seen by the reader before the next.
    for _ in range(6):
        seen = admin.calls("GetLogEvents")
        clock.advance((TRAINING_ENDS - TRAINING_STARTS) / 6)
        wait_for(lambda: admin.calls("GetLogEvents"), functools.partial(operator.le, seen + 2))
    clock.advance(60)  # uploaded and completed
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    written = streams(sagemaker_emulator, "follow-me")
    assert per_host(stdout) == written  # every line once, in order, per host
    assert written["algo-1"][-1] == "Training complete."
    assert len(written["algo-2"]) > 150


def test_a_failed_job_exits_non_zero_with_its_reason_last(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    clock: HandClock,
    run: Run,
) -> None:
    create(
        sagemaker_emulator,
        "fails",
        fate={"outcome": "Failed", "failure-reason": "AlgorithmError: boom"},
    )
    resource(control_plane, namespace, "fails", job="fails")
    clock.advance(TRAINING_ENDS + 60)
    result = run("fails", "-f")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "[algo-1] AlgorithmError: boom"
    assert "ended Failed" in result.stderr


def test_since_tail_host_and_timestamps(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    clock: HandClock,
    run: Run,
) -> None:
    create(sagemaker_emulator, "options", hosts=3)
    resource(control_plane, namespace, "options", job="options")
    clock.advance(TRAINING_ENDS + 60)
    written = streams(sagemaker_emulator, "options")
    tail = run("options", "--tail", "3")
    assert tail.returncode == 0
    assert per_host(tail.stdout) == {host: lines[-3:] for host, lines in written.items()}
    only = run("options", "--host", "algo-2", "--timestamps")
    lines = only.stdout.splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == written["algo-2"]
    assert all(line.split(" ")[1] == "[algo-2]" and line[:4] == "2023" for line in lines)
    # The job's lines are all from 2023 on the hand clock: a recent --since shows none.
    assert run("options", "--since", "10m").stdout == ""
    everything = run("options", "--since", "1000000h")
    assert per_host(everything.stdout) == written
    bad = run("options", "--since", "ten minutes")
    assert bad.returncode == 2
    assert "--since" in bad.stderr


def test_a_job_with_no_logs_yet(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    clock: HandClock,
    run: Run,
) -> None:
    create(sagemaker_emulator, "early")
    resource(control_plane, namespace, "early", job="early")
    result = run("early")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "No logs yet: training job early is InProgress (Starting)" in result.stderr


def test_a_resource_with_no_job(
    control_plane: ControlPlane, namespace: str, sagemaker_emulator: testing.Running, run: Run
) -> None:
    resource(control_plane, namespace, "pending")
    result = run("pending")
    assert result.returncode == 1
    assert "has no SageMaker job yet (phase Pending)" in result.stderr
    refused = {
        "phase": "Failed",
        "conditions": [
            {"type": "Succeeded", "status": "False", "reason": "NameConflict", "message": "taken"}
        ],
    }
    resource(control_plane, namespace, "refused", status=refused)
    result = run("refused", "-f")
    assert result.returncode == 1
    assert "(NameConflict: taken)" in result.stderr
    missing = run("nothing-here")
    assert missing.returncode == 1
    assert 'TrainingJob "nothing-here" not found' in missing.stderr


def test_a_resource_in_another_region(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    clock: HandClock,
    run: Run,
) -> None:
    create(sagemaker_emulator, "abroad", region="eu-west-1")
    create(
        sagemaker_emulator, "abroad", region="us-east-1", fate={"outcome": "Failed"}
    )  # same name, other job
    resource(control_plane, namespace, "abroad", job="abroad", region="eu-west-1")
    clock.advance(TRAINING_ENDS + 60)
    result = run("abroad", "-f")  # AWS_DEFAULT_REGION says us-east-1
    assert result.returncode == 0, result.stderr
    assert per_host(result.stdout) == streams(sagemaker_emulator, "abroad", "eu-west-1")


def test_throttled_logs_calls_are_retried_with_backoff(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    clock: HandClock,
    run: Run,
) -> None:
    create(sagemaker_emulator, "throttled", hosts=2)
    resource(control_plane, namespace, "throttled", job="throttled")
    clock.advance(TRAINING_ENDS + 60)
    sagemaker_emulator.admin.set_faults(throttleFraction=0.5, seed=3)
    result = run("throttled", "-f")
    counters = sagemaker_emulator.admin.counters()["operations"]
    sagemaker_emulator.admin.set_faults(throttleFraction=0.0)
    assert result.returncode == 0, result.stderr
    assert per_host(result.stdout) == streams(sagemaker_emulator, "throttled")
    throttled = sum(c.get("ThrottlingException", 0) for c in counters.values())
    assert throttled > 0


def test_ctrl_c_ends_it_cleanly(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    clock: HandClock,
    start: Callable[..., subprocess.Popen[str]],
) -> None:
    create(sagemaker_emulator, "interrupted")
    resource(control_plane, namespace, "interrupted", job="interrupted")
    process = start("interrupted", "-f")
    assert process.stderr is not None
    read_until(process.stderr, "Waiting for logs")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in stderr


def test_the_kubectl_plugin_is_installed() -> None:
    plugin = Path(sys.executable).parent / "kubectl-sagemaker"
    result = subprocess.run(
        [str(plugin), "logs", "--help"], capture_output=True, text=True, check=True
    )
    assert "--follow" in result.stdout
