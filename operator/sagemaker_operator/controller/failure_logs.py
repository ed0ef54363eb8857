"""Why a job failed, where people look: its last log lines in a Warning Event and the status.

Opt-in (``Settings.failure_log_tail``, the chart's ``operator.failureLogTail``). When
observation writes a job's terminal ``Failed``, one ``GetLogEvents`` call (backwards from
the end, 20 events, through the region's call budget like every SageMaker call) reads the
stream of the host that failed; the lines, redacted (:mod:`sagemaker_operator.logs.redact`)
and bounded, go to ``status.failureLogTail`` and a ``FailureLogTail`` Warning Event, so
``kubectl describe smtj NAME`` shows them.

Which stream, in one call and with the one permission ``logs:GetLogEvents``: SageMaker names
a host's stream ``<job>/algo-<n>-<epoch seconds>``. The host is the ``algo-<n>`` the
``FailureReason`` names, else ``algo-1`` (the emulator fails the same host by the same rule);
the epoch is the second the job's ``Training`` transition began, read from the status. That
is exact against the emulator; against AWS it is an **assumption** (the epoch is when the
host's log stream was created, which AWS does not document against the transition times): a
stream not found ends in a ``FailureLogTailUnavailable`` Normal Event saying so, never in a
retry loop. See docs/logs.md.

It runs beside the poller, as an Event does: the status write that said ``Failed`` does not
wait for it, and a failure here (throttled, denied, no stream) is logged and reported, never
raised. A restart between the ``Failed`` write and the tail loses the tail (the job is not
described again once terminal).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from sagemaker_operator.controller import owned
from sagemaker_operator.logs import GROUP, redact
from sagemaker_operator.resource import described

if TYPE_CHECKING:
    from sagemaker_operator.controller.runtime import Runtime

logger = logging.getLogger(__name__)

LINES: Final = 20
MAX_LINE: Final = 400  # characters of one line kept (its start)
EVENT_MAX: Final = 1024  # what kube.Kube.event keeps of a message
_pending: set[asyncio.Task[None]] = set()


def failed_now(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a write made SageMaker's ``Failed`` the resource's phase."""
    return (
        after.get("phase") == "Failed"
        and before.get("phase") != "Failed"
        and after.get("trainingJobStatus", before.get("trainingJobStatus")) == "Failed"
    )


def stream_name(job_name: str, status: Mapping[str, Any]) -> str | None:
    """The failing host's stream, from the status (None: the job never reached Training)."""
    started = next(
        (
            t.get("startTime")
            for t in status.get("secondaryStatusTransitions") or []
            if t.get("status") == "Training"
        ),
        None,
    )
    moment = owned.parse_time(started)
    if moment is None:
        return None
    found = re.search(r"\balgo-(\d+)\b", str(status.get("failureReason") or ""))
    host = f"algo-{found.group(1)}" if found else "algo-1"
    return f"{job_name}/{host}-{int(moment.timestamp())}"


def bounded(messages: list[str], limit: int) -> str:
    """The last lines that fit in ``limit`` characters, each redacted and cut to MAX_LINE."""
    kept: list[str] = []
    size = 0
    for message in reversed(messages):
        line = redact.redact(message.rstrip("\n"))
        if len(line) > MAX_LINE:
            line = line[: MAX_LINE - 1] + "…"
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(reversed(kept))


def after_write(runtime: Runtime, job: owned.OwnedJob, status: Mapping[str, Any]) -> None:
    """Called by observation after each status write that landed: start the tail's read if
    the setting asks for it and this write made the job ``Failed``."""
    if not runtime.settings.failure_log_tail or not failed_now(job.status, status):
        return
    task = asyncio.create_task(post(runtime, job, {**job.status, **status}))
    _pending.add(task)  # the loop keeps only weak references to tasks
    task.add_done_callback(_pending.discard)


async def post(runtime: Runtime, job: owned.OwnedJob, status: Mapping[str, Any]) -> None:
    """Read the failing host's last lines; write them to the status and a Warning Event."""
    kube = runtime.poll_kube
    stream = stream_name(job.job_name, status)
    if stream is None:
        return  # failed before Training (CapacityError...): no host ever logged
    try:
        page = await runtime.clients.polling(job.region).log_events(
            GROUP, stream, startFromHead=False, limit=LINES
        )
    except Exception as error:  # NB: advice, like an Event: never fail the poller for it
        reason = getattr(error, "code", None) or type(error).__name__
        logger.info("No failure tail for %s/%s: %s", job.namespace, job.name, error)
        kube.emit(
            job.ref,
            "Normal",
            "FailureLogTailUnavailable",
            f"Could not read the last lines of {GROUP} {stream}: {reason}.",
        )
        return
    messages = [str(event.get("message", "")) for event in page.get("events", [])][-LINES:]
    if not messages:
        return
    tail = bounded(messages, described.FAILURE_LOG_TAIL_MAX)
    await kube.patch_status(job.namespace, job.name, {"failureLogTail": tail})
    host = stream.rpartition("/")[2].rsplit("-", 1)[0]
    heading = f"Last lines of {host} before the job failed:\n"
    kube.emit(
        job.ref, "Warning", "FailureLogTail", heading + bounded(messages, EVENT_MAX - len(heading))
    )
