"""What an emulator instance is started with: address, clock, account, persistence, faults,
and whether the admin endpoint (``/_emulator/...``) is served at all.

Durations are in *emulated* seconds, the seconds SageMaker would take; ``time_scale``
multiplies every one of them (phases, ``MaxRuntimeInSeconds``, ``MaxWaitTimeInSeconds``,
warm-pool keep-alive, the ``duration-seconds`` fate tag) into wall-clock seconds. The
defaults make a job take 285 emulated seconds: about a minute at the command's default scale
of 0.2 (a demo), about a second at 0.0035 (a test).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Final

from sagemaker_operator.emulator import faults
from sagemaker_operator.emulator.faults import EventFaults

DEFAULT_PORT: Final = 8600
DEFAULT_TIME_SCALE: Final = 0.2
TEST_TIME_SCALE: Final = 0.0035


@dataclasses.dataclass(frozen=True)
class Durations:
    """Emulated seconds each phase lasts, before scaling."""

    starting: float = 60.0
    downloading: float = 30.0
    training: float = 180.0
    uploading: float = 15.0
    stopping: float = 20.0  # Stopping, and also Deleting

    @property
    def total(self) -> float:
        return self.starting + self.downloading + self.training + self.uploading


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    time_scale: float = DEFAULT_TIME_SCALE
    durations: Durations = dataclasses.field(default_factory=Durations)
    region: str = "us-east-1"  # for requests whose signature names none
    account: str = "123456789012"
    state_file: Path | None = None
    faults: faults.FaultSettings = dataclasses.field(default_factory=faults.FaultSettings)
    # The admin endpoint changes faults, forgets jobs and reads counters: off unless asked for
    # (``--admin``), and then refused to browsers (see :mod:`.server`).
    admin: bool = False
    history: int = 0  # finished jobs seeded in ``region`` before start (see :mod:`.history`)
    # An SQS queue, created at start, that receives an EventBridge "SageMaker Training Job
    # State Change" event for every job's status change (see :mod:`.events`); None: no events.
    events_queue: str | None = None
    # NB: the field ``faults`` above shadows the module inside this class body.
    event_faults: EventFaults = dataclasses.field(default_factory=EventFaults)
