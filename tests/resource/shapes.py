"""Helpers for the resource tests: walking botocore shapes and loading the examples."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sagemaker_operator.resource import model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def structures(shape: model.Shape, seen: set[str] | None = None) -> Iterator[model.Shape]:
    """Every structure shape reachable from ``shape``, once each."""
    seen = set() if seen is None else seen
    if shape.name in seen:
        return
    seen.add(shape.name)
    if shape.type_name == "structure":
        yield shape
        for member in shape.members.values():
            yield from structures(member, seen)
    elif shape.type_name == "list":
        yield from structures(shape.member, seen)
    elif shape.type_name == "map":
        yield from structures(shape.value, seen)


def example_paths() -> list[Path]:
    """The TrainingJob examples (examples/ also holds a TrainingJobPolicy)."""
    return sorted(
        path for path in EXAMPLES.glob("*.yaml") if load_example(path)["kind"] == "TrainingJob"
    )


def load_example(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document
