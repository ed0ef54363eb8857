"""The index of owned jobs: every resource that has a SageMaker job, by the resource's uid.

A kopf event handler keeps it current from the watch stream at no API cost; the pollers read
it to know which jobs to look for in ``ListTrainingJobs`` and what status each resource
already shows, so a restart resumes from the resources' own status instead of describing
every job again.

It is not a ``kopf.index``: kopf holds every handler until an index is complete, and its
start-up gate for that is O(N^2) in the number of resources (docs/performance.md). The
pollers do not need a complete index: a job the index has not shown yet is covered by a
later cycle, whose window reaches back to its watermark.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sagemaker_operator import names
from sagemaker_operator.resource import conditions


@dataclass(frozen=True)
class OwnedJob:
    namespace: str
    name: str
    uid: str
    region: str
    job_name: str
    generation: int | None
    status: Mapping[str, Any]
    resource_version: str | None  # of the object this record was read from
    created_at: datetime.datetime

    @property
    def arn(self) -> str:
        return str(self.status.get("trainingJobArn"))

    @property
    def terminal(self) -> bool:
        return conditions.is_terminal(self.status)

    @property
    def watermark(self) -> datetime.datetime:
        """No SageMaker change of this job older than this can be missing from its status."""
        known = parse_time(self.status.get("lastModifiedTime"))
        return known or self.created_at

    @property
    def created_not_before(self) -> datetime.datetime:
        """No earlier than the job's creation: SageMaker's own time once described, else the
        resource's (a job this operator creates comes after its resource)."""
        return parse_time(self.status.get("creationTime")) or self.created_at

    @property
    def described_fully(self) -> bool:
        """Whether the status came from a Describe, not only a ListTrainingJobs summary: a
        description's transitions end with the secondary status it reports; a summary has
        none, so a status written from one lags there until the job is described."""
        transitions = self.status.get("secondaryStatusTransitions") or []
        last = transitions[-1] if transitions else {}
        return bool(last) and last.get("status") == self.status.get("secondaryStatus")

    @property
    def fingerprint(self) -> tuple[str | None, str | None, int | None]:
        return fingerprint(
            self.status.get("trainingJobStatus"),
            self.status.get("secondaryStatus"),
            parse_time(self.status.get("lastModifiedTime")),
        )

    @property
    def ref(self) -> dict[str, Any]:
        """Enough of the object to address it and to post Events about it."""
        return {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"namespace": self.namespace, "name": self.name, "uid": self.uid},
        }


def fingerprint(
    status: str | None, secondary: str | None, modified: datetime.datetime | None
) -> tuple[str | None, str | None, int | None]:
    """What a ListTrainingJobs summary tells about a job, at whole-second precision."""
    return status, secondary, int(modified.timestamp()) if modified else None


def fingerprint_of(answer: Mapping[str, Any]) -> tuple[str | None, str | None, int | None]:
    """The fingerprint of a ListTrainingJobs summary or a DescribeTrainingJob answer."""
    return fingerprint(
        answer.get("TrainingJobStatus"),
        answer.get("SecondaryStatus"),
        parse_time(answer.get("LastModifiedTime")),
    )


def predates(modified: Any, status: Mapping[str, Any]) -> bool:
    """Whether a change of SageMaker's at ``modified`` is older than the one ``status``
    shows (its ``lastModifiedTime``); False if either time is unknown."""
    at = parse_time(modified)
    shown_at = parse_time(status.get("lastModifiedTime"))
    return at is not None and shown_at is not None and at < shown_at


def parse_time(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, str) and value:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    return None


def record_of(
    *,
    namespace: str,
    name: str,
    uid: str,
    meta: Mapping[str, Any],
    status: Mapping[str, Any],
) -> OwnedJob | None:
    """The index entry of one resource, or None while it has no SageMaker job."""
    job_name, region = status.get("trainingJobName"), status.get("region")
    if not status.get("trainingJobArn") or not job_name or not region:
        return None
    return OwnedJob(
        namespace=namespace,
        name=name,
        uid=uid,
        region=str(region),
        job_name=str(job_name),
        generation=meta.get("generation"),
        status=dict(status),
        resource_version=meta.get("resourceVersion"),
        created_at=parse_time(meta.get("creationTimestamp")) or datetime.datetime.now(datetime.UTC),
    )


