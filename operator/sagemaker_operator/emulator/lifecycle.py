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
    CapacityError outcome:    Starting -> Failed: Failed (no TrainingStartTime)
    Interrupted (spot):       ... Training -> Interrupted -> Training -> Uploading -> Completed
    MaxWaitTimeExceeded (spot): ... Training -> Interrupted -> Stopped: MaxWaitTimeExceeded
    StoppingCondition.MaxRuntimeInSeconds reached first:  -> Stopped: MaxRuntimeExceeded
    StopTrainingJob while in progress:  -> Stopping: <as before> -> Stopping: Stopping
        -> Stopped: Stopped

A Stop turns the primary status to ``Stopping`` at once, while the secondary status still
says what the job was doing; the secondary ``Stopping`` follows a quarter of the stopping
time later (:data:`STOPPING_LAG`). Within one secondary status the transition's message moves
on too (``Starting the training job`` -> ``Launching requested ML instances`` -> ...), as
SageMaker's ``StatusMessage`` does, without a new transition.

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
CAPACITY_ERROR: Final = "CapacityError"  # fails while Starting: no instances to be had
OUTCOMES: Final = (COMPLETED, FAILED, CAPACITY_ERROR, INTERRUPTED, MAX_WAIT_EXCEEDED)
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
    "Starting": "Starting the training job",
    "Downloading": "Downloading input data",
    "Training": "Downloading the training image",
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
CAPACITY_FAILURE: Final = (
    "CapacityError: Unable to provision requested ML compute capacity. "
    "Please retry using a different ML instance type."
)
# Later messages within one secondary status: (fraction of the phase gone by, message), in
# SageMaker's words (SecondaryStatusTransition.StatusMessage in its API reference). For
# Training, the fraction is of the shorter of Training and Starting (the image download).
PROGRESS: Final[dict[str, tuple[tuple[float, str], ...]]] = {
    "Starting": (
        (1 / 3, "Launching requested ML instances"),
        (2 / 3, "Preparing the instances for training"),
    ),
    "Training": ((0.25, "Training image download completed. Training in progress."),),
}
CAPACITY_PROGRESS: Final = (
    (1 / 3, "Launching requested ML instances"),
    (2 / 3, "Insufficient capacity error from EC2 while launching instances, retrying!"),
)
# The secondary status says Stopping this fraction of the stopping time after the primary.
STOPPING_LAG: Final = 0.25


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
    # Wall-clock seconds between two log lines of a host while Training (:mod:`.logs`);
    # None: the default rate (a journal written before logs existed has none).
    log_interval: float | None = None


@dataclasses.dataclass(frozen=True)
class Transition:
    status: str  # a secondary status
    start: float
    message: str
    # Messages the transition takes on later, without leaving its status: (time, message).
    later: tuple[tuple[float, str], ...] = ()

    def message_at(self, moment: float) -> str:
        """The message as seen at ``moment`` (the last one begun by then)."""
        message = self.message
        for at, text in self.later:
            if at <= moment:
                message = text
        return message


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
    if plan.outcome == CAPACITY_ERROR:
        # No instances to be had: Starting retries for its whole length, then gives up.
        steps = [
            _step("Starting", created, plan.starting, CAPACITY_PROGRESS),
            Transition("Failed", t_download, plan.failure_reason or CAPACITY_FAILURE),
        ]
        return _cut(plan, steps, stop_requested)
    steps = [
        _step("Starting", created, plan.starting),
        Transition("Downloading", t_download, MESSAGES["Downloading"]),
        # NB: the image takes as long to download however long the job trains.
        _step("Training", t_train, min(plan.training, plan.starting)),
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
    return _cut(plan, steps, stop_requested)


def _step(
    status: str,
    start: float,
    length: float,
    progress: tuple[tuple[float, str], ...] | None = None,
) -> Transition:
    """A transition whose message moves on through ``progress`` (fractions of ``length``)."""
    later = tuple(
        (start + fraction * length, text)
        for fraction, text in (PROGRESS.get(status, ()) if progress is None else progress)
    )
    return Transition(status, start, MESSAGES[status], later)


def _cut(plan: Plan, steps: list[Transition], stop_requested: float | None) -> list[Transition]:
    """The steps as a Stop at ``stop_requested`` leaves them, in SageMaker's precision."""
    if stop_requested is not None and stop_requested < steps[-1].start:
        stopping = stop_requested + plan.stopping * STOPPING_LAG
        steps = [s for s in steps if s.start <= stop_requested]
        steps.append(Transition("Stopping", stopping, MESSAGES["Stopping"]))
        steps.append(Transition("Stopped", stop_requested + plan.stopping, MESSAGES["Stopped"]))
    # NB: SageMaker's timestamps have millisecond precision; so do ours, so a time read from
    # a response and sent back as a filter (LastModifiedTimeAfter) compares as equal.
    return [
        dataclasses.replace(
            s, start=round(s.start, 3), later=tuple((round(t, 3), m) for t, m in s.later)
        )
        for s in steps
    ]


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


def _keeps_warm_pool(status: str, failure_reason: str | None) -> bool:
    """Whether a job that ended so retains its warm pool: after a success, a stop (asked for
    or by a limit) and the algorithm's own error; not after a failure of SageMaker's side."""
    if status == FAILED:
        return (failure_reason or "").startswith("AlgorithmError")
    return status in ("Completed", "Stopped")


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
    # A Stop shows in the primary status at once; the secondary catches up (STOPPING_LAG).
    stopping_since = (
        stop_requested
        if stop_requested is not None and stop_requested <= now and steps[-1].status == "Stopped"
        else None
    )
    if stopping_since is not None and status == "InProgress":
        status = "Stopping"
    terminal = status in TERMINAL
    end = current.start if terminal else None

    with_ends: list[tuple[Transition, float | None]] = []
    for i, step in enumerate(seen):
        step_end = seen[i + 1].start if i + 1 < len(seen) else (end if terminal else None)
        # Each transition shows the message it had reached when it ended (or has now).
        message = step.message_at(now if step_end is None else min(now, step_end))
        with_ends.append((dataclasses.replace(step, message=message, later=()), step_end))

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

    last_modified = max(current.start, modified, stopping_since or 0.0)
    warm_pool = None
    settled = terminal
    if plan.keep_alive is not None and training_start is not None:
        if not terminal:
            warm_pool = "InUse"
        elif _keeps_warm_pool(status, plan.failure_reason) and end is not None:
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
