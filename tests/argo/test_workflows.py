"""examples/argo/ run by Argo Workflows itself, against the operator and the emulator.

Argo's own ``workflow-controller`` (a process, under its own ServiceAccount and RBAC) runs
each step as a pod on the session's node, in the ``argoexec`` image built here from packages;
``argoexec`` creates the TrainingJob as the Workflow's ServiceAccount (``rbac.yaml``) and
evaluates the example's ``successCondition``/``failureCondition`` on it. The operator runs as
a process and drives the TrainingJob through the emulator. Nothing of Argo is re-implemented:
these tests read what Argo wrote in the Workflow's status.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
import yaml

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import FATE, eventually, get_all, wait_phase
from tests.helm.chart import REPO_ROOT
from tests.plugins.emulator import client_for
from tests.plugins.operator import StartOperator

EXAMPLES = REPO_ROOT / "examples" / "argo"
# argoexec's words when the example's failureCondition holds (it prints the parsed selector).
FAILURE_MET = "failure condition '{status.phase in [Failed Stopped]}' evaluated true"

pytestmark = pytest.mark.usefixtures("workflow_controller")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return document


def with_fate(workflow: dict[str, Any], **fate: str) -> dict[str, Any]:
    """The example, its TrainingJob asking the emulator for a fate (tags read at creation)."""
    for template in workflow["spec"]["templates"]:
        if "resource" in template:
            manifest = yaml.safe_load(template["resource"]["manifest"])
            manifest["spec"]["tags"] = [{"key": FATE + k, "value": v} for k, v in fate.items()]
            template["resource"]["manifest"] = yaml.safe_dump(manifest, sort_keys=False)
    return workflow


def long_running(workflow: dict[str, Any]) -> dict[str, Any]:
    """The example with a job that trains until stopped. The example's own limit (one hour,
    12.6 s on the emulator's test clock) would stop it by MaxRuntimeExceeded while a loaded
    machine is still running the test; a day is 5 minutes there."""
    with_fate(workflow, **{"duration-seconds": "100000"})
    for template in workflow["spec"]["templates"]:
        if "resource" in template:
            manifest = yaml.safe_load(template["resource"]["manifest"])
            manifest["spec"]["stoppingCondition"]["maxRuntimeInSeconds"] = 86400
            template["resource"]["manifest"] = yaml.safe_dump(manifest, sort_keys=False)
    return workflow


def submit(plane: ControlPlane, namespace: str, workflow: dict[str, Any]) -> str:
    created = plane.kubectl(
        "create", "-n", namespace, "-f", "-", "-o", "name", input=json.dumps(workflow)
    )
    return created.stdout.strip().split("/")[-1]


def workflow_status(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    found = plane.kubectl("get", "workflows.argoproj.io", name, "-n", namespace, "-o", "json")
    status: dict[str, Any] = json.loads(found.stdout).get("status", {})
    return status


def wait_workflow_done(
    plane: ControlPlane, namespace: str, name: str, timeout: int = 180
) -> dict[str, Any]:
    """Until Argo marks the Workflow Completed (whatever its phase), then its status."""
    plane.kubectl(
        "wait",
        f"workflows.argoproj.io/{name}",
        "-n",
        namespace,
        "--for=condition=Completed",
        f"--timeout={timeout}s",
    )
    return workflow_status(plane, namespace, name)


def node(status: dict[str, Any], display_name: str) -> dict[str, Any]:
    (found,) = [n for n in status["nodes"].values() if n["displayName"] == display_name]
    return dict(found)


def the_training_job(plane: ControlPlane, namespace: str) -> dict[str, Any]:
    (job,) = get_all(plane, namespace).values()
    return job


@pytest.fixture
def workflow_namespace(control_plane: ControlPlane, namespace: str) -> str:
    """A test namespace with the examples' ServiceAccount and Role, as a user applies them."""
    control_plane.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "rbac.yaml"))
    return namespace


