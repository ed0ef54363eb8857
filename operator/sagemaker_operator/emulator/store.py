"""The jobs the emulator knows, in memory, optionally journalled to a file.

A job record holds only what requests put there: the create request as it came over the
wire, the tags, the :class:`lifecycle.Plan` and the times of later requests. Everything a
Describe shows is computed from those (see :mod:`.lifecycle`), so persisting a job means
writing this small record once per mutating request, and a restarted emulator shows every
job exactly where the clock has taken it meanwhile.

Persistence is an append-only journal of JSON lines (``{"put": record}`` or
``{"forget": key}``), replayed and compacted on start. Appending costs the same for the
first job and the ten-thousandth; rewriting a snapshot on every create would not. Lines are
flushed to the operating system, not fsynced: an emulator restart loses nothing, a power
cut may lose the last few requests. The journal holds whole requests (environment,
hyper-parameters, role ARNs), so it is created readable by its owner only (0600), and an
existing one is narrowed to that before it is read.

Jobs are keyed by region and lower-cased name: SageMaker names are unique per account and
region regardless of case (the ARN spells them in lower case).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

from sagemaker_operator.emulator import lifecycle

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (region, lower-cased name)
FILE_MODE: Final = 0o600  # the journal holds full requests: its owner's eyes only


@dataclasses.dataclass
class Job:
    region: str
    name: str
    arn: str
    created: float
    plan: lifecycle.Plan
    request: dict[str, Any]  # the CreateTrainingJob body as received, without Tags
    tags: dict[str, str]
    stop_requested: float | None = None
    modified: float = 0.0  # the last UpdateTrainingJob
    deleted: float | None = None  # when DeleteTrainingJob was accepted
    # A snapshot that can no longer change on its own (terminal, no warm pool left).
    # Not persisted; dropped on every mutation.
    settled: lifecycle.Snapshot | None = dataclasses.field(default=None, compare=False)

    @property
    def key(self) -> Key:
        return (self.region, self.name.lower())

    def observe(self, now: float) -> lifecycle.Snapshot:
        if self.settled is not None:
            return self.settled
        snapshot = lifecycle.observe(
            self.plan, self.created, now, stop_requested=self.stop_requested, modified=self.modified
        )
        if snapshot.settled:
            self.settled = snapshot
        return snapshot

    def to_json(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        del record["settled"]
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Job:
        record = dict(record)
        record["plan"] = lifecycle.Plan(**record["plan"])
        return cls(**record)


class Store:
    """Jobs by key, plus the journal that makes them survive a restart."""

    def __init__(self, path: Path | None = None) -> None:
        self._jobs: dict[Key, Job] = {}
        self._path = path
        self._journal: IO[str] | None = None
        # Told of every job a request changed (the events publisher listens here).
        self.on_put: Callable[[Job], None] | None = None
        if path is not None:
            self._load(path)

    def __len__(self) -> int:
        return len(self._jobs)

    def get(self, key: Key) -> Job | None:
        return self._jobs.get(key)

    def values(self) -> list[Job]:
        """Every job, in every region."""
        return list(self._jobs.values())

    def jobs(self, region: str) -> list[Job]:
        # A list, not a generator: callers may forget jobs while they walk the result.
        return [job for job in self._jobs.values() if job.region == region]

    def put(self, job: Job) -> None:
        """Insert or replace a job after a mutation, and journal it."""
        job.settled = None
        self._jobs[job.key] = job
        self._write({"put": job.to_json()})
        if self.on_put is not None:
            self.on_put(job)

    def seed(self, jobs: list[Job]) -> int:
        """Add jobs that are not journalled (a seeded past, see :mod:`.history`); names
        already taken keep their job. Returns how many were added."""
        added = 0
        for job in jobs:
            if job.key not in self._jobs:
                self._jobs[job.key] = job
                added += 1
        return added

    def forget(self, key: Key) -> None:
        if self._jobs.pop(key, None) is not None:
            self._write({"forget": list(key)})

    def clear(self) -> None:
        self._jobs.clear()
        if self._path is not None:
            self._rewrite(self._path)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _write(self, entry: dict[str, Any]) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._journal.flush()

    def _load(self, path: Path) -> None:
        if path.exists():
            path.chmod(FILE_MODE)  # NB: one written by an older emulator may be world-readable
            with path.open(encoding="utf-8") as lines:
                for number, line in enumerate(lines, start=1):
                    try:
                        entry = json.loads(line)
                        if "put" in entry:
                            job = Job.from_json(entry["put"])
                            self._jobs[job.key] = job
                        elif "forget" in entry:
                            region, name = entry["forget"]
                            self._jobs.pop((region, name), None)
                    except (ValueError, TypeError, KeyError):
                        # NB: a torn last line from a killed emulator must not lose the rest.
                        logger.warning("Skipping unreadable line %d of %s.", number, path)
            logger.info("Loaded %d training jobs from %s.", len(self._jobs), path)
        self._rewrite(path)

    def _rewrite(self, path: Path) -> None:
        """Compact the journal to one line per live job, atomically."""
        self.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.unlink(missing_ok=True)  # a leftover of a crash; O_EXCL then refuses links
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(descriptor, FILE_MODE)  # whatever the umask
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            for job in self._jobs.values():
                out.write(json.dumps({"put": job.to_json()}, separators=(",", ":")) + "\n")
        os.replace(temporary, path)
        self._journal = path.open("a", encoding="utf-8")
