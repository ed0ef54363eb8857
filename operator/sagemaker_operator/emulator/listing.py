"""ListTrainingJobs: filters, sorting and paging, with the quirks clients must survive.

What each filter does, as AWS documents it or as its users report it (docs/emulator.md has
the sources):

- ``CreationTimeAfter`` / ``CreationTimeBefore`` bound the scan: the service reads only jobs
  created in the window, so they are what keeps a listing cheap on an account with a past.
- Everything else is applied to a page *after* it is read: the service reads up to
  ``MaxResults`` jobs of the window in sort order, then drops those failing
  ``LastModifiedTime*``, ``NameContains``, ``StatusEquals`` or ``WarmPoolStatusEquals``. A
  page can therefore be short, or empty while still carrying a ``NextToken``, all the way to
  the end of the account's history; a client that stops at the first empty page misses
  jobs, and one that filters only by ``LastModifiedTimeAfter`` pays a page per 100 jobs the
  account ever ran in the region.

Defaults as documented by AWS: ``SortBy=CreationTime``, ``SortOrder=Ascending``;
``MaxResults`` defaults to 10. Time filters are strict (``After`` means later than).
``NameContains`` is case-insensitive, like names themselves.

``NextToken`` is a cursor, not an offset: it holds the sort key of the last job read, so
jobs created while a client pages do not shift or repeat the rest of its walk. It is bound
to the query's filters; reusing it with other filters is a ``ValidationException``.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from sagemaker_operator.emulator import lifecycle, protocol, store
from sagemaker_operator.emulator.validation import parse_timestamp

DEFAULT_MAX_RESULTS: Final = 10

SortKey = tuple[Any, ...]
StatusOf = Callable[[store.Job, float], tuple[lifecycle.Snapshot, str]]
SummaryOf = Callable[[store.Job, float], dict[str, Any]]
Present = Callable[[store.Job, float], bool]


@dataclasses.dataclass(frozen=True)
class Query:
    sort_by: str = "CreationTime"
    descending: bool = False
    max_results: int = DEFAULT_MAX_RESULTS
    created_after: float | None = None
    created_before: float | None = None
    modified_after: float | None = None
    modified_before: float | None = None
    name_contains: str | None = None
    status: str | None = None
    warm_pool_status: str | None = None
    training_plan_arn: str | None = None
    token: str | None = None

    @classmethod
    def from_request(cls, params: dict[str, Any]) -> Query:
        def when(member: str) -> float | None:
            value = params.get(member)
            return None if value is None else parse_timestamp(value)

        name = params.get("NameContains")
        return cls(
            sort_by=params.get("SortBy") or "CreationTime",
            descending=params.get("SortOrder") == "Descending",
            max_results=params.get("MaxResults") or DEFAULT_MAX_RESULTS,
            created_after=when("CreationTimeAfter"),
            created_before=when("CreationTimeBefore"),
            modified_after=when("LastModifiedTimeAfter"),
            modified_before=when("LastModifiedTimeBefore"),
            name_contains=name.lower() if name else None,
            status=params.get("StatusEquals"),
            warm_pool_status=params.get("WarmPoolStatusEquals"),
            training_plan_arn=params.get("TrainingPlanArnEquals"),
            token=params.get("NextToken") or None,
        )

    def fingerprint(self) -> str:
        fields = dataclasses.asdict(self)
        del fields["token"], fields["max_results"]  # a client may change page size mid-walk
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def page(
    query: Query,
    jobs: Sequence[store.Job],
    now: float,
    status_of: StatusOf,
    summary_of: SummaryOf,
    present: Present = lambda job, now: True,
) -> dict[str, Any]:
    """One page of ``TrainingJobSummaries`` and, unless this is the end, a ``NextToken``.

    ``jobs`` is the region's jobs in any order; ``present`` says whether one still exists
    (a deleted job lingers while ``Deleting``), asked only of the jobs a page reads.
    """
    # The creation-time window bounds the scan; sorting an already sorted list is linear.
    by_creation = sorted(jobs, key=_creation_key)
    low = 0
    if query.created_after is not None:
        low = bisect.bisect_right(by_creation, query.created_after, key=_created)
    high = len(by_creation)
    if query.created_before is not None:
        high = bisect.bisect_left(by_creation, query.created_before, key=_created)
    window = by_creation[low:high]
    if query.sort_by == "CreationTime":
        ordered = window[::-1] if query.descending else window
    else:
        ordered = sorted(
            window, key=lambda job: _sort_key(query, job, now, status_of), reverse=query.descending
        )

    start = 0
    fingerprint = query.fingerprint()
    if query.token is not None:
        start = _after(ordered, _decode(query.token, fingerprint), query, now, status_of)
    read: list[store.Job] = []
    position = start
    while position < len(ordered) and len(read) < query.max_results:
        job = ordered[position]
        position += 1
        if present(job, now):
            read.append(job)

    summaries = [summary for job in read if _matches(query, summary := summary_of(job, now))]
    out: dict[str, Any] = {"TrainingJobSummaries": summaries}
    if position < len(ordered) and read:
        out["NextToken"] = _encode(_sort_key(query, read[-1], now, status_of), fingerprint)
    return out


def _matches(query: Query, summary: dict[str, Any]) -> bool:
    """The filters SageMaker applies to a page after reading it."""
    modified = summary["LastModifiedTime"]
    if query.modified_after is not None and not modified > query.modified_after:
        return False
    if query.modified_before is not None and not modified < query.modified_before:
        return False
    name = str(summary["TrainingJobName"]).lower()
    if query.name_contains is not None and query.name_contains not in name:
        return False
    if query.status is not None and summary["TrainingJobStatus"] != query.status:
        return False
    if query.warm_pool_status is not None and (
        summary.get("WarmPoolStatus", {}).get("Status") != query.warm_pool_status
    ):
        return False
    # Training plans are not emulated: no job runs on one.
    return query.training_plan_arn is None


def _after(
    ordered: Sequence[store.Job], cursor: SortKey, query: Query, now: float, status_of: StatusOf
) -> int:
    """The position of the first job whose key sorts after the cursor, in the query's order."""

    def key(job: store.Job) -> SortKey:
        return _sort_key(query, job, now, status_of)

    if query.descending:
        # Keys fall along the list: the first one below the cursor.
        low, high = 0, len(ordered)
        while low < high:
            middle = (low + high) // 2
            if key(ordered[middle]) >= cursor:
                low = middle + 1
            else:
                high = middle
        return low
    return bisect.bisect_right(ordered, cursor, key=key)


def _created(job: store.Job) -> float:
    return job.created


def _creation_key(job: store.Job) -> SortKey:
    return (job.created, job.name)


def _sort_key(query: Query, job: store.Job, now: float, status_of: StatusOf) -> SortKey:
    if query.sort_by == "Name":
        return (job.name, job.created)
    if query.sort_by == "Status":
        return (status_of(job, now)[1], job.created, job.name)
    return (job.created, job.name)


def _encode(key: SortKey, fingerprint: str) -> str:
    raw = json.dumps({"k": list(key), "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(token: str, fingerprint: str) -> SortKey:
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
        key = tuple(cursor["k"])
        same_query = cursor["q"] == fingerprint
    except (ValueError, TypeError, KeyError):
        raise protocol.validation_error("Invalid 'nextToken': it is not a token we gave.") from None
    if not same_query:
        raise protocol.validation_error(
            "Invalid 'nextToken': it belongs to a query with other filters or sort order."
        )
    return key
