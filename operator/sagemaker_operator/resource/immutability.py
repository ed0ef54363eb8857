"""What cannot change after creation, as a ``ValidatingAdmissionPolicy`` and its binding.

A member of ``CreateTrainingJob`` that ``UpdateTrainingJob`` does not accept cannot change,
appear or disappear after creation; one it accepts may change but not disappear
(``UpdateTrainingJob`` has no way to unset it); the operator's ``region`` and job name are
fixed. ``mutability`` decides it, and ``request.update_request`` reads the same module, so
admission and the operator agree.

Why a policy and not the CRD's own ``x-kubernetes-validations``: the API server evaluates a
CRD's rules on every write, the status subresource's included, and these rules were half of
a status write's API-server CPU (``bench/status_writes.py``, docs/performance.md). A policy
matches ``trainingjobs`` but not ``trainingjobs/status``, and its match condition skips
writes that leave ``spec`` alone (kopf's finalizer and annotation patches), so only a spec
edit pays for the rules. ``crds/`` holds the policy and its binding beside the CRD:
``kubectl apply --server-side -f crds/`` and the chart install the three together.
"""

from collections.abc import Callable, Iterator
from typing import Any

from sagemaker_operator import names
from sagemaker_operator.resource import model, mutability, naming

Validation = dict[str, str]

POLICY_NAME = f"immutable-fields.{names.CRD_NAME}"

# CEL for the new and the old spec; ``variables`` are evaluated once per request.
NEW = "variables.spec"
OLD = "variables.oldSpec"


def _refusal(path: str, message: str, rule: str) -> Validation:
    # "Invalid" makes kubectl print "is invalid", as it does for the CRD's own rules.
    return {"expression": rule, "reason": "Invalid", "message": f"spec.{path} {message}"}


def _members(
    create: model.Shape,
    update_of: Callable[[str], model.Shape | None],
    prefix: str,
    within: Callable[[str], str],
) -> Iterator[Validation]:
    """Validations for the members of the structure at ``spec.<prefix>``.

    ``within`` wraps a rule so that it holds trivially when the structure itself is absent
    from either spec (whether it may appear or vanish is its parent's rule).
    """
    accepted = ", ".join(sorted(mutability.updatable_paths()))
    new = f"{NEW}.{prefix}" if prefix else NEW
    old = f"{OLD}.{prefix}" if prefix else OLD
    for member in create.members:
        field = naming.field_name(member)
        path = f"{prefix}.{field}" if prefix else field
        if member == mutability.JOB_NAME_MEMBER:
            continue  # named by the operator, checked with the operator's fields
        required = member in create.required_members
        sub_update = update_of(member)
        same_presence = f"has({new}.{field}) == has({old}.{field})"
        if sub_update is None:
            same = f"{new}.{field} == {old}.{field}"
            rule = same if required else f"{same_presence} && (!has({new}.{field}) || {same})"
            yield _refusal(
                path,
                "cannot change after the training job is created: UpdateTrainingJob does not "
                f"accept it ({accepted}); delete and recreate the resource to change it",
                within(rule),
            )
            continue
        if required:
            continue
        if mutability.is_partial(create.members[member], sub_update):
            yield _refusal(
                path,
                "cannot be added or removed after the training job is created",
                within(same_presence),
            )
        else:
            yield _refusal(
                path,
                "can change after creation but not be removed: UpdateTrainingJob has no way "
                "to unset it",
                within(f"!has({old}.{field}) || has({new}.{field})"),
            )


def _operator_fields() -> Iterator[Validation]:
    for field in mutability.FIXED_FIELDS:
        yield _refusal(
            field,
            "cannot change after the resource is created",
            f"has({NEW}.{field}) == has({OLD}.{field}) && "
            f"(!has({NEW}.{field}) || {NEW}.{field} == {OLD}.{field})",
        )


def validations() -> list[Validation]:
    """Every refusal, on spec first, then inside the structures updated in part."""
    found = list(_members(model.create_input(), mutability.update_shape_of, "", lambda r: r))
    found += _operator_fields()
    for sub_create, sub_update, field in mutability.partly_updatable():

        def within(rule: str, field: str = field) -> str:
            return f"!has({NEW}.{field}) || !has({OLD}.{field}) || ({rule})"

        found += _members(sub_create, sub_update.members.get, field, within)
    return found


def policy() -> dict[str, Any]:
    """The ``ValidatingAdmissionPolicy`` (``admissionregistration.k8s.io/v1``)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [names.GROUP],
                        "apiVersions": ["*"],
                        "operations": ["UPDATE"],
                        # NB: not "trainingjobs/status": a status write cannot change spec.
                        "resources": [names.PLURAL],
                    }
                ]
            },
            "matchConditions": [
                {
                    "name": "spec-changed",
                    # NB: spec is required by the CRD, so both objects have one.
                    "expression": "object.spec != oldObject.spec",
                }
            ],
            "variables": [
                {"name": "spec", "expression": "object.spec"},
                {"name": "oldSpec", "expression": "oldObject.spec"},
            ],
            "validations": validations(),
        },
    }


def binding() -> dict[str, Any]:
    """The binding that puts ``policy()`` in force for every namespace, denying."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME},
        "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"]},
    }
