"""The chart's rendering, value by value: ``helm template`` output parsed and asserted on.

No API server is needed here; tests/helm/test_install.py proves the same manifests are
accepted by a real one and that the RBAC they grant is enough and no more.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemaker_operator.config import Settings
from tests.helm.chart import (
    CHART_CRDS_DIR,
    HelmError,
    Manifest,
    find,
    only,
    render,
    render_text,
)

NAMESPACED = {"rbac": {"scope": "namespaced"}, "watchNamespaces": ["team-a", "team-b"]}
# Cluster scope, narrowed to exact names: Roles per namespace, as in namespaced scope.
LISTED = {"watchNamespaces": ["team-a", "team-b"]}
OPERATOR = "smop-sagemaker-operator"  # the operator's (Cluster)Role and binding names
LISTING = f"{OPERATOR}-listing"  # the listing hints' Lease, and its Role and binding


def names_of(manifests: list[Manifest], kind: str) -> list[str]:
    return [m["metadata"]["name"] for m in find(manifests, kind)]


def container(manifests: list[Manifest]) -> dict[str, Any]:
    deployment = only(manifests, "Deployment")
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(manifests: list[Manifest]) -> dict[str, str]:
    """The container's literal environment (``valueFrom`` entries left out)."""
    return {item["name"]: item["value"] for item in container(manifests)["env"] if "value" in item}


def test_kopf_identity_is_the_pod_name() -> None:
    """kopf's identity comes from POD_ID; without it kopf asks getpass for a user name, which
    the image's UID 65532 does not have (the operator pod crashed at start-up)."""
    (pod_id,) = [item for item in container(render())["env"] if item["name"] == "POD_ID"]
    assert pod_id["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


KEY_FILE = "/var/run/secrets/sagemaker-operator.io/ownership/key"


def settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The operator's settings as the pod would read them (from the environment only); the
    ownership key, which the pod reads from its mounted Secret, from a file of the test's."""
    assert os.environ.get("SAGEMAKER_OPERATOR_OWNERSHIP_KEY_FILE") == KEY_FILE
    key = tmp_path / "key"
    key.write_bytes(b"k" * 64)
    monkeypatch.setenv("SAGEMAKER_OPERATOR_OWNERSHIP_KEY_FILE", str(key))
    no_arguments: dict[str, Any] = {}
    return Settings(**no_arguments)


def test_the_ownership_key_is_a_kept_secret_only_the_pod_mounts() -> None:
    manifests = render()
    secret = only(manifests, "Secret", "smop-sagemaker-operator-ownership-key")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(secret["data"]["key"])) == 64
    assert env_of(manifests)["SAGEMAKER_OPERATOR_OWNERSHIP_KEY_FILE"] == KEY_FILE
    (mount,) = [m for m in container(manifests)["volumeMounts"] if m["name"] == "ownership-key"]
    assert (mount["mountPath"], mount["readOnly"]) == (os.path.dirname(KEY_FILE), True)
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "ownership-key"]
    assert volume["secret"] == {
        "secretName": "smop-sagemaker-operator-ownership-key",
        "defaultMode": 0o440,
    }


def test_an_existing_ownership_secret_is_used_and_none_is_made() -> None:
    manifests = render({"ownershipProof": {"existingSecret": "from-the-vault"}})
    assert find(manifests, "Secret") == []
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "ownership-key"]
    assert volume["secret"]["secretName"] == "from-the-vault"


def test_without_ownership_proofs_no_key_is_made_or_mounted() -> None:
    manifests = render({"ownershipProof": {"enabled": False}})
    assert find(manifests, "Secret") == []
    assert "SAGEMAKER_OPERATOR_OWNERSHIP_KEY_FILE" not in env_of(manifests)
    assert all(
        v["name"] != "ownership-key"
        for v in only(manifests, "Deployment")["spec"]["template"]["spec"]["volumes"]
    )


