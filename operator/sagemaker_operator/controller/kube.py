"""The operator's own Kubernetes calls outside kopf handlers: status patches and Events.

Inside a handler, kopf patches status and posts Events itself. The pollers run beside kopf's
handlers, where kopf's event queue is not reachable, so they use the official client here
(blocking, on a small thread pool of its own so it never waits behind boto3 calls). Events
are written in the ``core/v1`` form kopf uses, so both kinds look alike in ``kubectl describe``.

Events travel in a lane of their own, a smaller pool nobody awaits, and wait while status
patches are on their way (at most ``EVENTS_WAIT_SECONDS``): when a thousand jobs change at
once, the API server's time goes to the status patches (what ``kubectl wait`` and workflow
engines read) first, and the Events of each change follow when the burst has drained
(docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from sagemaker_operator import names

logger = logging.getLogger(__name__)
EventType = Literal["Normal", "Warning"]
T = TypeVar("T")
CONFLICT_RETRIES = 5
# An Event waits for the status patches on their way at most this long: they are advice, but
# a stream of changes that never drains must not hold them back for ever.
EVENTS_WAIT_SECONDS = 30.0


# The API server's faults: an answer (ApiException), or none (restarting, unreachable: the
# client's urllib3 errors).
FAULTS = (ApiException, HTTPError)


# A decision already paid for in SageMaker calls (a job created, a stop sent) is written as
# soon as the API server answers again, not decided again after kopf's backoff: through an
# API-server restart, the handler's backoff had grown with every throttle it had met before,
# and jobs created in the outage showed two minutes after it (docs/performance.md).
ANSWER_PATIENCE_SECONDS = 120.0
ANSWER_PAUSE_SECONDS = (0.5, 4.0)  # the first pause, and the cap of its doubling
# Answers that only say "not yet": a restarted API server answers 503 "the request has been
# made before all known HTTP paths have been installed" for its first seconds, and 403 to a
# ServiceAccount its RBAC caches do not know yet (the fault run: a create's status write
# refused so went back to kopf and showed two minutes later); 429 is its priority and
# fairness shedding load. A 403 that lasts (RBAC really missing) costs the patience, then
# goes to kopf's retries as before.
NOT_YET = frozenset({403, 429, 503})


async def until_answered(
    call: Callable[[], Awaitable[T]],
    *,
    patience: float = ANSWER_PATIENCE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``call()``, again while the API server gives no answer (down, restarting) or answers
    only "not yet" (``NOT_YET``), for up to ``patience`` seconds, with jittered pauses
    doubling to a few seconds: the API server is back within a pause, and a refused
    connection costs it nothing. Any other answer, even an error, ends the wait (the caller
    knows what to do with a 409); so does the patience's end."""
    first, cap = ANSWER_PAUSE_SECONDS
    deadline = clock() + patience
    pause = first
    while True:
        try:
            return await call()
        except FAULTS as error:
            if isinstance(error, ApiException) and error.status not in NOT_YET:
                raise
            wait = random.uniform(pause / 2, pause)
            if clock() + wait > deadline:
                raise
            await sleep(wait)
            pause = min(cap, pause * 2)


def fault_text(error: BaseException) -> str:
    """One line for an API-server fault: an ApiException's own text carries the response's
    headers and body, urllib3's the whole retry history."""
    if isinstance(error, ApiException):
        return f"Kubernetes API: {error.status} {error.reason}"
    if isinstance(error, HTTPError):
        return f"Kubernetes API unreachable: {type(error).__name__}"
    return str(error)


