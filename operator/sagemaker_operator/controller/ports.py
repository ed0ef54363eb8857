"""The narrow ports the reconciler decides through: what it may ask of SageMaker and Kubernetes.

The reconciler (:mod:`reconcile`) sees only these protocols, never kopf, boto3 or the
runtime, so each of its decisions can be driven by a table of canned answers. In the operator
they are the region's :class:`~sagemaker_operator.sagemaker.client.RegionClient`, the
runtime's cached policy reader and the crash-safe status write; in the table tests, a
recording fake.

Every method raises the :mod:`~sagemaker_operator.sagemaker.errors` classes, never botocore's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sagemaker_operator.controller import tenancy
from sagemaker_operator.controller.proofs import Proofs


class SageMaker(Protocol):
    """One region's training-job calls."""

    async def describe(self, job_name: str) -> Mapping[str, Any]: ...

    async def create(self, request: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def update(self, request: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def stop(self, job_name: str) -> Mapping[str, Any]: ...

    async def tags(self, arn: str) -> dict[str, str]: ...

    async def add_tags(self, arn: str, tags: Mapping[str, str]) -> Mapping[str, Any]: ...


class Listing(Protocol):
    """What a region's poller asks of SageMaker."""

    region: str

    async def list_page(self, **params: Any) -> Mapping[str, Any]: ...

    async def describe(self, job_name: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Ports:
    """What one decision may reach: SageMaker by region, the namespace's governance, an
    early status write (``remember``: name and region recorded before CreateTrainingJob),
    and the key that seals and checks ownership proofs (no call: a pure computation)."""

    sagemaker: Callable[[str], SageMaker]
    governance: Callable[[str], Awaitable[tenancy.Governance]]
    remember: Callable[[str, str, Mapping[str, Any]], Awaitable[object]]
    default_region: str | None
    regions: frozenset[str]  # the Regions a job may name: SageMaker's, and the extra setting
    proofs: Proofs
