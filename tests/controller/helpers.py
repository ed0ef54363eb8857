"""Manifests and waits shared by the reconciler's end-to-end tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.devstack.manifests import FATE, ROLE, manifest

if TYPE_CHECKING:
    from tests.plugins.operator import OperatorProcess

__all__ = [
    "FATE",
    "ROLE",
    "apply",
    "condition",
    "events",
    "eventually",
    "get",
    "get_all",
    "manifest",
    "metric",
    "patch",
    "wait_phase",
]


def apply(plane: ControlPlane, namespace: str, *manifests: Mapping[str, Any]) -> None:
    documents = "\n---\n".join(yaml.safe_dump(dict(m)) for m in manifests)
    plane.kubectl("apply", "-n", namespace, "-f", "-", input=documents)


def patch(
    plane: ControlPlane,
    namespace: str,
    name: str,
    *,
    spec: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
) -> None:
    """Merge-patch a TrainingJob's spec, or its status subresource (as only the operator, or
    whoever may write status, can)."""
    body, sub = ({"status": dict(status)}, ["--subresource=status"]) if status else ({}, [])
    if spec is not None:
        body["spec"] = dict(spec)
    plane.kubectl(
        "patch", names.PLURAL, name, "-n", namespace, *sub, "--type=merge", "-p", json.dumps(body)
    )


def get(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        plane.kubectl("get", names.PLURAL, name, "-n", namespace, "-o", "json").stdout
    )
    return found


def get_all(plane: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    """Every TrainingJob of the namespace, by name, in one read."""
    listed = json.loads(plane.kubectl("get", names.PLURAL, "-n", namespace, "-o", "json").stdout)
    return {item["metadata"]["name"]: item for item in listed["items"]}


def metric(operator: OperatorProcess, name: str, **labels: str) -> float:
    """The sum of the operator's ``name`` samples whose labels include ``labels`` (0 if none)."""
    wanted = set(labels.items())
    return sum(
        sample.value
        for family in text_string_to_metric_families(operator.metrics())
        for sample in family.samples
        if sample.name == name and wanted <= set(sample.labels.items())
    )


def wait_phase(
    plane: ControlPlane, namespace: str, name: str, phase: str, timeout: int = 60
) -> dict[str, Any]:
    plane.kubectl(
        "wait",
        f"{names.PLURAL}/{name}",
        "-n",
        namespace,
        f"--for=jsonpath={{.status.phase}}={phase}",
        f"--timeout={timeout}s",
    )
    return get(plane, namespace, name)


def condition(resource: Mapping[str, Any], type_: str) -> dict[str, Any]:
    for found in resource.get("status", {}).get("conditions", []):
        if found["type"] == type_:
            return dict(found)
    raise AssertionError(f"no {type_} condition in {resource.get('status')}")


def events(plane: ControlPlane, namespace: str, name: str) -> list[tuple[str, str, str]]:
    listed = json.loads(
        plane.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "-o",
            "json",
            f"--field-selector=involvedObject.name={name}",
        ).stdout
    )
    return [(e["type"], e["reason"], e.get("message", "")) for e in listed["items"]]


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy (for state no watch can deliver)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s: last {result!r}")
        time.sleep(interval)
