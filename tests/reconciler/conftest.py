"""Prints the decisions' branch coverage, as measured by test_branch_coverage, after a run."""

from __future__ import annotations

from typing import Any

COVERAGE: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COVERAGE:
        terminalreporter.section("branch coverage of the reconciler's decisions (table tests)")
        for module, percent in sorted(COVERAGE.items()):
            terminalreporter.write_line(f"{percent:6.1f} %  {module}")
