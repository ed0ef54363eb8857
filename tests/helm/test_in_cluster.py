"""The chart installed for real: the operator's image, built from the Dockerfile, runs as a pod
on the test node under the chart's ServiceAccount, security context and probes.

The pod reaches the API server through the ``kubernetes`` Service, as in any cluster, and the
SageMaker emulator (a process on the host) at the node's bridge gateway
(``cluster_node.expose``). docs/development.md describes the node.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sagemaker_operator import names
from sagemaker_operator.devstack import images
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.devstack.node import Node
from sagemaker_operator.emulator import testing
from sagemaker_operator.sagemaker import budget
from tests.helm.chart import Release, install_chart, upgrade_chart
from tests.node.pods import apply, pod
from tests.plugins.controlplane import Kubectl

pytestmark = pytest.mark.timeout(900)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml"
SELECTOR = "app.kubernetes.io/name=sagemaker-operator"


def chart_values(
    image: images.Image, node: Node, emulator: testing.Running, namespace: str
) -> dict[str, Any]:
    port = int(emulator.url.rsplit(":", 1)[1])
    return {
        "image": {"repository": image.name, "tag": image.tag, "pullPolicy": "Never"},
        "watchNamespaces": [namespace],
        "operator": {
            "defaultRegion": "us-east-1",
            "sagemakerEndpointUrl": f"http://{node.expose(port)}",
            "allowInsecureEndpoint": True,  # the emulator speaks plain http on the host
            "pollIntervalSeconds": 1,
            "clockSkewSeconds": 2,
            "callsPerSecond": 100,
            "callBurst": 100,
            "operationRates": [f"{operation}=100/100" for operation in budget.DEFAULT_RATES],
        },
        # The emulator takes any key; no instance metadata service is there to ask.
        "extraEnv": [
            {"name": "AWS_ACCESS_KEY_ID", "value": "emulator"},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "emulator"},
            {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"},
        ],
    }


def operator_pods(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    listing = kubectl("get", "pods", "-n", namespace, "-l", SELECTOR, "-o", "json").stdout
    pods: list[dict[str, Any]] = json.loads(listing)["items"]
    return pods


def wait_rolled_out(kubectl: Kubectl, release: Release) -> dict[str, Any]:
    """Wait for the Deployment's rollout, then for its one pod to be Ready; return the pod."""
    deployment = f"deployment/{release.name}-sagemaker-operator"
    rollout = kubectl("rollout", "status", deployment, "-n", release.namespace,
                      "--timeout=110s", check=False)  # fmt: skip
    if rollout.returncode != 0:
        ns = ("-n", release.namespace)
        described = kubectl("describe", "pods", "-l", SELECTOR, *ns, check=False).stdout
        logs = kubectl("logs", "-l", SELECTOR, *ns, "--tail=40", check=False)
        previous = kubectl("logs", "-l", SELECTOR, *ns, "--previous", "--tail=40", check=False)
        raise AssertionError(
            f"rollout failed: {rollout.stderr}\n{described}\n--- logs ---\n{logs.stdout}"
            f"{logs.stderr}\n--- previous ---\n{previous.stdout}{previous.stderr}"
        )
    kubectl("wait", "--for=condition=Ready", "pod", "-l", SELECTOR, "-n", release.namespace,
            "--timeout=110s")  # fmt: skip
    (pod,) = [
        p
        for p in operator_pods(kubectl, release.namespace)
        if not p["metadata"].get("deletionTimestamp")
    ]
    return pod