def test_the_training_step_succeeds_on_argos_own_success_condition(
    control_plane: ControlPlane,
    workflow_namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    namespace = workflow_namespace
    start_operator(namespace)
    name = submit(control_plane, namespace, load("train.yaml"))

    status = wait_workflow_done(control_plane, namespace, name)
    assert status["phase"] == "Succeeded", status
    job = the_training_job(control_plane, namespace)
    assert job["status"]["phase"] == "Completed"
    # Argo created it, as the Workflow's controller: deleting the Workflow deletes it.
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Workflow", name, True)
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1


def test_the_pipeline_hands_the_model_artifacts_to_the_next_step(
    control_plane: ControlPlane,
    workflow_namespace: str,
    start_operator: StartOperator,
    argoexec_image: str,
) -> None:
    namespace = workflow_namespace
    start_operator(namespace)
    workflow = load("pipeline.yaml")
    # The second step's aws-cli image cannot be pulled here (no registry is reachable, and
    # no S3 either): it runs the locally built image instead and prints what it was handed.
    (inspect,) = [t for t in workflow["spec"]["templates"] if t["name"] == "inspect-model"]
    inspect["container"] = {
        "image": argoexec_image,
        "imagePullPolicy": "Never",
        "command": ["echo"],
        "args": ["{{inputs.parameters.model-artifacts}}"],
    }
    name = submit(control_plane, namespace, workflow)

    status = wait_workflow_done(control_plane, namespace, name)
    assert status["phase"] == "Succeeded", status
    job = the_training_job(control_plane, namespace)
    artifacts = job["status"]["modelArtifacts"]["s3ModelArtifacts"]
    train = {p["name"]: p["value"] for p in node(status, "train")["outputs"]["parameters"]}
    assert train == {
        "model-artifacts": artifacts,
        "training-job-name": job["status"]["trainingJobName"],
    }
    handed = {p["name"]: p["value"] for p in node(status, "inspect-model")["inputs"]["parameters"]}
    assert handed["model-artifacts"] == artifacts


def test_a_failed_job_fails_the_step_on_argos_own_failure_condition(
    control_plane: ControlPlane,
    workflow_namespace: str,
    start_operator: StartOperator,
) -> None:
    namespace = workflow_namespace
    start_operator(namespace, failure_log_tail=True)
    name = submit(control_plane, namespace, with_fate(load("train.yaml"), outcome="Failed"))

    status = wait_workflow_done(control_plane, namespace, name)
    assert status["phase"] == "Failed", status
    job = the_training_job(control_plane, namespace)
    assert job["status"]["phase"] == "Failed"
    step = node(status, name)
    assert step["phase"] == "Failed"
    # argoexec's own words: it evaluated the example's failureCondition on the resource.
    assert FAILURE_MET in step["message"], step["message"]
    assert FAILURE_MET in status["message"]
    # The operator's failure tail is on the TrainingJob; Argo's message cannot carry it
    # (argoexec reports only which condition held, and saves no outputs of a failed step).
    tail = job["status"]["failureLogTail"]
    assert tail
    assert tail not in step["message"]


def test_a_job_stopped_outside_kubernetes_fails_the_step(
    control_plane: ControlPlane,
    workflow_namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    namespace = workflow_namespace
    start_operator(namespace)
    name, job = training_step_in_progress(control_plane, namespace)
    # Neither condition holds while SageMaker trains: Argo keeps the step running.
    assert workflow_status(control_plane, namespace, name)["phase"] == "Running"

    client_for(sagemaker_emulator.url).stop_training_job(
        TrainingJobName=job["status"]["trainingJobName"]
    )
    status = wait_workflow_done(control_plane, namespace, name)
    assert status["phase"] == "Failed", status
    assert the_training_job(control_plane, namespace)["status"]["phase"] == "Stopped"
    assert FAILURE_MET in node(status, name)["message"]


def training_step_in_progress(plane: ControlPlane, namespace: str) -> tuple[str, dict[str, Any]]:
    """Submit train.yaml with a job that trains until stopped; the Workflow's name and its
    TrainingJob once SageMaker runs it."""
    name = submit(plane, namespace, long_running(load("train.yaml")))
    return name, wait_for_job_in_progress(plane, namespace)


def wait_for_job_in_progress(plane: ControlPlane, namespace: str) -> dict[str, Any]:
    plane.kubectl(
        "wait",
        names.PLURAL,
        "--all",
        "-n",
        namespace,
        "--for=create",
        "--timeout=120s",
    )
    (job_name,) = get_all(plane, namespace)
    return wait_phase(plane, namespace, job_name, "InProgress")


def test_terminating_leaves_the_job_running_and_deleting_the_workflow_stops_it(
    control_plane: ControlPlane,
    workflow_namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    namespace = workflow_namespace
    start_operator(namespace)
    name, job = training_step_in_progress(control_plane, namespace)

    # `argo terminate` (what it writes: spec.shutdown). Argo ends the Workflow and kills the
    # step's pod, but deletes nothing a resource step created: SageMaker trains on.
    control_plane.kubectl(
        "patch",
        "workflows.argoproj.io",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"shutdown": "Terminate"}}),
    )
    status = wait_workflow_done(control_plane, namespace, name)
    assert status["phase"] == "Failed", status
    assert "Terminate" in status["message"], status
    still = the_training_job(control_plane, namespace)["status"]
    assert still["phase"] == "InProgress", still
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 0

    # Deleting the Workflow (`argo delete`; kubectl's default, background propagation) does:
    # kube-controller-manager's garbage collector deletes its TrainingJob (Argo made itself
    # the owner), and the operator's finalizer stops the SageMaker job before it goes.
    control_plane.kubectl("delete", "workflows.argoproj.io", name, "-n", namespace)
    eventually(
        lambda: (
            not control_plane.kubectl(
                "get", names.PLURAL, "-n", namespace, "-o", "name"
            ).stdout.strip()
        ),
        timeout=120,
    )
    assert sagemaker_emulator.admin.calls("StopTrainingJob") == 1, (
        sagemaker_emulator.admin.counters()
    )
    described = client_for(sagemaker_emulator.url).describe_training_job(
        TrainingJobName=job["status"]["trainingJobName"]
    )
    assert described["TrainingJobStatus"] in {"Stopping", "Stopped"}


def test_argo_is_the_pinned_release(control_plane: ControlPlane) -> None:
    """build.sh stamps the version and the tag's commit, so Argo calls itself a release."""
    pinned = (REPO_ROOT / "tests" / "controlplane" / "argo" / "go.mod").read_text()
    (version,) = re.findall(r"github.com/argoproj/argo-workflows/v3 (v[\d.]+)", pinned)
    for command in ("workflow-controller", "argoexec"):
        out = subprocess.run(
            [str(control_plane.bin_dir / command), "version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.splitlines()[0] == f"{command}: {version}"
        assert re.search(r"GitCommit: [0-9a-f]{40}", out)
