"""The chart's RBAC is enough, and no more: the operator runs on the chart's ServiceAccount.

``helm install`` puts the chart into the real API server in each scope; the operator then
runs as a process whose only credential is that ServiceAccount's token, and reconciles
TrainingJobs against the emulator under a TrainingJobPolicy that selects the test namespace:
one to ``Completed`` (create, status patches, Events, the policy list and Namespace reads),
one refused by the policy (proving those reads return data, not a 403), and one deleted
while running (finalizer, stop, release); the operator also writes the policy's status.
A single 403 in the operator's log fails the test: the chart lacks a permission.

"No more" is proven twice: the token's complete rule list (``kubectl auth can-i --list``) is
exactly what docs/deploying.md documents, and real requests beyond it are refused.
(``tests/helm/test_install.py`` checks verbs one by one with ``can-i``; this is the whole list.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sagemaker_operator import names
from sagemaker_operator.controller import window_hints
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import (
    ROLE,
    apply,
    condition,
    events,
    eventually,
    get,
    manifest,
    wait_phase,
)
from tests.helm.chart import Release, helm, install_chart
from tests.plugins.emulator import client_for
from tests.plugins.operator import OperatorProcess, StartOperator

LONG = {"duration-seconds": "100000"}

# Rules every authenticated identity has (system:basic-user, system:discovery, ...).
DEFAULT_RESOURCES = {
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
    "selfsubjectreviews.authentication.k8s.io",
    "clustertrustbundles.certificates.k8s.io",  # a default ClusterRole's, not the chart's
}
Rule = tuple[str, str, str]  # (resource, resource names, verbs), as kubectl prints them


def granted_rules(plane: ControlPlane, release: Release, namespace: str) -> set[Rule]:
    """Everything the token may do on resources in ``namespace`` (cluster-wide rules too)."""
    out = plane.kubectl(
        "auth", "can-i", "--list", "--no-headers", "-n", namespace, kubeconfig=release.kubeconfig
    ).stdout
    rules: set[Rule] = set()
    for line in out.splitlines():
        found = re.fullmatch(r"(\S*)\s+(\[.*?\])\s+(\[.*?\])\s+(\[.*?\])\s*", line)
        assert found, f"unparsed can-i line: {line!r}"
        resource, urls, resource_names, verbs = found.groups()
        if urls != "[]" or resource in DEFAULT_RESOURCES:
            continue  # non-resource URLs and what every identity has
        rules.add((resource, resource_names, verbs))
    return rules


# The cluster-scoped kinds: the operator's ClusterRole, in every scope.
CLUSTER_KINDS: set[Rule] = {
    ("customresourcedefinitions.apiextensions.k8s.io", "[]", "[get list watch]"),
    ("namespaces", "[]", "[get list watch]"),
    (f"{names.POLICY_PLURAL}.{names.GROUP}", "[]", "[get list watch]"),
    (f"{names.POLICY_PLURAL}.{names.GROUP}/status", "[]", "[get patch]"),
}
WATCHED: set[Rule] = {
    ("trainingjobs.sagemaker-operator.io", "[]", "[get list watch patch]"),
    ("trainingjobs.sagemaker-operator.io/status", "[]", "[get patch]"),
    ("events", "[]", "[create patch]"),
    ("events.events.k8s.io", "[]", "[create patch]"),
}


def listing_rule(release: Release) -> Rule:
    """The chart's one Lease (listing hints), read and annotated, in the release's namespace."""
    lease = release.listing_lease.partition("/")[2]
    return ("leases.coordination.k8s.io", f"[{lease}]", "[get patch]")


def assert_listing_hint_kept(plane: ControlPlane, release: Release) -> None:
    """The pollers wrote their window's start into the chart's Lease (window_hints)."""
    namespace, _, lease = release.listing_lease.partition("/")

    def annotations() -> dict[str, str]:
        found = json.loads(
            plane.kubectl("get", "lease", lease, "-n", namespace, "-o", "json").stdout
        )
        return dict(found["metadata"].get("annotations") or {})

    eventually(lambda: window_hints.parse(annotations()).get("us-east-1"))


@pytest.fixture
def policy(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """A TrainingJobPolicy selecting only the test namespace and allowing only the tests'
    role, bucket and images; applied before the operator starts (it caches policies)."""
    name = f"rbac-{namespace}"
    body = {
        "apiVersion": names.API_VERSION,
        "kind": names.POLICY_KIND,
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "allow": {"roleArns": [ROLE], "s3": ["s3://bucket/"], "images": ["*"]},
        },
    }
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    yield name
    control_plane.kubectl("delete", names.POLICY_PLURAL, name, "--wait=false", check=False)


def policy_status(plane: ControlPlane, name: str) -> dict[str, object]:
    found = json.loads(plane.kubectl("get", names.POLICY_PLURAL, name, "-o", "json").stdout)
    status: dict[str, object] = found.get("status") or {}
    return status


def no_forbidden(operator: OperatorProcess) -> None:
    log = operator.log()
    denied = [line for line in log.splitlines() if "forbidden" in line.lower() or " 403" in line]
    assert not denied, log


def reconcile_end_to_end(
    plane: ControlPlane,
    namespace: str,
    policy: str,
    operator: OperatorProcess,
    emulator: testing.Running,
) -> None:
    wrong_role = "arn:aws:iam::123456789012:role/someone-elses"
    apply(
        plane,
        namespace,
        manifest("done"),
        manifest("stopme", fate=LONG),
        manifest("refused", roleArn=wrong_role),
    )
    done = wait_phase(plane, namespace, "done", "Completed")
    assert condition(done, "Succeeded")["status"] == "True"
    assert done["status"]["modelArtifacts"]["s3ModelArtifacts"].startswith("s3://bucket/output/")
    # The guard listed the policies and read the Namespace's labels through the chart's
    # ClusterRole: refused before any AWS call.
    refused = wait_phase(plane, namespace, "refused", "Failed")
    assert condition(refused, "Succeeded")["reason"] == "NotAllowedByPolicy"
    assert policy in condition(refused, "Succeeded")["message"]
    # The policy's status, written through the subresource the ClusterRole grants.
    eventually(lambda: policy_status(plane, policy).get("selectedNamespaces") == 1)
    # Events from kopf's handlers (Created) and from the poller's own client (Completed).
    eventually(
        lambda: {"Created", "Completed"} <= {r for _, r, _ in events(plane, namespace, "done")}
    )

    wait_phase(plane, namespace, "stopme", "InProgress")
    eventually(lambda: get(plane, namespace, "stopme")["status"].get("trainingJobArn"))
    job_name = get(plane, namespace, "stopme")["status"]["trainingJobName"]
    plane.kubectl("delete", names.PLURAL, "stopme", "-n", namespace, "--wait=false")
    plane.kubectl(
        "wait", f"{names.PLURAL}/stopme", "-n", namespace, "--for=delete", "--timeout=60s"
    )
    described = client_for(emulator.url).describe_training_job(TrainingJobName=job_name)
    assert described["TrainingJobStatus"] == "Stopped"
    assert emulator.admin.calls("CreateTrainingJob") == 2  # done and stopme, never refused
    assert emulator.admin.calls("StopTrainingJob") == 1
    no_forbidden(operator)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def _uninstall(plane: ControlPlane, release: Release) -> None:
    helm(
        "uninstall",
        release.name,
        f"--namespace={release.namespace}",
        check=False,
        kubeconfig=plane.kubeconfig,
    )


@pytest.fixture
def cluster_release(control_plane: ControlPlane, workdir: Path) -> Iterator[Release]:
    # The TrainingJob CRD is the session's (crd_installed); RBAC does not depend on who owns it.
    values = {"crds": {"install": False}}
    release = install_chart(
        control_plane, "rbac-cluster", "rbac-cluster-system", values, workdir=workdir
    )
    yield release
    _uninstall(control_plane, release)


def test_cluster_scope_is_enough_for_a_cluster_wide_operator(
    control_plane: ControlPlane,
    namespace: str,
    policy: str,
    cluster_release: Release,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    # Cluster scope means watching every namespace: kopf lists and watches cluster-wide.
    operator = start_operator(
        namespace,
        kubeconfig=cluster_release.kubeconfig,
        clusterwide=True,
        listing_lease=cluster_release.listing_lease,
    )
    reconcile_end_to_end(control_plane, namespace, policy, operator, sagemaker_emulator)
    assert_listing_hint_kept(control_plane, cluster_release)


def test_cluster_scope_grants_exactly_the_documented_rules(
    control_plane: ControlPlane, namespace: str, crd_installed: None, cluster_release: Release
) -> None:
    assert granted_rules(control_plane, cluster_release, namespace) == CLUSTER_KINDS | WATCHED
    # Nothing more in its own namespace but its one Lease: no ConfigMaps (the tenancy
    # ConfigMap is gone).
    assert granted_rules(
        control_plane, cluster_release, cluster_release.namespace
    ) == CLUSTER_KINDS | WATCHED | {listing_rule(cluster_release)}
    sneaky = manifest("sneaky")
    sneaky["metadata"]["namespace"] = namespace
    policy = {
        "apiVersion": names.API_VERSION,
        "kind": names.POLICY_KIND,
        "metadata": {"name": "sneaky"},
        "spec": {"namespaceSelector": {}},
    }
    for args, stdin in (
        (("get", "secrets", "-n", cluster_release.namespace), None),
        (("get", "configmaps", "-n", cluster_release.namespace), None),
        (("create", "-f", "-"), yaml.safe_dump(sneaky)),  # the operator never creates one
        (("create", "--dry-run=server", "-f", "-"), yaml.safe_dump(policy)),  # nor a policy
    ):
        refused = control_plane.kubectl(
            *args, kubeconfig=cluster_release.kubeconfig, check=False, input=stdin
        )
        assert refused.returncode != 0
        assert "forbidden" in refused.stderr


# Exact names bind Roles per namespace in either scope (cluster scope narrowed to its list).
LISTED_SCOPES = {"namespaced": {"rbac": {"scope": "namespaced"}}, "cluster-listed": {}}


@pytest.fixture(params=list(LISTED_SCOPES))
def listed_release(
    control_plane: ControlPlane, namespace: str, workdir: Path, request: pytest.FixtureRequest
) -> Iterator[Release]:
    values = LISTED_SCOPES[request.param] | {
        "watchNamespaces": [namespace],
        "crds": {"install": False},
    }
    release = install_chart(control_plane, "rbac-ns", f"{namespace}-op", values, workdir=workdir)
    yield release
    _uninstall(control_plane, release)
    control_plane.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


@pytest.fixture
def namespaced_release(
    control_plane: ControlPlane, namespace: str, workdir: Path
) -> Iterator[Release]:
    values = {
        "rbac": {"scope": "namespaced"},
        "watchNamespaces": [namespace],
        "crds": {"install": False},
    }
    release = install_chart(control_plane, "rbac-ns", f"{namespace}-op", values, workdir=workdir)
    yield release
    _uninstall(control_plane, release)
    control_plane.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


def test_namespaced_scope_is_enough_for_an_operator_watching_its_list(
    control_plane: ControlPlane,
    namespace: str,
    policy: str,
    namespaced_release: Release,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    operator = start_operator(
        namespace,
        kubeconfig=namespaced_release.kubeconfig,
        listing_lease=namespaced_release.listing_lease,
    )
    reconcile_end_to_end(control_plane, namespace, policy, operator, sagemaker_emulator)
    assert_listing_hint_kept(control_plane, namespaced_release)


def test_exact_names_grant_exactly_the_documented_rules(
    control_plane: ControlPlane, namespace: str, listed_release: Release
) -> None:
    outside = "default"
    release_ns = listed_release.namespace
    assert granted_rules(control_plane, listed_release, namespace) == CLUSTER_KINDS | WATCHED
    assert granted_rules(control_plane, listed_release, release_ns) == CLUSTER_KINDS | {
        listing_rule(listed_release)
    }
    assert granted_rules(control_plane, listed_release, outside) == CLUSTER_KINDS
    for args in (
        ("get", names.PLURAL, "-n", outside),
        ("get", names.PLURAL, "--all-namespaces"),
        ("get", "secrets", "-n", namespace),
        ("get", "configmaps", "-n", release_ns),
        ("get", names.PLURAL, "-n", release_ns),
        ("get", "leases", "-n", release_ns),  # its one Lease by name, never a list
    ):
        refused = control_plane.kubectl(*args, kubeconfig=listed_release.kubeconfig, check=False)
        assert refused.returncode != 0
        assert "forbidden" in refused.stderr
