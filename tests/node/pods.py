"""Pods for the tests that run things on the test node: one container, never restarted,
the image already imported into the node (nothing is pulled)."""

from __future__ import annotations

import json
from typing import Any

from tests.plugins.controlplane import Kubectl


def pod(name: str, image: str, script: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-u", "-c", script],
                    **spec.pop("container", {}),
                }
            ],
            **spec,
        },
    }


def apply(kubectl: Kubectl, namespace: str, manifest: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
