"""The chart's RBAC as a security boundary, against a real API server and its authorizer.

Three promises of docs/deploying.md, each checked with ``kubectl auth can-i --as=...`` (the
API server's own answer for that identity) and with real requests where a resource exists:

* Tenants holding the built-in ``edit`` (or ``admin``) role in a namespace may create
  TrainingJobs there, through the chart's aggregated ClusterRoles, but may never write
  ``trainingjobs/status`` (whoever writes status is trusted like the operator) nor any
  TrainingJobPolicy (a cluster admin's); ``view`` held cluster-wide reads policies only.
* Cluster scope with exact ``watchNamespaces`` binds the operator's TrainingJob rules per
  namespace: its ServiceAccount cannot read a TrainingJob anywhere else.
* The operator's ServiceAccount reads no ConfigMap, not even in its own namespace.

The test control plane's controller manager runs Kubernetes' ClusterRole aggregation
controller, so the built-in roles pick up the chart's aggregated rules as in a cluster.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from tests.controller.helpers import eventually, manifest
from tests.helm.chart import Release, helm, install_chart

Check = tuple[str, str, tuple[str, ...]]  # (verb, resource, extra kubectl arguments)
TJ = f"{names.PLURAL}.{names.GROUP}"
POLICIES = f"{names.POLICY_PLURAL}.{names.GROUP}"
STATUS = "--subresource=status"


def service_account(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def can_i(plane: ControlPlane, who: str, verb: str, resource: str, *args: str) -> bool:
    """The API server's answer for ``who`` (impersonated by the admin)."""
    result = plane.kubectl("auth", "can-i", verb, resource, *args, f"--as={who}", check=False)
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, result.stderr
    return answer == "yes"


def allowed(plane: ControlPlane, who: str, checks: Sequence[Check]) -> list[Check]:
    """The (verb, resource, args) of ``checks`` that ``who`` may do."""
    return [(v, r, a) for v, r, a in checks if can_i(plane, who, v, r, *a)]


