"""Calls counted per operation and per outcome, so benchmarks can report AWS calls per job.

An outcome is ``ok`` or the error code answered (``ThrottlingException``,
``ValidationException``...). The admin endpoint serves them as
``{"operations": {op: {outcome: n}}, "total": n}``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class Counters:
    def __init__(self) -> None:
        self._calls: Counter[tuple[str, str]] = Counter()

    def record(self, operation: str, outcome: str) -> None:
        self._calls[operation, outcome] += 1

    def reset(self) -> None:
        self._calls.clear()

    def snapshot(self) -> dict[str, Any]:
        operations: dict[str, dict[str, int]] = {}
        for (operation, outcome), n in sorted(self._calls.items()):
            operations.setdefault(operation, {})[outcome] = n
        return {"operations": operations, "total": sum(self._calls.values())}
