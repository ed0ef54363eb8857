"""The whole ``CustomResourceDefinition`` for TrainingJob, and the ``crd`` subcommand.

``build_crd()`` assembles the spec schema (``schema`` over ``CreateTrainingJob``, the
operator's fields from ``spec``, the CEL rules from ``validations``) and the status schema
(``described``) into one ``apiextensions.k8s.io/v1`` object. ``sagemaker-operator crd`` prints
it as YAML; ``crds/`` holds that output and a test fails when the two differ.
"""

import copy
import functools
import json
from pathlib import Path
from typing import Any

import click
import yaml

from sagemaker_operator import names
from sagemaker_operator.resource import (
    customresource,
    described,
    immutability,
    model,
    mutability,
    naming,
    policy_crd,
    schema,
    spec,
    text,
    validations,
)

OUTPUT = f"crds/{names.CRD_NAME}.yaml"
POLICY_OUTPUT = f"crds/{names.POLICY_CRD_NAME}.yaml"
IMMUTABILITY = "immutable-fields"
IMMUTABILITY_BINDING = "immutable-fields-binding"
COMMAND = f"sagemaker-operator crd > {OUTPUT}"


@functools.cache
def _spec_walk() -> tuple[schema.Schema, schema.Walk]:
    create = model.create_input()
    walk = schema.Walk(strict=True)
    spec_schema = walk.schema(create, create.documentation)
    spec_schema["description"] = (
        "The CreateTrainingJob request, member for member in lowerCamelCase, plus the "
        "operator's fields region and deletionPolicy. After creation only "
        f"{', '.join(mutability.updatable_paths())} and deletionPolicy can change.\n\n"
        + text.plain(model.service_model().operation_model(model.CREATE).documentation)
    )
    # trainingJobName is optional: the operator derives one when it is absent.
    name_field = naming.field_name("TrainingJobName")
    spec_schema["required"] = [f for f in spec_schema.get("required", []) if f != name_field]
    job_name = spec_schema["properties"][name_field]
    job_name["description"] = f"{job_name.get('description', '')}\n\n{spec.TRAINING_JOB_NAME_NOTE}"
    spec_schema["properties"].update(spec.operator_only_schemas())
    validations.add_rules(spec_schema)
    return spec_schema, walk


def spec_schema() -> schema.Schema:
    return copy.deepcopy(_spec_walk()[0])


def dropped_patterns() -> dict[str, tuple[str, str]]:
    """shape name -> (botocore pattern, reason) for patterns the schema cannot carry."""
    return dict(_spec_walk()[1].dropped_patterns)


def recursive_paths() -> list[str]:
    """Paths where a recursive shape was cut (none in the current model)."""
    return list(_spec_walk()[1].recursive)


def build_crd() -> dict[str, Any]:
    """The TrainingJob CustomResourceDefinition (``apiextensions.k8s.io/v1``)."""
    return customresource.definition(
        kind=names.KIND,
        plural=names.PLURAL,
        scope="Namespaced",
        short_names=names.SHORT_NAMES,
        description="An Amazon SageMaker training job, run by sagemaker-operator from this "
        "resource.",
        spec=spec_schema(),
        status=described.status_schema(),
        columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Secondary", "type": "string", "jsonPath": ".status.secondaryStatus"},
            {"name": "Job", "type": "string", "jsonPath": ".status.trainingJobName"},
            customresource.AGE,
            {
                "name": "FailureReason",
                "type": "string",
                "priority": 1,
                "jsonPath": ".status.failureReason",
            },
        ],
        annotations={f"{names.GROUP}/botocore-version": model.BOTOCORE_VERSION},
    )


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper with its own ``str`` style, whatever other code registers.

    NB: representers are process-global; some libraries (hera, for one) replace ``str``'s on
    ``yaml.SafeDumper`` at import, which would change the file the regeneration test expects.
    """


_Dumper.add_representer(str, yaml.representer.SafeRepresenter.represent_str)


def _generated() -> dict[str, tuple[Any, str]]:
    """kind option -> (builder, the file in crds/): the CRDs and the admission policy that
    completes TrainingJob's validation (``immutability``), with its binding."""
    return {
        names.PLURAL: (build_crd, OUTPUT),
        names.POLICY_PLURAL: (policy_crd.crd, POLICY_OUTPUT),
        IMMUTABILITY: (immutability.policy, f"crds/{names.CRD_NAME}.{IMMUTABILITY}.yaml"),
        IMMUTABILITY_BINDING: (
            immutability.binding,
            f"crds/{names.CRD_NAME}.{IMMUTABILITY_BINDING}.yaml",
        ),
    }


def output(kind: str) -> str:
    """The file in ``crds/`` that holds ``kind``'s generated object."""
    return _generated()[kind][1]


def render(plural: str = names.PLURAL) -> str:
    """A generated object as its YAML file in ``crds/``, with a header saying how it was made."""
    build = _generated()[plural][0]
    body = yaml.dump(build(), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return (
        f"# Generated by `{command(plural)}` from botocore {model.BOTOCORE_VERSION}'s SageMaker "
        "model.\n# Do not edit: change the generator in operator/sagemaker_operator/resource/.\n"
        f"{body}"
    )


def command(plural: str = names.PLURAL) -> str:
    option = "" if plural == names.PLURAL else f" --kind {plural}"
    return f"sagemaker-operator crd{option} > {_generated()[plural][1]}"


def size_bytes() -> int:
    """Compact JSON size: what client-side ``kubectl apply`` puts in an annotation."""
    return len(json.dumps(build_crd(), separators=(",", ":")).encode())


@click.command("crd")
@click.option(
    "--kind",
    "plural",
    type=click.Choice(list(_generated())),
    default=names.PLURAL,
    show_default=True,
    help="Which object: a CustomResourceDefinition, or TrainingJob's admission policy "
    "(immutable fields) or its binding.",
)
@click.option(
    "--write-all",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instead of printing one, write every object into its file under this repository "
    "root (crds/...).",
)
def crd_command(plural: str, root: Path | None) -> None:
    """Print a CustomResourceDefinition (TrainingJob, or TrainingJobPolicy), or TrainingJob's
    immutable-fields admission policy or binding, as YAML."""
    if root is None:
        click.echo(render(plural), nl=False)
        return
    for kind in _generated():
        (root / output(kind)).write_text(render(kind))
