"""The narrow ports the reconciler decides through: what it may ask of SageMaker and Kubernetes.

The reconciler (:mod:`reconcile`) sees only these protocols, never kopf, boto3 or the
runtime, so each of its decisions can be driven by a table of canned answers. In the operator
they are the region's :class:`~sagemaker_operator.sagemaker.client.RegionClient` and the
runtime's cached allowance reader; in the table tests, a recording fake.

Every method raises the :mod:`~sagemaker_operator.sagemaker.errors` classes, never botocore's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sagemaker_operator.controller import tenancy


class SageMaker(Protocol):
    """One region's training-job calls."""

    async def describe(self, job_name: str) -> Mapping[str, Any]: ...

    async def create(self, request: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def update(self, request: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def stop(self, job_name: str) -> Mapping[str, Any]: ...

    async def tags(self, arn: str) -> dict[str, str]: ...

    async def add_tags(self, arn: str, tags: Mapping[str, str]) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Ports:
    """What one decision may reach: SageMaker by region, and a namespace's allowance."""

    sagemaker: Callable[[str], SageMaker]
    allowance: Callable[[str], Awaitable[tenancy.Allowance]]
    default_region: str | None
