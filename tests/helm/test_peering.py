"""An active/standby pair as the chart deploys it: two operator processes, one peering.

The chart (namespaced scope, peering on) creates the KopfPeering and its RBAC; two operators
run on the chart's ServiceAccount token with the chart's peering settings and *no* priority
given, as two replicas of the Deployment would. kopf pauses every peer on a priority tie, so
this proves each process draws its own: exactly one reconciles (one CreateTrainingJob per
resource, and the standby's own metrics show no SageMaker call), and when the active one is
killed, the standby takes over once its lease lapses.

Which peer is active is read from the peering object (both live, the higher priority wins),
not from kopf's "Pausing operations" line: a peer configured with a peering name starts
paused, so a standby that starts after the active one never logs that line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, eventually, manifest, wait_phase
from tests.helm.chart import Release, helm, install_chart, render
from tests.plugins.operator import OperatorProcess, StartOperator

PRIORITY = re.compile(r"Peering as '[^']+' with priority (\d+)\.")
LIFETIME = 5  # seconds; the chart's default is 60
CALLS = "sagemaker_operator_sagemaker_calls_total{"


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
    }
    prefix = "SAGEMAKER_OPERATOR_"
    wanted = ("STANDALONE", "PEERING_NAME", "PEERING_LIFETIME_SECONDS")
    assert "SAGEMAKER_OPERATOR_PEERING_PRIORITY" not in env
    return {key.lower(): env[prefix + key] for key in wanted}


def priority(operator: OperatorProcess) -> int:
    found = eventually(lambda: PRIORITY.search(operator.log()))
    return int(found.group(1))


def live_priorities(control_plane: ControlPlane, namespace: str, name: str) -> list[int]:
    """The priorities in the peering object's status: each peer's keep-alive record."""
    peering = json.loads(
        control_plane.kubectl(
            "get", "kopfpeering", name, f"--namespace={namespace}", "--output=json"
        ).stdout
    )
    return sorted(int(peer["priority"]) for peer in peering.get("status", {}).values())


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
    peers = [
        start_operator(
            namespace,
            kubeconfig=peered_release.kubeconfig,
            operator_namespace=peered_release.namespace,
            **settings,
        )
        for _ in range(2)
    ]
    # Each drew its own priority (a tie would pause both) and both keep a lease.
    priorities = [priority(p) for p in peers]
    assert priorities[0] != priorities[1]
    eventually(
        lambda: (
            live_priorities(control_plane, namespace, settings["peering_name"])
            == sorted(priorities)
        ),
        timeout=30,
    )
    active, standby = sorted(peers, key=priority, reverse=True)
    assert "Pausing" not in active.log()

    count = 3
    apply(control_plane, namespace, *(manifest(f"ha-{i}") for i in range(count)))
    for i in range(count):
        wait_phase(control_plane, namespace, f"ha-{i}", "Completed")
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == count
    assert sagemaker_calls(active) > count
    assert sagemaker_calls(standby) == 0  # neither its handlers nor its pollers called AWS

    active.kill()  # no clean shutdown: its peering record stays until the lease lapses
    apply(control_plane, namespace, manifest("after-failover"))
    wait_phase(control_plane, namespace, "after-failover", "Completed", timeout=LIFETIME * 12)
    assert sagemaker_emulator.admin.calls("CreateTrainingJob") == count + 1
    assert sagemaker_calls(standby) > 0
    assert "Resuming operations after the pause" in standby.log()
