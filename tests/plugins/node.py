"""pytest fixtures for a real node: containerd + kubelet + kube-scheduler, one per session.

``cluster_node`` starts, on first use, a :class:`~sagemaker_operator.devstack.node.Node`
against the session's ``control_plane`` (containerd and runc from Debian, kubelet and
kube-scheduler built from the pinned ``k8s.io/kubernetes``), waits until the Node is
``Ready``, and tears it down after the session, leaving no process, mount, network
namespace, cgroup, iptables rule or bridge behind. Pods get real addresses on the node's
bridge; nothing is pulled: import images built here (``sagemaker_operator.devstack.images``)
with ``cluster_node.import_image(image.archive, image.ref)``, run them with
``imagePullPolicy: Never``, and make a host loopback port reachable from pods with
``cluster_node.expose(port)``. A failing test that used the node gets its logs.

``operator_image``: the project's Dockerfile built on a Python base made from Debian's
packages, imported into the node (session-scoped, cached across sessions by its inputs).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from sagemaker_operator.devstack import images
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.devstack.node import Node

_NODE_KEY = pytest.StashKey[Node]()


@pytest.fixture(scope="session")
def cluster_node(
    control_plane: ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Node]:
    with Node(control_plane, tmp_path_factory.mktemp("node")) as node:
        request.config.stash[_NODE_KEY] = node
        yield node
        del request.config.stash[_NODE_KEY]


@pytest.fixture(scope="session")
def operator_image(cluster_node: Node) -> images.Image:
    """The operator's image (``localhost/sagemaker-operator:KEY``), imported into the node."""
    image = images.operator_image()
    cluster_node.import_image(image.archive, image.ref)
    return image


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    node = item.config.stash.get(_NODE_KEY, None)
    if report.failed and node is not None and "cluster_node" in item.fixturenames:  # type: ignore[attr-defined]
        report.sections.append(("node logs", node.logs()))
    return report