def rules_of(role: Manifest) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples, ignoring how the rules happen to be grouped."""
    return {
        (group, resource, verb)
        for rule in role["rules"]
        if "resourceNames" not in rule
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


WATCHED = {
    ("sagemaker-operator.io", "trainingjobs", "get"),
    ("sagemaker-operator.io", "trainingjobs", "list"),
    ("sagemaker-operator.io", "trainingjobs", "watch"),
    ("sagemaker-operator.io", "trainingjobs", "patch"),
    ("sagemaker-operator.io", "trainingjobs/status", "get"),
    ("sagemaker-operator.io", "trainingjobs/status", "patch"),
    ("", "events", "create"),
    ("", "events", "patch"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
}
# The cluster-scoped kinds: in the operator's ClusterRole in every scope.
CLUSTER_KINDS = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "get"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "namespaces", "get"),
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
    ("sagemaker-operator.io", "trainingjobpolicies", "get"),
    ("sagemaker-operator.io", "trainingjobpolicies", "list"),
    ("sagemaker-operator.io", "trainingjobpolicies", "watch"),
    ("sagemaker-operator.io", "trainingjobpolicies/status", "get"),
    ("sagemaker-operator.io", "trainingjobpolicies/status", "patch"),
}
TENANT_EDIT = {
    ("sagemaker-operator.io", "trainingjobs", verb)
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete")
}
TENANT_VIEW = {
    ("sagemaker-operator.io", resource, verb)
    for resource in ("trainingjobs", "trainingjobpolicies")
    for verb in ("get", "list", "watch")
}


def operator_roles(manifests: list[Manifest]) -> list[Manifest]:
    """The Roles and ClusterRoles bound to the operator (not the tenants' aggregated ones)."""
    return find(manifests, "Role", OPERATOR) + find(manifests, "ClusterRole", OPERATOR)


# --- scopes ------------------------------------------------------------------------------


def test_cluster_scope_grants_one_cluster_role_with_exactly_the_operators_needs() -> None:
    manifests = render()
    role = only(manifests, "ClusterRole", OPERATOR)
    assert rules_of(role) == WATCHED | CLUSTER_KINDS
    binding = only(manifests, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": "smop-sagemaker-operator",
            "namespace": "sagemaker-operator-system",
        }
    ]
    # No Role but the listing Lease's: no per-namespace TrainingJob rules, no ConfigMap reads.
    assert names_of(manifests, "Role") == names_of(manifests, "RoleBinding") == [LISTING]
    assert env_of(manifests)["SAGEMAKER_OPERATOR_NAMESPACES"] == ""


@pytest.mark.parametrize("values", [NAMESPACED, LISTED], ids=["namespaced", "cluster-listed"])
def test_exact_names_get_roles_per_namespace_and_cluster_kinds_only(
    values: dict[str, Any],
) -> None:
    """Exact names narrow the TrainingJob rules to Roles, in either scope."""
    manifests = render(values)
    cluster_role = only(manifests, "ClusterRole", OPERATOR)
    assert rules_of(cluster_role) == CLUSTER_KINDS
    assert only(manifests, "ClusterRoleBinding")["roleRef"]["name"] == OPERATOR
    roles = {
        r["metadata"]["namespace"]: r
        for r in find(manifests, "Role")
        if r["metadata"]["name"] != LISTING
    }
    assert set(roles) == {"team-a", "team-b"}
    for namespace, role in roles.items():
        assert rules_of(role) == WATCHED
        bindings = [b for b in manifests if b["metadata"].get("namespace") == namespace]
        binding = only(bindings, "RoleBinding")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "smop-sagemaker-operator",
        }
        assert binding["subjects"][0]["namespace"] == "sagemaker-operator-system"
    assert env_of(manifests)["SAGEMAKER_OPERATOR_NAMESPACES"] == "team-a,team-b"


PEERED = {"peering": {"enabled": True}}
SCOPES = [{}, NAMESPACED, LISTED, {"watchNamespaces": ["team-*"]}, PEERED, NAMESPACED | PEERED]
SCOPE_IDS = ["cluster", "namespaced", "cluster-listed", "cluster-pattern", "peered", "ns-peered"]


