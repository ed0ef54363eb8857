"""The operator's own status writes, against the real API server (restarted in one test)."""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest

from sagemaker_operator import names
from sagemaker_operator.config import Settings
from sagemaker_operator.controller import handlers, owned, reconcile, status_writes
from sagemaker_operator.controller.kube import Kube, load_api_client, until_answered
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.resource import conditions
from tests.controller.helpers import apply, events, eventually, get, manifest

pytestmark = pytest.mark.usefixtures("crd_installed")
STALE_JOB = "stale-0f3c2b1a"


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[Kube]:
    found = Kube(load_api_client(str(control_plane.kubeconfig)))
    yield found
    found.close()


def stopping_unless_terminal(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return None if conditions.is_terminal(status) else {"phase": "Stopping"}


async def test_a_late_stopping_never_overwrites_a_terminal_status(
    control_plane: ControlPlane, namespace: str, kube: Kube
) -> None:
    apply(control_plane, namespace, manifest("late"))
    stopped = {"phase": "Stopped", "trainingJobStatus": "Stopped"}
    assert await kube.patch_status(namespace, "late", stopped)

    written = await kube.patch_status_onto(namespace, "late", stopping_unless_terminal)

    assert written is None
    assert get(control_plane, namespace, "late")["status"]["phase"] == "Stopped"


async def test_a_running_job_gets_its_stopping_even_after_a_conflict(
    control_plane: ControlPlane, namespace: str, kube: Kube
) -> None:
    apply(control_plane, namespace, manifest("busy"))
    assert await kube.patch_status(namespace, "busy", {"trainingJobStatus": "InProgress"})
    looks: list[Mapping[str, Any]] = []

    def patch_for(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
        looks.append(dict(status))
        if len(looks) == 1:
            # Another writer moves the resource on between our read and our write: the
            # write must conflict (409) and look again.
            control_plane.kubectl(
                "patch",
                names.PLURAL,
                "busy",
                "-n",
                namespace,
                "--subresource=status",
                "--type=merge",
                "-p",
                '{"status": {"secondaryStatus": "Training"}}',
            )
        return stopping_unless_terminal(status)

    written = await kube.patch_status_onto(namespace, "busy", patch_for)

    assert written is not None
    assert written["status"]["phase"] == "Stopping"
    assert len(looks) == 2
    assert looks[1]["secondaryStatus"] == "Training"
    status = get(control_plane, namespace, "busy")["status"]
    assert (status["phase"], status["secondaryStatus"]) == ("Stopping", "Training")


async def test_a_gone_resource_is_not_written(
    control_plane: ControlPlane, namespace: str, kube: Kube
) -> None:
    written = await kube.patch_status_onto(namespace, "never-was", stopping_unless_terminal)
    assert written is None


async def test_a_decision_on_an_older_copy_is_dropped_and_made_again(
    control_plane: ControlPlane, namespace: str, kube: Kube
) -> None:
    """The N = 10,000 fault run's 152 stuck statuses: kopf re-ran a create handler on a copy
    from before its own write, the handler adopted the job from a description read before
    the poller wrote ``Training``, and its write put ``Downloading`` back for good."""
    apply(control_plane, namespace, manifest("stale"))
    current = get(control_plane, namespace, "stale")
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{STALE_JOB}"
    recorded = {"trainingJobName": STALE_JOB, "region": "us-east-1", "phase": "Pending"}

    def observed(secondary: str, modified: str) -> dict[str, Any]:
        described = {
            "TrainingJobName": STALE_JOB,
            "TrainingJobArn": arn,
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": secondary,
            "LastModifiedTime": modified,
        }
        return conditions.observed(described, recorded, region="us-east-1", generation=1)

    training = observed("Training", "2026-12-03T23:58:09+00:00")
    assert await kube.patch_status(namespace, "stale", training)  # the poller's write
    stale_copy = {**current, "status": recorded}  # kopf's copy: the name recorded, no job

    async def adopt(ports: Any, resource: reconcile.Resource) -> reconcile.Outcome:
        assert resource.status == recorded
        found = observed("Downloading", "2026-12-03T23:58:01+00:00")
        return reconcile.Outcome(found, (("Normal", "Adopted", "found"),), owned_arn=arn)

    index = owned.OwnedIndex()
    runtime = SimpleNamespace(  # NB: only what _decide reads of the operator's Runtime
        ports=None, kube=kube, owned=index, settings=Settings.model_validate({})
    )
    body = kopf.Body(cast(kopf.RawBody, stale_copy))
    with pytest.raises(kopf.TemporaryError) as raised:
        await handlers._decide(
            "create",
            adopt,
            body=body,
            spec=body.spec,
            status=body.status,
            retry=0,
            memo=cast(kopf.Memo, SimpleNamespace(runtime=runtime)),
            creating=True,
        )

    assert raised.value.delay == 1.0
    status = get(control_plane, namespace, "stale")["status"]
    assert (status["secondaryStatus"], status["lastModifiedTime"]) == (
        "Training",
        "2026-12-03T23:58:09+00:00",
    )
    assert index.get(current["metadata"]["uid"]) is None  # nothing claimed from the old copy

    # The name recorded before a CreateTrainingJob is refused the same way: from the old
    # copy, the create would have gone on to SageMaker's ResourceInUse and an adoption.
    with pytest.raises(status_writes.SupersededError):
        await status_writes.write_first(kube, namespace, "stale", recorded, creating=True)
    assert get(control_plane, namespace, "stale")["status"]["phase"] == "InProgress"


async def test_listing_trainingjobs_reads_every_one_in_scope(
    control_plane: ControlPlane, namespace: str, kube: Kube
) -> None:
    """The index is primed from this list before kopf watches (observation.prime_index)."""
    apply(control_plane, namespace, *(manifest(f"listed-{i}") for i in range(3)))
    here = await kube.list_trainingjobs(namespace)
    assert sorted(item["metadata"]["name"] for item in here) == [f"listed-{i}" for i in range(3)]
    everywhere = await kube.list_trainingjobs(None)
    assert {item["metadata"]["uid"] for item in here} <= {
        item["metadata"]["uid"] for item in everywhere
    }


async def test_an_event_waits_for_the_status_patches_on_their_way(
    control_plane: ControlPlane, namespace: str, kube: Kube
) -> None:
    apply(control_plane, namespace, manifest("burst"))
    ref = {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"namespace": namespace, "name": "burst", "uid": "u"},
    }
    # NB: the patch is held at the door of the real API server until the test lets it go: a
    # slow API server cannot be had on demand. The patch and the Event themselves are real.
    gate = threading.Event()
    real = kube._objects.patch_namespaced_custom_object_status

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(30)
        return real(*args, **kwargs)

    kube._objects.patch_namespaced_custom_object_status = held  # type: ignore[method-assign]
    patch = asyncio.create_task(kube.patch_status(namespace, "burst", {"phase": "Stopping"}))
    await asyncio.sleep(0)  # the patch is on its way
    event = asyncio.create_task(kube.event(ref, "Normal", "Stopping", "held back"))
    # Absence cannot be awaited: half a second is ample for an Event post here (a correct
    # lane never posts before the gate opens, so this cannot fail by timing, only miss).
    await asyncio.sleep(0.5)
    assert not event.done()
    assert not [e for e in events(control_plane, namespace, "burst") if e[1] == "Stopping"]
    gate.set()
    assert await patch
    await asyncio.wait_for(event, 30)
    posted = [e for e in events(control_plane, namespace, "burst") if e[1] == "Stopping"]
    assert posted == [("Normal", "Stopping", "held back")]


async def test_a_status_write_waits_out_an_api_server_restart(
    control_plane: ControlPlane, namespace: str, kube: Kube
) -> None:
    """The write of a decision already paid for in SageMaker calls lands once the API server
    is back, without kopf's backoff (handlers._write); the restart is the real one."""
    apply(control_plane, namespace, manifest("outage"))
    restart = threading.Thread(target=control_plane.restart_apiserver, kwargs={"down_seconds": 3})
    restart.start()
    try:
        # The write must meet the outage: start it once the port refuses connections.
        await asyncio.to_thread(eventually, refused(control_plane.server), 60.0, 0.05)
        written = {"phase": "InProgress"}
        await until_answered(lambda: kube.patch_status(namespace, "outage", written))
    finally:
        await asyncio.to_thread(restart.join)
    assert get(control_plane, namespace, "outage")["status"]["phase"] == "InProgress"


def refused(server: str) -> Callable[[], bool]:
    address = urllib.parse.urlsplit(server)

    def check() -> bool:
        try:
            socket.create_connection((address.hostname, address.port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    return check
