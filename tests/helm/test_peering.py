"""An active/standby pair as the chart deploys it: two operator processes, one peering.

The chart (namespaced scope, peering on) creates the KopfPeering and its RBAC; two operators
run on the chart's ServiceAccount token with the chart's peering settings and *no* priority
given, as two replicas of the Deployment would. kopf pauses every peer on a priority tie, so
this proves each process draws its own: exactly one reconciles (one CreateTrainingJob per
resource, and the standby's own metrics show no SageMaker call), and when the active one is
killed, the standby takes over once its lease lapses.

Everything is read from state, never from log lines. Each process is named in the peering
object by kopf's own ``POD_ID`` variable (the chart leaves kopf its generated user@host names;
a name plays no part in who is active), so the object's status gives each process's priority,
and the higher live one is the active one. A peer with a peering name starts paused, so a
standby started second never runs; but a first peer outranked by the second runs until the
second's record reaches it. So a canary resource must be handled with no call from the
standby (a peer that still runs handles it too) before the real ones are applied.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, eventually, manifest, wait_phase
from tests.helm.chart import Release, helm, install_chart, render
from tests.plugins.operator import OperatorProcess, StartOperator

LIFETIME = 5  # seconds; the chart's default is 60
CALLS = "sagemaker_operator_sagemaker_calls_total{"
PEERS = ("peer-a", "peer-b")  # their POD_IDs, in the order they start


@pytest.fixture
def peered_release(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[Release]:
    values = {
        "rbac": {"scope": "namespaced"},
        "watchNamespaces": [namespace],
        "crds": {"install": False},
        "peering": {"enabled": True, "lifetimeSeconds": LIFETIME},
        "replicaCount": 2,
    }
    release = install_chart(control_plane, "ha", f"{namespace}-op", values, workdir=tmp_path)
    yield release
    helm(
        "uninstall",
        release.name,
        f"--namespace={release.namespace}",
        check=False,
        kubeconfig=control_plane.kubeconfig,
    )
    control_plane.kubectl("delete", "namespace", release.namespace, "--wait=false", check=False)


def chart_env(release: Release, namespace: str) -> dict[str, str]:
    """The peering settings the chart gives its pods, as start_operator settings."""
    values = {
        "rbac": {"scope": "namespaced"},
        "watchNamespaces": [namespace],
        "peering": {"enabled": True, "lifetimeSeconds": LIFETIME},
    }
    (deployment,) = [m for m in render(values, release=release.name) if m["kind"] == "Deployment"]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e  # POD_ID comes from the downward API (valueFrom)
    }
    prefix = "SAGEMAKER_OPERATOR_"
    wanted = ("STANDALONE", "PEERING_NAME", "PEERING_LIFETIME_SECONDS")
    assert "SAGEMAKER_OPERATOR_PEERING_PRIORITY" not in env
    return {key.lower(): env[prefix + key] for key in wanted}


def peers(control_plane: ControlPlane, namespace: str, name: str) -> dict[str, int]:
    """The peering object's status: each peer's keep-alive record, as identity -> priority.

    A killed peer's record stays until a live peer finds it expired and removes it.
    """
    peering = json.loads(
        control_plane.kubectl(
            "get", "kopfpeering", name, f"--namespace={namespace}", "--output=json"
        ).stdout
    )
    status = peering.get("status") or {}
    return {peer: int(record["priority"]) for peer, record in status.items() if record}


def sagemaker_calls(operator: OperatorProcess) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in operator.metrics().splitlines()
        if line.startswith(CALLS)
    )


def test_one_of_two_peers_reconciles_and_the_other_takes_over(
    control_plane: ControlPlane,
    namespace: str,
    peered_release: Release,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    settings = chart_env(peered_release, namespace)
    assert settings["standalone"] == "false"
    peering = settings["peering_name"]

    def listed() -> dict[str, int]:
        return peers(control_plane, namespace, peering)

    # One at a time, each waited for until the peering object lists its record.
    processes: dict[str, OperatorProcess] = {}
    for pod in PEERS:
        processes[pod] = start_operator(
            namespace,
            kubeconfig=peered_release.kubeconfig,
            operator_namespace=peered_release.namespace,
            env={"POD_ID": pod},
            **settings,
        )
        eventually(lambda: listed().keys() == processes.keys(), timeout=30)
    priorities = listed()
    # Each drew its own priority (a tie would pause both); the higher one is active.
    assert priorities[PEERS[0]] != priorities[PEERS[1]], priorities
    active_id, standby_id = sorted(PEERS, key=priorities.__getitem__, reverse=True)
    active, standby = processes[active_id], processes[standby_id]

    def creates() -> int:
        return sagemaker_emulator.admin.calls("CreateTrainingJob")

    # The barrier: a canary handled while the standby makes no call. A standby started
    # second passes at the first; one that ran first passes once it has paused.
    canaries = itertools.count()

    def canary_without_the_standby() -> bool:
        before = sagemaker_calls(standby)
        name = f"canary-{next(canaries)}"
        apply(control_plane, namespace, manifest(name))
        wait_phase(control_plane, namespace, name, "Completed")
        return sagemaker_calls(standby) == before

    eventually(canary_without_the_standby, timeout=LIFETIME * 6, interval=0)
    created, standby_calls = creates(), sagemaker_calls(standby)

    count = 3
    apply(control_plane, namespace, *(manifest(f"ha-{i}") for i in range(count)))
    for i in range(count):
        wait_phase(control_plane, namespace, f"ha-{i}", "Completed")
    assert creates() == created + count
    assert sagemaker_calls(active) > count
    # Neither the standby's handlers nor its pollers called AWS.
    assert sagemaker_calls(standby) == standby_calls

    active.kill()  # no clean shutdown: its peering record stays until the lease lapses
    apply(control_plane, namespace, manifest("after-failover"))
    wait_phase(control_plane, namespace, "after-failover", "Completed", timeout=LIFETIME * 12)
    assert creates() == created + count + 1
    assert sagemaker_calls(standby) > standby_calls
    # The survivor found the killed peer's record expired and removed it.
    eventually(lambda: listed().keys() == {standby_id}, timeout=LIFETIME * 6)
