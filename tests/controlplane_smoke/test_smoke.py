"""The test bed itself: a real API server serves custom resources, status, watches, finalizers.

It uses a throw-away CRD of its own group, so it never disturbs the generated TrainingJob CRD
that other tests install into the same session's control plane.
"""

from __future__ import annotations

import json
import threading
from typing import Any, cast

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import watch

from sagemaker_operator.devstack.controlplane import ControlPlane
from tests.plugins.controlplane import Kubectl, ServiceAccountKubeconfig

GROUP = "smoke.sagemaker-operator.io"
PLURAL = "smokejobs"

SMOKE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"kind": "SmokeJob", "plural": PLURAL, "singular": "smokejob"},
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"roleArn": {"type": "string"}},
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def smoke_crd(control_plane: ControlPlane) -> str:
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(SMOKE_CRD))
    control_plane.wait_established(f"{PLURAL}.{GROUP}")
    return PLURAL


def _manifest(name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": f"{GROUP}/v1alpha1",
            "kind": "SmokeJob",
            "metadata": {"name": name},
            "spec": {"roleArn": "arn:aws:iam::123456789012:role/x"},
        }
    )


def test_kubectl_creates_and_reads(kubectl: Kubectl, namespace: str, smoke_crd: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=_manifest("a"))
    got = json.loads(kubectl("get", smoke_crd, "a", "-n", namespace, "-o", "json").stdout)
    assert got["spec"]["roleArn"] == "arn:aws:iam::123456789012:role/x"
    assert got["metadata"]["generation"] == 1


def test_python_client_patches_status_and_watches(
    api_client: k8s.ApiClient, kubectl: Kubectl, namespace: str, smoke_crd: str
) -> None:
    api = k8s.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object(
        GROUP, "v1alpha1", namespace, smoke_crd, yaml.safe_load(_manifest("b"))
    )
    seen: list[dict[str, Any]] = []
    started = threading.Event()

    def watch_until_phase() -> None:
        stream = watch.Watch()
        started.set()
        for event in stream.stream(
            api.list_namespaced_custom_object,
            GROUP,
            "v1alpha1",
            namespace,
            smoke_crd,
            timeout_seconds=30,
        ):
            seen.append(event)
            if event["object"].get("status", {}).get("phase") == "Done":
                stream.stop()

    watcher = threading.Thread(target=watch_until_phase)
    watcher.start()
    started.wait()
    api.patch_namespaced_custom_object_status(
        GROUP, "v1alpha1", namespace, smoke_crd, "b", {"status": {"phase": "Done"}}
    )
    watcher.join(timeout=40)

    assert not watcher.is_alive()
    assert seen[0]["type"] == "ADDED"
    assert seen[-1]["object"]["status"] == {"phase": "Done"}
    # A status patch goes through the subresource and leaves the spec generation alone.
    assert seen[-1]["object"]["metadata"]["generation"] == 1


def test_status_cannot_be_written_through_the_main_resource(
    api_client: k8s.ApiClient, namespace: str, smoke_crd: str
) -> None:
    api = k8s.CustomObjectsApi(api_client)
    body = yaml.safe_load(_manifest("c")) | {"status": {"phase": "Forged"}}
    created = cast(
        dict[str, Any],
        api.create_namespaced_custom_object(GROUP, "v1alpha1", namespace, smoke_crd, body),
    )
    assert "status" not in created


def test_deletion_waits_for_the_finalizer(kubectl: Kubectl, namespace: str, smoke_crd: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=_manifest("d"))
    kubectl(
        "patch",
        smoke_crd,
        "d",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":["sagemaker-operator.io/stop-training-job"]}}',
    )
    kubectl("delete", smoke_crd, "d", "-n", namespace, "--wait=false")

    held = json.loads(kubectl("get", smoke_crd, "d", "-n", namespace, "-o", "json").stdout)
    assert held["metadata"]["deletionTimestamp"]

    kubectl(
        "patch",
        smoke_crd,
        "d",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"finalizers":null}}',
    )
    kubectl("wait", "--for=delete", f"{smoke_crd}/d", "-n", namespace, "--timeout=30s")
    gone = kubectl("get", smoke_crd, "d", "-n", namespace, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def test_rbac_is_enforced_for_service_accounts(
    kubectl: Kubectl,
    namespace: str,
    service_account_kubeconfig: ServiceAccountKubeconfig,
    control_plane: ControlPlane,
    smoke_crd: str,
) -> None:
    config = service_account_kubeconfig(namespace, "reader")
    denied = control_plane.kubectl(
        "get", smoke_crd, "-n", namespace, kubeconfig=config, check=False
    )
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr

    kubectl(
        "create",
        "role",
        "reader",
        "-n",
        namespace,
        "--verb=get,list",
        f"--resource={smoke_crd}.{GROUP}",
    )
    kubectl(
        "create",
        "rolebinding",
        "reader",
        "-n",
        namespace,
        "--role=reader",
        f"--serviceaccount={namespace}:reader",
    )
    allowed = control_plane.kubectl("get", smoke_crd, "-n", namespace, kubeconfig=config)
    assert allowed.returncode == 0
    elsewhere = control_plane.kubectl(
        "get", smoke_crd, "-n", "default", kubeconfig=config, check=False
    )
    assert "forbidden" in elsewhere.stderr


def test_namespaces_finish_deleting(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "smoke-gone")
    kubectl("delete", "namespace", "smoke-gone", "--timeout=60s")
    assert kubectl("get", "namespace", "smoke-gone", check=False).returncode != 0
