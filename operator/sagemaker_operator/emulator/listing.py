"""ListTrainingJobs: filters, sorting and paging, with the quirks clients must survive.

The service, as observed (``/work/shared/notes/sagemaker-api.md``), reads up to
``MaxResults`` jobs matching the time and name filters, *then* drops those whose status does
not match ``StatusEquals`` (likewise ``WarmPoolStatusEquals``). A filtered page can
therefore be short, or empty while still carrying a ``NextToken``; a client that stops at the
first empty page misses jobs. The emulator does the same, on purpose.

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
) -> dict[str, Any]:
    """One page of ``TrainingJobSummaries`` and, unless this is the end, a ``NextToken``."""
    candidates: list[tuple[SortKey, store.Job]] = []
    for job in jobs:
        if query.created_after is not None and not job.created > query.created_after:
            continue
        if query.created_before is not None and not job.created < query.created_before:
            continue
        if query.name_contains is not None and query.name_contains not in job.name.lower():
            continue
        if query.modified_after is not None or query.modified_before is not None:
            modified = summary_of(job, now)["LastModifiedTime"]
            if query.modified_after is not None and not modified > query.modified_after:
                continue
            if query.modified_before is not None and not modified < query.modified_before:
                continue
        candidates.append((_sort_key(query, job, now, status_of), job))
    candidates.sort(key=lambda pair: pair[0], reverse=query.descending)
    keys = [key for key, _ in candidates]

    start = 0
    fingerprint = query.fingerprint()
    if query.token is not None:
        after = _decode(query.token, fingerprint)
        # The first job whose key sorts after the cursor, in the query's direction.
        if query.descending:
            start = len(keys) - bisect.bisect_left(keys[::-1], after)
        else:
            start = bisect.bisect_right(keys, after)
    read = candidates[start : start + query.max_results]

    summaries = []
    for _, job in read:
        summary = summary_of(job, now)
        if query.status is not None and summary["TrainingJobStatus"] != query.status:
            continue
        if query.warm_pool_status is not None and (
            summary.get("WarmPoolStatus", {}).get("Status") != query.warm_pool_status
        ):
            continue
        if query.training_plan_arn is not None:
            continue  # training plans are not emulated: no job runs on one
        summaries.append(summary)

    out: dict[str, Any] = {"TrainingJobSummaries": summaries}
    if start + query.max_results < len(candidates):
        out["NextToken"] = _encode(read[-1][0], fingerprint)
    return out


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
