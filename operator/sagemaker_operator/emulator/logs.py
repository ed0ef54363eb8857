"""The part of CloudWatch Logs a reader of training logs uses, computed from each job's plan.

boto3's ``logs`` client speaks AWS JSON 1.1 (botocore's ``logs`` model: ``"protocol":
"json"``, ``"jsonVersion": "1.1"``, ``"targetPrefix": "Logs_20140328"``), so Logs shares
SageMaker's ``POST /`` and its whole path through the server: faults (throttling buckets of
its own, see :data:`faults.DEFAULT_RATES`), validation against botocore's ``logs`` model by
the same :class:`validation.Validator`, counters. Operations: ``DescribeLogStreams``,
``GetLogEvents``, ``FilterLogEvents``, on the one log group SageMaker writes training jobs
to, :data:`GROUP`.

Nothing is stored. Like a job's status (:mod:`.lifecycle`), its log is a pure function of the
job's record and the clock: every host (``algo-1`` ... ``algo-<InstanceCount>``) gets a
stream ``<job>/algo-<n>-<epoch seconds>`` when the job first reaches ``Training`` (the epoch
is that moment), and writes lines at the plan's ``log_interval`` (the
``log-lines-per-second`` fate tag) while the job is ``Training``: a few header lines, then
epochs of progress lines, with a line per ``MetricDefinitions`` entry every ten lines on
``algo-1``, made to match that definition's regex. At the end of training each host writes a
footer: on a job that completes, ``algo-1`` writes every metric's final value (the value
``FinalMetricDataList`` reports) last; on a failed job the failing host (the ``algo-<n>``
the ``FailureReason`` names, else ``algo-1``) writes a traceback ending with the
``FailureReason``; a stopped job's hosts say they received SIGTERM. A line exists once its
timestamp is not after *now*, so a reader following a stream sees it grow, and the same
question asked twice gets the same answer.

Events of a stream are addressed by their ordinal, which never changes (a stream only grows),
so tokens are plain positions: ``f/<n>`` reads forward from event ``n``, ``b/<n>`` backward
from before it. At the end of a stream a forward read returns no events and the *same*
``nextForwardToken`` (and a backward read at its start the same ``nextBackwardToken``), as
the service does; that repetition is how a reader knows it has drained a stream.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import hashlib
import itertools
import json
import math
import re
import shlex
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, overload

from botocore.model import OperationModel, ServiceModel

from sagemaker_operator.emulator import lifecycle, operations, protocol, store
from sagemaker_operator.emulator.validation import Validator

TARGET_PREFIX: Final = "Logs_20140328."
GROUP: Final = "/aws/sagemaker/TrainingJobs"
DEFAULT_STREAM_LIMIT: Final = 50
DEFAULT_EVENT_LIMIT: Final = 10_000
MAX_RESPONSE_BYTES: Final = 1_048_576  # GetLogEvents and FilterLogEvents answer at most 1 MB
EVENT_OVERHEAD: Final = 26  # bytes CloudWatch counts per event on top of its message
# FilterLogEvents looks at this many events per call at most: a sparse pattern over a long
# log answers pages with fewer (or no) events and a nextToken, as the service does.
FILTER_SCAN: Final = 100_000
EPOCH_LINES: Final = 50  # progress lines per emulated epoch
METRIC_EVERY: Final = 10  # a metric line every this many lines, on algo-1

Handler = Callable[[dict[str, Any], str, float], dict[str, Any]]


def invalid_parameter(message: str) -> protocol.ApiError:
    return protocol.ApiError("InvalidParameterException", message)


def not_found(message: str) -> protocol.ApiError:
    return protocol.ApiError("ResourceNotFoundException", message)


def hosts_of(request: dict[str, Any]) -> int:
    """How many hosts a job runs on: ``InstanceCount``, or the instance groups' sum."""
    resource = request.get("ResourceConfig") or {}
    groups = resource.get("InstanceGroups")
    if groups:
        return sum(int(group.get("InstanceCount") or 0) for group in groups) or 1
    return int(resource.get("InstanceCount") or 1)