@pytest.mark.parametrize("values", SCOPES, ids=SCOPE_IDS)
def test_no_scope_grants_the_operator_secrets_configmaps_pods_or_deletes(
    values: dict[str, Any],
) -> None:
    manifests = render(values)
    roles = operator_roles(manifests)
    assert roles
    for role in roles:
        assert all("resourceNames" not in rule for rule in role["rules"])
        for group, resource, verb in rules_of(role):
            assert resource not in {"secrets", "configmaps", "pods", "*"}, role["metadata"]
            assert verb not in {"delete", "deletecollection", "create", "update", "*"} or (
                resource == "events" and verb == "create"
            ), (role["metadata"]["name"], group, resource, verb)
            # Policies are the cluster admin's: the operator writes only their status.
            assert resource != "trainingjobpolicies" or verb in {"get", "list", "watch"}
    # Every Role and ClusterRole is the operator's or a tenant's aggregated one.
    names = {
        r["metadata"]["name"] for r in find(manifests, "Role") + find(manifests, "ClusterRole")
    }
    assert names == {OPERATOR, f"{OPERATOR}-edit", f"{OPERATOR}-view", LISTING}


@pytest.mark.parametrize("values", SCOPES, ids=SCOPE_IDS)
def test_the_listing_lease_is_the_charts_and_the_operator_may_only_read_and_annotate_it(
    values: dict[str, Any],
) -> None:
    manifests = render(values)
    lease = only(manifests, "Lease")
    assert (lease["metadata"]["namespace"], lease["metadata"]["name"]) == (
        "sagemaker-operator-system",
        LISTING,
    )
    assert env_of(manifests)["SAGEMAKER_OPERATOR_LISTING_LEASE"] == (
        f"sagemaker-operator-system/{LISTING}"
    )
    role = only(manifests, "Role", LISTING)
    assert role["metadata"]["namespace"] == "sagemaker-operator-system"
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [LISTING],
            "verbs": ["get", "patch"],
        }
    ]
    binding = only(manifests, "RoleBinding", LISTING)
    assert binding["metadata"]["namespace"] == "sagemaker-operator-system"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": LISTING,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": OPERATOR, "namespace": "sagemaker-operator-system"}
    ]


def test_the_tenancy_configmap_is_gone() -> None:
    """TrainingJobPolicy replaced it: no value, no variable, no Role to read ConfigMaps."""
    manifests = render()
    assert not any("tenancy" in m["metadata"]["name"] for m in manifests)
    assert not any("TENANCY" in name for name in env_of(manifests))
    with pytest.raises(HelmError, match="tenancyConfigMap"):
        render({"operator": {"tenancyConfigMap": "tenancy"}})


