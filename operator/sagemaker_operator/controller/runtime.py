"""What every handler and poller shares, made once at start-up and passed through kopf's memo."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3

from sagemaker_operator.config import Settings
from sagemaker_operator.controller import owned, proofs, status_writes, tenancy
from sagemaker_operator.controller.kube import Kube
from sagemaker_operator.controller.ports import Ports
from sagemaker_operator.resource import policy, references
from sagemaker_operator.sagemaker import budget
from sagemaker_operator.sagemaker.client import SageMakerClients

POLICY_CACHE_SECONDS = 30.0


class Observation(Protocol):
    """How resources' statuses follow SageMaker once their jobs exist.

    ``run`` lasts as long as the operator; ``health`` answers the liveness probe (raising
    when observation is stuck); ``describes_stopping_jobs`` tells deletions whether they must
    describe a stopping job themselves (nothing else will report it stopped).
    """

    describes_stopping_jobs: bool

    async def run(self, runtime: Runtime) -> None: ...

    def health(self, limit: float) -> dict[str, float]: ...


@dataclass
class Runtime:
    settings: Settings
    kube: Kube  # the handlers' Kubernetes calls
    poll_kube: Kube  # the pollers': a creation backlog must not hold their status writes back
    observation: Observation
    owned: owned.OwnedIndex = field(default_factory=owned.OwnedIndex)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    primed: asyncio.Event = field(default_factory=asyncio.Event)  # the index's first LIST is in
    clients: SageMakerClients = field(init=False)
    proofs: proofs.Proofs = field(init=False)  # ownership proofs: docs/security.md
    default_region: str | None = field(init=False)
    _cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _cache_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pool = self.settings.thread_pool_size
        self.clients = SageMakerClients(
            endpoint_url=self.settings.sagemaker_endpoint_url,
            calls_per_second=self.settings.calls_per_second,
            burst=self.settings.call_burst,
            executor=ThreadPoolExecutor(pool, thread_name_prefix="sagemaker"),
            poll_executor=ThreadPoolExecutor(pool, thread_name_prefix="sagemaker-poll"),
            pool_size=pool,
            rates=budget.rates(self.settings.operation_rates),
            observation_share=self.settings.observation_share,
        )
        self.proofs = proofs.Proofs.from_file(self.settings.ownership_key_file)
        self.default_region = self.settings.default_region or boto3.session.Session().region_name

    @property
    def ports(self) -> Ports:
        """What the reconciler's decisions may reach."""
        return Ports(
            sagemaker=self.clients.__getitem__,
            governance=self.governance,
            remember=functools.partial(status_writes.write_first, self.kube, creating=True),
            default_region=self.default_region,
            regions=self.regions,
            proofs=self.proofs,
        )

    @functools.cached_property
    def regions(self) -> frozenset[str]:
        """The Regions a job may name: those botocore knows for SageMaker, and the extras."""
        return references.sagemaker_regions() | frozenset(self.settings.extra_regions)

    async def governance(self, namespace: str) -> tenancy.Governance:
        """The policies selecting ``namespace``, from reads cached briefly.

        One read of each kind at a time: a burst of creates (a thousand resources applied
        at once) waits for the first read instead of each missing the cache and reading too.
        A policy edit therefore takes effect within POLICY_CACHE_SECONDS.
        """
        policies = await self._cached("policies", self._read_policies)
        labels = await self._cached(
            f"namespace/{namespace}", functools.partial(self.kube.read_namespace_labels, namespace)
        )
        return tenancy.governing(policies, labels, require_policy=self.settings.require_policy)

    async def _read_policies(self) -> list[policy.Policy]:
        return [policy.parse(obj) for obj in await self.kube.list_policies()]

    async def _cached(self, key: str, read: Callable[[], Awaitable[Any]]) -> Any:
        lock = self._cache_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached and time.monotonic() - cached[0] < POLICY_CACHE_SECONDS:
                return cached[1]
            value = await read()
            self._cache[key] = (time.monotonic(), value)
            return value
