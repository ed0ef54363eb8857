"""Where each Region's listing window begins, kept in a Lease so a restart lists at once.

After a restart, a poller's first cycle needs one fact to begin listing: the creation time
of the oldest running job it owns (the window's lower bound: docs/emulator.md). The index
that tells it is filled by one LIST of every resource, and at 10,000 resources the first
``ListTrainingJobs`` page waited about 3 s for it, then 50 s of pages at 2/s (issue 15's
restart: 60-61 s against 60). So each poller keeps its window's start, and where it splits
the walk in parts, in an annotation of a Lease the chart creates beside the operator, and the
next process starts walking from there while the index is read.

A hint is a head start, never trusted: once the index is whole, the first cycle also walks
whatever of the true window the hint left out (a hint too late: that gap; too early: a few
pages more). Only the operator's ServiceAccount may write the Lease (the chart's Role names
it); garbage in it is ignored.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from sagemaker_operator import names
from sagemaker_operator.controller.kube import FAULTS, Kube, fault_text

logger = logging.getLogger(__name__)
KEY_PREFIX = f"listing.{names.GROUP}/"  # then the Region: one annotation per poller
# NB: a stale hint costs a restart pages, never correctness; one PATCH per Region at most
# this often keeps the Lease's writes far below the status writes'.
WRITE_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class Hint:
    """A listing window's lower bound (``CreationTimeAfter``) and the creation times it was
    split at for walks at once (none: one walk)."""

    created_after: datetime.datetime
    splits: tuple[datetime.datetime, ...] = ()


def encode(hint: Hint) -> str:
    return json.dumps(
        {
            "createdAfter": hint.created_after.isoformat(),
            "splits": [split.isoformat() for split in hint.splits],
        }
    )


def decode(text: str) -> Hint | None:
    """The hint in an annotation's value; None for anything else (it is only a head start)."""
    try:
        found = json.loads(text)
        after = _moment(found["createdAfter"])
        splits = tuple(_moment(split) for split in found.get("splits", []))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return Hint(after, splits)


def _moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time without a zone")
    return moment


def parse(annotations: dict[str, str]) -> dict[str, Hint]:
    """The hints in a Lease's annotations, by Region."""
    hints = {}
    for key, value in annotations.items():
        if key.startswith(KEY_PREFIX) and (hint := decode(value)) is not None:
            hints[key.removeprefix(KEY_PREFIX)] = hint
    return hints


def lease_of(setting: str) -> tuple[str, str] | None:
    """``namespace/name`` as a pair; None when the setting is empty (hints off)."""
    if not setting:
        return None
    namespace, _, name = setting.partition("/")
    return namespace, name


class HintKeeper:
    """Reads the hints once at start-up and writes each Region's when its window moved."""

    def __init__(
        self, kube: Kube, lease: tuple[str, str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._kube = kube
        self._lease = lease
        self._clock = clock
        self._written: dict[str, Hint | None] = {}
        self._at: dict[str, float] = {}

    async def read(self) -> dict[str, Hint]:
        """The hints the last process left; none if the Lease cannot be read (logged)."""
        namespace, name = self._lease
        try:
            hints = parse(await self._kube.lease_annotations(namespace, name))
        except FAULTS as error:
            missing = isinstance(error, ApiException) and error.status == 404
            logger.warning(
                "listing hints: %s; a restart's first listing waits for the index",
                f"no Lease {namespace}/{name}" if missing else fault_text(error),
            )
            return {}
        self._written.update(hints)
        return hints

    async def keep(self, region: str, hint: Hint | None) -> None:
        """Record where ``region``'s window begins now (None: no running job there)."""
        if region in self._written and self._written[region] == hint:
            return
        if self._clock() - self._at.get(region, -math.inf) < WRITE_EVERY_SECONDS:
            return
        namespace, name = self._lease
        value = encode(hint) if hint is not None else None
        self._at[region] = self._clock()
        try:
            await self._kube.annotate_lease(namespace, name, {KEY_PREFIX + region: value})
        except FAULTS as error:  # the next cycle tries again; a stale hint costs only pages
            logger.info("listing hint for %s not kept: %s", region, fault_text(error))
            return
        self._written[region] = hint
