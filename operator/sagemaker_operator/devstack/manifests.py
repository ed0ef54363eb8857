"""A valid TrainingJob manifest for the local stack: tests, benchmarks and the demo share it.

``fate`` sets the emulator's per-job fate tags (``outcome``, ``failure-reason``,
``duration-seconds``; see docs/emulator.md); other keywords replace spec members.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_operator import names

ROLE = "arn:aws:iam::123456789012:role/sagemaker-training"
FATE = "emulator.sagemaker-operator.io/"


def manifest(
    name: str,
    *,
    fate: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "algorithmSpecification": {
            "trainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest",
            "trainingInputMode": "File",
        },
        "roleArn": ROLE,
        "outputDataConfig": {"s3OutputPath": "s3://bucket/output/"},
        "resourceConfig": {
            "instanceType": "ml.m5.large",
            "instanceCount": 1,
            "volumeSizeInGB": 10,
        },
        "stoppingCondition": {"maxRuntimeInSeconds": 86400},
    }
    if fate:
        body["tags"] = [{"key": FATE + key, "value": value} for key, value in fate.items()]
    body |= spec
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": name, **({"annotations": dict(annotations)} if annotations else {})},
        "spec": body,
    }
