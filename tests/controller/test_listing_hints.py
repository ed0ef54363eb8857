"""The listing hint (``controller/window_hints.py``): each poller keeps where its listing
window begins in a Lease, and a restarted operator lists from there while it reads the index.

Against the real API server and the emulator: the Lease the chart would create, the hint the
first process writes into it, a SIGKILL, and a change SageMaker makes while the second
process starts, which must reach the resource's status.
"""

from __future__ import annotations

import datetime
import json

import yaml

from sagemaker_operator.controller import owned, window_hints
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, eventually, get, manifest, wait_phase
from tests.plugins.emulator import client_for
from tests.plugins.operator import StartOperator

LONG = {"duration-seconds": "1000000"}
REGION = "us-east-1"
SKEW = 2  # the operator fixture's clock skew, seconds


def make_lease(plane: ControlPlane, namespace: str, name: str) -> None:
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {},
    }
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))


def hints(plane: ControlPlane, namespace: str, name: str) -> dict[str, window_hints.Hint]:
    found = json.loads(plane.kubectl("get", "lease", name, "-n", namespace, "-o", "json").stdout)
    return window_hints.parse(found["metadata"].get("annotations") or {})


def test_a_restart_lists_from_the_window_its_last_process_kept(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    make_lease(control_plane, namespace, "listing")
    operator = start_operator(namespace, listing_lease=f"{namespace}/listing")
    apply(control_plane, namespace, manifest("long", fate=LONG))
    wait_phase(control_plane, namespace, "long", "InProgress")
    kept = eventually(lambda: hints(control_plane, namespace, "listing").get(REGION))

    # The window's start: the job's creation (SageMaker's, or the resource's before the job
    # was described) less the clock skew and the second CreationTimeAfter's strictness needs.
    resource = get(control_plane, namespace, "long")
    starts = {
        owned.parse_time(resource["status"].get("creationTime")),
        owned.parse_time(resource["metadata"]["creationTimestamp"]),
    }
    assert kept.created_after + datetime.timedelta(seconds=SKEW + 1) in starts
    assert kept.splits == ()  # one job: one walk

    operator.kill()
    job_name = resource["status"]["trainingJobName"]
    client_for(sagemaker_emulator.url).stop_training_job(TrainingJobName=job_name)
    restarted = operator.restart()
    stopped = wait_phase(control_plane, namespace, "long", "Stopped")
    assert stopped["status"]["trainingJobStatus"] == "Stopped"
    assert "listing from the last process's window" in restarted.log()


def test_without_its_lease_the_operator_says_so_and_runs_all_the_same(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
) -> None:
    operator = start_operator(namespace, listing_lease=f"{namespace}/missing")
    apply(control_plane, namespace, manifest("done"))
    wait_phase(control_plane, namespace, "done", "Completed")
    assert f"no Lease {namespace}/missing" in operator.log()
