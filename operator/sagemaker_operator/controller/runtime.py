"""What every handler and poller shares, made once at start-up and passed through kopf's memo."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3

from sagemaker_operator.config import Settings
from sagemaker_operator.controller import owned, tenancy
from sagemaker_operator.controller.kube import Kube
from sagemaker_operator.controller.ports import Ports
from sagemaker_operator.sagemaker.client import SageMakerClients

TENANCY_CACHE_SECONDS = 30.0


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
    clients: SageMakerClients = field(init=False)
    default_region: str | None = field(init=False)
    _tenancy_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _tenancy_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pool = self.settings.thread_pool_size
        self.clients = SageMakerClients(
            endpoint_url=self.settings.sagemaker_endpoint_url,
            calls_per_second=self.settings.calls_per_second,
            burst=self.settings.call_burst,
            executor=ThreadPoolExecutor(pool, thread_name_prefix="sagemaker"),
            poll_executor=ThreadPoolExecutor(pool, thread_name_prefix="sagemaker-poll"),
            pool_size=pool,
        )
        self.default_region = self.settings.default_region or boto3.session.Session().region_name

    @property
    def ports(self) -> Ports:
        """What the reconciler's decisions may reach."""
        return Ports(
            sagemaker=self.clients.__getitem__,
            allowance=self.allowance,
            default_region=self.default_region,
        )

    async def allowance(self, namespace: str) -> tenancy.Allowance:
        """The namespace's allowance, cached briefly: one create costs no extra API reads.

        One read per namespace at a time: a burst of creates (a thousand resources applied
        at once) waits for the first read instead of each missing the cache and reading too.
        """
        lock = self._tenancy_locks.setdefault(namespace, asyncio.Lock())
        async with lock:
            return await self._read_allowance(namespace)

    async def _read_allowance(self, namespace: str) -> tenancy.Allowance:
        cached = self._tenancy_cache.get(namespace)
        if cached and time.monotonic() - cached[0] < TENANCY_CACHE_SECONDS:
            allowance: tenancy.Allowance = cached[1]
            return allowance
        data = await self.kube.read_configmap_data(
            self.settings.operator_namespace, self.settings.tenancy_configmap
        )
        annotations = await self.kube.read_namespace_annotations(namespace)
        allowance = tenancy.allowance_for(namespace, data, annotations)
        self._tenancy_cache[namespace] = (time.monotonic(), allowance)
        return allowance