def load_api_client(kubeconfig: str | None = None, *, pool_size: int = 4) -> k8s.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (or $KUBECONFIG).

    ``pool_size`` HTTP connections, one per :class:`Kube` worker: with fewer, urllib3 opens
    and throws away a connection per request beyond them.
    """
    configuration = k8s.Configuration()
    in_cluster = False
    if kubeconfig is None:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
            in_cluster = True
        except k8s_config.ConfigException:
            pass
    if not in_cluster:
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return k8s.ApiClient(configuration)


def event_workers(workers: int) -> int:
    """The Event lane's share: a quarter of the status writers, at least two."""
    return max(2, workers // 4)


class Kube:
    def __init__(self, api_client: k8s.ApiClient, *, workers: int = 4) -> None:
        self._objects = k8s.CustomObjectsApi(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._leases = k8s.CoordinationV1Api(api_client)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="kube")
        self._event_executor = ThreadPoolExecutor(
            event_workers(workers), thread_name_prefix="kube-events"
        )
        self._pending: set[asyncio.Task[None]] = set()
        self._patching = 0  # status patches on their way
        self._drained = asyncio.Event()
        self._drained.set()

    async def _run(
        self, fn: Any, *args: Any, executor: ThreadPoolExecutor | None = None, **kwargs: Any
    ) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            executor or self._executor, functools.partial(fn, *args, **kwargs)
        )

    async def _patch_status(self, namespace: str, name: str, body: Mapping[str, Any]) -> Any:
        self._patching += 1
        self._drained.clear()
        try:
            return await self._run(
                self._objects.patch_namespaced_custom_object_status,
                names.GROUP,
                names.VERSION,
                namespace,
                names.PLURAL,
                name,
                dict(body),
            )
        finally:
            self._patching -= 1
            if not self._patching:
                self._drained.set()

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        """Merge-patch the status subresource: the object as the patch left it, None if the
        resource is gone.

        With ``resource_version``, only if the resource is still that version (else the API
        server's 409 is raised): the writer's idea of the status is not older than the status.
        """
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            written: dict[str, Any] = await self._patch_status(namespace, name, body)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return written

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The resource as the API server holds it now; None if it is gone."""
        try:
            found: dict[str, Any] = await self._run(
                self._objects.get_namespaced_custom_object,
                names.GROUP,
                names.VERSION,
                namespace,
                names.PLURAL,
                name,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    async def patch_status_onto(
        self,
        namespace: str,
        name: str,
        patch_for: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
    ) -> dict[str, Any] | None:
        """Merge-patch the status with ``patch_for(the status as it is now)``: the object as
        the patch left it; None if ``patch_for`` refused (None) or had nothing to write, or
        the resource is gone.

        Read, decide and write under the resource's version (a conflict reads again), so a
        status someone wrote meanwhile is never overwritten with an older idea: the delete
        handler's ``Stopping`` must not land after the poller has written ``Stopped``.
        """
        for _attempt in range(CONFLICT_RETRIES):
            try:
                found = await self._run(
                    self._objects.get_namespaced_custom_object_status,
                    names.GROUP,
                    names.VERSION,
                    namespace,
                    names.PLURAL,
                    name,
                )
                patch = patch_for(found.get("status") or {})
                if not patch:
                    return None
                version = found["metadata"]["resourceVersion"]
                written: dict[str, Any] = await self._patch_status(
                    namespace,
                    name,
                    {"metadata": {"resourceVersion": version}, "status": dict(patch)},
                )
            except ApiException as error:
                if error.status == 404:
                    return None
                if error.status == 409:
                    continue  # written meanwhile: look again
                raise
            return written
        raise ApiException(status=409, reason=f"status of {name} kept changing")

    def emit(self, ref: Mapping[str, Any], type_: EventType, reason: str, message: str) -> None:
        """Queue an Event about ``ref`` in the Event lane and return at once."""
        task = asyncio.create_task(self.event(ref, type_, reason, message))
        self._pending.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._pending.discard)

    async def event(
        self, ref: Mapping[str, Any], type_: EventType, reason: str, message: str
    ) -> None:
        """Post an Event about ``ref``; failures are logged, never raised (events are advice)."""
        if self._patching:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), EVENTS_WAIT_SECONDS)
        meta = ref["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        body = k8s.CoreV1Event(
            metadata=k8s.V1ObjectMeta(
                generate_name=f"{meta['name']}.", namespace=meta["namespace"]
            ),
            involved_object=k8s.V1ObjectReference(
                api_version=ref["apiVersion"],
                kind=ref["kind"],
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta["uid"],
            ),
            type=type_,
            reason=reason,
            message=message[:1024],
            source=k8s.V1EventSource(component="sagemaker-operator"),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            reporting_component="sagemaker-operator",
            reporting_instance="sagemaker-operator",
        )
        try:
            await self._run(
                self._core.create_namespaced_event,
                meta["namespace"],
                body,
                executor=self._event_executor,
            )
        except ApiException as error:
            logger.warning("could not post event %s on %s: %s", reason, meta["name"], error.reason)

    async def read_namespace_labels(self, namespace: str) -> dict[str, str]:
        found = await self._run(self._core.read_namespace, namespace)
        return dict(found.metadata.labels or {})

    async def list_namespace_labels(self) -> list[dict[str, str]]:
        found = await self._run(self._core.list_namespace)
        return [dict(item.metadata.labels or {}) for item in found.items]

    async def list_trainingjobs(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every TrainingJob in ``namespace`` (None: all), in one request.

        NB: one LIST, not pages: the API server answers an unpaged LIST from its watch cache,
        consistently (ConsistentListFromCache, on by default since Kubernetes 1.31), while
        each page of a paged one is a request of its own. The restart at 10,000 resources
        waits for this LIST before its first ListTrainingJobs page.
        """
        read: Callable[..., Any] = (
            functools.partial(self._objects.list_namespaced_custom_object, namespace=namespace)
            if namespace
            else self._objects.list_cluster_custom_object
        )
        found = await self._run(read, group=names.GROUP, version=names.VERSION, plural=names.PLURAL)
        return list(found.get("items", []))

    async def list_policies(self) -> list[dict[str, Any]]:
        """Every TrainingJobPolicy (cluster-scoped); none while its CRD is not installed."""
        try:
            found = await self._run(
                self._objects.list_cluster_custom_object,
                names.GROUP,
                names.VERSION,
                names.POLICY_PLURAL,
            )
        except ApiException as error:
            if error.status == 404:  # NB: --require-policy still denies: no policy selects
                return []
            raise
        return list(found.get("items", []))

    async def patch_policy_status(self, name: str, status: Mapping[str, Any]) -> None:
        await self._run(
            self._objects.patch_cluster_custom_object_status,
            names.GROUP,
            names.VERSION,
            names.POLICY_PLURAL,
            name,
            {"status": dict(status)},
        )

    async def lease_annotations(self, namespace: str, name: str) -> dict[str, str]:
        """The annotations of a Lease (raises the API server's answer, 404 included)."""
        found = await self._run(self._leases.read_namespaced_lease, name, namespace)
        return dict(found.metadata.annotations or {})

    async def annotate_lease(
        self, namespace: str, name: str, annotations: Mapping[str, str | None]
    ) -> None:
        """Merge ``annotations`` into a Lease's (None removes one)."""
        body = {"metadata": {"annotations": dict(annotations)}}
        await self._run(self._leases.patch_namespaced_lease, name, namespace, body)

    async def drain(self) -> None:
        """Wait for the queued Events to go out (at shutdown, under the caller's timeout)."""
        if self._pending:
            await asyncio.wait(set(self._pending))

    def close(self) -> None:
        for task in self._pending:
            task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._event_executor.shutdown(wait=False, cancel_futures=True)
