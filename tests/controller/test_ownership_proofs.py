"""A restart trusts the ownership proofs its earlier process wrote, and only those.

The operator process, the real API server and the emulator; the emulator counts ListTags.
Why the proof exists and what it resists: docs/security.md, "Ownership proofs".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, eventually, get, manifest, patch, wait_phase
from tests.plugins.emulator import client_for
from tests.plugins.operator import OperatorProcess, StartOperator

LONG = {"duration-seconds": "1000000"}  # trains until the test ends its Training phase
NAMES = ("proof-0", "proof-1", "bare")


def training(
    plane: ControlPlane, namespace: str, emulator: testing.Running
) -> dict[str, dict[str, Any]]:
    """Each resource's status once its job is in SageMaker's Training phase (which the test
    then ends through the emulator's admin endpoint)."""
    client = client_for(emulator.url)
    statuses = {}
    for name in NAMES:
        status = wait_phase(plane, namespace, name, "InProgress")["status"]

        def in_training(job: str = status["trainingJobName"]) -> bool:
            described = client.describe_training_job(TrainingJobName=job)
            return bool(described["SecondaryStatus"] == "Training")

        eventually(in_training)
        statuses[name] = status
    return statuses


def asked_by_a_restart(
    plane: ControlPlane,
    namespace: str,
    operator: OperatorProcess,
    emulator: testing.Running,
    meanwhile: Callable[[], object] = lambda: None,
) -> int:
    """Kill the operator, do ``meanwhile``, end every job's training, start the operator
    again: how many ListTags it asked before every resource showed Completed."""
    operator.kill()
    meanwhile()
    asked = emulator.admin.calls("ListTags")
    assert emulator.admin.finish_training("us-east-1") == len(NAMES)
    operator.start()
    for name in NAMES:
        wait_phase(plane, namespace, name, "Completed")
    return emulator.admin.calls("ListTags") - asked


def test_a_restart_writes_its_jobs_changes_without_asking_whose_they_are(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(namespace)
    apply(control_plane, namespace, *(manifest(name, fate=LONG) for name in NAMES))
    statuses = training(control_plane, namespace, sagemaker_emulator)
    # Written with the create's own status: one resource, one job, one proof.
    proofs = {name: status["ownershipProof"] for name, status in statuses.items()}
    assert len(set(proofs.values())) == len(NAMES)

    # One status loses its proof (as anyone who may write status could do): that job, and it
    # alone, is asked about once more.
    def lose_one() -> None:
        patch(control_plane, namespace, "bare", status={"ownershipProof": None})

    asked = asked_by_a_restart(control_plane, namespace, operator, sagemaker_emulator, lose_one)
    assert asked == 1
    # The proof is written back with the status the tags allowed: the next restart is free.
    assert get(control_plane, namespace, "bare")["status"]["ownershipProof"] == proofs["bare"]


def test_without_a_key_a_restart_asks_once_per_changed_job(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(namespace, ownership_key_file="")
    apply(control_plane, namespace, *(manifest(name, fate=LONG) for name in NAMES))
    statuses = training(control_plane, namespace, sagemaker_emulator)
    assert all("ownershipProof" not in status for status in statuses.values())
    asked = asked_by_a_restart(control_plane, namespace, operator, sagemaker_emulator)
    assert asked == len(NAMES)
