"""What one long-running job costs the poller on an account with a past, with and without
the split (docs/reconciling.md, "One long-running job").

SageMaker reads every job *created* since a listing's ``CreationTimeAfter`` (docs/emulator.md),
so a poller whose oldest running job started a week ago reads a week of the account's other
jobs every cycle. This creates, in the emulator over HTTP (its AWS list semantics, throttling
off: pages are counted, not paced), one long-running "old" job, then ``--others`` jobs that
finish at once (the account's activity since), then ``--ours`` long-running jobs, and runs a
region's poller (the operator's own ``RegionPoller`` and ``RegionClient``, statuses written
nowhere) for a few cycles twice: as shipped, and with the split disabled. It prints the
``ListTrainingJobs`` pages and ``DescribeTrainingJob`` calls of each cycle.

``python -m bench.long_job [--others 5000] [--ours 300] [--cycles 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import math
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

from sagemaker_operator.controller import observation, owned
from sagemaker_operator.emulator import faults, history, operations, settings, testing
from sagemaker_operator.sagemaker import budget
from sagemaker_operator.sagemaker.client import RegionClient

REGION = "us-east-1"
# The request the seeded past is made of, allowed to run 28 days (the old job must not stop).
BASE = {**history.REQUEST, "StoppingCondition": {"MaxRuntimeInSeconds": 2419200}}
LONG = [{"Key": operations.TAG_DURATION, "Value": "1e6"}]
SHORT = [{"Key": operations.TAG_DURATION, "Value": "0"}]


def create(client: Any, name: str, tags: list[dict[str, str]]) -> None:
    client.create_training_job(TrainingJobName=name, Tags=tags, **BASE)


def record(client: Any, name: str) -> owned.OwnedJob:
    """The index entry of a resource whose status a Describe wrote, job in Training."""
    described = client.describe_training_job(TrainingJobName=name)
    status = {
        "trainingJobName": name,
        "trainingJobArn": described["TrainingJobArn"],
        "region": REGION,
        "phase": "InProgress",
        "trainingJobStatus": described["TrainingJobStatus"],
        "secondaryStatus": described["SecondaryStatus"],
        "lastModifiedTime": described["LastModifiedTime"].isoformat(),
        "creationTime": described["CreationTime"].isoformat(),
        "secondaryStatusTransitions": [{"status": described["SecondaryStatus"]}],
    }
    meta = {"generation": 1, "creationTimestamp": described["CreationTime"].isoformat()}
    found = owned.record_of(namespace="bench", name=name, uid=name, meta=meta, status=status)
    assert found is not None
    return found


async def cycles(
    url: str, admin: testing.AdminClient, jobs: list[owned.OwnedJob], count: int, weight: float
) -> list[dict[str, int]]:
    index = owned.OwnedIndex()
    for job in jobs:
        index.put(job.uid, job)

    async def apply(job: owned.OwnedJob, description: Mapping[str, Any] | None) -> None:
        return None

    rates = {op: budget.Rate(1000, 1000) for op in budget.DEFAULT_RATES}
    client = RegionClient(
        REGION,
        endpoint_url=url,
        calls_per_second=1000,
        burst=1000,
        executor=ThreadPoolExecutor(8),
        pool_size=8,
        budget=budget.Budget(rates, observation_share=0.5),
    )
    poller = observation.RegionPoller(
        client,
        index,
        apply,
        interval=10,
        concurrency=8,
        full_sweep_interval=0,  # every cycle reads every summary: same pages as a recent one
        # NB: no clock-skew overlap: here every job was created within seconds, and the
        # shipped 60 s would reach back over all of them; over a week it is nothing.
        skew=0,
        describe_weight=weight,
    )
    found = []
    for _ in range(count):
        before = admin.counters()["operations"]
        await poller.cycle()
        after = admin.counters()["operations"]
        found.append(
            {
                op: sum(after.get(op, {}).values()) - sum(before.get(op, {}).values())
                for op in ("ListTrainingJobs", "DescribeTrainingJob")
            }
        )
    return found


def main() -> None:
    # The poller's own client reads credentials from the standard chain: any will do.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--others", type=int, default=5000)
    parser.add_argument("--ours", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=4)
    args = parser.parse_args()
    config = settings.Settings(
        port=0, time_scale=0.001, faults=faults.FaultSettings(throttling=False), admin=True
    )
    with testing.running(config) as emulator:
        client = boto3.client(
            "sagemaker",
            endpoint_url=emulator.url,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )
        create(client, "old", LONG)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: create(client, f"other-{i:06d}", SHORT), range(args.others)))
            # A creation time apart from the others': the listing's bound is a second before
            # our oldest young job (CreationTimeAfter is strict), and here all else is seconds.
            time.sleep(2.0)
            list(pool.map(lambda i: create(client, f"ours-{i:05d}", LONG), range(args.ours)))
        names = ["old", *(f"ours-{i:05d}" for i in range(args.ours))]
        for name in names:  # each resource's status shows its job Training, as described
            while client.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != (
                "Training"
            ):
                time.sleep(0.05)
        jobs = [record(client, name) for name in names]
        started = datetime.datetime.now(datetime.UTC)
        shipped = asyncio.run(
            cycles(emulator.url, emulator.admin, jobs, args.cycles, observation.DESCRIBE_WEIGHT)
        )
        unsplit = asyncio.run(cycles(emulator.url, emulator.admin, jobs, args.cycles, math.inf))
        took = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    floor = math.ceil((args.others + args.ours + 1) / 100)
    print(
        f"one old running job, then {args.others} other jobs, then {args.ours} of ours "
        f"(emulator: AWS list semantics, throttling off; {took:.0f} s to measure)"
    )
    print(
        f"pages to read from the old job: {floor}; from our first young one: "
        f"{math.ceil(args.ours / 100)}"
    )
    print("cycle | as shipped: List pages, Describes | split off: List pages, Describes")
    for i, (ours, off) in enumerate(zip(shipped, unsplit, strict=True), start=1):
        print(
            f"{i} | {ours['ListTrainingJobs']}, {ours['DescribeTrainingJob']} | "
            f"{off['ListTrainingJobs']}, {off['DescribeTrainingJob']}"
        )
    at_two_per_second = [c["ListTrainingJobs"] / 2 for c in (shipped[-1], unsplit[-1])]
    print(
        "at AWS's 2 pages/s a steady cycle lists for "
        f"{at_two_per_second[0]:.1f} s as shipped, {at_two_per_second[1]:.1f} s with the split off"
    )


if __name__ == "__main__":
    main()
