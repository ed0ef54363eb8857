"""Crash safety: SIGKILL the operator at random points while it creates 200 jobs.

Whatever the moment of the kill (between Describe and Create, between Create and the status
write, in the middle of kopf's bookkeeping), a restart must leave exactly one SageMaker job
per resource: none lost, none duplicated, each tied to its resource by the uid tag. The kill
points are thresholds of the emulator's successful ``CreateTrainingJob`` count, drawn from a
seeded generator; the seed is printed (``-s``), and ``SMOP_CRASH_SEED`` replays a run.
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
from collections import Counter
from typing import Any

import pytest

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.emulator import testing
from tests.controller.helpers import apply, eventually, manifest
from tests.plugins.emulator import client_for
from tests.plugins.operator import StartOperator

RESOURCES = 200
KILLS = 4
LONG = {"duration-seconds": "1000000"}  # still training when the test looks: nothing to patch
# The waits share one deadline, so a slow run fails with its own message (what is missing)
# before pytest-timeout ends it without one. A run takes 30 s (no faults) to 80 s (throttled)
# on two cores.
RUN_SECONDS = 240  # from the apply to every resource's job recorded
STRADDLE_SECONDS = 80  # a kill (<= 20 s) and restart (<= 60 s) begun just before the deadline
AUDIT_SECONDS = 60  # the listing and tag reads after the run
FIXTURE_SECONDS = 60  # set-up (a control plane, if first) and teardown (the operator stopped)
TIMEOUT = RUN_SECONDS + STRADDLE_SECONDS + AUDIT_SECONDS + FIXTURE_SECONDS


def list_resources(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    listed = json.loads(plane.kubectl("get", names.PLURAL, "-n", namespace, "-o", "json").stdout)
    items: list[dict[str, Any]] = listed["items"]
    return items


def all_jobs(client: Any) -> list[dict[str, Any]]:
    """Every job in the region, paging to the end (pages may be short and still go on)."""
    jobs: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = client.list_training_jobs(MaxResults=100, **token)
        jobs.extend(page["TrainingJobSummaries"])
        if "NextToken" not in page:
            return jobs
        token = {"NextToken": page["NextToken"]}


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({}, id="no-faults"),
        pytest.param({"throttleFraction": 0.3, "errorFraction": 0.05}, id="throttled-and-5xx"),
    ],
)
def test_sigkill_while_creating_leaves_exactly_one_job_per_resource(
    control_plane: ControlPlane,
    namespace: str,
    start_operator: StartOperator,
    sagemaker_emulator: testing.Running,
    faults: dict[str, float],
) -> None:
    seed = int(os.environ.get("SMOP_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    thresholds = sorted(rng.sample(range(5, RESOURCES - 5), KILLS))
    print(f"crash seed {seed}: SIGKILL after {thresholds} successful creates, faults {faults}")
    if faults:
        sagemaker_emulator.admin.set_faults(**faults, seed=seed)
    admin = sagemaker_emulator.admin
    started = time.monotonic()
    deadline = started + RUN_SECONDS

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    # All 200 wait for the operator, so the kills strike a burst of creation in full swing.
    apply(
        control_plane,
        namespace,
        *(manifest(f"crash-{index:03}", fate=LONG) for index in range(RESOURCES)),
    )
    # Under 30% throttling a create (Describe, then Create) fails about half its tries; the
    # production cap of 300 s would leave the unluckiest resources waiting minutes.
    operator = start_operator(
        namespace, calls_per_second=1000, call_burst=1000, retry_max_delay_seconds=4
    )

    def creates_reaching(threshold: int) -> int:
        created = admin.calls("CreateTrainingJob")
        return created if created >= threshold else 0

    kills: list[tuple[int, int]] = []  # (threshold, creates seen at the kill)
    for threshold in thresholds:
        try:
            seen: int = eventually(
                functools.partial(creates_reaching, threshold), timeout=left(), interval=0.01
            )
        except AssertionError:
            raise AssertionError(
                f"{admin.calls('CreateTrainingJob')} creates after {time.monotonic() - started:.0f}"
                f" s, awaiting {threshold} for the next kill; kills so far {kills}"
            ) from None
        operator.kill()
        kills.append((threshold, seen))
        operator.start()
    # Each kill struck while jobs were still being created, not after the work was done.
    assert all(seen < RESOURCES for _, seen in kills), kills

    missing: list[str] = []

    def recorded() -> list[dict[str, Any]] | None:
        items = list_resources(control_plane, namespace)
        missing[:] = [
            r["metadata"]["name"] for r in items if not r.get("status", {}).get("trainingJobArn")
        ]
        return items if len(items) == RESOURCES and not missing else None

    try:
        resources: list[dict[str, Any]] = eventually(recorded, timeout=left(), interval=0.5)
    except AssertionError:
        items = list_resources(control_plane, namespace)
        first = [r for r in items if r["metadata"]["name"] in missing][:1]
        raise AssertionError(
            f"after {time.monotonic() - started:.0f} s, {len(items)} resources listed, no job "
            f"recorded for {len(missing)}: {missing}; the first: "
            + json.dumps([{k: r[k] for k in ("metadata", "status") if k in r} for r in first])
        ) from None
    elapsed = time.monotonic() - started
    admin.set_faults(throttleFraction=0.0, errorFraction=0.0)  # the audit must see, not retry
    counters = admin.counters()["operations"]
    adopted = sum(
        1
        for event in json.loads(
            control_plane.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
        )["items"]
        if event["reason"] == "Adopted"
    )
    print(
        f"kills {kills}; all recorded after {elapsed:.1f}s; adopted after a crash: {adopted}; "
        f"CreateTrainingJob outcomes {counters.get('CreateTrainingJob')}"
    )

    client = client_for(sagemaker_emulator.url)
    jobs = all_jobs(client)
    assert len(jobs) == RESOURCES
    assert admin.health()["jobs"] == RESOURCES  # nothing hidden from the listing either
    job_names = Counter(job["TrainingJobName"] for job in jobs)
    assert len(job_names) == RESOURCES  # the emulator refuses duplicates; this checks it did
    owner_of_job: dict[str, str] = {}
    for job in jobs:
        tags = {
            t["Key"]: t["Value"]
            for t in client.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
        }
        owner_of_job[job["TrainingJobName"]] = tags[names.TAG_UID]
    # No two jobs for one resource, no job without one.
    owners = Counter(owner_of_job.values())
    assert max(owners.values()) == 1, [uid for uid, n in owners.items() if n > 1]
    uids = {r["metadata"]["uid"] for r in resources}
    assert set(owners) == uids
    # Each resource's status names its own job, by name and by ARN.
    arns = {job["TrainingJobName"]: job["TrainingJobArn"] for job in jobs}
    for resource in resources:
        status = resource["status"]
        assert owner_of_job[status["trainingJobName"]] == resource["metadata"]["uid"], resource
        assert arns[status["trainingJobName"]] == status["trainingJobArn"]
    # Exactly one CreateTrainingJob succeeded per resource: the adoptions were look-ups.
    assert counters["CreateTrainingJob"]["ok"] == RESOURCES
