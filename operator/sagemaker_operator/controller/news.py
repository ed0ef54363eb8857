"""Which status changes are news worth a Kubernetes Event, and in what words (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Event = tuple[Literal["Normal", "Warning"], str, str]


def events_between(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Event]:
    found: list[Event] = []
    secondary = new.get("secondaryStatus")
    if secondary and secondary != old.get("secondaryStatus"):
        transitions = new.get("secondaryStatusTransitions") or []
        detail = transitions[-1].get("statusMessage") if transitions else None
        found.append(
            ("Normal", "SecondaryStatus", f"{secondary}: {detail}" if detail else secondary)
        )
    status = new.get("trainingJobStatus")
    if status and status != old.get("trainingJobStatus"):
        match status:
            case "Completed":
                artifacts = (new.get("modelArtifacts") or {}).get("s3ModelArtifacts")
                message = f"Model artifacts at {artifacts}" if artifacts else "Training completed."
                found.append(("Normal", "Completed", message))
            case "Failed":
                found.append(("Warning", "Failed", str(new.get("failureReason") or "Failed")))
            case "Stopped":
                found.append(("Normal", "Stopped", "The training job stopped."))
            case "Stopping":
                found.append(("Normal", "Stopping", "SageMaker is stopping the training job."))
    return found