def training_job(name: str, **tags: str) -> str:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"]["name"] = name
    if tags:
        manifest["spec"]["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        # SageMaker's longest run (28 days): the example's hour is 13 s on the tests' clock.
        manifest["spec"]["stoppingCondition"] = {"maxRuntimeInSeconds": 2419200}
    return json.dumps(manifest)


def wait_phase(kubectl: Kubectl, namespace: str, name: str, phase: str) -> None:
    kubectl("wait", f"--for=jsonpath={{.status.phase}}={phase}", f"{names.PLURAL}/{name}",
            "-n", namespace, "--timeout=110s")  # fmt: skip


def ready_seconds(pod: dict[str, Any]) -> float:
    """From the pod's creation to its Ready condition, by the API server's clock (1 s grain)."""

    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    (ready,) = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"]
    return (
        parse(ready["lastTransitionTime"]) - parse(pod["metadata"]["creationTimestamp"])
    ).total_seconds()


Install = Callable[..., tuple[Release, dict[str, Any]]]


@pytest.fixture
def install(
    control_plane: ControlPlane,
    cluster_node: Node,
    operator_image: images.Image,
    sagemaker_emulator: testing.Running,
    crd_installed: None,
    namespace: str,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> Install:
    def run(**overrides: Any) -> tuple[Release, dict[str, Any]]:
        values = chart_values(operator_image, cluster_node, sagemaker_emulator, namespace)
        values |= overrides
        release = install_chart(control_plane, "smop", namespace, values, workdir=tmp_path)
        pod = wait_rolled_out(control_plane.kubectl, release)
        record_property("operator_pod_ready_seconds", ready_seconds(pod))
        return release, values

    return run


def test_the_chart_runs_the_operator_image_as_a_pod_that_completes_a_job(
    install: Install,
    kubectl: Kubectl,
    namespace: str,
    sagemaker_emulator: testing.Running,
    cluster_node: Node,
) -> None:
    """helm install -> a Ready pod of the built image, running as the chart says (UID 65532,
    read-only root), serving health and metrics on its pod IP, logging JSON, and taking a
    TrainingJob to Completed through the emulator with exactly one CreateTrainingJob."""
    release, _ = install()
    (pod,) = operator_pods(kubectl, namespace)
    assert pod["spec"]["nodeName"] == cluster_node.name
    assert pod["spec"]["serviceAccountName"] == release.service_account

    kubectl("apply", "-n", namespace, "-f", "-", input=training_job("minimal"))
    wait_phase(kubectl, namespace, "minimal", "Completed")
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 1

    pod_ip = pod["status"]["podIP"]
    with urllib.request.urlopen(f"http://{pod_ip}:8080/healthz", timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://{pod_ip}:9090/metrics", timeout=10) as response:
        metrics = response.read().decode()
    creates = [
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "sagemaker_operator_sagemaker_calls_total"
        and sample.labels.get("operation") == "create_training_job"
    ]
    calls = [line for line in metrics.splitlines() if "sagemaker_calls_total" in line]
    assert creates == [1.0], calls

    # The process really runs as the chart's user, on a read-only root file system.
    name = pod["metadata"]["name"]
    uid = kubectl("exec", name, "-n", namespace, "--", "id", "-u").stdout.strip()
    assert uid == "65532"
    write = kubectl("exec", name, "-n", namespace, "--", "touch", "/opt/x", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    tmp = kubectl("exec", name, "-n", namespace, "--", "touch", "/tmp/x", check=False)
    assert tmp.returncode == 0, tmp.stderr

    logs = kubectl("logs", name, "-n", namespace).stdout.splitlines()
    records = [json.loads(line) for line in logs if line.strip()]
    assert records, "the operator logged nothing"
    assert any("minimal" in json.dumps(record) for record in records)


def test_helm_upgrade_rolls_the_pod_and_loses_or_duplicates_nothing(
    install: Install,
    control_plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    sagemaker_emulator: testing.Running,
    tmp_path: Path,
) -> None:
    """A job running across the upgrade and one applied while the old pod is gone both
    complete under the new pod, each created once (the Recreate strategy: never two)."""
    release, values = install()
    (old,) = operator_pods(kubectl, namespace)
    forever = {"emulator.sagemaker-operator.io/duration-seconds": "1e6"}
    kubectl("apply", "-n", namespace, "-f", "-", input=training_job("across", **forever))
    wait_phase(kubectl, namespace, "across", "InProgress")

    values["operator"] = dict(values["operator"], logLevel="DEBUG")  # a new pod template
    upgrade_chart(control_plane, release, values, workdir=tmp_path)
    kubectl("wait", "--for=delete", f"pod/{old['metadata']['name']}", "-n", namespace,
            "--timeout=120s")  # fmt: skip
    kubectl("apply", "-n", namespace, "-f", "-", input=training_job("during", **forever))
    new = wait_rolled_out(kubectl, release)
    assert new["metadata"]["uid"] != old["metadata"]["uid"]

    for name in ("across", "during"):
        kubectl("wait", "--for=jsonpath={.status.secondaryStatus}=Training",
                f"{names.PLURAL}/{name}", "-n", namespace, "--timeout=110s")  # fmt: skip
    assert sagemaker_emulator.admin.finish_training("us-east-1") == 2
    for name in ("across", "during"):
        wait_phase(kubectl, namespace, name, "Completed")
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == 2
    listed = json.loads(kubectl("get", names.PLURAL, "-n", namespace, "-o", "json").stdout)
    jobs = {item["status"]["trainingJobName"] for item in listed["items"]}
    assert len(jobs) == 2


IDENTITY = "from kopf._core.engines import peering; print(peering.detect_own_id(manual=False))"


def test_the_image_starts_without_the_charts_pod_id(
    control_plane: ControlPlane, operator_image: images.Image, namespace: str
) -> None:
    """A plain ``docker run`` has no POD_ID: kopf then names itself after the user, which UID
    65532 has no passwd entry for (the operator stopped at start-up until the image set USER).
    kopf's own identity function, run in the image as its user, is the proof."""
    kubectl = control_plane.kubectl
    apply(kubectl, namespace, pod("identity", operator_image.ref, IDENTITY))
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/identity", "-n", namespace,
            "--timeout=110s")  # fmt: skip
    identity = kubectl("logs", "identity", "-n", namespace).stdout.strip()
    assert identity.startswith("sagemaker-operator@identity/"), identity
