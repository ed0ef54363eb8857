"""Two teams on one installation: namespaces, their policies and their manifests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from sagemaker_operator.devstack.controlplane import ControlPlane
from tests.controller.helpers import ROLE, manifest

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest"
_other = itertools.count()


def allow(bucket: str, **more: list[str]) -> dict[str, list[str]]:
    """What a team's policy lets it name: the shared role and image, its own bucket."""
    return {"roleArns": [ROLE], "images": [IMAGE], "s3": [f"s3://{bucket}"], **more}


def team_manifest(name: str, bucket: str, **spec: Any) -> dict[str, Any]:
    return manifest(name, **{"outputDataConfig": {"s3OutputPath": f"s3://{bucket}/out/"}, **spec})


@pytest.fixture
def other_namespace(control_plane: ControlPlane, namespace: str) -> Iterator[str]:
    """A second team's namespace beside the test's own."""
    name = f"{namespace[:50]}-b{next(_other)}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)
