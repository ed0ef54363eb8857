"""The chart against a real API server: install in both scopes, RBAC enough and no more,
upgrade and uninstall as docs/deploying.md says.

The Deployment's pod never runs here (its image is not on the test node, and nothing is
pulled); what is proven here is that the API server accepts every manifest and that the
chart's ServiceAccount token can do exactly what the operator needs. The end-to-end test runs
the operator with that same token; tests/helm/test_in_cluster.py runs the chart's pod itself.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from tests.helm.chart import (
    CHART_CRDS_DIR,
    CHART_DIR,
    Release,
    helm,
    install_chart,
    uninstall_chart,
    upgrade_chart,
)

TJ = "trainingjobs.sagemaker-operator.io"
CRD = "customresourcedefinitions.apiextensions.k8s.io"
CRD_NAME = "trainingjobs.sagemaker-operator.io"


def can_i(plane: ControlPlane, release: Release, verb: str, resource: str, *args: str) -> bool:
    result = plane.kubectl(
        "auth", "can-i", verb, resource, *args, kubeconfig=release.kubeconfig, check=False
    )
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, result.stderr
    return answer == "yes"


Check = tuple[str, str, tuple[str, ...]]  # (verb, resource, extra kubectl arguments)


def operator_needs(namespace: str) -> list[Check]:
    """(verb, resource, extra args) the operator needs in a namespace it watches."""
    ns = ("-n", namespace)
    return [
        *[(verb, TJ, ns) for verb in ("get", "list", "watch", "patch")],
        *[(verb, TJ, (*ns, "--subresource=status")) for verb in ("get", "patch")],
        *[(verb, "events", ns) for verb in ("create", "patch")],
        *[(verb, "events.events.k8s.io", ns) for verb in ("create", "patch")],
    ]


CLUSTER_NEEDS: list[Check] = [
    *[(verb, CRD, ()) for verb in ("get", "list", "watch")],
    *[(verb, "namespaces", ()) for verb in ("get", "list", "watch")],
    *[(verb, f"{names.POLICY_PLURAL}.{names.GROUP}", ()) for verb in ("get", "list", "watch")],
    ("patch", f"{names.POLICY_PLURAL}.{names.GROUP}", ("--subresource=status",)),
]


def refused(namespace: str) -> list[Check]:
    """Requests the operator never makes: the chart must not grant them."""
    ns = ("-n", namespace)
    return [
        ("get", "secrets", ns),
        ("list", "secrets", ns),
        ("list", "pods", ns),
        ("create", "pods", ns),
        ("create", TJ, ns),
        ("delete", TJ, ns),
        ("update", TJ, ns),
        ("list", "configmaps", ns),
        ("create", "rolebindings.rbac.authorization.k8s.io", ns),
    ]


def assert_grants(plane: ControlPlane, release: Release, wanted: Sequence[Check]) -> None:
    denied = [(v, r, a) for v, r, a in wanted if not can_i(plane, release, v, r, *a)]
    assert denied == []


def assert_refuses(plane: ControlPlane, release: Release, unwanted: Sequence[Check]) -> None:
    allowed = [(v, r, a) for v, r, a in unwanted if can_i(plane, release, v, r, *a)]
    assert allowed == []


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helm")


@pytest.fixture(scope="module")
def cluster_release(control_plane: ControlPlane, workdir: Path) -> Iterator[Release]:
    """Cluster scope, with peering (so its CRDs and RBAC are exercised too); owns the CRD."""
    values = {"peering": {"enabled": True}, "replicaCount": 2}
    release = install_chart(
        control_plane, "smop-cluster", "smop-cluster-system", values, workdir=workdir
    )
    yield release
    helm(
        "uninstall",
        release.name,
        f"--namespace={release.namespace}",
        check=False,
        kubeconfig=control_plane.kubeconfig,
    )


@pytest.fixture(scope="module")
def watched(control_plane: ControlPlane) -> list[str]:
    names = ["smop-team-a", "smop-team-b", "smop-outside"]
    for name in names:
        control_plane.kubectl("create", "namespace", name, check=False)
    return names[:2]


@pytest.fixture(scope="module")
def namespaced_release(
    control_plane: ControlPlane, workdir: Path, watched: list[str], cluster_release: Release
) -> Iterator[Release]:
    """Namespaced scope; the CRD stays owned by the cluster release (one owner per CRD)."""
    values = {
        "rbac": {"scope": "namespaced"},
        "watchNamespaces": watched,
        "crds": {"install": False},
        "peering": {"enabled": True},
    }
    release = install_chart(control_plane, "smop-ns", "smop-ns-system", values, workdir=workdir)
    yield release
    helm(
        "uninstall",
        release.name,
        f"--namespace={release.namespace}",
        check=False,
        kubeconfig=control_plane.kubeconfig,
    )


def get_json(plane: ControlPlane, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(plane.kubectl("get", *args, "-o", "json").stdout)
    return result


def test_cluster_install_creates_the_crd_and_the_peering(
    control_plane: ControlPlane, cluster_release: Release
) -> None:
    crd = get_json(control_plane, "crd", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == "smop-cluster"
    control_plane.wait_established(f"crd/{CRD_NAME}")
    peering = get_json(
        control_plane, "clusterkopfpeerings.kopf.dev", "smop-cluster-sagemaker-operator"
    )
    assert peering["kind"] == "ClusterKopfPeering"
    deployment = get_json(
        control_plane, "deployment", "smop-cluster-sagemaker-operator", "-n", "smop-cluster-system"
    )
    assert deployment["spec"]["replicas"] == 2
    pdb = get_json(
        control_plane, "pdb", "smop-cluster-sagemaker-operator", "-n", "smop-cluster-system"
    )
    assert pdb["spec"]["minAvailable"] == 1


PEERING_NEEDS: list[Check] = [
    (verb, "clusterkopfpeerings.kopf.dev", ()) for verb in ("get", "list", "watch", "patch")
]


def test_cluster_scope_token_can_do_what_the_operator_needs_anywhere(
    control_plane: ControlPlane, cluster_release: Release, watched: list[str]
) -> None:
    assert_grants(control_plane, cluster_release, CLUSTER_NEEDS)
    for namespace in [*watched, "default"]:
        assert_grants(control_plane, cluster_release, operator_needs(namespace))
    assert_grants(
        control_plane,
        cluster_release,
        PEERING_NEEDS,
    )
    # No ConfigMap at all: policies are TrainingJobPolicy objects.
    assert_refuses(
        control_plane,
        cluster_release,
        [("get", "configmaps/sagemaker-operator-tenancy", ("-n", "smop-cluster-system"))],
    )


def test_cluster_scope_token_is_refused_the_rest(
    control_plane: ControlPlane, cluster_release: Release
) -> None:
    assert_refuses(control_plane, cluster_release, refused("default"))
    assert_refuses(
        control_plane,
        cluster_release,
        [
            ("get", "secrets", ("-n", "smop-cluster-system")),
            ("get", "configmaps/other", ("-n", "smop-cluster-system")),
            ("list", "secrets", ("--all-namespaces",)),
            ("delete", "namespaces", ()),
            ("patch", CRD, ()),
            ("create", "clusterkopfpeerings.kopf.dev", ()),
        ],
    )


def test_namespaced_install_grants_only_the_listed_namespaces(
    control_plane: ControlPlane, namespaced_release: Release, watched: list[str]
) -> None:
    assert_grants(control_plane, namespaced_release, CLUSTER_NEEDS)
    for namespace in watched:
        assert_grants(control_plane, namespaced_release, operator_needs(namespace))
        assert_grants(
            control_plane,
            namespaced_release,
            [(v, "kopfpeerings.kopf.dev", ("-n", namespace)) for v in ("get", "watch", "patch")],
        )
        peering = get_json(
            control_plane, "kopfpeerings.kopf.dev", "smop-ns-sagemaker-operator", "-n", namespace
        )
        assert peering["kind"] == "KopfPeering"
        assert_refuses(control_plane, namespaced_release, refused(namespace))
    # A namespace outside the list: nothing at all, not even reading TrainingJobs.
    outside = [
        ("get", TJ, ("-n", "smop-outside")),
        ("list", TJ, ("-n", "smop-outside")),
        ("watch", TJ, ("-n", "smop-outside")),
        ("patch", TJ, ("-n", "smop-outside", "--subresource=status")),
        ("create", "events", ("-n", "smop-outside")),
        ("list", TJ, ("--all-namespaces",)),
        ("list", "clusterkopfpeerings.kopf.dev", ()),
        *refused("smop-outside"),
    ]
    assert_refuses(control_plane, namespaced_release, outside)


def test_namespaced_token_really_reads_trainingjobs_only_where_listed(
    control_plane: ControlPlane, namespaced_release: Release, watched: list[str]
) -> None:
    """Not only `can-i`: real requests, answered by the API server's authorizer."""
    mine = control_plane.kubectl(
        "get", TJ, "-n", watched[0], kubeconfig=namespaced_release.kubeconfig, check=False
    )
    assert mine.returncode == 0, mine.stderr
    for args in (("get", TJ, "-n", "smop-outside"), ("get", "secrets", "-n", watched[0])):
        other = control_plane.kubectl(*args, kubeconfig=namespaced_release.kubeconfig, check=False)
        assert other.returncode != 0
        assert "forbidden" in other.stderr


