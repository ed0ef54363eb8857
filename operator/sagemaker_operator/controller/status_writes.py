"""Writing a decision's status: first, before kopf's bookkeeping, and only what changed.

kopf writes its bookkeeping (handler succeeded, last-handled-configuration) to the annotations
and a handler's status patch to the status subresource in two requests, annotations first. A
crash between the two would leave a resource kopf counts as handled with no job in its status,
never handled again: the job exists, but nothing links the resource to it. So the handlers
write the status here, themselves, before returning: a crash at any point either finds the
status written or runs the handler again, whose look-up adopts the job it created.

A handler decides on the copy of the resource kopf's watch delivered, which can be older
than the resource: kopf waits only so long for its own last write to come back before it
handles an older copy. So a handler writes only what its decision changed, onto the status
as it is now (read under its version): its conditions merged by type, never a member it
merely copied from its copy. A decision that read SageMaker is refused (:class:`SupersededError`)
if the status shows a later change of the job than it read, and a create decision if the
status names a job by now: the handler decides again, on a newer copy.

Observation writes through here too (:func:`write_changes`), and only the members that
differ from what the resource shows, so an unchanged job costs no Kubernetes request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_operator.controller.kube import Kube
from sagemaker_operator.controller.owned import predates
from sagemaker_operator.resource import conditions


class SupersededError(Exception):
    """The resource's status is newer than the copy a decision was made on."""


def rebased(
    read: Mapping[str, Any], decided: Mapping[str, Any], shown: Mapping[str, Any]
) -> dict[str, Any]:
    """The merge patch that puts what a decision changed (``read`` to ``decided``) onto the
    status ``shown`` now: the members it changed, and of its conditions only the types it
    changed, the others as ``shown`` has them."""
    patch = conditions.changed_members(read, decided)
    if "conditions" in patch:
        before = {c.get("type"): c for c in read.get("conditions") or ()}
        merged = {c.get("type"): dict(c) for c in shown.get("conditions") or ()}
        for condition in decided.get("conditions") or ():
            if before.get(condition.get("type")) != condition:
                merged[condition.get("type")] = dict(condition)
        patch["conditions"] = sorted(merged.values(), key=lambda c: str(c.get("type")))
    return patch


def superseded(shown: Mapping[str, Any], patch: Mapping[str, Any], *, creating: bool) -> bool:
    """Whether the status ``shown`` now is newer than the decision that wrote ``patch``.

    Newer: it shows a later change of the job (``lastModifiedTime``) than the one the
    decision read from SageMaker, or, for a create decision (made only on a status naming no
    job), it names a job other than the one ``patch`` names: the job was created or found
    since, and the decision is moot.
    """
    shown_arn = shown.get("trainingJobArn")
    if creating and shown_arn and shown_arn != patch.get("trainingJobArn"):
        return True
    return predates(patch.get("lastModifiedTime"), shown)


async def write_first(
    kube: Kube,
    namespace: str,
    name: str,
    status: Mapping[str, Any],
    *,
    read: Mapping[str, Any] | None = None,
    creating: bool = False,
    unless_terminal: bool = False,
) -> Mapping[str, Any] | None:
    """Write what a decision made on the status ``read`` changed to make ``status``, onto
    the status as it is now: the object as the patch left it; None if nothing was patched
    (nothing changed, the resource gone, or ``unless_terminal`` and the status terminal).
    Raises :class:`SupersededError` if the status is newer than the decision, and the API
    server's error (the caller retries).

    ``creating``: the create decision's writes, the name recorded before CreateTrainingJob
    among them. ``unless_terminal`` (a deletion's ``Stopping``): skip the write if the job's
    status is terminal by then. Observation can see the job stopped between StopTrainingJob
    and this write, and ``Stopping`` must never land over ``Stopped``.
    """
    if not status:
        return None

    def patch_for(shown: Mapping[str, Any]) -> Mapping[str, Any] | None:
        patch = rebased(read or {}, status, shown)
        if superseded(shown, patch, creating=creating):
            raise SupersededError(f"{namespace}/{name}'s status is newer than the decision's copy")
        if unless_terminal and conditions.is_terminal(shown):
            return None
        return patch

    return await kube.patch_status_onto(namespace, name, patch_for)


async def write_changes(
    kube: Kube,
    namespace: str,
    name: str,
    current: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    resource_version: str | None,
) -> dict[str, Any] | None:
    """Patch the members of ``new`` that differ from ``current``: the object as the patch
    left it, None if nothing was patched (nothing changed, or the resource is gone).

    Only onto the version ``current`` was read from: a handler's write since (a refused
    update's Synced=False) must not be undone by a status computed before it. A 409 is
    raised, and observation describes the job again next cycle, from the newer status.
    """
    patch = conditions.changed_members(current, new)
    if not patch:
        return None
    return await kube.patch_status(namespace, name, patch, resource_version=resource_version)
