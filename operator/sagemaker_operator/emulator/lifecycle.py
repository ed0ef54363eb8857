"""The clock that moves a training job through SageMaker's statuses, computed, never run.

A job's whole future is fixed when it is created: a :class:`Plan` says how long each phase
lasts (already multiplied by the time scale) and how the job ends. Later requests can only
cut that future short (a Stop) or extend it (a warm pool's keep-alive). What a Describe sees
is then a pure function of the plan, those few request times and *now*
(:func:`observe`). There is no task, timer or lock per job: 10,000 idle jobs cost their
memory and nothing else, a restart of the emulator resumes every job where the wall clock
says it is, and a test can ask what a job looks like at any instant.

The timeline, in SageMaker's own words (``TrainingJobStatus`` / ``SecondaryStatus``)::

    InProgress: Starting -> Downloading -> Training -> Uploading
        -> Completed: Completed
    Failed outcome:           ... Training -> Failed: Failed (with FailureReason)
    Interrupted (spot):       ... Training -> Interrupted -> Training -> Uploading -> Completed
    MaxWaitTimeExceeded (spot): ... Training -> Interrupted -> Stopped: MaxWaitTimeExceeded
    StoppingCondition.MaxRuntimeInSeconds reached first:  -> Stopped: MaxRuntimeExceeded
    StopTrainingJob while in progress:  -> Stopping: Stopping -> Stopped: Stopped

``MaxRuntimeInSeconds`` counts from ``TrainingStartTime`` (the end of ``Starting``: the
moment instances are billed), as AWS bills and limits it, leaving out time spent
``Interrupted`` (that counts against ``MaxWaitTimeInSeconds``, from creation).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Final

COMPLETED: Final = "Completed"
FAILED: Final = "Failed"
INTERRUPTED: Final = "Interrupted"
MAX_WAIT_EXCEEDED: Final = "MaxWaitTimeExceeded"
MAX_RUNTIME_EXCEEDED: Final = "MaxRuntimeExceeded"
OUTCOMES: Final = (COMPLETED, FAILED, INTERRUPTED, MAX_WAIT_EXCEEDED)
SPOT_OUTCOMES: Final = (INTERRUPTED, MAX_WAIT_EXCEEDED)

# The primary status each secondary status belongs to.
PRIMARY: Final[dict[str, str]] = {
    "Starting": "InProgress",
    "Downloading": "InProgress",
    "Training": "InProgress",
    "Interrupted": "InProgress",
    "Uploading": "InProgress",
    "Completed": "Completed",
    "Failed": "Failed",
    "Stopping": "Stopping",
    "Stopped": "Stopped",
    MAX_RUNTIME_EXCEEDED: "Stopped",
    MAX_WAIT_EXCEEDED: "Stopped",
}
TERMINAL: Final = frozenset({"Completed", "Failed", "Stopped"})

MESSAGES: Final[dict[str, str]] = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Interrupted": "Training job interrupted: managed spot instances were reclaimed",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    MAX_RUNTIME_EXCEEDED: "Training job exceeded MaxRuntimeInSeconds provided",
    MAX_WAIT_EXCEEDED: "Training job exceeded MaxWaitTimeInSeconds provided",
}
RESUMED_MESSAGE: Final = "Spot capacity is back. Training resumed from the last checkpoint."


@dataclasses.dataclass(frozen=True)
class Plan:
    """A job's fate, fixed at creation. Durations are wall-clock seconds (already scaled)."""

    starting: float
    downloading: float
    training: float
    uploading: float
    stopping: float  # how long Stopping lasts after a StopTrainingJob
    outcome: str = COMPLETED
    failure_reason: str | None = None
    max_runtime: float | None = None  # from StoppingCondition, scaled
    max_wait: float | None = None  # spot only, scaled, counted from creation
    keep_alive: float | None = None  # warm pool retention after the end, scaled; None: no pool


