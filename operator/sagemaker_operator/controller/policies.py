"""Keeping each TrainingJobPolicy's status true: how many namespaces it selects, and whether
every entry in it can match.

A slow loop beside observation (policies and namespaces change rarely): one list of each per
round, and a status patch only where something changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

from sagemaker_operator.resource import conditions, described, policy

if TYPE_CHECKING:
    from sagemaker_operator.controller.runtime import Runtime

logger = logging.getLogger(__name__)
ROUND_SECONDS = 30.0
VALID = "Valid"


def status_of(
    obj: Mapping[str, Any], namespace_labels: list[dict[str, str]], regions: frozenset[str]
) -> dict[str, Any]:
    """The status a policy object should show (pure)."""
    parsed = policy.parse(obj)
    generation = obj.get("metadata", {}).get("generation")
    try:
        policy.Policy.from_object(obj)
    except ValueError as error:
        found = [f"does not parse, so it denies every job in every namespace: {error}"]
    else:
        found = policy.problems(parsed, regions)
    state: described.ConditionStatus = "False" if found else "True"
    reason = "Unmatchable" if found else "Valid"
    message = "; ".join(found) or "Every entry can match."
    previous = (obj.get("status") or {}).get("conditions")
    return {
        "selectedNamespaces": sum(
            parsed.spec.namespace_selector.matches(labels) for labels in namespace_labels
        ),
        "problems": found,
        "observedGeneration": generation,
        "conditions": conditions.with_condition(
            previous, VALID, state, reason, message, generation
        ),
    }


async def refresh(runtime: Runtime) -> int:
    """One round; returns how many statuses it patched."""
    objects = await runtime.kube.list_policies()
    labels = await runtime.kube.list_namespace_labels()
    patched = 0
    for obj in objects:
        status = conditions.changed_members(
            obj.get("status") or {}, status_of(obj, labels, runtime.regions)
        )
        if status:
            await runtime.kube.patch_policy_status(obj["metadata"]["name"], status)
            patched += 1
    return patched


async def keep_statuses(runtime: Runtime) -> None:
    """Refresh policy statuses every round until cancelled; a failed round is only logged."""
    while True:
        try:
            await refresh(runtime)
        except ApiException as error:
            logger.warning("policy statuses: %s %s", error.status, error.reason)
        await asyncio.sleep(ROUND_SECONDS)
