"""The opt-in failure tail: a failed job's last lines in a Warning Event and the status,
redacted, read in one GetLogEvents call; and the redaction itself."""

from __future__ import annotations

import pytest

from sagemaker_operator.controller import failure_logs
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from sagemaker_operator.logs import redact
from tests.controller.helpers import apply, events, eventually, get, manifest, wait_phase
from tests.plugins.operator import StartOperator

# NB: admission refuses access key ids, secret keys and bearer tokens in tags (the fate
# tags carry the reason here); these two pass it and are the log's to redact.
SECRET_REASON = "AlgorithmError: connect failed on algo-2 password=hunter2 postgres://bob:pw1@db"


def test_the_failing_hosts_last_lines_reach_events_and_status_redacted(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    start_operator: StartOperator,
) -> None:
    start_operator(namespace, failure_log_tail="true")
    fate = {"outcome": "Failed", "failure-reason": SECRET_REASON}
    body = manifest("tail", fate=fate)
    body["spec"]["resourceConfig"]["instanceCount"] = 2
    apply(control_plane, namespace, body)
    wait_phase(control_plane, namespace, "tail", "Failed")
    tail = eventually(lambda: get(control_plane, namespace, "tail")["status"].get("failureLogTail"))
    lines = tail.splitlines()
    assert len(lines) == failure_logs.LINES
    assert lines[-1] == (
        "AlgorithmError: connect failed on algo-2 password=[REDACTED] postgres://bob:[REDACTED]@db"
    )
    assert "hunter2" not in tail
    assert "pw1" not in tail
    # algo-2's stream, not algo-1's: only the failing host ends with the traceback; the
    # other ends with "Stopping: algo-2 failed."
    assert lines[-4] == "Traceback (most recent call last):"
    assert not any(line.startswith("Stopping:") for line in lines)
    warning = eventually(
        lambda: [e for e in events(control_plane, namespace, "tail") if e[1] == "FailureLogTail"]
    )
    (kind, _, message) = warning[0]
    assert kind == "Warning"
    assert message.startswith("Last lines of algo-2 before the job failed:\n")
    assert message.endswith(lines[-1])
    assert "hunter2" not in message
    assert sagemaker_emulator.admin.calls("GetLogEvents") == 1


def test_off_by_default(
    control_plane: ControlPlane,
    namespace: str,
    sagemaker_emulator: testing.Running,
    start_operator: StartOperator,
) -> None:
    start_operator(namespace)
    apply(control_plane, namespace, manifest("quiet", fate={"outcome": "Failed"}))
    resource = wait_phase(control_plane, namespace, "quiet", "Failed")
    assert "failureLogTail" not in resource["status"]
    assert sagemaker_emulator.admin.calls("GetLogEvents") == 0


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "key [REDACTED] here"),
        ("session ASIAY34FZKBOKMUTVV7A", "session [REDACTED]"),
        ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[REDACTED]"),
        ("password=hunter2 retrying", "password=[REDACTED] retrying"),
        ('DB_PASSWORD: "s3cr3t"', 'DB_PASSWORD: "[REDACTED]"'),
        ("aws_secret_access_key=abc123", "aws_secret_access_key=[REDACTED]"),
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: [REDACTED]"),
        ("sent Bearer abcdefghijklmnop", "sent Bearer [REDACTED]"),
        ("postgres://bob:pw1@db:5432/x", "postgres://bob:[REDACTED]@db:5432/x"),
        ("epoch 3 step 7/50 loss=0.25 acc=0.5", "epoch 3 step 7/50 loss=0.25 acc=0.5"),
    ],
)
def test_redaction(line: str, redacted: str) -> None:
    assert redact.redact(line) == redacted


def test_stream_name_and_bounds() -> None:
    status = {
        "failureReason": "AlgorithmError on algo-3",
        "secondaryStatusTransitions": [
            {"status": "Starting", "startTime": "2023-11-14T22:13:20Z"},
            {"status": "Training", "startTime": "2023-11-14T22:14:50.500Z"},
        ],
    }
    assert failure_logs.stream_name("job", status) == "job/algo-3-1700000090"
    assert failure_logs.stream_name("job", {"failureReason": "x"}) is None
    text = failure_logs.bounded(["a" * 1000, "b" * 10, "c"], 30)
    assert text == "b" * 10 + "\nc"
    assert len(failure_logs.bounded(["x" * 1000], 4096)) == failure_logs.MAX_LINE