class OwnedIndex:
    """The latest record of every resource that has a job, by the resource's uid."""

    def __init__(self) -> None:
        self._by_uid: dict[str, OwnedJob] = {}
        # (region, job name) -> uids: an event names a job, and must not scan every resource
        self._by_job: dict[tuple[str, str], set[str]] = {}
        self._vouched: dict[str, str] = {}  # uid -> the ARN seen carrying its uid tag
        # uid -> the version this process's own write replaced, until the watch moves past it
        self._replaced: dict[str, str] = {}
        # uids whose job a handler's write named before the watch showed it
        self._ahead: set[str] = set()

    def vouch(self, uid: str, arn: str) -> None:
        """Remember that the job ``arn`` carries resource ``uid``'s tag (seen by this process)."""
        self._vouched[uid] = arn

    def vouched(self, uid: str, arn: str) -> bool:
        return self._vouched.get(uid) == arn

    def __len__(self) -> int:
        return len(self._by_uid)

    def put(self, uid: str, record: OwnedJob | None) -> None:
        """Record a resource as the watch last showed it; None: it has no job (yet, or any
        more). What was vouched for it stays: the watch can show the status written just
        before CreateTrainingJob after the create has vouched for its job."""
        if record is None and uid in self._ahead:
            return  # a version from before the job, shown late: the job does not go away
        self._ahead.discard(uid)
        if (
            record is not None
            and uid in self._replaced
            and record.resource_version == self._replaced[uid]
        ):
            return  # the version this process's own write replaced, shown again (a re-list)
        self._replaced.pop(uid, None)
        self._link(uid, record)

    def claimed(self, uid: str, arn: str, written: Mapping[str, Any] | None) -> None:
        """A handler proved the job ``arn`` is resource ``uid``'s (it created, adopted or
        found it) and wrote the status that names it, which the API server answered as
        ``written`` (None: no write landed): vouched for, and shown by the index at once."""
        self.vouch(uid, arn)
        if written is None:
            return
        meta = written.get("metadata") or {}
        record = record_of(
            namespace=str(meta.get("namespace")),
            name=str(meta.get("name")),
            uid=uid,
            meta=meta,
            status=written.get("status") or {},
        )
        if record is not None:
            self.created(record)

    def created(self, record: OwnedJob) -> None:
        """A handler's status write named the resource's new job (a create or an adoption):
        the index shows it now, not when the watch does.

        In the creation burst at N = 10,000 kopf's watch ran minutes behind the handlers'
        writes: the pollers' cycles said "0 jobs described" while thousands of jobs moved,
        since the index did not know them. Until the watch shows a version naming a job,
        the versions before it (which name none) do not take this one away; a status never
        loses its job once written.
        """
        if self._by_uid.get(record.uid) is not None:
            return  # the watch was quicker
        self._link(record.uid, record)
        self._ahead.add(record.uid)

    def wrote(self, before: OwnedJob, after: Mapping[str, Any]) -> None:
        """This process patched the status of ``before`` (as the index showed it) and the API
        server answered ``after``.

        Until the watch shows the write, the index shows it: the job's next write (its next
        event, a moment later) goes onto the new version, where the one the watch still
        shows would be refused with a 409 and read again. If the watch has moved on
        already, it knows better.
        """
        current = self._by_uid.get(before.uid)
        version = before.resource_version
        if current is None or version is None or current.resource_version != version:
            return
        record = record_of(
            namespace=before.namespace,
            name=before.name,
            uid=before.uid,
            meta=after.get("metadata") or {},
            status=after.get("status") or {},
        )
        if record is None:
            return
        self._link(before.uid, record)
        self._replaced[before.uid] = version

    def _link(self, uid: str, record: OwnedJob | None) -> None:
        self._unlink(uid)
        if record is not None:
            self._by_uid[uid] = record
            self._by_job.setdefault((record.region, record.job_name), set()).add(uid)

    def forget(self, uid: str) -> None:
        """The resource is gone: nothing of it is kept."""
        self._unlink(uid)
        self._vouched.pop(uid, None)
        self._replaced.pop(uid, None)
        self._ahead.discard(uid)

    def _unlink(self, uid: str) -> None:
        old = self._by_uid.pop(uid, None)
        if old is not None:
            key = (old.region, old.job_name)
            self._by_job.get(key, set()).discard(uid)
            if not self._by_job.get(key):
                self._by_job.pop(key, None)

    def get(self, uid: str) -> OwnedJob | None:
        return self._by_uid.get(uid)

    def named(self, region: str, job_name: str) -> list[OwnedJob]:
        """The resources whose status names ``job_name`` in ``region``."""
        return [self._by_uid[uid] for uid in self._by_job.get((region, job_name), ())]

    def uids(self) -> set[str]:
        return set(self._by_uid)

    def in_region(self, region: str) -> list[OwnedJob]:
        return [job for job in self._by_uid.values() if job.region == region]

    def regions(self) -> set[str]:
        return {job.region for job in self._by_uid.values()}