def failing_host(reason: str | None, hosts: int) -> int:
    """The host a failure reason names (``algo-2``), else the first; the operator's failure
    tail reads the same host by the same rule."""
    found = re.search(r"\balgo-(\d+)\b", reason or "")
    if found and 1 <= int(found.group(1)) <= hosts:
        return int(found.group(1))
    return 1


# -- lines made to match a metric's regex ----------------------------------------------------


def metric_line(name: str, pattern: str, value: float, digits: int = 6) -> str:
    """A log line from which ``pattern``'s first group reads ``value``.

    Built by reading the regex backwards (its first capturing group becomes the value, the rest
    its simplest match); if that does not give a line the regex reads the value from, the line
    is ``name=value`` instead (the regex then finds nothing in it: see docs/emulator.md).
    """
    text = f"{value:.{digits}f}"
    candidate = _invert(pattern, text)
    if candidate is not None:
        try:
            found = re.search(pattern, candidate)
            if found and found.groups() and float(found.group(1)) == float(text):
                return candidate
        except (re.error, ValueError, TypeError):
            pass
    return f"{name}={text}"


_ESCAPES: Final = {"s": " ", "d": "0", "w": "a", "S": "x", "D": "x", "W": "-", "t": "\t"}


def _invert(pattern: str, value: str) -> str | None:
    """The simplest text ``pattern`` matches, its first capturing group replaced by ``value``;
    None for the constructs this does not read (alternation, nested or later groups...)."""
    out: list[str] = []
    i, n, replaced = 0, len(pattern), False
    while i < n:
        char = pattern[i]
        piece: str | None
        if char == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            piece = _ESCAPES.get(nxt, nxt if not nxt.isalnum() else None)
            if piece is None:
                return None
            i += 2
        elif char == "(":
            if replaced or pattern.startswith("(?", i):
                return None
            end = _group_end(pattern, i)
            if end is None:
                return None
            piece, replaced, i = value, True, end + 1
        elif char == "[":
            end = pattern.find("]", i + 2)
            body = pattern[i + 1 : end]
            if end < 0 or body.startswith("^"):
                return None
            piece = " " if " " in body or "\\s" in body else body[0]
            if piece == "\\":
                piece = _ESCAPES.get(body[1:2], body[1:2])
            i = end + 1
        elif char in "^$":
            piece, i = "", i + 1
        elif char == ".":
            piece, i = "x", i + 1
        elif char in "|)*+?{":
            return None
        else:
            piece, i = char, i + 1
        # A quantifier after the piece: none of it, one of it, or the least it allows.
        if i < n and pattern[i] in "*?+{":
            quantifier = pattern[i]
            if quantifier == "{":
                close = pattern.find("}", i)
                if close < 0:
                    return None
                low = pattern[i + 1 : close].split(",")[0]
                if not low.isdigit():
                    return None
                piece, i = piece * int(low), close + 1
            else:
                piece = "" if quantifier in "*?" else piece
                i += 1
            if i < n and pattern[i] in "?+":  # lazy or possessive
                i += 1
        out.append(piece)
    return "".join(out) if replaced else None


def _group_end(pattern: str, start: int) -> int | None:
    depth, i = 0, start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            close = pattern.find("]", i + 2)
            if close < 0:
                return None
            i = close + 1
            continue
        if char == "(":
            depth += 1
            if depth > 1:
                return None  # a nested group: not read
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


# -- one host's log --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Event:
    timestamp: int  # epoch milliseconds
    message: str


def _ms(seconds: float) -> int:
    return math.floor(seconds * 1000 + 1e-6)


