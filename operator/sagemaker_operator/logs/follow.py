"""Reading a training job's CloudWatch streams: once, or following until the job ends.

Every host writes one stream, ``<job>/algo-<n>-<epoch>``, in the group
``/aws/sagemaker/TrainingJobs``. The reader finds them with ``DescribeLogStreams`` (prefix
``<job>/``, paged), then reads each with ``GetLogEvents`` from its ``nextForwardToken``: the
token is the reader's whole state per stream, so every event is printed exactly once and in
its stream's order. Each round prints what all streams returned, merged by timestamp.

A stream is *drained* when a forward read hands back the token it was given (the service's
end-of-stream answer); a page of fewer events than asked for is only "caught up for this
round", and the next round goes on from its token. Following ends once the job is terminal
(``DescribeTrainingJob``, at most once per interval) and, after that, every stream is
drained, so the last lines written before the end are never lost.

Throttling, 5xx answers and connection faults are retried with capped, jittered exponential
backoff; a round that caught up with every stream waits the interval before the next (only a
reader still behind, stopped by a bound of ten full pages a stream, goes on at once): never a
hot loop.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from sagemaker_operator.logs import GROUP, text

TERMINAL: Final = frozenset({"Completed", "Failed", "Stopped"})
THROTTLING: Final = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
PAGE: Final = 10_000  # GetLogEvents' own maximum
BACKOFF_BASE: Final = 0.5
BACKOFF_CAP: Final = 20.0  # botocore's standard retry mode caps its backoff here too


@dataclasses.dataclass
class Stream:
    name: str
    host: str
    token: str | None = None  # nextForwardToken; None: not read yet


@dataclasses.dataclass
class Stats:
    calls: dict[str, int] = dataclasses.field(default_factory=dict)
    retries: int = 0
    lines: int = 0


class Reader:
    """One job's streams, read by one ``logs`` client (the user's credentials)."""

    def __init__(
        self,
        logs: Any,
        job_name: str,
        *,
        hosts: Iterable[str] = (),
        since_ms: int | None = None,
        tail: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = print,
        seed: int | None = None,
        discover_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logs = logs
        self.job_name = job_name
        self.hosts = frozenset(hosts)
        self.since_ms = since_ms
        self.tail = tail
        self.sleep = sleep
        self.say = say
        self.streams: dict[str, Stream] = {}
        self.stats = Stats()
        self._random = random.Random(seed)
        # NB: DescribeLogStreams allows 5 calls a second per account: looked for at most
        # this often (and always before a drain), not on every round of a busy stream.
        self.discover_every = discover_every
        self._clock = clock
        self._discovered = -float("inf")
        self.behind = False  # the last round stopped at a full page: more is waiting

    # -- calls --------------------------------------------------------------------------

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One Logs call, retried with backoff on throttling, 5xx and connection faults."""
        return self.retry(operation, getattr(self.logs, operation), **params)

    def retry(self, operation: str, method: Callable[..., Any], **params: Any) -> dict[str, Any]:
        """``method(**params)``, retried with backoff on throttling, 5xx and connection faults."""
        attempt = 0
        while True:
            self.stats.calls[operation] = self.stats.calls.get(operation, 0) + 1
            try:
                response: dict[str, Any] = method(**params)
                return response
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code not in THROTTLING and status < 500:
                    raise
                reason = "throttled" if code in THROTTLING else f"{code or status}"
            except (ConnectionError, HTTPClientError) as error:
                reason = type(error).__name__
            attempt += 1
            self.stats.retries += 1
            delay = self._random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
            if attempt >= 3:
                self.say(f"CloudWatch Logs {reason}; retrying in {delay:.1f}s")
            self.sleep(delay)

    # -- streams ------------------------------------------------------------------------

    def discover(self) -> list[Stream]:
        """Add the job's streams that appeared (paged); those of other hosts are left out."""
        params: dict[str, Any] = {"logGroupName": GROUP, "logStreamNamePrefix": f"{self.job_name}/"}
        try:
            while True:
                page = self.call("describe_log_streams", **params)
                for found in page.get("logStreams", []):
                    name = found["logStreamName"]
                    host = text.host_of(name)
                    if name not in self.streams and (not self.hosts or host in self.hosts):
                        self.streams[name] = Stream(name, host)
                token = page.get("nextToken")
                if not token or token == params.get("nextToken"):
                    break
                params["nextToken"] = token
        except ClientError as error:
            # NB: an account whose jobs never logged has no group yet: no streams either.
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
        return sorted(self.streams.values(), key=lambda s: s.name)

    def read(self, stream: Stream, *, drain: bool) -> list[dict[str, Any]]:
        """New events of one stream: one page, more while pages come back full, and with
        ``drain`` until the service hands back the token it was given."""
        events: list[dict[str, Any]] = []
        if stream.token is None:
            first = self._first_read(stream)
            events.extend(first)
            if self.tail is not None or (len(first) < PAGE and not drain):
                return events
            self.behind = not drain
        while True:
            assert stream.token is not None
            page = self.call(
                "get_log_events",
                logGroupName=GROUP,
                logStreamName=stream.name,
                nextToken=stream.token,
                startFromHead=True,  # NB: the API asks for it with a forward token
                limit=PAGE,
            )
            got = page.get("events", [])
            events.extend(got)
            sent, stream.token = stream.token, page.get("nextForwardToken") or stream.token
            if stream.token == sent:
                return events  # the end of the stream, for now
            if len(got) < PAGE and not drain:
                return events
            if not drain and len(events) >= 10 * PAGE:
                self.behind = True  # enough for one round; the next goes on at once
                return events

    def _first_read(self, stream: Stream) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"logGroupName": GROUP, "logStreamName": stream.name}
        if self.since_ms is not None:
            params["startTime"] = self.since_ms
        if self.tail is not None:
            # The last N events: one backward read; following goes on from its forward token.
            params |= {"startFromHead": False, "limit": max(1, self.tail)}
        else:
            params |= {"startFromHead": True, "limit": PAGE}
        page = self.call("get_log_events", **params)
        stream.token = page["nextForwardToken"]
        got: list[dict[str, Any]] = page.get("events", [])
        return got[-self.tail :] if self.tail else ([] if self.tail == 0 else got)

    def round(self, *, drain: bool) -> list[text.Line]:
        """Discover, then read every stream once (to its end with ``drain``); merged lines."""
        if drain or self._clock() - self._discovered >= self.discover_every:
            self.discover()
            self._discovered = self._clock()
        batches: dict[str, list[dict[str, Any]]] = {}
        self.behind = False
        for stream in self.streams.values():
            batches.setdefault(stream.host, []).extend(self.read(stream, drain=drain))
        lines = text.interleave(batches)
        self.stats.lines += len(lines)
        return lines


@dataclasses.dataclass(frozen=True)
class Ending:
    status: str | None  # SageMaker's TrainingJobStatus when following ended; None: not followed
    code: int


def exit_code(status: str | None) -> int:
    """0 for a job that completed; 1 for one that failed or was stopped."""
    return 0 if status in (None, "Completed") else 1


def follow(
    reader: Reader,
    status: Callable[[], tuple[str, str]],
    emit: Callable[[list[text.Line]], None],
    *,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
) -> Ending:
    """Print the job's lines as they come until it is terminal and every stream is drained."""
    said: tuple[str, str] | None = None
    checked = -float("inf")
    current: tuple[str, str] = ("", "")
    while True:
        if clock() - checked >= interval:
            current, checked = status(), clock()
        terminal = current[0] in TERMINAL
        lines = reader.round(drain=terminal)
        emit(lines)
        if terminal:
            return Ending(current[0], exit_code(current[0]))
        if not reader.streams and current != said:
            reader.say(
                f"Waiting for logs: training job {reader.job_name} is {current[0]} "
                f"({current[1]}); its hosts log once it is Training."
            )
            said = current
        if not reader.behind:
            reader.sleep(interval)  # caught up: look again after the interval, not at once
