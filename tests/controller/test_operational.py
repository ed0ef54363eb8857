"""The operational surface of a running operator: /metrics, JSON logs, /healthz.

The metrics test is what ``curl :metrics/metrics`` shows after real work against the
emulator with SageMaker's throttling turned on: every metric the issue lists is present and
agrees with what the emulator itself counted.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sagemaker_operator.config import Settings
from sagemaker_operator.controller import handlers
from sagemaker_operator.controller.observation import PAGE_ATTEMPTS, BulkObservation
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from sagemaker_operator.sagemaker import client
from tests.controller.helpers import apply, eventually, manifest, wait_phase
from tests.plugins.operator import OperatorProcess, StartOperator

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(operator: OperatorProcess) -> Samples:
    """Every sample of /metrics, keyed by (sample name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(operator.metrics()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over every sample whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


P = "sagemaker_operator_"


def test_metrics_during_a_throttled_run_agree_with_the_emulator(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
) -> None:
    admin = sagemaker_emulator.admin
    # SageMaker's throttling, tightened so the burst of creates trips it: one create a second,
    # and the six resources exist before the operator starts, so it takes them up together.
    # (Describes are not throttled: a cycle whose only Describe failed would be a poll error
    # the listing did not cause.)
    admin.set_faults(throttling=True, rates={"CreateTrainingJob": {"rate": 1, "burst": 1}})
    # Every listing is throttled until the poller has failed whole cycles, then no more: so
    # throttled listings and failed cycles are both certain, and their relation exact.
    admin.refuse("ListTrainingJobs", code="ThrottlingException", message="Rate exceeded")
    completed = [f"ok-{i}" for i in range(4)]
    apply(
        control_plane,
        namespace,
        *(manifest(name) for name in completed),
        manifest("oom", fate={"outcome": "Failed"}),
        manifest("refused", fate={"outcome": "Interrupted"}),  # no spot: ValidationException
    )
    operator = start_operator(namespace)

    def poll_errors() -> float:
        return total(scrape(operator), P + "reconcile_errors_total", step="poll", kind="transient")

    eventually(lambda: poll_errors() >= 2, timeout=60)
    admin.refuse_nothing()
    for name in completed:
        wait_phase(control_plane, namespace, name, "Completed", timeout=120)
    wait_phase(control_plane, namespace, "oom", "Failed", timeout=120)
    wait_phase(control_plane, namespace, "refused", "Failed", timeout=120)
    # The jobs gauge is refreshed at the start of each poller cycle: await the one that counts
    # every job in its final state (the refused resource never had a SageMaker job).
    final = {"Completed": len(completed), "Failed": 1, "InProgress": 0}
    calls = P + "sagemaker_calls_total"
    counted = [
        (operation, outcome)
        for operation in ("create_training_job", "describe_training_job", "list_training_jobs")
        for outcome in ("ok", "ThrottlingException")
    ]

    def settled() -> tuple[Any, dict[str, Any]] | None:
        # NB: scraped first, then the emulator read: a call between the two (a Describe the
        # poller still owed) shows on the emulator only; once every job has ended the
        # operator makes no more calls, and the two must agree exactly.
        s = scrape(operator)
        emulator = sagemaker_emulator.admin.counters()["operations"]
        if not all(total(s, P + "jobs", status=k) == v for k, v in final.items()):
            return None
        agree = all(
            total(s, calls, operation=op, outcome=out) == emulator[camel(op)].get(out, 0)
            for op, out in counted
        )
        return (s, emulator) if agree else None

    # SageMaker calls by operation and outcome: exactly what the emulator answered.
    samples, emulator = eventually(settled, timeout=30)
    for operation, outcome in counted:
        assert total(samples, calls, operation=operation, outcome=outcome) == emulator[
            camel(operation)
        ].get(outcome, 0), (operation, outcome)
    assert total(samples, calls, operation="create_training_job", outcome="ok") == 5
    assert (
        total(samples, calls, operation="create_training_job", outcome="ValidationException") == 1
    )
    # Throttles: provoked, counted per operation, the same as the throttled calls.
    throttled = total(samples, calls, outcome="ThrottlingException")
    assert throttled > 0
    assert total(samples, P + "sagemaker_throttles_total") == throttled
    create_throttles = total(
        samples, P + "sagemaker_throttles_total", operation="create_training_job"
    )
    assert create_throttles > 0
    # Retries: a throttled create is tried again in place, and only one throttled at every
    # try costs its handler a retry, which is a transient error.
    retries = total(samples, P + "retries_total", handler="create")
    assert create_throttles >= client.CALL_ATTEMPTS * retries
    assert total(samples, P + "reconcile_errors_total", step="create", kind="transient") == retries
    assert total(samples, P + "reconcile_errors_total", step="create", kind="permanent") == 1
    # Status lag: one observation per status patch, all of them seconds, not minutes.
    lag_count = total(samples, P + "status_lag_seconds_count")
    assert lag_count >= len(completed) + 1
    assert lag_count == total(samples, P + "status_patches_total")
    assert total(samples, P + "status_lag_seconds_bucket", le="30.0") == lag_count
    assert 0 <= total(samples, P + "status_lag_seconds_sum") / lag_count < 10
    # Poller pages: one per ListTrainingJobs that succeeded (throttled ones read no page).
    pages = total(samples, P + "poller_pages_total", region="us-east-1")
    assert 0 < pages <= emulator["ListTrainingJobs"]["ok"]
    # A throttled page is retried within its cycle; only a page throttled on every attempt
    # fails the cycle: a transient poll error, retried by the next one. While every listing
    # was throttled, each failed cycle took PAGE_ATTEMPTS throttles; the cycle running when
    # the throttling ended took fewer, then went through.
    list_throttles = total(samples, P + "sagemaker_throttles_total", operation="list_training_jobs")
    assert list_throttles == emulator["ListTrainingJobs"]["ThrottlingException"]
    assert list_throttles >= 2 * PAGE_ATTEMPTS
    failed_cycles = total(samples, P + "reconcile_errors_total", step="poll", kind="transient")
    assert failed_cycles == list_throttles // PAGE_ATTEMPTS
    # Cycle time: observed for every successful cycle.
    cycles = total(samples, P + "poller_cycle_seconds_count", region="us-east-1")
    assert cycles > 0
    assert total(samples, P + "poller_cycle_seconds_sum", region="us-east-1") > 0
    last = total(samples, P + "poller_last_success_timestamp_seconds", region="us-east-1")
    assert time.time() - 60 < last <= time.time()


def test_json_logs_are_one_object_per_line(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    operator = start_operator(namespace, log_format="json")
    apply(control_plane, namespace, manifest("logged"))
    wait_phase(control_plane, namespace, "logged", "Completed")
    lines = [line for line in operator.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # a line that is not JSON fails here
    assert all(isinstance(record, dict) for record in records)
    assert all({"message", "severity"} <= set(record) for record in records), records[:3]
    # The handler's own messages are among them, tagged with the resource.
    created = [r for r in records if "create-training-job" in r["message"]]
    assert created
    assert any(r.get("object", {}).get("name") == "logged" for r in created), created


def test_liveness_reports_the_pollers(
    control_plane: ControlPlane, namespace: str, start_operator: StartOperator
) -> None:
    operator = start_operator(namespace)
    apply(control_plane, namespace, manifest("alive"))
    wait_phase(control_plane, namespace, "alive", "Completed")
    url = f"http://127.0.0.1:{operator.liveness_port}/healthz"

    def pollers() -> Mapping[str, Any]:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            found: Mapping[str, Any] = json.loads(response.read()).get("pollers", {})
            return found

    ages = eventually(pollers)
    assert set(ages) == {"us-east-1"}
    assert 0 <= ages["us-east-1"] < 60


# A stuck poller cannot be provoked end to end: the probe tolerates max(600 s, 10 polls)
# without progress, and nothing in the emulator holds a call that long. So the probe
# function itself is called, with fake pollers whose last progress is set by hand.


probe: Any = handlers.pollers_alive  # kopf's decorator types it as an activity with a logger


def _memo(
    *ages: float, observation_done: bool = False, settings: dict[str, Any] | None = None
) -> Any:
    now = time.monotonic()
    observation = BulkObservation()
    for i, age in enumerate(ages):
        observation.pollers[f"region-{i}"] = cast(Any, SimpleNamespace(last_progress=now - age))
    task = SimpleNamespace(done=lambda: observation_done)
    runtime = SimpleNamespace(
        settings=Settings.model_validate({"poll_interval_seconds": 10, **(settings or {})}),
        observation=observation,
        tasks={"observation": task},
    )
    return SimpleNamespace(runtime=runtime)


def test_the_probe_passes_with_pollers_making_progress() -> None:
    ages = probe(memo=_memo(1.0, 599.0))
    assert set(ages) == {"region-0", "region-1"}
    assert 599.0 <= ages["region-1"] < 610


def test_the_probe_fails_when_a_poller_is_stuck() -> None:
    with pytest.raises(RuntimeError, match=r"poller stuck.*region-1"):
        probe(memo=_memo(1.0, 601.0))


def test_with_an_events_queue_the_probe_allows_ten_sweeps() -> None:
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
    evented = {"events_queue_url": queue, "events_sweep_interval_seconds": 300}
    probe(memo=_memo(1.0, 2999.0, settings=evented))
    with pytest.raises(RuntimeError, match=r"poller stuck.*region-1"):
        probe(memo=_memo(1.0, 3001.0, settings=evented))


def test_the_probe_fails_when_observation_has_stopped() -> None:
    with pytest.raises(RuntimeError, match="observation has stopped"):
        probe(memo=_memo(1.0, observation_done=True))
