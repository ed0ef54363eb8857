"""pytest fixtures for Argo Workflows' own controller, running against the test control plane.

``workflow_controller`` (one per session) installs Argo's CRDs, its controller's
ServiceAccount and RBAC from the manifests its pinned module ships (rendered with our
kubectl's ``kustomize`` from the copy of the module ``tests/controlplane/build.sh`` keeps),
configures the controller through its ConfigMap to run the locally built ``argoexec`` image
with ``imagePullPolicy: Never``, and starts ``workflow-controller`` as a process that
authenticates as that ServiceAccount (a TokenRequest token, so Argo's own RBAC is what lets
it work). Workflow pods then run on the session's node (``cluster_node``). A failing test that
used it gets the controller's log in its report.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from sagemaker_operator.devstack import images
from sagemaker_operator.devstack.controlplane import (
    ControlPlane,
    argo_manifests_dir,
    bin_dir,
    ensure_argo,
    free_port,
)
from sagemaker_operator.devstack.node import Node

ARGO_NAMESPACE = "argo"
CONTROLLER_SERVICE_ACCOUNT = "argo"  # the name Argo's manifests give it
CONFIGMAP = "workflow-controller-configmap"
LEASE = "workflow-controller"  # Argo's leader-election Lease, in the controller's namespace
IDENTITY = "sagemaker-operator-tests"
# What Argo's cluster install holds that the tests need: its CRDs, the controller's identity
# and RBAC (and the aggregated roles for users). Its Deployments (controller and argo-server),
# Service and PriorityClass are left out: the controller runs as a process here.
KEPT_KINDS = {
    "CustomResourceDefinition",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
}

_CONTROLLER_KEY = pytest.StashKey["WorkflowController"]()


def argo_install(plane: ControlPlane) -> list[dict[str, Any]]:
    """Argo's cluster install, rendered by kustomize, less what runs as a pod or serves a UI."""
    ensure_argo()
    manifests = argo_manifests_dir() / "cluster-install"
    rendered = plane.kubectl("kustomize", str(manifests)).stdout
    return [
        document
        for document in yaml.safe_load_all(rendered)
        if document
        and document["kind"] in KEPT_KINDS
        and not document["metadata"]["name"].startswith("argo-server")
    ]


def controller_config(executor_image: str, metrics_port: int) -> dict[str, str]:
    """The controller's ConfigMap data: our argoexec image, never pulled (nothing is)."""
    executor = {
        "image": executor_image,
        "imagePullPolicy": "Never",
        # How often argoexec re-reads a resource for its success/failure condition (Argo's
        # default is 5 s; a test's TrainingJob ends within seconds).
        "env": [{"name": "RESOURCE_STATE_CHECK_INTERVAL", "value": "1s"}],
    }
    metrics = {"enabled": True, "port": metrics_port, "secure": False}
    return {
        "executor": yaml.safe_dump(executor),
        "metricsConfig": yaml.safe_dump(metrics),
        "telemetryConfig": yaml.safe_dump({"enabled": False}),
    }


@dataclass
class WorkflowController:
    """Argo's ``workflow-controller`` as a process, authenticated as its ServiceAccount."""

    plane: ControlPlane
    kubeconfig: Path
    log_path: Path
    metrics_port: int
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> WorkflowController:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            [
                str(self.plane.bin_dir / "workflow-controller"),
                f"--kubeconfig={self.kubeconfig}",
                f"--configmap={CONFIGMAP}",
                "--loglevel=info",
            ],
            env={"LEADER_ELECTION_IDENTITY": IDENTITY, "PATH": "/usr/bin:/bin"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.wait_leading()
        return self

    def leader(self) -> str:
        found = self.plane.kubectl(
            "get", "lease", LEASE, "-n", ARGO_NAMESPACE, "-o", "json", check=False
        )
        if found.returncode != 0:
            return ""
        holder: str = json.loads(found.stdout)["spec"].get("holderIdentity", "")
        return holder

    def wait_leading(self, timeout: float = 60.0) -> None:
        """Until the controller holds Argo's leader Lease: then its informers run."""
        deadline = time.monotonic() + timeout
        while self.leader() != IDENTITY:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"workflow-controller exited early:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workflow-controller not leading in {timeout}s:\n{self.log()}")
            time.sleep(0.2)  # a starting process: the Lease is the state to wait on

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def argo_installed(control_plane: ControlPlane) -> list[dict[str, Any]]:
    """Argo's CRDs (Established), its namespace, the controller's ServiceAccount and RBAC."""
    install = argo_install(control_plane)
    control_plane.kubectl("create", "namespace", ARGO_NAMESPACE, check=False)
    crds = [d for d in install if d["kind"] == "CustomResourceDefinition"]
    rest = [d for d in install if d["kind"] != "CustomResourceDefinition"]
    control_plane.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(crds))
    for crd in crds:
        control_plane.wait_established(crd["metadata"]["name"])
    control_plane.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(rest))
    return install


# argoexec links kubectl in (it runs kubectl's commands in-process for a resource template),
# so the image needs no kubectl binary; minbase gives the steps a shell and coreutils.
ARGOEXEC_PACKAGES = ("ca-certificates",)
ARGOEXEC_USER = "8737"  # the user Argo's own image runs as, and its resource pods ask for


def argoexec_image_build() -> images.Image:
    """Argo's executor image, from Debian packages and the argoexec built from the pin."""
    ensure_argo()
    return images.build_image(
        "argoexec",
        rootfs=images.debian_rootfs(ARGOEXEC_PACKAGES),
        files={"/bin/argoexec": bin_dir() / "argoexec"},
        entrypoint=["argoexec"],
        user=ARGOEXEC_USER,
    )


@pytest.fixture(scope="session")
def argoexec_image(cluster_node: Node) -> str:
    """The argoexec image, built (or found in the cache) and imported into the node."""
    image = argoexec_image_build()
    cluster_node.import_image(image.archive, image.ref)
    return image.ref


@pytest.fixture(scope="session")
def workflow_controller(
    control_plane: ControlPlane,
    argo_installed: list[dict[str, Any]],
    argoexec_image: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[WorkflowController]:
    workdir = tmp_path_factory.mktemp("argo")
    metrics_port = free_port()
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": ARGO_NAMESPACE},
        "data": controller_config(argoexec_image, metrics_port),
    }
    control_plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(configmap)
    )
    kubeconfig = control_plane.service_account_kubeconfig(
        ARGO_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT, workdir / "controller.kubeconfig", create=False
    )
    controller = WorkflowController(
        control_plane, kubeconfig, workdir / "workflow-controller.log", metrics_port
    )
    request.config.stash[_CONTROLLER_KEY] = controller
    try:
        yield controller.start()
    finally:
        controller.stop()
        del request.config.stash[_CONTROLLER_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    controller = item.config.stash.get(_CONTROLLER_KEY, None)
    if report.failed and controller is not None and "workflow_controller" in item.fixturenames:  # type: ignore[attr-defined]
        report.sections.append(("workflow-controller log", controller.log()[-20000:]))
    return report