def test_tenants_edit_and_admin_may_manage_trainingjobs_but_never_status_or_policies() -> None:
    manifests = render()
    edit = only(manifests, "ClusterRole", f"{OPERATOR}-edit")
    labels = edit["metadata"]["labels"]
    assert labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in labels
    assert rules_of(edit) == TENANT_EDIT
    assert all("resourceNames" not in rule for rule in edit["rules"])
    view = only(manifests, "ClusterRole", f"{OPERATOR}-view")
    labels = view["metadata"]["labels"]
    assert labels["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-edit" not in labels
    assert "rbac.authorization.k8s.io/aggregate-to-admin" not in labels
    assert rules_of(view) == TENANT_VIEW
    # Aggregated roles are bound to nobody by the chart: Kubernetes folds them in.
    bound = {b["roleRef"]["name"] for b in find(manifests, "ClusterRoleBinding")}
    assert bound == {OPERATOR}
    assert names_of(manifests, "RoleBinding") == [LISTING]


@pytest.mark.parametrize(
    "values",
    [{"rbac": {"aggregateToDefaultRoles": False}}, {"rbac": {"create": False}}],
    ids=["off", "no-rbac"],
)
def test_aggregated_roles_can_be_left_out(values: dict[str, Any]) -> None:
    names = {m["metadata"]["name"] for m in find(render(values), "ClusterRole")}
    assert names <= {OPERATOR}


def test_namespaced_scope_without_namespaces_is_refused() -> None:
    with pytest.raises(HelmError, match="needs watchNamespaces"):
        render({"rbac": {"scope": "namespaced"}})


def test_namespaced_scope_refuses_patterns() -> None:
    with pytest.raises(HelmError, match="is a pattern"):
        render({"rbac": {"scope": "namespaced"}, "watchNamespaces": ["team-*"]})


@pytest.mark.parametrize("listed", [["team-*", "ml"], ["ml", "!kube-system"], ["team-?"]])
def test_cluster_scope_with_a_pattern_cannot_narrow_and_binds_cluster_wide(
    listed: list[str],
) -> None:
    """One pattern anywhere in the list: no Role can cover it, so the rules stay cluster-wide."""
    manifests = render({"watchNamespaces": listed})
    assert env_of(manifests)["SAGEMAKER_OPERATOR_NAMESPACES"] == ",".join(listed)
    assert rules_of(only(manifests, "ClusterRole", OPERATOR)) == WATCHED | CLUSTER_KINDS
    assert names_of(manifests, "Role") == names_of(manifests, "RoleBinding") == [LISTING]


def test_cluster_scope_pattern_fallback_is_said_in_the_rendered_role() -> None:
    rbac = "templates/rbac.yaml"
    text = render_text({"watchNamespaces": ["team-*", "ml"]}, show_only=rbac)
    assert "cluster-wide because watchNamespaces has patterns (team-*)" in text
    assert "has patterns" not in render_text(LISTED, show_only=rbac)
    assert "has patterns" not in render_text(show_only=rbac)


def test_rbac_create_false_renders_no_rbac() -> None:
    manifests = render({"rbac": {"create": False}})
    kinds = {m["kind"] for m in manifests}
    assert kinds.isdisjoint({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})


# --- replicas, peering, PDB --------------------------------------------------------------


def test_defaults_are_one_replica_recreate_standalone_and_no_pdb() -> None:
    manifests = render()
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert env_of(manifests)["SAGEMAKER_OPERATOR_STANDALONE"] == "true"
    assert "SAGEMAKER_OPERATOR_PEERING_NAME" not in env_of(manifests)
    assert find(manifests, "PodDisruptionBudget") == []
    assert find(manifests, "KopfPeering") == find(manifests, "ClusterKopfPeering") == []


def test_second_replica_without_peering_is_refused_with_the_fix() -> None:
    with pytest.raises(HelmError, match=r"replicaCount is 2 but peering.enabled is false"):
        render({"replicaCount": 2})


def test_peering_in_cluster_scope() -> None:
    manifests = render({"replicaCount": 2, "peering": {"enabled": True}})
    env = env_of(manifests)
    assert env["SAGEMAKER_OPERATOR_STANDALONE"] == "false"
    assert env["SAGEMAKER_OPERATOR_PEERING_NAME"] == "smop-sagemaker-operator"
    assert env["SAGEMAKER_OPERATOR_PEERING_LIFETIME_SECONDS"] == "60"
    # One priority for every replica would make kopf pause them all: each pod draws its own.
    assert "SAGEMAKER_OPERATOR_PEERING_PRIORITY" not in env
    peering = only(manifests, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1"
    assert peering["metadata"]["name"] == "smop-sagemaker-operator"
    assert ("kopf.dev", "clusterkopfpeerings", "patch") in rules_of(
        only(manifests, "ClusterRole", OPERATOR)
    )
    pdb = only(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == only(manifests, "Deployment")["spec"]["selector"]


def test_peering_in_namespaced_scope_has_one_peering_per_watched_namespace() -> None:
    manifests = render(NAMESPACED | {"peering": {"enabled": True, "name": "ha"}})
    peerings = find(manifests, "KopfPeering")
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in peerings} == {
        ("team-a", "ha"),
        ("team-b", "ha"),
    }
    for role in find(manifests, "Role", "smop-sagemaker-operator"):
        assert ("kopf.dev", "kopfpeerings", "patch") in rules_of(role)
    assert find(manifests, "ClusterKopfPeering") == []
    assert env_of(manifests)["SAGEMAKER_OPERATOR_PEERING_NAME"] == "ha"


def test_peering_lifetime_is_a_value_and_a_short_one_is_refused() -> None:
    manifests = render({"peering": {"enabled": True, "lifetimeSeconds": 15}})
    assert env_of(manifests)["SAGEMAKER_OPERATOR_PEERING_LIFETIME_SECONDS"] == "15"
    with pytest.raises(HelmError, match="lifetimeSeconds"):
        render({"peering": {"enabled": True, "lifetimeSeconds": 1}})


def test_peering_in_cluster_scope_with_a_namespace_list_is_per_namespace() -> None:
    """kopf peers cluster-wide only when it watches all namespaces, whatever the RBAC scope."""
    manifests = render({"watchNamespaces": ["ml"], "peering": {"enabled": True}})
    assert find(manifests, "ClusterKopfPeering") == []
    (peering,) = find(manifests, "KopfPeering")
    assert peering["metadata"]["namespace"] == "ml"
    assert rules_of(only(manifests, "ClusterRole", OPERATOR)) == CLUSTER_KINDS
    (role,) = find(manifests, "Role", OPERATOR)
    assert role["metadata"]["namespace"] == "ml"
    assert rules_of(role) == WATCHED | {
        ("kopf.dev", "kopfpeerings", verb) for verb in ("get", "list", "watch", "patch")
    }


def test_peering_with_namespace_patterns_is_refused() -> None:
    with pytest.raises(HelmError, match="peering needs exact namespace names"):
        render({"watchNamespaces": ["team-*"], "peering": {"enabled": True}})


def test_peering_crds_come_from_the_charts_crds_folder() -> None:
    crds = {m["metadata"]["name"] for m in find(render(), "CustomResourceDefinition")}
    assert {"kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"} <= crds


# --- the pod -----------------------------------------------------------------------------


def test_pod_and_container_security_context() -> None:
    manifests = render()
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(manifests)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # A read-only root still gets a writable /tmp.
    assert {"name": "tmp", "mountPath": "/tmp"} in container(manifests)["volumeMounts"]


def test_liveness_probe_and_ports_follow_the_operator_ports() -> None:
    manifests = render({"operator": {"livenessPort": 8181, "metricsPort": 9191}})
    main = container(manifests)
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"health": 8181, "metrics": 9191}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    env = env_of(manifests)
    assert env["SAGEMAKER_OPERATOR_LIVENESS_PORT"] == "8181"
    assert env["SAGEMAKER_OPERATOR_METRICS_PORT"] == "9191"
    service = only(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_every_operator_setting_is_set_from_values_and_parses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = {
        "watchNamespaces": ["a", "b"],
        "peering": {"enabled": True, "lifetimeSeconds": 20},
        "operator": {
            "defaultRegion": "eu-west-1",
            "sagemakerEndpointUrl": "http://emulator:8000",
            "pollIntervalSeconds": 2.5,
            "fullSweepIntervalSeconds": 120,
            "eventsQueueUrl": "http://emulator:8000/123456789012/sm-events",
            "eventsEndpointUrl": "http://emulator:8000",
            "eventsSweepIntervalSeconds": 90,
            "eventsConsumers": 2,
            "clockSkewSeconds": 0,
            "callsPerSecond": 7.5,
            "callBurst": 3,
            "operationRates": ["CreateTrainingJob=5/10", "ListTags=1"],
            "observationShare": 0.25,
            "threadPoolSize": 4,
            "logLevel": "DEBUG",
            "logFormat": "text",
            "requirePolicy": True,
            "allowInsecureEndpoint": True,
            "extraRegions": ["ap-southeast-7", "mx-central-1"],
            "livenessPort": 8081,
            "metricsPort": 9091,
        },
    }
    env = env_of(render(values, namespace="ops"))
    prefix = "SAGEMAKER_OPERATOR_"
    # Every setting the operator has is driven by the chart (a new setting fails here), but
    # the peering priority, which must differ per pod and so is drawn by each pod itself.
    per_pod = {"peering_priority"}
    assert {name for name in env if name.startswith(prefix)} == {
        prefix + field.upper() for field in Settings.model_fields if field not in per_pod
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_from_env(monkeypatch, tmp_path)
    assert settings.namespaces == ["a", "b"]
    assert settings.standalone is False
    assert settings.peering_name == "smop-sagemaker-operator"
    assert settings.peering_lifetime_seconds == 20
    assert settings.peering_priority is None
    assert settings.default_region == "eu-west-1"
    assert settings.sagemaker_endpoint_url == "http://emulator:8000"
    assert settings.poll_interval_seconds == 2.5
    assert settings.full_sweep_interval_seconds == 120
    assert settings.events_queue_url == "http://emulator:8000/123456789012/sm-events"
    assert settings.events_endpoint_url == "http://emulator:8000"
    assert settings.events_sweep_interval_seconds == 90
    assert settings.events_consumers == 2
    assert settings.clock_skew_seconds == 0
    assert settings.calls_per_second == 7.5
    assert settings.call_burst == 3
    assert settings.operation_rates == ["CreateTrainingJob=5/10", "ListTags=1"]
    assert settings.observation_share == 0.25
    assert settings.thread_pool_size == 4
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "text"
    assert settings.require_policy is True
    assert settings.allow_insecure_endpoint is True
    assert settings.extra_regions == ["ap-southeast-7", "mx-central-1"]
    assert (settings.liveness_port, settings.metrics_port) == (8081, 9091)


def test_defaults_parse_as_settings_and_leave_region_and_endpoint_to_aws(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = env_of(render())
    assert "SAGEMAKER_OPERATOR_DEFAULT_REGION" not in env
    assert "SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT_URL" not in env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = settings_from_env(monkeypatch, tmp_path)
    assert settings.namespaces == []
    assert settings.standalone is True
    assert settings.log_format == "json"
    assert env["SAGEMAKER_OPERATOR_REQUIRE_POLICY"] == "false"
    assert env["SAGEMAKER_OPERATOR_ALLOW_INSECURE_ENDPOINT"] == "false"
    assert env["SAGEMAKER_OPERATOR_EXTRA_REGIONS"] == ""
    assert settings.require_policy is False
    assert settings.allow_insecure_endpoint is False
    assert settings.extra_regions == []


def test_plain_http_endpoint_needs_allow_insecure_endpoint() -> None:
    """The operator exits on an http:// endpoint without the flag; the chart says so first."""
    url = "http://emulator:8000"
    with pytest.raises(HelmError, match=r"plain http.*operator\.allowInsecureEndpoint=true"):
        render({"operator": {"sagemakerEndpointUrl": url}})
    env = env_of(render({"operator": {"sagemakerEndpointUrl": url, "allowInsecureEndpoint": True}}))
    assert env["SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT_URL"] == url
    assert env["SAGEMAKER_OPERATOR_ALLOW_INSECURE_ENDPOINT"] == "true"
    https = env_of(render({"operator": {"sagemakerEndpointUrl": "https://vpce.example"}}))
    assert https["SAGEMAKER_OPERATOR_ALLOW_INSECURE_ENDPOINT"] == "false"


def test_extra_env_is_appended_after_the_settings() -> None:
    extra = [
        {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
        {"name": "HTTPS_PROXY", "valueFrom": {"secretKeyRef": {"name": "proxy", "key": "url"}}},
    ]
    main = container(render({"extraEnv": extra, "extraEnvFrom": [{"configMapRef": {"name": "x"}}]}))
    assert main["env"][-2:] == extra
    assert main["envFrom"] == [{"configMapRef": {"name": "x"}}]


def test_image_defaults_to_app_version_and_a_digest_wins() -> None:
    assert container(render())["image"] == "sagemaker-operator:0.1.0"
    assert container(render({"image": {"tag": "dev"}}))["image"] == "sagemaker-operator:dev"
    digest = "sha256:" + "a" * 64
    pinned = container(render({"image": {"repository": "r/op", "tag": "x", "digest": digest}}))
    assert pinned["image"] == f"r/op@{digest}"
    assert container(render({"image": {"pullPolicy": "Always"}}))["imagePullPolicy"] == "Always"


def test_scheduling_values_reach_the_pod() -> None:
    values: dict[str, Any] = {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}
                    ]
                }
            }
        },
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"a": "b"},
    }
    manifests = render(values)
    pod = only(manifests, "Deployment")["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == values["nodeSelector"]
    assert pod["spec"]["tolerations"] == values["tolerations"]
    assert pod["spec"]["affinity"] == values["affinity"]
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    assert pod["metadata"]["annotations"] == {"a": "b"}
    assert container(manifests)["resources"] == values["resources"] | {
        "limits": {"memory": "512Mi"}
    }


# --- service account, metrics ------------------------------------------------------------


def test_irsa_annotation_lands_on_the_service_account() -> None:
    arn = "arn:aws:iam::123456789012:role/sagemaker-operator"
    manifests = render({"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": arn}}})
    account = only(manifests, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_existing_service_account_is_used_and_bound() -> None:
    manifests = render({"serviceAccount": {"create": False, "name": "mine"}})
    assert find(manifests, "ServiceAccount") == []
    assert only(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "mine"
    assert only(manifests, "ClusterRoleBinding")["subjects"][0]["name"] == "mine"
    with pytest.raises(HelmError, match=r"serviceAccount.name is required"):
        render({"serviceAccount": {"create": False}})


def test_service_monitor_is_off_by_default_and_scrapes_the_metrics_service() -> None:
    assert find(render(), "ServiceMonitor") == []
    manifests = render({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"p": "x"}}}})
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["p"] == "x"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert service["spec"]["selector"].items() <= (
        only(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )


def test_service_monitor_without_service_is_refused() -> None:
    with pytest.raises(HelmError, match=r"needs metrics\.service\.enabled"):
        render({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})


# --- the TrainingJob CRD -----------------------------------------------------------------


def _chart_crd_files() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(CHART_CRDS_DIR.glob("*.yaml"))]