def forbidden(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode != 0 and "forbidden" in result.stderr.lower()


def _install(
    plane: ControlPlane, name: str, namespace: str, values: dict[str, Any], workdir: Path
) -> Iterator[Release]:
    """A release named ``name`` in its own namespace (the test's, suffixed ``-op``)."""
    # The CRDs are the session's (crd_installed); RBAC does not depend on who owns them.
    values = values | {"crds": {"install": False}}
    release = install_chart(plane, name, f"{namespace}-op", values, workdir=workdir)
    yield release
    helm(
        "uninstall",
        release.name,
        f"--namespace={release.namespace}",
        check=False,
        kubeconfig=plane.kubeconfig,
    )
    plane.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


def operator_of(release: Release) -> str:
    return service_account(release.namespace, release.service_account)


def bind(
    plane: ControlPlane, kind: str, role: str, who: tuple[str, str], namespace: str = ""
) -> None:
    """A RoleBinding (in ``namespace``) or ClusterRoleBinding of ClusterRole ``role``."""
    sa_namespace, sa_name = who
    plane.kubectl("create", "serviceaccount", sa_name, "-n", sa_namespace, check=False)
    name = f"{sa_namespace}-{sa_name}-{role}"
    where = ("-n", namespace) if namespace else ()
    plane.kubectl(
        "create",
        kind,
        name,
        f"--clusterrole={role}",
        f"--serviceaccount={sa_namespace}:{sa_name}",
        *where,
    )


# --- (a) tenants through the built-in roles ------------------------------------------------


@pytest.fixture
def tenant_release(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[Release]:
    yield from _install(control_plane, "sec-tenants", namespace, {}, tmp_path)


def tenant_writes_refused(namespace: str) -> list[Check]:
    """What no tenant may do, whatever built-in role it holds."""
    ns = ("-n", namespace)
    return [
        *[(verb, TJ, (*ns, STATUS)) for verb in ("update", "patch")],
        *[(verb, POLICIES, ()) for verb in ("create", "update", "patch", "delete")],
        *[(verb, POLICIES, (STATUS,)) for verb in ("update", "patch")],
        ("deletecollection", POLICIES, ()),
    ]


@pytest.mark.parametrize("role", ["edit", "admin"])
def test_edit_and_admin_create_trainingjobs_but_never_write_status_or_policies(
    control_plane: ControlPlane,
    namespace: str,
    crd_installed: None,
    tenant_release: Release,
    role: str,
) -> None:
    bind(control_plane, "rolebinding", role, (namespace, "tenant"), namespace)
    tenant = service_account(namespace, "tenant")
    ns = ("-n", namespace)
    # Aggregation is a controller's work: the built-in role gains the chart's rules shortly.
    eventually(lambda: can_i(control_plane, tenant, "create", TJ, *ns))
    manage: list[Check] = [
        (verb, TJ, ns) for verb in ("get", "list", "watch", "create", "update", "patch", "delete")
    ]
    assert allowed(control_plane, tenant, manage) == manage
    assert allowed(control_plane, tenant, tenant_writes_refused(namespace)) == []
    # Not even reading policies: they are cluster-scoped and a RoleBinding grants none.
    assert not can_i(control_plane, tenant, "list", POLICIES)

    # Real requests, answered by the authorizer. Server-side dry runs and requests on
    # objects that need not exist: authorization comes first (a 403 before any 404), and
    # no TrainingJob is left for a cluster-wide operator in a later test to pick up.
    job = manifest("tenant-job")
    job["metadata"]["namespace"] = namespace
    created = control_plane.kubectl(
        "create",
        "--dry-run=server",
        "-f",
        "-",
        f"--as={tenant}",
        input=yaml.safe_dump(job),
        check=False,
    )
    assert created.returncode == 0, created.stderr
    forged = control_plane.kubectl(
        "patch",
        names.PLURAL,
        "tenant-job",
        *ns,
        STATUS,
        "--type=merge",
        "-p",
        '{"status": {"phase": "Completed"}}',
        f"--as={tenant}",
        check=False,
    )
    assert forbidden(forged), forged.stderr
    policy = {
        "apiVersion": names.API_VERSION,
        "kind": names.POLICY_KIND,
        "metadata": {"name": f"by-{namespace}"},
        "spec": {"namespaceSelector": {}},
    }
    # Never stored, even should the chart be wrong: it would govern every namespace.
    grab = control_plane.kubectl(
        "create",
        "--dry-run=server",
        "-f",
        "-",
        f"--as={tenant}",
        input=yaml.safe_dump(policy),
        check=False,
    )
    assert forbidden(grab), grab.stderr


def test_cluster_wide_edit_reads_policies_and_view_only_reads(
    control_plane: ControlPlane,
    namespace: str,
    tenant_release: Release,
) -> None:
    """Bound cluster-wide, `edit` and `view` may read policies (tenants see what governs
    them), and still never write one nor any TrainingJob status."""
    bind(control_plane, "clusterrolebinding", "edit", (namespace, "editor"))
    bind(control_plane, "clusterrolebinding", "view", (namespace, "viewer"))
    try:
        editor, viewer = (service_account(namespace, n) for n in ("editor", "viewer"))
        read: list[Check] = [(verb, POLICIES, ()) for verb in ("get", "list", "watch")]
        read += [(verb, TJ, ("-n", "default")) for verb in ("get", "list", "watch")]
        for who in (editor, viewer):
            eventually(functools.partial(can_i, control_plane, who, "list", POLICIES))
            assert allowed(control_plane, who, read) == read
            assert allowed(control_plane, who, tenant_writes_refused("default")) == []
        assert can_i(control_plane, editor, "create", TJ, "-n", "default")
        writes: list[Check] = [
            (v, TJ, ("-n", "default")) for v in ("create", "update", "patch", "delete")
        ]
        assert allowed(control_plane, viewer, writes) == []
    finally:
        for name in ("editor-edit", "viewer-view"):
            control_plane.kubectl(
                "delete", "clusterrolebinding", f"{namespace}-{name}", check=False
            )


# --- (b) cluster scope narrowed to exact names ---------------------------------------------


@pytest.fixture
def outside(control_plane: ControlPlane, namespace: str, crd_installed: None) -> Iterator[str]:
    """A namespace not in the list (empty: authorization answers before any 404)."""
    name = f"{namespace}-out"[:63]
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def listed_release(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[Release]:
    values = {"watchNamespaces": [namespace]}
    yield from _install(control_plane, "sec-listed", namespace, values, tmp_path)


def operator_reads(namespace: str) -> list[Check]:
    ns = ("-n", namespace)
    return [
        *[(verb, TJ, ns) for verb in ("get", "list", "watch", "patch")],
        *[(verb, TJ, (*ns, STATUS)) for verb in ("get", "patch")],
        ("create", "events", ns),
    ]


def test_cluster_scope_with_exact_names_cannot_touch_trainingjobs_elsewhere(
    control_plane: ControlPlane, namespace: str, outside: str, listed_release: Release
) -> None:
    operator = operator_of(listed_release)
    # In its list it may (so a "no" below is the binding's doing, not a broken identity).
    assert allowed(control_plane, operator, operator_reads(namespace)) == operator_reads(namespace)
    assert allowed(control_plane, operator, operator_reads(outside)) == []
    assert not can_i(control_plane, operator, "list", TJ, "--all-namespaces")
    # Real requests with the ServiceAccount's own token: 403, never a 404 or a list.
    for args in (("anything", "-n", outside), ("-n", outside), ("--all-namespaces",)):
        read = control_plane.kubectl(
            "get", names.PLURAL, *args, kubeconfig=listed_release.kubeconfig, check=False
        )
        assert forbidden(read), read.stderr
    mine = control_plane.kubectl(
        "get", names.PLURAL, "-n", namespace, kubeconfig=listed_release.kubeconfig, check=False
    )
    assert mine.returncode == 0, mine.stderr


@pytest.fixture
def pattern_release(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[Release]:
    values = {"watchNamespaces": [f"{namespace}*"]}
    yield from _install(control_plane, "sec-pattern", namespace, values, tmp_path)


def test_a_pattern_cannot_be_narrowed_so_the_rules_are_cluster_wide(
    control_plane: ControlPlane, namespace: str, outside: str, pattern_release: Release
) -> None:
    """The documented exception (docs/deploying.md, NOTES.txt): with a glob the chart can
    create no Role for namespaces the glob will match later, so it binds cluster-wide."""
    operator = operator_of(pattern_release)
    unrelated = "default"
    for where in (namespace, outside, unrelated):
        assert allowed(control_plane, operator, operator_reads(where)) == operator_reads(where)


# --- (c) no ConfigMaps -------------------------------------------------------------------


SCOPES: dict[str, dict[str, Any]] = {
    "cluster": {},
    "cluster-listed": {},  # watchNamespaces: the test's namespace
    "namespaced": {"rbac": {"scope": "namespaced"}},
}


@pytest.fixture(params=list(SCOPES))
def scoped_release(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Release]:
    values = SCOPES[request.param]
    if request.param != "cluster":
        values = values | {"watchNamespaces": [namespace]}
    yield from _install(control_plane, f"sec-cm-{request.param}", namespace, values, tmp_path)


def test_the_operator_reads_no_configmap_even_in_its_own_namespace(
    control_plane: ControlPlane, namespace: str, scoped_release: Release
) -> None:
    release = scoped_release
    operator = operator_of(release)
    control_plane.kubectl(
        "create", "configmap", "anything", "-n", release.namespace, "--from-literal=k=v"
    )
    reads: list[Check] = [
        (verb, "configmaps", ("-n", where))
        for where in (release.namespace, namespace)
        for verb in ("get", "list", "watch")
    ]
    reads.append(("get", "configmaps/anything", ("-n", release.namespace)))
    assert allowed(control_plane, operator, reads) == []
    assert not can_i(control_plane, operator, "list", "configmaps", "--all-namespaces")
    # It can read something (so the "no" above is not a broken identity).
    assert can_i(control_plane, operator, "list", "namespaces")
    read = control_plane.kubectl(
        "get", "configmap", "anything", "-n", release.namespace,
        kubeconfig=release.kubeconfig, check=False,
    )  # fmt: skip
    assert forbidden(read), read.stderr