class HostLog(Sequence[Event]):
    """Every event one host of one job will ever write, addressable by ordinal, computed.

    ``windows`` are the spans the job spends ``Training`` (cut at a stop), lines ``interval``
    seconds apart within them; the footer's lines all carry the end of the last window.
    """

    def __init__(
        self,
        job: store.Job,
        host: int,
        hosts: int,
        windows: list[tuple[float, float]],
        interval: float,
        footer: list[str],
    ) -> None:
        self.job, self.host, self.hosts = job, host, hosts
        self.interval = interval
        self.windows = windows
        self.counts = [max(0, math.ceil((end - start) / interval - 1e-9)) for start, end in windows]
        self.lines = sum(self.counts)
        self.footer = footer
        self.footer_at = _ms(windows[-1][1]) if windows else 0
        definitions = (job.request.get("AlgorithmSpecification") or {}).get("MetricDefinitions")
        self.metrics: list[dict[str, str]] = list(definitions or [])
        self.header = self._header()

    def __len__(self) -> int:
        return self.lines + len(self.footer)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return Event(self.time(index), self.message(index))

    def time(self, index: int) -> int:
        if index >= self.lines:
            return self.footer_at
        for (start, _), count in zip(self.windows, self.counts, strict=True):
            if index < count:
                return _ms(start + index * self.interval)
            index -= count
        raise IndexError(index)

    def times(self) -> Sequence[int]:
        return _Times(self)

    def visible(self, now_ms: int) -> int:
        """How many events exist at ``now_ms`` (timestamps not after it): a prefix."""
        return bisect.bisect_right(self.times(), now_ms)

    def first_at_or_after(self, at_ms: int) -> int:
        return bisect.bisect_left(self.times(), at_ms)

    def _header(self) -> list[str]:
        request = self.job.request
        algorithm = request.get("AlgorithmSpecification") or {}
        image = algorithm.get("TrainingImage") or algorithm.get("AlgorithmName") or "?"
        names = ", ".join(f"'algo-{h}'" for h in range(1, self.hosts + 1))
        channels = ",".join(c.get("ChannelName", "?") for c in request.get("InputDataConfig") or [])
        hyper = json.dumps(request.get("HyperParameters") or {}, sort_keys=True)
        return [
            f"Training image: {image}",
            f"Hosts: [{names}], current host: algo-{self.host}",
            f"Input channels: {channels or '(none)'}",
            f"Hyperparameters: {hyper}",
            "Invoking the training script",
        ]

    def message(self, index: int) -> str:
        if index >= self.lines:
            return self.footer[index - self.lines]
        if index < len(self.header):
            return self.header[index]
        body = index - len(self.header)
        epoch, step = body // EPOCH_LINES + 1, body % EPOCH_LINES + 1
        if self.host == 1 and self.metrics and (body + 1) % METRIC_EVERY == 0:
            definition = self.metrics[(body // METRIC_EVERY) % len(self.metrics)]
            value = _progress_value(self.job.name, definition["Name"], epoch)
            return metric_line(definition["Name"], definition["Regex"], value, digits=4)
        return f"epoch {epoch} step {step}/{EPOCH_LINES}"


class _Times(Sequence[int]):
    """A host's event timestamps as a sequence, for :mod:`bisect`."""

    def __init__(self, log: HostLog) -> None:
        self._log = log

    def __len__(self) -> int:
        return len(self._log)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        if isinstance(index, slice):
            return [self._log.time(i) for i in range(*index.indices(len(self)))]
        return self._log.time(index)


def _progress_value(job: str, metric: str, epoch: int) -> float:
    digest = hashlib.sha256(f"{job}/{metric}/{epoch}".encode()).digest()
    return round(int.from_bytes(digest[:4], "big") / 2**32, 4)


@dataclasses.dataclass(frozen=True)
class Stream:
    name: str
    created: int  # ms: when the job reached Training
    log: HostLog


def streams_of(job: store.Job, now: float) -> list[Stream]:
    """The job's streams that exist at ``now`` (none before it first reaches Training)."""
    steps = lifecycle.timeline(job.plan, job.created, job.stop_requested)
    windows: list[tuple[float, float]] = []
    for step, following in itertools.pairwise(steps):
        if step.status == "Training":
            end = following.start
            if job.stop_requested is not None:
                end = min(end, max(step.start, job.stop_requested))
            windows.append((step.start, end))
    if not windows or windows[0][0] > now:
        return []
    hosts = hosts_of(job.request)
    interval = job.plan.log_interval or job.plan.training / 180 or 1.0
    epoch = int(windows[0][0])
    final = steps[-1].status
    out = []
    for host in range(1, hosts + 1):
        footer = _footer(job, host, hosts, final)
        log = HostLog(job, host, hosts, windows, interval, footer)
        out.append(Stream(f"{job.name}/algo-{host}-{epoch}", _ms(windows[0][0]), log))
    return out


def _footer(job: store.Job, host: int, hosts: int, final: str) -> list[str]:
    if final == "Completed":
        lines = []
        if host == 1:
            definitions = (job.request.get("AlgorithmSpecification") or {}).get(
                "MetricDefinitions"
            ) or [{"Name": "train:loss", "Regex": "train:loss=([0-9.]+)"}]
            for definition in definitions:
                value = operations.metric_value(job.name, definition["Name"])
                lines.append(metric_line(definition["Name"], definition["Regex"], value))
        return [*lines, "Training complete."]
    if final == "Failed":
        failing = failing_host(job.plan.failure_reason, hosts)
        if host != failing:
            return [f"Stopping: algo-{failing} failed."]
        return [
            "Traceback (most recent call last):",
            '  File "/opt/ml/code/train.py", line 97, in <module>',
            "    main()",
            job.plan.failure_reason or lifecycle.MESSAGES["Failed"],
        ]
    return ["Received SIGTERM: the training job is stopping."]


# -- the operations --------------------------------------------------------------------------


def _token(prefix: str, position: int) -> str:
    return f"{prefix}/{position:020d}"


def _position(token: str) -> tuple[str, int]:
    direction, _, digits = token.partition("/")
    if direction not in ("f", "b") or not digits.isdigit():
        raise invalid_parameter("The specified nextToken is invalid.")
    return direction, int(digits)


class Service:
    """The emulated CloudWatch Logs operations over the emulator's training jobs."""

    def __init__(self, model: ServiceModel, jobs: operations.Service, account: str) -> None:
        self.model = model
        self.validator = Validator(model)
        self.jobs = jobs
        self.account = account
        self.handlers: dict[str, Handler] = {
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
        }
        self.operations: dict[str, OperationModel] = {
            name: model.operation_model(name) for name in self.handlers
        }

    def _group(self, params: dict[str, Any], region: str) -> None:
        name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
        if (name is None) == (identifier is None):
            raise invalid_parameter(
                "Exactly one of logGroupName or logGroupIdentifier must be specified."
            )
        arn = self._group_arn(region)
        if (name is not None and name != GROUP) or identifier not in (None, GROUP, arn):
            raise not_found("The specified log group does not exist.")

    def _group_arn(self, region: str) -> str:
        return f"arn:aws:logs:{region}:{self.account}:log-group:{GROUP}"

    def _jobs(self, region: str, prefix: str, now: float) -> Iterator[store.Job]:
        """The region's jobs whose streams may start with ``prefix``."""
        name, slash, _ = prefix.partition("/")
        if slash:
            job = self.jobs._find(region, name, now)
            if job is not None and job.name == name:
                yield job
            return
        for job in self.jobs.store.jobs(region):
            if job.name.startswith(prefix) and self.jobs._find(region, job.name, now) is not None:
                yield job

    def _streams(self, region: str, prefix: str, now: float) -> list[Stream]:
        return [
            stream
            for job in self._jobs(region, prefix, now)
            for stream in streams_of(job, now)
            if stream.name.startswith(prefix)
        ]

    def _stream(self, region: str, name: str, now: float) -> Stream:
        for stream in self._streams(region, name.partition("/")[0] + "/", now):
            if stream.name == name:
                return stream
        raise not_found("The specified log stream does not exist.")

    def describe_log_streams(
        self, params: dict[str, Any], region: str, now: float
    ) -> dict[str, Any]:
        self._group(params, region)
        prefix = params.get("logStreamNamePrefix") or ""
        order = params.get("orderBy") or "LogStreamName"
        if order == "LastEventTime" and prefix:
            raise invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        now_ms = _ms(now)
        described = [
            self._describe(stream, region, now_ms) for stream in self._streams(region, prefix, now)
        ]
        if order == "LastEventTime":
            described.sort(key=lambda s: (s.get("lastEventTimestamp", 0), s["logStreamName"]))
        else:
            described.sort(key=lambda s: s["logStreamName"])
        if params.get("descending"):
            described.reverse()
        start = _offset(params.get("nextToken"))
        limit = params.get("limit") or DEFAULT_STREAM_LIMIT
        out: dict[str, Any] = {"logStreams": described[start : start + limit]}
        if start + limit < len(described):
            out["nextToken"] = _encode({"o": start + limit})
        return out

    def _describe(self, stream: Stream, region: str, now_ms: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "logStreamName": stream.name,
            "creationTime": stream.created,
            "arn": f"{self._group_arn(region)}:log-stream:{stream.name}",
            "storedBytes": 0,  # deprecated by AWS: always 0
        }
        seen = stream.log.visible(now_ms)
        if seen:
            out["firstEventTimestamp"] = stream.log.time(0)
            out["lastEventTimestamp"] = stream.log.time(seen - 1)
            out["lastIngestionTime"] = stream.log.time(seen - 1)
        return out

    def get_log_events(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        self._group(params, region)
        stream = self._stream(region, params["logStreamName"], now)
        log, now_ms = stream.log, _ms(now)
        low, high = _range(log, params, now_ms)
        limit = params.get("limit") or DEFAULT_EVENT_LIMIT
        token = params.get("nextToken")
        forward = bool(params.get("startFromHead"))
        if token:
            direction, position = _position(token)
            forward = direction == "f"
        else:
            position = low if forward else high
        position = min(max(position, low), high)
        if forward:
            first, last = position, _fit(log, position, min(high, position + limit), forward)
        else:
            first, last = _fit(log, max(low, position - limit), position, forward), position
        events = [
            {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.timestamp}
            for e in (log[i] for i in range(first, last))
        ]
        return {
            "events": events,
            "nextForwardToken": _token("f", last),
            "nextBackwardToken": _token("b", first),
        }

    def filter_log_events(self, params: dict[str, Any], region: str, now: float) -> dict[str, Any]:
        self._group(params, region)
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise invalid_parameter(
                "logStreamNames and logStreamNamePrefix cannot both be specified."
            )
        matches = _pattern(params.get("filterPattern") or "")
        if names is not None:
            streams = []
            for name in names:
                try:
                    streams.append(self._stream(region, name, now))
                except protocol.ApiError:
                    continue  # NB: a named stream that does not exist is simply not searched
        else:
            streams = self._streams(region, prefix or "", now)
        now_ms = _ms(now)
        cursors: dict[str, int] = _decode(params["nextToken"]) if params.get("nextToken") else {}
        bounds = {s.name: _range(s.log, params, now_ms) for s in streams}
        heads = []
        for s in streams:
            low, high = bounds[s.name]
            at = max(low, int(cursors.get(s.name, low)))
            if at < high:
                heads.append((s.log.time(at), s.name, at, s))
        heads.sort(key=lambda h: h[:3])
        limit = params.get("limit") or DEFAULT_EVENT_LIMIT
        events: list[dict[str, Any]] = []
        size = scanned = 0
        positions = {s.name: max(bounds[s.name][0], int(cursors.get(s.name, 0))) for s in streams}
        while heads and len(events) < limit and scanned < FILTER_SCAN:
            timestamp, name, at, stream = heads.pop(0)
            event = stream.log[at]
            scanned += 1
            if matches(event.message):
                size += len(event.message.encode()) + EVENT_OVERHEAD
                if size > MAX_RESPONSE_BYTES and events:
                    break
                events.append(
                    {
                        "logStreamName": name,
                        "timestamp": timestamp,
                        "message": event.message,
                        "ingestionTime": timestamp,
                        "eventId": f"{_digits(name)}{at:012d}",
                    }
                )
            positions[name] = at + 1
            if at + 1 < bounds[name][1]:
                bisect.insort(
                    heads, (stream.log.time(at + 1), name, at + 1, stream), key=lambda h: h[:3]
                )
        out: dict[str, Any] = {
            "events": events,
            "searchedLogStreams": [
                {
                    "logStreamName": s.name,
                    "searchedCompletely": positions[s.name] >= bounds[s.name][1],
                }
                for s in streams
            ],
        }
        if heads:
            out["nextToken"] = _encode(positions)
        return out


def _range(log: HostLog, params: dict[str, Any], now_ms: int) -> tuple[int, int]:
    """The ordinals ``[low, high)`` of the events that exist now within the request's times
    (``startTime`` included, ``endTime`` excluded)."""
    high = log.visible(now_ms)
    if params.get("endTime") is not None:
        high = min(high, log.first_at_or_after(int(params["endTime"])))
    low = log.first_at_or_after(int(params["startTime"])) if params.get("startTime") else 0
    return min(low, high), high


def _fit(log: HostLog, first: int, last: int, forward: bool) -> int:
    """The far end of ``[first, last)`` cut to fit the 1 MB answer: forward the end, backward
    the start (the events nearest the position are kept)."""
    size = 0
    span = range(first, last) if forward else range(last - 1, first - 1, -1)
    for i in span:
        size += len(log.message(i).encode()) + EVENT_OVERHEAD
        if size > MAX_RESPONSE_BYTES:
            return i
    return last if forward else first


def _pattern(pattern: str) -> Callable[[str], bool]:
    """CloudWatch's filter pattern, the part people type: terms and quoted phrases that must
    all appear (case-sensitive), ``-term`` that must not, ``?term`` of which one must."""
    text = pattern.strip()
    if text.startswith(("{", "[", "%")):
        raise invalid_parameter(
            "The emulator supports filter patterns of terms and quoted phrases only, "
            f"not JSON, space-delimited or regex patterns: {pattern!r}."
        )
    try:
        terms = shlex.split(text, posix=True)
    except ValueError:
        raise invalid_parameter(f"Invalid filter pattern: {pattern!r}.") from None
    required = [t for t in terms if not t.startswith(("-", "?"))]
    excluded = [t[1:] for t in terms if t.startswith("-") and len(t) > 1]
    optional = [t[1:] for t in terms if t.startswith("?") and len(t) > 1]

    def matches(message: str) -> bool:
        return (
            all(t in message for t in required)
            and not any(t in message for t in excluded)
            and (not optional or any(t in message for t in optional))
        )

    return matches


def _digits(text: str) -> str:
    return str(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")).zfill(20)


def _encode(value: dict[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def _decode(token: str) -> dict[str, int]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise invalid_parameter("The specified nextToken is invalid.") from None
    if not isinstance(value, dict) or not all(isinstance(v, int) for v in value.values()):
        raise invalid_parameter("The specified nextToken is invalid.")
    return value


def _offset(token: str | None) -> int:
    if not token:
        return 0
    offset = _decode(token).get("o")
    if offset is None or offset < 0:
        raise invalid_parameter("The specified nextToken is invalid.")
    return offset
