"""The decision tables reach every branch of the decisions: measured, printed, held >= 95 %.

Coverage is measured in a child pytest over the table tests alone, so the figure says what
the tables prove by themselves, not what the end-to-end tests happen to walk through.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reconciler import conftest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DECISION_MODULES = (
    "sagemaker_operator.controller.reconcile",
    "sagemaker_operator.controller.news",
    "sagemaker_operator.controller.tenancy",
    "sagemaker_operator.resource.conditions",
    "sagemaker_operator.resource.policy",
)
TABLES = sorted(
    str(path.relative_to(ROOT))
    for path in HERE.glob("test_*.py")
    if path.name != Path(__file__).name
)
FLOOR = 95.0


def test_the_tables_cover_every_decision_branch(tmp_path: Path) -> None:
    data, report = tmp_path / ".coverage", tmp_path / "coverage.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            "--branch",
            f"--data-file={data}",
            f"--source={','.join(DECISION_MODULES)}",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *TABLES,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", str(report)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    files = json.loads(report.read_text())["files"]
    figures = {
        path.split("sagemaker_operator/")[-1]: found["summary"]["percent_covered"]
        for path, found in files.items()
    }
    assert len(figures) == len(DECISION_MODULES), figures
    conftest.COVERAGE.update(figures)
    low = {module: percent for module, percent in figures.items() if percent < FLOOR}
    assert not low, f"decision branches the tables miss (floor {FLOOR} %): {low}"
