"""pytest fixtures for a real control plane: one per session, one namespace per test.

``control_plane`` starts etcd, kube-apiserver and kube-controller-manager (built from pinned Go
modules by ``tests/controlplane/build.sh``) on free loopback ports in a temporary directory.
A failing test that used it gets the servers' logs in its report.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from sagemaker_operator.devstack.controlplane import ControlPlane

_CONTROL_PLANE_KEY = pytest.StashKey[ControlPlane]()
_counter = itertools.count()


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("controlplane")) as plane:
        request.config.stash[_CONTROL_PLANE_KEY] = plane
        yield plane
        del request.config.stash[_CONTROL_PLANE_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    plane = item.config.stash.get(_CONTROL_PLANE_KEY, None)
    if report.failed and plane is not None and "control_plane" in item.fixturenames:  # type: ignore[attr-defined]
        report.sections.append(("control plane logs", plane.logs()))
    return report


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """The built kubectl as the admin: ``kubectl("get", "ns", input=None, check=True)``."""
    return control_plane.kubectl


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane) -> Iterator[k8s.ApiClient]:
    """A Python Kubernetes client authenticated as the admin."""
    api = k8s_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    base = request.node.name.lower().replace("_", "-")
    name = "".join(ch for ch in base if ch.isalnum() or ch == "-")[:40].strip("-")
    name = f"t{next(_counter)}-{name}".rstrip("-")
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


ServiceAccountKubeconfig = Callable[..., Path]


@pytest.fixture
def service_account_kubeconfig(
    control_plane: ControlPlane, tmp_path: Path
) -> ServiceAccountKubeconfig:
    """Factory: ``service_account_kubeconfig(namespace, name)`` -> kubeconfig for that SA."""

    def make(namespace: str, name: str, **options: Any) -> Path:
        path = tmp_path / f"{namespace}-{name}.kubeconfig"
        return control_plane.service_account_kubeconfig(namespace, name, path, **options)

    return make


CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


@pytest.fixture(scope="session")
def crd_installed(control_plane: ControlPlane) -> None:
    """The generated CRDs and policy from ``crds/``, applied server-side, CRDs Established."""
    control_plane.apply_crds(CRD_DIR)
