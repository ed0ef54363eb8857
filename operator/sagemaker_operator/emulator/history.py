"""An account with a past: finished jobs created before the emulator started.

A real account's region holds every job it ever ran (SageMaker keeps them; only
``DeleteTrainingJob`` removes one), and ``ListTrainingJobs`` reads through all of them
unless ``CreationTimeAfter`` bounds the scan (:mod:`.listing`). ``--history N`` (or
``POST /_emulator/history``) seeds N such jobs so tests and benchmarks see that cost.

They are spread evenly over the ``span`` seconds before the seeding, each finished well
before it (an hour of training); most ``Completed``, every 12th ``Failed``, every 50th
``Stopped``. They carry no tags, so they are nobody's: an operator must never adopt, stop
or mirror one. They live in memory only (not journalled: 50,000 of them would be most of
the journal); a restarted emulator seeds them again from its flags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

from sagemaker_operator.emulator import lifecycle, store

DEFAULT_SPAN: Final = 90 * 86400.0  # three months of past jobs
PHASES: Final = lifecycle.Plan(
    starting=120.0, downloading=60.0, training=3600.0, uploading=30.0, stopping=30.0
)
FAILURE: Final = "AlgorithmError: an old job's old failure (seeded history)"
REQUEST: Final = {
    "AlgorithmSpecification": {
        "TrainingImage": "history.example/train:1",
        "TrainingInputMode": "File",
    },
    "RoleArn": "arn:aws:iam::123456789012:role/history",
    "OutputDataConfig": {"S3OutputPath": "s3://history/out/"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
}


def past_jobs(
    region: str,
    count: int,
    now: float,
    arn_of: Callable[[str, str], str],
    *,
    first: int = 0,
    span: float = DEFAULT_SPAN,
) -> list[store.Job]:
    """``count`` finished jobs named ``history-<first>...``, oldest first, all ended by ``now``."""
    total = PHASES.starting + PHASES.downloading + PHASES.training + PHASES.uploading
    latest = now - total - 60.0  # the newest one ended a minute before now
    spacing = span / max(count, 1)
    jobs = []
    for i in range(first, first + count):
        name = f"history-{i:07d}"
        created = round(latest - (first + count - 1 - i) * spacing, 3)
        plan, stop = PHASES, None
        if i % 50 == 49:
            stop = created + PHASES.starting + PHASES.downloading + PHASES.training / 2
        elif i % 12 == 11:
            plan = dataclasses.replace(PHASES, outcome=lifecycle.FAILED, failure_reason=FAILURE)
        jobs.append(
            store.Job(
                region=region,
                name=name,
                arn=arn_of(region, name),
                created=created,
                plan=plan,
                request=dict(REQUEST),
                tags={},
                stop_requested=stop,
            )
        )
    return jobs