@dataclasses.dataclass(frozen=True)
class Transition:
    status: str  # a secondary status
    start: float
    message: str


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What the job looks like at one instant: everything Describe and List report."""

    status: str
    secondary: str
    transitions: tuple[tuple[Transition, float | None], ...]  # with each one's end time
    training_start: float | None
    training_end: float | None
    failure_reason: str | None
    last_modified: float
    training_seconds: int | None
    billable_seconds: int | None
    warm_pool: str | None  # WarmPoolStatus.Status, when the job keeps a warm pool
    settled: bool  # nothing about the job will change any more without a new request

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def timeline(plan: Plan, created: float, stop_requested: float | None) -> list[Transition]:
    """Every secondary-status transition the job will ever make, past and future."""
    t_download = created + plan.starting
    t_train = t_download + plan.downloading
    steps = [
        Transition("Starting", created, MESSAGES["Starting"]),
        Transition("Downloading", t_download, MESSAGES["Downloading"]),
        Transition("Training", t_train, MESSAGES["Training"]),
    ]
    t_upload = t_train + plan.training
    if plan.outcome == FAILED:
        steps.append(Transition("Failed", t_upload, plan.failure_reason or MESSAGES["Failed"]))
    elif plan.outcome == MAX_WAIT_EXCEEDED:
        t_interrupt = t_train + plan.training / 2
        steps.append(Transition("Interrupted", t_interrupt, MESSAGES["Interrupted"]))
        wait_limit = created + (plan.max_wait if plan.max_wait is not None else plan.starting)
        end = max(wait_limit, t_interrupt + plan.stopping)
        steps.append(Transition(MAX_WAIT_EXCEEDED, end, MESSAGES[MAX_WAIT_EXCEEDED]))
    else:
        if plan.outcome == INTERRUPTED:
            # Half the training, a wait as long as Starting for capacity, then the other half.
            t_interrupt = t_train + plan.training / 2
            t_resume = t_interrupt + plan.starting
            steps.append(Transition("Interrupted", t_interrupt, MESSAGES["Interrupted"]))
            steps.append(Transition("Training", t_resume, RESUMED_MESSAGE))
            t_upload = t_resume + plan.training / 2
        steps.append(Transition("Uploading", t_upload, MESSAGES["Uploading"]))
        steps.append(Transition("Completed", t_upload + plan.uploading, MESSAGES["Completed"]))

    if plan.max_runtime is not None:
        limit = _runtime_limit(steps, plan.max_runtime)
        if limit is not None and limit < steps[-1].start:
            steps = [s for s in steps if s.start < limit]
            steps.append(Transition(MAX_RUNTIME_EXCEEDED, limit, MESSAGES[MAX_RUNTIME_EXCEEDED]))

    if stop_requested is not None and stop_requested < steps[-1].start:
        steps = [s for s in steps if s.start <= stop_requested]
        steps.append(Transition("Stopping", stop_requested, MESSAGES["Stopping"]))
        steps.append(Transition("Stopped", stop_requested + plan.stopping, MESSAGES["Stopped"]))
    # NB: SageMaker's timestamps have millisecond precision; so do ours, so a time read from
    # a response and sent back as a filter (LastModifiedTimeAfter) compares as equal.
    return [dataclasses.replace(s, start=round(s.start, 3)) for s in steps]


def end_training_at(plan: Plan, created: float, at: float) -> Plan:
    """The plan with its Training phase cut (or stretched) to end at ``at``.

    For a benchmark that creates thousands of jobs at a rate it cannot know in advance:
    jobs train "for days" and are told when to finish once the benchmark is ready for the
    changes. Only the plain outcomes (completed, failed) have one Training phase to resize.
    """
    if plan.outcome not in (COMPLETED, FAILED):
        return plan
    training_start = created + plan.starting + plan.downloading
    return dataclasses.replace(plan, training=max(0.0, at - training_start))


def _runtime_limit(steps: list[Transition], max_runtime: float) -> float | None:
    """When the job has run ``max_runtime`` seconds since Starting ended.

    Time spent Interrupted, waiting for spot capacity, does not count: that is what
    ``MaxWaitTimeInSeconds`` bounds.
    """
    used = 0.0
    for step, following in itertools.pairwise(steps[1:]):
        length = following.start - step.start
        if step.status == INTERRUPTED:
            continue
        if used + length >= max_runtime:
            return step.start + (max_runtime - used)
        used += length
    return None


def observe(
    plan: Plan,
    created: float,
    now: float,
    *,
    stop_requested: float | None = None,
    modified: float = 0.0,
) -> Snapshot:
    """The job as seen at ``now``. ``modified`` is the time of the last accepted update."""
    steps = timeline(plan, created, stop_requested)
    seen = [s for s in steps if s.start <= now] or steps[:1]
    current = seen[-1]
    status = PRIMARY[current.status]
    terminal = status in TERMINAL
    end = current.start if terminal else None

    with_ends: list[tuple[Transition, float | None]] = []
    for i, step in enumerate(seen):
        step_end = seen[i + 1].start if i + 1 < len(seen) else (end if terminal else None)
        with_ends.append((step, step_end))

    download = steps[1].start if len(steps) > 1 and steps[1].status == "Downloading" else None
    training_start = download if download is not None and download <= now else None
    training_seconds = billable_seconds = None
    if terminal and end is not None and training_start is not None:
        training_seconds = max(1, math.ceil(end - training_start))
        # You do not pay while spot capacity is gone.
        lost = sum(
            (step_end or now) - step.start
            for step, step_end in with_ends
            if step.status == INTERRUPTED
        )
        billable_seconds = max(1, math.ceil(end - training_start - lost))

    last_modified = max(current.start, modified)
    warm_pool = None
    settled = terminal
    if plan.keep_alive is not None and training_start is not None:
        if not terminal:
            warm_pool = "InUse"
        elif status == "Completed" and end is not None:
            expires = round(end + plan.keep_alive, 3)
            if now < expires:
                warm_pool, settled = "Available", False
            else:
                warm_pool = "Terminated"
                last_modified = max(last_modified, expires)
        else:
            warm_pool = "Terminated"

    return Snapshot(
        status=status,
        secondary=current.status,
        transitions=tuple(with_ends),
        training_start=training_start,
        training_end=end if training_start is not None else None,
        failure_reason=plan.failure_reason if current.status == FAILED else None,
        last_modified=last_modified,
        training_seconds=training_seconds,
        billable_seconds=billable_seconds,
        warm_pool=warm_pool,
        settled=settled,
    )
