"""What may change in ``spec`` once the SageMaker job exists: the one home of that knowledge.

SageMaker decides it: a member of ``CreateTrainingJob`` may change exactly when
``UpdateTrainingJob`` takes it. Where ``UpdateTrainingJob`` takes only part of a structure
(``ResourceConfigForUpdate`` has just ``KeepAlivePeriodInSeconds``), the structure is
*partly* updatable and the rule descends into it. Beside the model, the operator fixes
``region`` and the job name (the job lives in one region under one name for ever) and lets
its own ``deletionPolicy`` change freely.

The CRD's CEL rules (``validations``), the update request (``request.update_request``) and
the CRD's description all read this module, so admission and the operator always agree.
"""

from collections.abc import Iterator

from sagemaker_operator.resource import model, naming, spec

JOB_NAME_MEMBER = "TrainingJobName"

# Fields fixed after creation by the operator's own rule, not by UpdateTrainingJob.
FIXED_FIELDS: tuple[str, ...] = ("region", naming.field_name(JOB_NAME_MEMBER))

# Operator-only fields (not SageMaker members) that may change at any time.
FREE_FIELDS: tuple[str, ...] = tuple(f for f in spec.OPERATOR_ONLY_FIELDS if f not in FIXED_FIELDS)


def update_shape_of(member: str) -> model.Shape | None:
    """The ``UpdateTrainingJob`` shape that may change ``member`` of the create request, if any.

    The job name is the update's key, not something it changes.
    """
    if member == JOB_NAME_MEMBER:
        return None
    return model.update_input().members.get(member)


def is_partial(create: model.Shape, update: model.Shape | None) -> bool:
    """True when ``update`` takes only some members of the ``create`` structure."""
    return (
        update is not None
        and create.type_name == "structure"
        and not set(create.members) <= set(update.members)
    )


def partly_updatable() -> Iterator[tuple[model.Shape, model.Shape, str]]:
    """(create shape, update shape, field) of each structure ``UpdateTrainingJob`` takes in part."""
    create = model.create_input()
    for member in create.members:
        update = update_shape_of(member)
        if is_partial(create.members[member], update):
            yield create.members[member], update, naming.field_name(member)


def updatable_paths() -> list[str]:
    """Field paths of spec that may change after creation, in UpdateTrainingJob's order."""
    create = model.create_input()
    paths: list[str] = []
    for member in model.update_input().members:
        update = update_shape_of(member)
        if update is None:
            continue
        if is_partial(create.members[member], update):
            paths += [f"{naming.field_name(member)}.{naming.field_name(m)}" for m in update.members]
        else:
            paths.append(naming.field_name(member))
    return paths
