"""Status from SageMaker's job-state-change events on an SQS queue, end to end: the operator
process, the real API server, the emulator publishing EventBridge-shaped events to its SQS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, condition, get_all, manifest, metric, wait_phase
from tests.plugins.emulator import emulator_config
from tests.plugins.operator import StartOperator

QUEUE = "sagemaker-events"


@pytest.fixture(scope="module")
def events_emulator() -> Iterator[testing.Running]:
    with testing.running(emulator_config(events_queue=QUEUE)) as running:
        yield running


@pytest.fixture
def emulator(events_emulator: testing.Running) -> testing.Running:
    events_emulator.admin.reset()
    return events_emulator


def settings_for(emulator: testing.Running, sweep: float) -> dict[str, Any]:
    return {
        "sagemaker_endpoint_url": emulator.url,
        "events_queue_url": f"{emulator.url}/123456789012/{QUEUE}",
        "events_endpoint_url": emulator.url,
        "events_sweep_interval_seconds": sweep,
    }


def test_status_follows_the_events_without_describing(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    emulator: testing.Running,
) -> None:
    operator = start_operator(namespace, **settings_for(emulator, sweep=3600))
    count = 3
    apply(control_plane, namespace, *(manifest(f"e-{i}") for i in range(count)))
    for i in range(count):
        done = wait_phase(control_plane, namespace, f"e-{i}", "Completed")
        status = done["status"]
        # The event carried the whole description: outputs and transitions are there.
        assert status["modelArtifacts"]["s3ModelArtifacts"].startswith("s3://bucket/output/")
        assert status["secondaryStatusTransitions"][-1]["status"] == "Completed"
        assert condition(done, "Succeeded")["status"] == "True"
    admin = emulator.admin
    # The sweep is an hour away: only its first cycle listed. That cycle may describe each
    # job at most twice: the status its create wrote (no transitions yet) owes a Describe,
    # and a job it saw ended before the event was written is described first. Every other
    # change (four or more a job) came from an event, with no Describe.
    assert admin.calls("ListTrainingJobs") <= 1
    assert admin.calls("DescribeTrainingJob") <= 2 * count
    assert admin.calls("ListTags") == 0  # the events' tags proved ownership
    # NB: how many events were written depends on timing (a job's first events can come
    # before its status names it, and are looked at again later): that some were is certain.
    applied = metric(operator, "sagemaker_operator_state_events_total", outcome="applied")
    assert applied >= 1
    receives = metric(
        operator, "sagemaker_operator_queue_calls_total", operation="receive_message", outcome="ok"
    )
    assert receives >= 1


def test_lost_events_are_made_good_by_the_sweep(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    emulator: testing.Running,
) -> None:
    emulator.admin.set_event_faults(lost={"fraction": 1.0})
    start_operator(namespace, **settings_for(emulator, sweep=1))
    apply(control_plane, namespace, manifest("lost"))
    done = wait_phase(control_plane, namespace, "lost", "Completed")
    assert done["status"]["modelArtifacts"]["s3ModelArtifacts"].startswith("s3://bucket/")
    stats = emulator.admin.events()["stats"]
    assert stats["delivered"] == 0
    assert stats["lost"] >= 5  # every change's event, and still the true status


def test_duplicated_and_reordered_events_end_in_the_true_status(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    emulator: testing.Running,
) -> None:
    emulator.admin.set_event_faults(
        duplicated={"fraction": 0.5}, reordered={"fraction": 0.5}, seed=3
    )
    start_operator(namespace, **settings_for(emulator, sweep=3600))
    count = 4
    apply(control_plane, namespace, *(manifest(f"d-{i}") for i in range(count)))
    for i in range(count):
        wait_phase(control_plane, namespace, f"d-{i}", "Completed")
    stats = emulator.admin.events()["stats"]
    assert stats["duplicated"] > 0
    assert stats["reordered"] > 0
    for resource in get_all(control_plane, namespace).values():
        assert resource["status"]["secondaryStatus"] == "Completed"