def test_upgrade_changes_settings_and_reaches_the_crd(
    control_plane: ControlPlane, cluster_release: Release, workdir: Path
) -> None:
    """Helm never upgrades crds/; the TrainingJob CRD is a template, so an upgrade reaches it."""
    chart = workdir / "chart-next"
    shutil.copytree(CHART_DIR, chart)
    for path in (chart / "files" / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        crd["metadata"].setdefault("annotations", {})["sagemaker-operator.io/chart-test"] = "next"
        path.write_text(yaml.safe_dump(crd))
    values = {
        "peering": {"enabled": True},
        "replicaCount": 2,
        "operator": {"logLevel": "DEBUG"},
    }
    key = ("secret", "smop-cluster-sagemaker-operator-ownership-key", "-n", "smop-cluster-system")
    before = get_json(control_plane, *key)["data"]["key"]
    upgrade_chart(control_plane, cluster_release, values, workdir=workdir, chart=chart)
    # The proofs' key is drawn once: an upgrade renders the one it finds (lookup), or every
    # proof written before would fail its check and each job's tags be asked again.
    assert get_json(control_plane, *key)["data"]["key"] == before

    deployment = get_json(
        control_plane, "deployment", "smop-cluster-sagemaker-operator", "-n", "smop-cluster-system"
    )
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SAGEMAKER_OPERATOR_LOG_LEVEL"] == "DEBUG"
    crd = get_json(control_plane, "crd", CRD_NAME)
    assert crd["metadata"]["annotations"]["sagemaker-operator.io/chart-test"] == "next"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    history = helm(
        "history",
        cluster_release.name,
        f"--namespace={cluster_release.namespace}",
        "--output=json",
        kubeconfig=control_plane.kubeconfig,
    )
    assert [r["revision"] for r in json.loads(history)] == [1, 2]


def test_uninstall_removes_everything_but_the_crd(
    control_plane: ControlPlane, workdir: Path, watched: list[str]
) -> None:
    """A release of its own, so the module's releases stay for the other tests."""
    values = {
        "rbac": {"scope": "namespaced"},
        "watchNamespaces": watched[:1],
        "crds": {"install": False},
    }
    release = install_chart(control_plane, "smop-gone", "smop-gone-system", values, workdir=workdir)
    assert can_i(control_plane, release, "list", TJ, "-n", watched[0])
    uninstall_chart(control_plane, release)

    leftovers = control_plane.kubectl(
        "get",
        "deployment,serviceaccount,service,role,rolebinding",
        "-n",
        "smop-gone-system",
        "-l",
        "app.kubernetes.io/instance=smop-gone",
        "-o",
        "name",
    ).stdout
    assert leftovers.strip() == ""
    for kind in ("clusterrole", "clusterrolebinding"):
        gone = control_plane.kubectl("get", kind, "smop-gone-sagemaker-operator", check=False)
        assert gone.returncode != 0
    role = control_plane.kubectl(
        "get", "role", "smop-gone-sagemaker-operator", "-n", watched[0], check=False
    )
    assert "NotFound" in role.stderr
    # The token of a deleted ServiceAccount no longer authenticates.
    assert (
        control_plane.kubectl(
            "get", TJ, "-n", watched[0], kubeconfig=release.kubeconfig, check=False
        ).returncode
        != 0
    )
    # The CRD (kept) is still served.
    control_plane.kubectl("get", "crd", CRD_NAME)
    # So is the ownership proofs' key, for a reinstall's proofs to hold.
    control_plane.kubectl(
        "get", "secret", "smop-gone-sagemaker-operator-ownership-key", "-n", "smop-gone-system"
    )


def test_the_chart_crd_file_is_what_the_cluster_serves(
    control_plane: ControlPlane, cluster_release: Release
) -> None:
    served = get_json(control_plane, "crd", CRD_NAME)
    for path in CHART_CRDS_DIR.glob("*.yaml"):
        source = yaml.safe_load(path.read_text())
        if source["metadata"]["name"] == CRD_NAME:
            assert served["spec"]["names"] == served["spec"]["names"] | source["spec"]["names"]
            assert [v["name"] for v in served["spec"]["versions"]] == [
                v["name"] for v in source["spec"]["versions"]
            ]
