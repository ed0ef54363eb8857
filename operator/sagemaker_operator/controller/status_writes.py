"""Writing a decision's status: first, before kopf's bookkeeping, and only what changed.

kopf writes its bookkeeping (handler succeeded, last-handled-configuration) to the annotations
and a handler's status patch to the status subresource in two requests, annotations first. A
crash between the two would leave a resource kopf counts as handled with no job in its status,
never handled again: the job exists, but nothing links the resource to it. So the handlers
write the status here, themselves, before returning: a crash at any point either finds the
status written or runs the handler again, whose look-up adopts the job it created.

Observation writes through here too, and only the members that differ from what the
resource shows, so an unchanged job costs no Kubernetes request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagemaker_operator.controller.kube import Kube
from sagemaker_operator.resource import conditions


async def write_first(
    kube: Kube,
    namespace: str,
    name: str,
    status: Mapping[str, Any],
    *,
    unless_terminal: bool = False,
) -> Mapping[str, Any] | None:
    """Merge-patch ``status`` now; raises the API server's error (the caller retries). The
    object as the patch left it; None if nothing was patched, or with ``unless_terminal``.

    ``unless_terminal`` (a deletion's ``Stopping``): skip the write if the job's status is
    terminal by then. Observation can see the job stopped between StopTrainingJob and this
    write, and ``Stopping`` must never land over ``Stopped``.
    """
    if not status:
        return None
    if unless_terminal:
        await kube.patch_status_unless(namespace, name, status, refuse=conditions.is_terminal)
        return None
    return await kube.patch_status(namespace, name, status)


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
