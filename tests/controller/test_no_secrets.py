"""No credential or token in any log line, Event or status the operator writes.

The operator runs at DEBUG with distinctive AWS credentials (an access key id, a secret key
and a session token) and a known Kubernetes bearer token, through a success, a failure, a
SageMaker refusal, retries of a 5xx and of throttling, and a delete. Then its whole log,
every Event of the namespace and every resource (status, annotations, all of it) are
searched for each secret, as written and base64-encoded.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from typing import Any

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, condition, eventually, get, manifest, wait_phase
from tests.plugins.operator import StartOperator

LONG = {"duration-seconds": "1000000"}


def random_text(length: int, alphabet: str = string.ascii_letters + string.digits + "/+") -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def forms(secret: str) -> set[str]:
    """The secret as written, and base64-encoded (padded and not)."""
    encoded = base64.b64encode(secret.encode()).decode()
    return {
        secret,
        encoded,
        encoded.rstrip("="),
        base64.urlsafe_b64encode(secret.encode()).decode(),
    }


def synced_reason(plane: ControlPlane, namespace: str, name: str) -> str | None:
    for found in get(plane, namespace, name).get("status", {}).get("conditions", []):
        if found["type"] == "Synced" and found["status"] == "False":
            return str(found["reason"])
    return None


def test_no_credential_reaches_logs_events_or_status(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    credentials = {
        "AWS_ACCESS_KEY_ID": "AKIA" + random_text(16, string.ascii_uppercase + string.digits),
        "AWS_SECRET_ACCESS_KEY": random_text(40),
        "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2Vj" + random_text(300),
    }
    kube_token = control_plane.admin_token
    assert kube_token  # the operator's kubeconfig authenticates with it
    assert kube_token in control_plane.kubeconfig.read_text()
    operator = start_operator(
        namespace, env=credentials, log_level="DEBUG", retry_max_delay_seconds=2
    )
    written: list[str] = []  # every resource as it stood, so the deleted one is searched too

    def snapshot() -> None:
        written.append(
            control_plane.kubectl("get", names.PLURAL, "-n", namespace, "-o", "json").stdout
        )

    # A success, a failure by fate, a refusal by SageMaker, a job to stop on delete.
    apply(
        control_plane,
        namespace,
        manifest("succeeds"),
        manifest("fails", fate={"outcome": "Failed"}),
        manifest("refused", fate={"outcome": "Interrupted"}),  # spot fate without spot
        manifest("deleted", fate=LONG),
    )
    wait_phase(control_plane, namespace, "succeeds", "Completed")
    wait_phase(control_plane, namespace, "fails", "Failed")
    refused = wait_phase(control_plane, namespace, "refused", "Failed")
    assert condition(refused, "Succeeded")["reason"] == "ValidationException"
    wait_phase(control_plane, namespace, "deleted", "InProgress")
    eventually(lambda: get(control_plane, namespace, "deleted")["status"].get("trainingJobArn"))
    snapshot()

    # Retries of a 5xx, then of throttling, with Synced=False and its message meanwhile.
    sagemaker_emulator.admin.set_faults(errorFraction=1.0, errorOperations=["CreateTrainingJob"])
    apply(control_plane, namespace, manifest("retried"))
    eventually(lambda: synced_reason(control_plane, namespace, "retried") == "SageMakerUnavailable")
    snapshot()
    sagemaker_emulator.admin.set_faults(errorFraction=0.0, throttleFraction=1.0)
    eventually(lambda: synced_reason(control_plane, namespace, "retried") == "Throttled")
    snapshot()
    sagemaker_emulator.admin.set_faults(throttleFraction=0.0)
    wait_phase(control_plane, namespace, "retried", "Completed", timeout=90)

    # Stop on delete.
    control_plane.kubectl("delete", names.PLURAL, "deleted", "-n", namespace, "--wait=false")
    control_plane.kubectl(
        "wait", f"{names.PLURAL}/deleted", "-n", namespace, "--for=delete", "--timeout=60s"
    )
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 1
    snapshot()

    events_json = control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    reasons = {event["reason"] for event in json.loads(events_json)["items"]}
    # The scan covers what the scenarios were meant to produce.
    assert {"Created", "Completed", "Failed", "ValidationException", "StopRequested"} <= reasons
    log = operator.log()
    assert " DEBUG " in log or '"DEBUG"' in log or "[DEBUG" in log
    assert "retried" in log
    places: dict[str, str] = {"operator log": log, "events": events_json}
    places |= {f"resources, snapshot {index}": text for index, text in enumerate(written)}
    secret_values = dict(credentials, KUBERNETES_TOKEN=kube_token)
    leaks = [
        f"{name} in {place}"
        for name, value in secret_values.items()
        for form in forms(value)
        for place, text in places.items()
        if form in text
    ]
    assert not leaks, leaks


def test_the_scan_would_see_a_leak() -> None:
    """The forms searched include the base64 a leak through a header or a Secret would take."""
    secret = random_text(40)
    leaked: dict[str, Any] = {"data": base64.b64encode(secret.encode()).decode()}
    assert any(form in json.dumps(leaked) for form in forms(secret))
    assert not any(form in json.dumps({"data": "nothing"}) for form in forms(secret))