def test_trainingjob_crd_is_rendered_unchanged_but_for_keep_and_labels() -> None:
    sources = _chart_crd_files()
    assert sources, "helm/sagemaker-operator/files/crds/ is empty: run `make chart-crds`"
    rendered = {(m["kind"], m["metadata"]["name"]): m for m in render()}
    kinds = {source["kind"] for source in sources}
    assert kinds == {
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for source in sources:
        crd = rendered[source["kind"], source["metadata"]["name"]]
        annotations = crd["metadata"].pop("annotations")
        assert annotations.pop("helm.sh/resource-policy") == "keep"
        assert annotations == source["metadata"].pop("annotations", {})
        assert crd["metadata"].pop("labels")["app.kubernetes.io/part-of"] == "sagemaker-operator"
        assert crd == source


def test_crd_keep_and_install_switches() -> None:
    names = {(s["kind"], s["metadata"]["name"]) for s in _chart_crd_files()}
    assert names
    loose = [
        m for m in render({"crds": {"keep": False}}) if (m["kind"], m["metadata"]["name"]) in names
    ]
    assert len(loose) == len(names)
    for crd in loose:
        assert "helm.sh/resource-policy" not in crd["metadata"].get("annotations", {})
    skipped = render({"crds": {"install": False}})
    assert names.isdisjoint((m["kind"], m["metadata"]["name"]) for m in skipped)
